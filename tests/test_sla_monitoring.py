"""Step 8 — SLA monitoring on the real time-skipping test server: 4-hour timers in milliseconds,
alerts delivered to a real webhook receiver and a real SMTP server, one test per branch."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.settings import Settings
from escalation.messages import (
    AgentResponse,
    CustomerReply,
    EscalationStateName,
    EscalationStatus,
    Reassign,
    ResolveInput,
    SatisfactionInput,
    WaitOnCustomer,
    workflow_id_for,
)
from escalation.models import TicketPayload
from escalation.run_state import EscalationInput
from escalation.sla import AlertRecord
from localstack.smtp import SmtpSink
from localstack.temporal import (
    assert_clock_skips,
    skip_time,
    start_time_skipping_env,
    terminate_when_idle,
)
from tests.conftest import WebhookReceiver, eventually, load_example, policy_with_webhooks
from tests.test_replay import record_and_replay
from worker import create_worker
from workflows.escalation import EscalationWorkflow

# A P2 problem from a customer who is not premium and calm: "feature broken".
P2_TICKET = {
    "subject": "Slideshow export button does nothing",
    "description": "Hello, since this week the export button on the slideshow page does "
    "nothing when I click it. Could you have a look? Thank you, Rita",
    "urgency": "medium",
    "customerEmail": "rita@example.org",
    "customerName": "Rita",
}


@pytest.fixture(scope="module")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping_env()
    yield env
    await env.shutdown()


@pytest.fixture(autouse=True)
async def clock_left_skipping(skipping_env: WorkflowEnvironment) -> AsyncIterator[None]:
    """Every test of the module shares one server clock: one that a test leaves locked would
    turn every later skip into real time, so the test that locks it fails, not the next."""
    yield
    await assert_clock_skips(skipping_env)


@pytest.fixture
async def monitor(
    skipping_env: WorkflowEnvironment,
    pool: asyncpg.Pool,
    smtp_sink: SmtpSink,
    webhook: WebhookReceiver,
    tmp_path: Path,
) -> AsyncIterator[Monitor]:
    settings = Settings(
        pool=pool,
        smtp_url=smtp_sink.url,
        policy_path=policy_with_webhooks(tmp_path, webhook.url),
    )
    queue = f"sla-{uuid.uuid4().hex[:8]}"
    async with create_worker(skipping_env.client, settings, queue):
        yield Monitor(skipping_env, queue, webhook, smtp_sink)


class Monitor:
    """Drives one escalation through time: start, sleep (skipped), look at its alerts."""

    def __init__(
        self, env: WorkflowEnvironment, queue: str, webhook: WebhookReceiver, sink: SmtpSink
    ) -> None:
        self.env, self.queue, self.webhook, self.sink = env, queue, webhook, sink
        self.client: Client = env.client

    async def start(self, payload: TicketPayload, **input: object) -> WorkflowHandle:
        handle = await self.client.start_workflow(
            EscalationWorkflow.run,
            EscalationInput(payload=payload, received_at=datetime.now(UTC), **input),
            id=workflow_id_for(payload.ticket.id),
            task_queue=self.queue,
        )
        # Escalated, and Step 5 (alongside) done: the time-skipping server keeps its clock
        # locked for good when a run is terminated while one of its activities runs.
        await self.until(
            handle,
            lambda s: (
                s.escalated_at is not None
                and s.sla_due_at is not None
                and s.acknowledgement != "pending"
            ),
        )
        return handle

    async def status(self, handle: WorkflowHandle) -> EscalationStatus:
        return await handle.query(EscalationWorkflow.status)

    async def until(self, handle: WorkflowHandle, predicate, within: float = 20):  # type: ignore[no-untyped-def]
        """Poll the status query (real time: nothing is skipped while polling)."""
        async with asyncio.timeout(within):
            while True:
                status = await self.status(handle)
                if predicate(status):
                    return status
                await asyncio.sleep(0.05)

    async def alerts(self, handle: WorkflowHandle, kind: str) -> list[AlertRecord]:
        return [a for a in (await self.status(handle)).alerts if a.kind == kind]

    async def delivered(
        self, handle: WorkflowHandle, kind: str, count: int = 1
    ) -> list[AlertRecord]:
        """Wait until `count` alerts of `kind` were delivered (activity completed)."""
        status = await self.until(
            handle,
            lambda s: len([a for a in s.alerts if a.kind == kind and a.sent_at]) >= count,
        )
        return [a for a in status.alerts if a.kind == kind]

    async def sleep(self, **duration: float) -> None:
        await skip_time(self.env, timedelta(**duration))


async def handing_over(handle: WorkflowHandle) -> bool:
    """True once the run waits on its in-flight activities, each asked to cancel."""
    described = (await handle.describe()).raw_description
    pending = described.pending_activities
    requested = PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED
    return bool(pending) and all(activity.state == requested for activity in pending)


def ticket(**fields: object) -> TicketPayload:
    return load_example(id=f"T-{uuid.uuid4().hex[:10]}", **fields)


async def test_p1_without_response_alerts_team_at_one_hour_and_not_before(monitor: Monitor) -> None:
    handle = await monitor.start(ticket())
    status = await monitor.status(handle)
    assert status.priority == "P1"
    escalated_at = status.escalated_at
    assert escalated_at is not None
    assert status.response_due_at == escalated_at + timedelta(hours=1)

    await monitor.sleep(minutes=59)
    assert await monitor.alerts(handle, "response_breach") == []
    assert (await monitor.status(handle)).state == EscalationStateName.ESCALATED

    await monitor.sleep(minutes=2)
    [breach] = await monitor.delivered(handle, "response_breach")
    assert breach.due_at == escalated_at + timedelta(hours=1)
    assert breach.team == "engineering"
    status = await monitor.until(handle, lambda s: s.state == EscalationStateName.BREACHED)
    assert status.state == EscalationStateName.BREACHED

    # Delivered once on each channel: the real webhook receiver and the real SMTP server.
    hooks = [
        r
        for r in monitor.webhook.for_ticket(handle.id.removeprefix("escalation-"))
        if "no human response within" in r.json()["text"].lower()
    ]
    assert len(hooks) == 1
    mails = [
        m
        for m in monitor.sink.messages()
        if m.message["X-Escalation-Ticket"] == status.ticket_id
        and m.message["Subject"]
        and "no human response within" in m.message["Subject"].lower()
    ]
    assert len(mails) == 1
    await terminate_when_idle(handle)


async def test_p1_warning_at_75_percent_of_the_response_target(monitor: Monitor) -> None:
    handle = await monitor.start(ticket())
    escalated_at = (await monitor.status(handle)).escalated_at
    assert escalated_at is not None
    await monitor.sleep(minutes=44)
    assert await monitor.alerts(handle, "response_warning") == []
    await monitor.sleep(minutes=2)
    [warning] = await monitor.delivered(handle, "response_warning")
    assert warning.due_at == escalated_at + timedelta(minutes=45)
    assert await monitor.alerts(handle, "response_breach") == []
    await terminate_when_idle(handle)


async def test_p1_not_resolved_escalates_to_manager_after_four_hours(monitor: Monitor) -> None:
    handle = await monitor.start(ticket())
    escalated_at = (await monitor.status(handle)).escalated_at
    assert escalated_at is not None
    await monitor.sleep(minutes=10)
    await handle.execute_update(EscalationWorkflow.respond, AgentResponse(agent="ana"))
    await monitor.sleep(hours=3, minutes=49)
    assert await monitor.alerts(handle, "manager_escalation") == []
    await monitor.sleep(minutes=2)
    [manager] = await monitor.delivered(handle, "manager_escalation")
    assert manager.due_at == escalated_at + timedelta(hours=4)
    assert manager.audience == "manager"
    assert await monitor.alerts(handle, "response_breach") == []  # responded in time
    manager_mail = [
        m
        for m in monitor.sink.messages()
        if m.message["X-Escalation-Ticket"] == handle.id.removeprefix("escalation-")
        and "manager" in (m.message["To"] or "")
    ]
    assert len(manager_mail) == 1
    await terminate_when_idle(handle)


async def test_customer_reply_while_waiting_alerts_at_once(monitor: Monitor) -> None:
    handle = await monitor.start(ticket())
    await handle.signal(EscalationWorkflow.customer_replied, CustomerReply(text="Any news?"))
    [alert] = await monitor.delivered(handle, "customer_replied")
    status = await monitor.status(handle)
    assert alert.due_at == status.last_customer_activity_at
    assert status.customer_replies == 1
    await terminate_when_idle(handle)


async def test_satisfaction_drop_alerts_and_a_score_outside_1_to_5_is_rejected(
    monitor: Monitor,
) -> None:
    handle = await monitor.start(ticket())
    await handle.execute_update(EscalationWorkflow.set_satisfaction, SatisfactionInput(score=4))
    assert await monitor.alerts(handle, "satisfaction_drop") == []
    await handle.execute_update(EscalationWorkflow.set_satisfaction, SatisfactionInput(score=3))
    [drop] = await monitor.delivered(handle, "satisfaction_drop")
    assert drop.team == "engineering"
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(EscalationWorkflow.set_satisfaction, SatisfactionInput(score=7))
    assert "score must be 1-5" in str(rejected.value.cause)
    assert (await monitor.status(handle)).satisfaction == 3
    await terminate_when_idle(handle)


async def test_pause_and_resume_shift_the_manager_deadline_by_exactly_the_paused_time(
    monitor: Monitor,
) -> None:
    handle = await monitor.start(ticket())
    escalated_at = (await monitor.status(handle)).escalated_at
    assert escalated_at is not None
    await monitor.sleep(minutes=30)
    await handle.execute_update(
        EscalationWorkflow.wait_on_customer, WaitOnCustomer(agent="ana", question="Which album?")
    )
    paused = await monitor.status(handle)
    assert paused.state == EscalationStateName.WAITING_ON_CUSTOMER
    assert paused.manager_escalation_at is None  # moving with every paused second

    await monitor.sleep(hours=5)  # far past 4 h: nothing fires while paused
    assert await monitor.alerts(handle, "manager_escalation") == []
    await handle.signal(EscalationWorkflow.customer_replied, CustomerReply(text="The wedding one"))
    resumed = await monitor.until(handle, lambda s: not s.paused and s.manager_escalation_at)
    paused_for = timedelta(seconds=resumed.paused_seconds)
    assert paused_for >= timedelta(hours=5)
    assert resumed.manager_escalation_at == escalated_at + timedelta(hours=4) + paused_for
    await monitor.delivered(handle, "customer_answered")

    remaining = resumed.manager_escalation_at - escalated_at - timedelta(minutes=30) - paused_for
    await monitor.sleep(seconds=remaining.total_seconds() - 120)
    assert await monitor.alerts(handle, "manager_escalation") == []
    await monitor.sleep(minutes=3)
    [manager] = await monitor.delivered(handle, "manager_escalation")
    assert manager.due_at == resumed.manager_escalation_at
    await terminate_when_idle(handle)


async def test_p2_daily_checks_sla_exceeded_alert_and_48h_followup(monitor: Monitor) -> None:
    handle = await monitor.start(ticket(**P2_TICKET))
    status = await monitor.status(handle)
    assert status.priority == "P2", status
    escalated_at = status.escalated_at
    assert escalated_at is not None

    await monitor.sleep(hours=3, minutes=1)
    [warning] = await monitor.delivered(handle, "response_warning")
    assert warning.due_at == escalated_at + timedelta(hours=3)
    await monitor.sleep(hours=1)
    [breach] = await monitor.delivered(handle, "response_breach")
    assert breach.due_at == escalated_at + timedelta(hours=4)
    assert await monitor.alerts(handle, "manager_escalation") == []  # P0/P1 only

    await monitor.sleep(hours=20)
    [day1] = await monitor.delivered(handle, "daily_status")
    assert day1.due_at == escalated_at + timedelta(hours=24)

    await handle.execute_update(EscalationWorkflow.respond, AgentResponse(agent="bo"))
    responded = (await monitor.status(handle)).last_agent_activity_at
    assert responded is not None
    await monitor.sleep(hours=47)
    assert await monitor.alerts(handle, "no_progress") == []
    await monitor.sleep(hours=2)
    [followup] = await monitor.delivered(handle, "no_progress")
    assert followup.due_at == responded + timedelta(hours=48)
    assert followup.audience == "agent"
    days = await monitor.delivered(handle, "daily_status", count=3)
    assert [d.due_at for d in days] == [escalated_at + timedelta(days=n) for n in (1, 2, 3)]
    await terminate_when_idle(handle)


async def test_reassign_retargets_alerts_to_the_new_team(monitor: Monitor) -> None:
    handle = await monitor.start(ticket())
    await monitor.sleep(minutes=10)
    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(EscalationWorkflow.reassign, Reassign(team="marketing"))
    assert "unknown team 'marketing'" in str(rejected.value.cause)
    status = await handle.execute_update(
        EscalationWorkflow.reassign, Reassign(team="billing", reason="refund question")
    )
    assert status.team == "billing"
    [moved] = await monitor.delivered(handle, "reassigned")
    assert moved.team == "billing"
    reassigned_at = moved.due_at

    await monitor.sleep(minutes=55)  # past the original 1 h target: nothing for engineering
    assert await monitor.alerts(handle, "response_breach") == []
    await monitor.sleep(minutes=10)
    [breach] = await monitor.delivered(handle, "response_breach")
    assert breach.team == "billing"
    assert breach.due_at == reassigned_at + timedelta(hours=1)
    await terminate_when_idle(handle)


async def test_angrier_reply_lifts_p2_to_p1_and_recomputes_deadlines(monitor: Monitor) -> None:
    handle = await monitor.start(ticket(**P2_TICKET))
    before = await monitor.status(handle)
    assert before.priority == "P2" and before.escalated_at
    await handle.signal(
        EscalationWorkflow.customer_replied,
        CustomerReply(
            text="This is UNACCEPTABLE!!! Still broken after days. Worst service ever, "
            "I am furious and will cancel."
        ),
    )
    lifted = await monitor.until(handle, lambda s: s.priority == "P1")
    assert lifted.response_due_at == before.escalated_at + timedelta(hours=1)
    assert lifted.manager_escalation_at == before.escalated_at + timedelta(hours=4)
    await terminate_when_idle(handle)


async def test_resolve_completes_with_the_outcome_and_logs_it_once(
    monitor: Monitor, pool: asyncpg.Pool
) -> None:
    handle = await monitor.start(ticket())
    await handle.execute_update(
        EscalationWorkflow.resolve, ResolveInput(agent="ana", resolution="Relinked the upload")
    )
    outcome = await handle.result()
    assert (outcome.outcome, outcome.resolved_by) == ("resolved", "ana")
    with pytest.raises(Exception):  # noqa: B017 — the run is closed: nothing to resolve
        await handle.execute_update(
            EscalationWorkflow.resolve, ResolveInput(agent="bo", resolution="again")
        )
    ticket_id = outcome.ticket_id
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM escalation_log WHERE ticket_id = $1 AND action = 'resolved'",
            ticket_id,
        )
        == 1
    )


async def test_300_replies_continue_as_new_keeping_every_deadline_and_alert(
    monitor: Monitor,
) -> None:
    handle = await monitor.start(ticket(**P2_TICKET), continue_as_new_after_events=400)
    await monitor.sleep(hours=3, minutes=1)
    [warning] = await monitor.delivered(handle, "response_warning")
    before = await monitor.status(handle)
    for n in range(300):
        await handle.signal(EscalationWorkflow.customer_replied, CustomerReply(text=f"ping {n}"))
    after = await monitor.until(
        handle, lambda s: s.customer_replies == 300 and s.runs > 1, within=120
    )
    assert after.escalated_at == before.escalated_at
    assert after.response_due_at == before.response_due_at
    assert after.next_daily_check_at == before.next_daily_check_at
    assert [a.key for a in after.alerts][: len(before.alerts)] == [a.key for a in before.alerts]
    assert warning.key in [a.key for a in after.alerts]
    # The clock still works in the new run: the breach fires at its original time.
    await monitor.sleep(hours=1)
    [breach] = await monitor.delivered(handle, "response_breach")
    assert breach.due_at == before.response_due_at
    await terminate_when_idle(handle)


async def test_alerts_in_flight_at_continue_as_new_are_let_finish_and_not_sent_again(
    monitor: Monitor,
) -> None:
    handle = await monitor.start(ticket(), continue_as_new_after_events=150)
    ticket_id = handle.id.removeprefix("escalation-")
    monitor.webhook.answering.clear()  # the chat service is slow: every post waits
    replies = 40
    for n in range(replies):
        await handle.signal(EscalationWorkflow.customer_replied, CustomerReply(text=f"ping {n}"))
    # The run continues as new while its alert posts are still in flight: it asked to cancel
    # them and waits for their attempts to finish.
    await monitor.until(handle, lambda s: s.customer_replies == replies)
    await eventually(lambda: handing_over(handle))
    assert (await monitor.status(handle)).runs == 1
    monitor.webhook.answering.set()
    after = await monitor.until(handle, lambda s: s.runs > 1, within=60)
    delivered = await monitor.delivered(handle, "customer_replied", count=replies)
    assert all(alert.failed is None for alert in delivered)
    posts = [
        r.headers["idempotency-key"]
        for r in monitor.webhook.for_ticket(ticket_id)
        if "customer replied" in r.json()["text"].lower()
    ]
    assert len(posts) == replies == len(set(posts))  # each alert posted once, none again
    assert after.customer_replies == replies
    await terminate_when_idle(handle)


async def test_failing_webhook_is_retried_with_backoff_and_delivered_once(
    monitor: Monitor,
) -> None:
    handle = await monitor.start(ticket())
    ticket_id = handle.id.removeprefix("escalation-")
    await monitor.sleep(minutes=50)  # past the 45-minute warning
    await monitor.delivered(handle, "response_warning")
    monitor.webhook.fail_next = 2  # the chat service is down for the next two deliveries
    await monitor.sleep(minutes=11)
    [breach] = await monitor.delivered(handle, "response_breach")
    hooks = [
        r
        for r in monitor.webhook.for_ticket(ticket_id)
        if "no human response within" in r.json()["text"].lower()
    ]
    assert [r.status for r in hooks] == [500, 500, 200]
    assert len({r.headers["idempotency-key"] for r in hooks}) == 1
    mails = [
        m
        for m in monitor.sink.messages()
        if m.message["X-Escalation-Ticket"] == ticket_id
        and "no human response within" in m.message["Subject"].lower()
    ]
    assert len(mails) == 1  # the email went out on the first attempt and was not re-sent
    assert breach.failed is None
    await terminate_when_idle(handle)


async def test_a_monitored_run_through_every_message_replays(monitor: Monitor) -> None:
    """Record a history that exercises the whole clock, for the replay guard."""
    handle = await monitor.start(ticket(**P2_TICKET))
    await monitor.sleep(hours=5)
    await monitor.delivered(handle, "response_breach")
    await handle.signal(EscalationWorkflow.customer_replied, CustomerReply(text="Hello?"))
    await handle.execute_update(EscalationWorkflow.set_satisfaction, SatisfactionInput(score=2))
    await handle.execute_update(EscalationWorkflow.respond, AgentResponse(agent="bo"))
    await handle.execute_update(EscalationWorkflow.wait_on_customer, WaitOnCustomer(agent="bo"))
    await monitor.sleep(hours=20)
    await monitor.delivered(handle, "daily_status")
    await handle.signal(EscalationWorkflow.customer_replied, CustomerReply(text="Here it is"))
    await handle.execute_update(EscalationWorkflow.reassign, Reassign(team="billing"))
    await monitor.sleep(hours=50)
    await monitor.delivered(handle, "no_progress")
    await handle.execute_update(
        EscalationWorkflow.resolve, ResolveInput(agent="bo", resolution="Fixed the export")
    )
    assert (await handle.result()).outcome == "resolved"
    await record_and_replay(monitor.client, handle.id, "monitored_p2_run")


async def test_p0_alerts_the_team_at_once_and_again_at_its_target(monitor: Monitor) -> None:
    handle = await monitor.start(
        ticket(
            subject="Site is down for everyone",
            description="Your whole website is down, none of our clients can open any gallery. "
            "Every page returns a 502 error.",
            urgency="critical",
        )
    )
    status = await monitor.status(handle)
    assert status.priority == "P0"
    [immediate] = await monitor.delivered(handle, "immediate")
    assert immediate.due_at == status.escalated_at
    assert await monitor.alerts(handle, "response_warning") == []  # P0 is alerted at once
    await monitor.sleep(minutes=16)
    [breach] = await monitor.delivered(handle, "response_breach")
    assert breach.due_at == status.response_due_at
    assert status.escalated_at and breach.due_at - status.escalated_at == timedelta(minutes=15)
    await terminate_when_idle(handle)
