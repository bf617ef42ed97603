"""The escalation pipeline (seed Steps 1–7 and 9) on a real Temporal server, against a real
PostgreSQL and a real SMTP server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import ActivityEnvironment

from activities.record import RecordActivities
from activities.settings import FaultInjection, Settings
from escalation import search_attributes as sa
from escalation.messages import (
    AgentResponse,
    AssignmentInput,
    EscalationOutcome,
    EscalationRecord,
    EscalationStateName,
    EscalationStatus,
    LogEntry,
    QueueEntry,
    Reassign,
    ResolveInput,
    SatisfactionInput,
    workflow_id_for,
)
from escalation.models import Priority, TicketPayload
from escalation.quality import QUALITY_CHECKS
from escalation.run_state import EscalationInput
from localstack.smtp import SmtpSink
from tests.conftest import load_example
from workflows.escalation import EscalationWorkflow

SUMMARY_SECTIONS = (
    "## Issue",
    "## Impact",
    "## Technical Details",
    "## Customer Context",
    "## Suggested Actions",
    "## Urgency Justification",
    "## Agent Notes",
)


def new_id(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def start(client: Client, queue: str, payload: TicketPayload) -> WorkflowHandle:
    return await client.start_workflow(
        EscalationWorkflow.run,
        EscalationInput(payload=payload, received_at=datetime.now(UTC)),
        id=workflow_id_for(payload.ticket.id),
        task_queue=queue,
    )


def kept_with_auto_response(ticket_id: str) -> TicketPayload:
    """A calm how-to question triage answers itself (no trigger fires): never escalated."""
    return load_example(
        id=ticket_id,
        subject="How do I change my profile picture?",
        description="Hello! Quick question: where can I change my profile picture? Thanks!",
        urgency="low",
        autoResponseEligible=True,
        kbMatched=True,
        customerEmail="calm.customer@example.com",
        customerName="Dana",
    )


async def wait_for_state(
    handle: WorkflowHandle, *states: EscalationStateName, within: float = 30
) -> EscalationStatus:
    """Poll the status query until the run reaches one of `states`."""
    status = None
    try:
        async with asyncio.timeout(within):
            while True:
                status = await handle.query(EscalationWorkflow.status)
                if status.state in states:
                    return status
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{handle.id} stuck in {status and status.state}") from None


async def wait_until_notified(handle: WorkflowHandle, within: float = 30) -> EscalationStatus:
    """Step 5 runs alongside the escalation: poll until the acknowledgement's outcome is in."""
    async with asyncio.timeout(within):
        while True:
            status = await handle.query(EscalationWorkflow.status)
            if status.acknowledgement != "pending":
                return status
            await asyncio.sleep(0.1)


def mails_for(sink: SmtpSink, ticket_id: str) -> list[EmailMessage]:
    """What the real SMTP server received for this ticket."""
    return [m.message for m in sink.messages() if m.message["X-Escalation-Ticket"] == ticket_id]


async def test_seed_ticket_is_escalated_to_engineering_p1_with_the_package_gathered(
    client: Client, task_queue: str, pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    # Mike's account and history are in the database (demo_seed.sql); the payload has only
    # the ticket, so Step 1 must gather the rest. A fresh id keeps the test independent.
    ticket_id = new_id()
    handle = await start(client, task_queue, load_example(id=ticket_id))
    await wait_for_state(handle, EscalationStateName.ESCALATED)
    status = await wait_until_notified(handle)

    assert status.team == "engineering"
    assert status.priority == "P1"
    assert status.scenario == "data_loss_single_user"
    assert status.gaps == []
    assert status.customer_notified is True and status.customer_notice is None
    assert status.episode == 1 and status.episode_id and status.previous_episode_id is None
    assert set(status.quality_checks) == set(QUALITY_CHECKS)
    assert all(status.quality_checks.values()), status.quality_checks
    assert status.escalated_at and status.response_due_at
    assert status.response_due_at - status.escalated_at == timedelta(hours=1)

    summary = status.summary_markdown or ""
    for section in SUMMARY_SECTIONS:
        assert section in summary
    # Gathered from PostgreSQL, as in the seed's Step-1 package.
    for fact in (
        "Premium customer (6 months)",
        "Error: ERR_UPLOAD_TIMEOUT",
        "Browser: Chrome 119, Windows 11",
        "150MB",
        "Upload attempt: 2024-11-07 14:25 UTC",
        "Last successful upload: 2 days ago",
        "Previous tickets: 2",
        "Resolved - password reset",
        "Total galleries: 15",
        "Total photos: 2500",
        f"Check server logs for upload {ticket_id}",
    ):
        assert fact in summary, fact
    assert "this weekend" in summary.partition("## Agent Notes")[2]

    row = await pool.fetchrow("SELECT * FROM support_assignments WHERE ticket_id = $1", ticket_id)
    assert row["assigned_to_team"] == "engineering"
    assert row["priority"] == "P1"
    assert row["expected_response_time"] == timedelta(hours=1)
    assert row["escalation_reason"]
    assert row["state"] == "escalated" and row["premium"] and row["time_sensitive"]

    event = await pool.fetchval(
        "SELECT event FROM escalation_log WHERE ticket_id = $1 AND action = 'escalated'",
        ticket_id,
    )
    for key in (
        "ticketId",
        "action",
        "timestamp",
        "escalatedTo",
        "priority",
        "reason",
        "agentTriageTime",
        "customerNotified",
    ):
        assert key in event, key
    # The team has it before the customer hears: the acknowledgement has its own event.
    assert event["escalatedTo"] == "engineering" and event["customerNotified"] is None
    assert event["episode"] == 1 and event["episodeId"] == status.episode_id
    notified = await pool.fetchval(
        "SELECT event FROM escalation_log WHERE ticket_id = $1 AND action = 'customer_notified'",
        ticket_id,
    )
    assert notified["customerNotified"] is True and notified["qualityPassed"] is True
    assert notified["notificationMessageId"]

    [mail] = mails_for(smtp_sink, ticket_id)
    body = mail.get_content()
    assert mail["To"] == "mike@email.com"
    assert mail["Subject"] == f"Your PhotoVault support ticket {ticket_id}"
    assert body.startswith("Hi Mike,")
    assert "your message about the missing photos from your account." in body
    assert "wedding photos" in body and "weekend" in body
    assert f"Your ticket number is {ticket_id}" in body
    assert "Escalated to: Engineering Team" in body
    assert "Priority: High (P1)" in body
    assert "Expected response: Within 1 hour" in body

    description = await handle.describe()
    attributes = description.typed_search_attributes
    assert attributes.get(sa.ESCALATION_PRIORITY) == "P1"
    assert attributes.get(sa.ESCALATION_TEAM) == "engineering"
    assert attributes.get(sa.ESCALATION_STATE) == "escalated"
    assert attributes.get(sa.CUSTOMER_TIER) == "premium"
    assert attributes.get(sa.TIME_SENSITIVE) is True
    assert attributes.get(sa.SLA_DUE_AT) == status.response_due_at

    await handle.execute_update(
        EscalationWorkflow.resolve, ResolveInput(agent="ana", resolution="Relinked")
    )
    outcome: EscalationOutcome = await handle.result()
    assert outcome.outcome == "resolved" and outcome.resolved_by == "ana"
    assert (
        await pool.fetchval("SELECT state FROM support_assignments WHERE ticket_id = $1", ticket_id)
        == "resolved"
    )


async def test_priority_filter_finds_the_run_in_temporal_visibility(
    client: Client, task_queue: str
) -> None:
    ticket_id = new_id()
    handle = await start(client, task_queue, load_example(id=ticket_id))
    await wait_for_state(handle, EscalationStateName.ESCALATED)
    query = f'EscalationPriority="P1" AND WorkflowId="{handle.id}"'
    for _ in range(100):
        found = [wf.id async for wf in client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [handle.id]
    await handle.terminate("test done")


async def test_ticket_no_trigger_escalates_stays_with_auto_response(
    client: Client, task_queue: str, pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    ticket_id = new_id()
    outcome = await (await start(client, task_queue, kept_with_auto_response(ticket_id))).result()
    assert outcome.outcome == "auto-response"
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM escalation_log WHERE ticket_id = $1 AND action = 'auto_response'",
            ticket_id,
        )
        == 1
    )
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM support_assignments WHERE ticket_id = $1", ticket_id
        )
        == 0
    )
    assert mails_for(smtp_sink, ticket_id) == []


async def test_unknown_customer_still_escalates_with_the_gap_flagged(
    client: Client, task_queue: str, pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    ticket_id = new_id()
    payload = load_example(
        id=ticket_id,
        customerEmail="stranger@example.org",
        customerName="Sam Stranger",
        subject="All my photos are gone",
        description="Every photo in my account vanished overnight. Please help.",
    )
    handle = await start(client, task_queue, payload)
    status = await wait_for_state(handle, EscalationStateName.ESCALATED)
    assert "customer profile" in status.gaps and "technical context" in status.gaps
    assert status.quality_checks["all_context_gathered"] is False
    assert "Missing context" in (status.summary_markdown or "")
    event = await pool.fetchval(
        "SELECT event FROM escalation_log WHERE ticket_id = $1 AND action = 'escalated'",
        ticket_id,
    )
    assert event["qualityPassed"] is False
    assert "customer profile" in event["missingContext"]
    assert (await wait_until_notified(handle)).customer_notified is True
    assert len(mails_for(smtp_sink, ticket_id)) == 1
    await handle.terminate("test done")


async def test_activities_failing_after_their_effect_retry_and_still_write_once(
    client: Client,
    task_queue: str,
    pool: asyncpg.Pool,
    smtp_sink: SmtpSink,
    faults: FaultInjection,
) -> None:
    faults.fail_once_after_effect.update({"notify_customer", "record_escalation"})
    ticket_id = new_id()
    handle = await start(client, task_queue, load_example(id=ticket_id))
    await wait_for_state(handle, EscalationStateName.ESCALATED, within=60)
    await wait_until_notified(handle, within=60)
    assert faults._failed == faults.fail_once_after_effect  # each really failed once
    assert len(mails_for(smtp_sink, ticket_id)) == 1
    for table in ("support_assignments", "notifications"):
        assert (
            await pool.fetchval(f"SELECT count(*) FROM {table} WHERE ticket_id = $1", ticket_id)
            == 1
        ), table
    actions = await pool.fetch(
        "SELECT action FROM escalation_log WHERE ticket_id = $1 ORDER BY id", ticket_id
    )
    assert [row["action"] for row in actions] == ["escalated", "customer_notified"]
    await handle.terminate("test done")


async def test_steps_6_7_and_9_are_written_together_or_not_at_all(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    """record_escalation is one transaction: a queue row PostgreSQL refuses (a NUL byte in the
    summary) leaves no assignment and no log event behind, and the retry that can succeed
    writes all three once."""
    ticket_id = new_id()
    now = datetime.now(UTC)
    record = EscalationRecord(
        assignment=AssignmentInput(
            ticket_id=ticket_id,
            episode_id=f"episode-{ticket_id}",
            workflow_id=workflow_id_for(ticket_id),
            team="engineering",
            priority=Priority.P1,
            escalated_at=now,
            escalation_reason="upload failures",
            expected_response_seconds=7200,
        ),
        log=LogEntry(
            key=f"{ticket_id}:escalated",
            ticket_id=ticket_id,
            action="escalated",
            event={"ticketId": ticket_id, "action": "escalated"},
        ),
        queue=QueueEntry(
            ticket_id=ticket_id,
            episode_id=f"episode-{ticket_id}",
            state=EscalationStateName.ESCALATED,
            subject="Uploads fail",
            customer_name="Sarah",
            premium=True,
            time_sensitive=True,
            sentiment="frustrated",
            scenario="feature_broken",
            sla_due_at=now + timedelta(hours=2),
            summary_markdown="## Issue\nbroken \x00 byte",
        ),
    )
    record_escalation = RecordActivities(settings).record_escalation

    async def counts() -> tuple[int, int]:
        return (
            await pool.fetchval(
                "SELECT count(*) FROM support_assignments WHERE ticket_id = $1", ticket_id
            ),
            await pool.fetchval(
                "SELECT count(*) FROM escalation_log WHERE ticket_id = $1", ticket_id
            ),
        )

    with pytest.raises(asyncpg.CharacterNotInRepertoireError):
        await ActivityEnvironment().run(record_escalation, record)
    assert await counts() == (0, 0)

    fixed = record.model_copy(
        update={"queue": record.queue.model_copy(update={"summary_markdown": "## Issue"})}
    )
    assert await ActivityEnvironment().run(record_escalation, fixed) is True
    assert await ActivityEnvironment().run(record_escalation, fixed) is False  # a retry
    assert await counts() == (1, 1)
    row = await pool.fetchrow(
        "SELECT state, summary_markdown, priority FROM support_assignments WHERE ticket_id = $1",
        ticket_id,
    )
    assert dict(row) == {"state": "escalated", "summary_markdown": "## Issue", "priority": "P1"}


async def test_several_users_with_the_same_error_lift_data_loss_to_p0(
    client: Client, task_queue: str, pool: asyncpg.Pool
) -> None:
    error_code = f"ERR_{uuid.uuid4().hex[:6].upper()}"
    now = datetime.now(UTC)
    for n in range(3):
        await pool.execute(
            "INSERT INTO tickets (ticket_id, customer_email, subject, error_code, created_at)"
            " VALUES ($1, $2, 'photos gone', $3, $4)",
            new_id("OTHER"),
            f"user{n}@example.net",
            error_code,
            now - timedelta(minutes=10 * n),
        )
    ticket_id = new_id()
    payload = load_example(id=ticket_id, createdAt=now.isoformat())
    data = payload.to_json_dict()
    data["technicalContext"] = {"errorCode": error_code, "uploadStatus": "failed"}
    handle = await start(client, task_queue, TicketPayload.model_validate(data))
    status = await wait_for_state(handle, EscalationStateName.ESCALATED)
    assert status.priority == "P0"
    assert status.scenario == "widespread_data_loss"
    assert status.team == "engineering"
    await handle.terminate("test done")


async def test_resolving_twice_is_rejected_with_the_reason(client: Client, task_queue: str) -> None:
    handle = await start(client, task_queue, load_example(id=new_id()))
    await wait_for_state(handle, EscalationStateName.ESCALATED)
    answers = await asyncio.gather(
        *(
            handle.execute_update(
                EscalationWorkflow.resolve, ResolveInput(agent=agent, resolution="Relinked")
            )
            for agent in ("ana", "bo")
        ),
        return_exceptions=True,
    )
    accepted = [a for a in answers if isinstance(a, EscalationStatus)]
    rejected = [a for a in answers if isinstance(a, WorkflowUpdateFailedError)]
    assert len(accepted) == 1 and len(rejected) == 1, answers
    ticket_id = handle.id.removeprefix("escalation-")
    assert f"ticket {ticket_id} is already resolved" in str(rejected[0].cause)
    outcome = await handle.result()
    assert outcome.outcome == "resolved"
    assert outcome.resolved_by in ("ana", "bo")


async def test_invalid_requests_are_rejected_with_a_clear_reason(
    client: Client, task_queue: str
) -> None:
    handle = await start(client, task_queue, load_example(id=new_id()))
    await wait_for_state(handle, EscalationStateName.ESCALATED)
    cases = [
        (EscalationWorkflow.reassign, Reassign(team="enginering"), "unknown team 'enginering'"),
        (EscalationWorkflow.reassign, Reassign(team="engineering"), "already with engineering"),
        (EscalationWorkflow.set_satisfaction, SatisfactionInput(score=0), "must be 1-5, got 0"),
        (EscalationWorkflow.respond, AgentResponse(agent=" "), "agent must name who acts"),
        (EscalationWorkflow.resolve, ResolveInput(agent="ana", resolution=""), "resolution must"),
    ]
    for update, argument, reason in cases:
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await handle.execute_update(update, argument)
        assert reason in str(rejected.value.cause), (reason, rejected.value.cause)
    status = await handle.query(EscalationWorkflow.status)
    assert status.team == "engineering" and status.satisfaction is None
    await handle.terminate("test done")
