"""The crash window of activities.delivery, for real: a worker process (tests/support/
delivery_crash.py) is killed with os._exit right after the channel accepted and before the
`sent` record; then this process retries the same key as Temporal would (attempt 2 of the same
activity). Delivery is at least once: the receiver gets two copies with the SAME dedupe id
(email Message-ID; webhook webhook-id and Idempotency-Key) and dedupes by it."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError

from activities.email import message_id_for, send_email_once
from activities.settings import Settings
from activities.webhook import webhook_id
from localstack.postgres import EmbeddedPostgres
from localstack.smtp import SmtpSink
from localstack.webhook_sink import WebhookRequest, WebhookSink
from tests.support.delivery_crash import activity_environment, deliver

ROOT = Path(__file__).resolve().parent.parent


async def crash_while_delivering(
    channel: str, postgres: EmbeddedPostgres, smtp_url: str, key: str, ticket: str, to: str
) -> None:
    """Run the dying worker; it must end by the fault hook's os._exit(1)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.delivery_crash",
        channel, postgres.url, smtp_url, key, ticket, to,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1, output.decode()


async def claimed_row(pool: asyncpg.Pool, key: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM notifications WHERE idempotency_key = $1", key)
    assert row is not None
    return row


async def test_killed_after_the_relay_accepted_the_retry_resends_with_the_same_message_id(
    postgres: EmbeddedPostgres, pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    """Killed between the relay's 250 and the `sent` record: the relay has the mail, the row
    still says `sending`. Another caller is refused ("in flight elsewhere") while the claim is
    fresh; the activity's own retry takes the claim over and sends again. The customer's
    mailbox receives two identical copies with the same Message-ID (a client that dedupes by
    Message-ID shows one); the row ends `sent` after 2 attempts."""
    ticket = f"T-{uuid.uuid4().hex[:10].upper()}"
    key, to = f"{ticket}:acknowledgement", f"rita-{ticket.lower()}@example.org"

    await crash_while_delivering("email", postgres, smtp_sink.url, key, ticket, to)

    first = await smtp_sink.wait_for_async(lambda m: m.message["Message-ID"] == message_id_for(key))
    row = await claimed_row(pool, key)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("sending", 1, None)
    assert row["claimed_by"] == "crash-test-run/deliver" and row["claim_attempt"] == 1

    settings = Settings(pool=pool, smtp_url=smtp_sink.url)
    with pytest.raises(ApplicationError) as in_flight:  # someone else: not while it is fresh
        await send_email_once(
            settings, key=key, ticket_id=ticket, kind="acknowledgement", recipient=to,
            subject="x", body="x",
        )  # fmt: skip
    assert in_flight.value.type == "DeliveryInFlight" and not in_flight.value.non_retryable

    retried = await activity_environment(attempt=2).run(deliver, settings, "email", key, ticket, to)

    assert not retried.already_sent
    mails = [m for m in smtp_sink.messages() if m.message["Message-ID"] == message_id_for(key)]
    assert len(mails) == 2
    assert mails[0] is first
    assert {(m.rcpt_tos, m.subject, m.text) for m in mails} == {
        (first.rcpt_tos, first.subject, first.text)
    }
    row = await claimed_row(pool, key)
    assert (row["status"], row["attempts"], row["claim_attempt"]) == ("sent", 2, 2)
    assert row["sent_at"] is not None


async def test_killed_after_the_webhook_answered_the_retry_reposts_with_the_same_webhook_id(
    postgres: EmbeddedPostgres, pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    """The same window for a webhook: the endpoint answered 200, the worker died before the
    record; the retry posts again with the same `webhook-id` and `Idempotency-Key`, so a
    Standard Webhooks receiver drops the second; the row ends `sent`."""
    requests: list[WebhookRequest] = []
    receiver = WebhookSink(lambda request: requests.append(request) or 200)
    await receiver.start()
    ticket = f"T-{uuid.uuid4().hex[:10].upper()}"
    key = f"{ticket}:customer_replied:1:webhook"
    try:
        await crash_while_delivering("webhook", postgres, smtp_sink.url, key, ticket, receiver.url)
        assert (await claimed_row(pool, key))["status"] == "sending"

        settings = Settings(pool=pool, smtp_url=smtp_sink.url)
        retried = await activity_environment(attempt=2).run(
            deliver, settings, "webhook", key, ticket, receiver.url
        )
        await settings.aclose()
    finally:
        await receiver.stop()

    assert retried is False
    assert len(requests) == 2
    assert {r.headers["webhook-id"] for r in requests} == {webhook_id(key)}
    assert {r.headers["idempotency-key"] for r in requests} == {key}
    assert requests[0].body == requests[1].body
    row = await claimed_row(pool, key)
    assert (row["status"], row["attempts"]) == ("sent", 2)
