"""The team first (issue 12): the customer's email never gates the escalation. With the mail
relay down a P0 is on the queue and its team alerted within seconds, and exactly one
acknowledgement goes out once the relay is back; a relay that refuses the address for good
(550) is not retried: the team is told the customer could not be notified. Real Temporal dev
server, real PostgreSQL, real SMTP server, a real webhook receiver."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHandle

from activities.settings import Settings
from escalation.messages import EscalationStatus, ResolveInput, workflow_id_for
from escalation.models import TicketPayload
from escalation.run_state import EscalationInput
from localstack.ports import free_port
from localstack.smtp import SmtpSink
from tests.conftest import WebhookReceiver, load_example, policy_with_webhooks
from web.queries import open_escalations
from worker import create_worker
from workflows.escalation import EscalationWorkflow

SITE_DOWN = {
    "subject": "Site is down for everyone",
    "description": "Your whole website is down, none of our clients can open any gallery. "
    "Every page returns a 502 error.",
    "urgency": "critical",
}


def p0_ticket(email: str = "studio@example.org") -> TicketPayload:
    return load_example(id=f"T-{uuid.uuid4().hex[:10]}", customerEmail=email, **SITE_DOWN)


async def eventually(
    probe: Callable[[], object], within: float = 20, what: str = "condition"
) -> object:
    deadline = time.monotonic() + within
    while True:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within} s")
        await asyncio.sleep(0.1)


@pytest.fixture
def relay_port() -> int:
    """A port nothing listens on (yet): the mail relay is down."""
    return free_port()


@pytest.fixture
async def worker_queue(
    client: Client,
    pool: asyncpg.Pool,
    relay_port: int,
    webhook: WebhookReceiver,
    tmp_path: Path,
) -> AsyncIterator[str]:
    settings = Settings(
        pool=pool,
        smtp_url=f"smtp://127.0.0.1:{relay_port}",
        policy_path=policy_with_webhooks(tmp_path, webhook.url),
    )
    settings.policy()  # loaded before the clock starts, as a running worker has it
    queue = f"team-first-{uuid.uuid4().hex[:8]}"
    async with create_worker(client, settings, queue):
        yield queue


async def start(client: Client, queue: str, payload: TicketPayload) -> WorkflowHandle:
    return await client.start_workflow(
        EscalationWorkflow.run,
        EscalationInput(payload=payload, received_at=datetime.now(UTC)),
        id=workflow_id_for(payload.ticket.id),
        task_queue=queue,
    )


async def status(handle: WorkflowHandle) -> EscalationStatus:
    return await handle.query(EscalationWorkflow.status)


def alerts_of(webhook: WebhookReceiver, ticket_id: str, words: str) -> list[object]:
    return [r for r in webhook.for_ticket(ticket_id) if words in r.json()["text"].lower()]


async def on_queue(pool: asyncpg.Pool, ticket_id: str) -> bool:
    return any(row.ticket_id == ticket_id for row in await open_escalations(pool))


async def test_relay_down_the_p0_reaches_its_team_and_one_acknowledgement_follows(
    client: Client, worker_queue: str, pool: asyncpg.Pool, relay_port: int, webhook: WebhookReceiver
) -> None:
    payload = p0_ticket()
    ticket_id = payload.ticket.id
    started = time.monotonic()
    handle = await start(client, worker_queue, payload)

    await eventually(lambda: on_queue(pool, ticket_id), within=5, what="on the queue in 5 s")
    await eventually(
        lambda: alerts_of(webhook, ticket_id, "needs a human now"),
        within=5,
        what="the immediate alert received in 5 s",
    )
    took = time.monotonic() - started
    now = await status(handle)
    assert now.priority == "P0" and now.customer_notified is False
    assert now.acknowledgement == "pending"
    print(f"queue + immediate alert {took:.2f} s after the start, relay down")

    # The relay comes back on its address: the retried acknowledgement goes out, once.
    sink = SmtpSink(port=relay_port, save=False)
    sink.start()
    try:
        back = await eventually(
            lambda: _acknowledged(handle), within=90, what="the acknowledgement after recovery"
        )
        assert isinstance(back, EscalationStatus) and back.customer_notified is True
        mails = [m for m in sink.messages() if m.message["X-Escalation-Ticket"] == ticket_id]
        acks = [m for m in mails if m.message["To"] == "studio@example.org"]
        assert len(acks) == 1, [m.subject for m in mails]
        row = await pool.fetchrow(
            "SELECT status, attempts FROM notifications WHERE ticket_id = $1"
            " AND kind = 'acknowledgement'",
            ticket_id,
        )
        assert row["status"] == "sent" and row["attempts"] >= 2  # it was really retried
    finally:
        sink.stop()
    await handle.execute_update(
        EscalationWorkflow.resolve, ResolveInput(agent="ana", resolution="Restarted the proxy")
    )
    assert (await handle.result()).outcome == "resolved"


async def _acknowledged(handle: WorkflowHandle) -> EscalationStatus | None:
    now = await status(handle)
    return now if now.acknowledgement == "sent" else None


async def test_a_refused_address_is_not_retried_and_the_team_is_told(
    client: Client, pool: asyncpg.Pool, webhook: WebhookReceiver, tmp_path: Path
) -> None:
    sink = SmtpSink.temporary()
    sink.start()
    sink.refuse("typo@exampel.org")
    settings = Settings(
        pool=pool, smtp_url=sink.url, policy_path=policy_with_webhooks(tmp_path, webhook.url)
    )
    queue = f"team-first-{uuid.uuid4().hex[:8]}"
    try:
        async with create_worker(client, settings, queue):
            payload = p0_ticket("typo@exampel.org")
            ticket_id = payload.ticket.id
            handle = await start(client, queue, payload)
            await eventually(lambda: on_queue(pool, ticket_id), within=5, what="on the queue")
            told = await eventually(
                lambda: alerts_of(webhook, ticket_id, "could not be notified"),
                within=20,
                what="the team told the customer could not be notified",
            )
            assert told
            now = await status(handle)
            assert now.customer_notified is False and now.acknowledgement == "refused"
            assert now.customer_notice and "550" in now.customer_notice
            assert "typo@exampel.org" in now.customer_notice
            assert "could not be notified" in (now.summary_markdown or "")
            assert now.quality_checks["customer_notified"] is False
            row = await pool.fetchrow(
                "SELECT status, attempts FROM notifications WHERE ticket_id = $1"
                " AND kind = 'acknowledgement'",
                ticket_id,
            )
            assert (row["status"], row["attempts"]) == ("refused", 1)  # never retried
            described = await handle.describe()
            pending = [a.activity_type for a in described.raw_description.pending_activities]
            assert "notify_customer" not in [getattr(t, "name", t) for t in pending]
            event = await pool.fetchval(
                "SELECT event FROM escalation_log WHERE ticket_id = $1"
                " AND action = 'customer_not_notified'",
                ticket_id,
            )
            assert event["customerNotified"] is False and "550" in event["reason"]
            await handle.terminate("test done")
    finally:
        sink.stop()
