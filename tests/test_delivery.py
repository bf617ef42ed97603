"""Delivery as it really is (activities.delivery), against a real PostgreSQL, the real SMTP sink
and real HTTP receivers: no connection or row lock is held while a slow relay takes its time,
one key is one copy whether attempts overlap or follow a failure, a permanent refusal is not
retried, and the dedupe ids stay the same on every attempt. The crash window itself — killed
after the channel accepted, before the `sent` record — is in tests/test_delivery_crash.py."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.alerts import AlertActivities
from activities.db import connect
from activities.email import message_id_for, send_email_once
from activities.settings import Settings
from activities.webhook import WebhookDeliveryError, post_webhook_once, webhook_id
from escalation.messages import AlertInput, NotificationResult, workflow_id_for
from escalation.models import Priority
from localstack.postgres import EmbeddedPostgres
from localstack.smtp import ReceivedMessage, SmtpSink
from localstack.webhook_sink import WebhookRequest, WebhookSink
from tests.conftest import eventually, policy_with_webhooks


def new_key(what: str = "acknowledgement") -> tuple[str, str]:
    ticket = f"T-{uuid.uuid4().hex[:10].upper()}"
    return f"{ticket}:{what}", ticket


def address(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.org"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def email(settings: Settings, key: str, ticket: str, to: str) -> NotificationResult:
    return await send_email_once(
        settings,
        key=key,
        ticket_id=ticket,
        kind="acknowledgement",
        recipient=to,
        subject=f"We are on it ({ticket})",
        body="Your ticket is with the team.",
    )


def copies(sink: SmtpSink, key: str) -> list[ReceivedMessage]:
    return [m for m in sink.messages() if m.message["Message-ID"] == message_id_for(key)]


async def row(pool: asyncpg.Pool, key: str) -> asyncpg.Record:
    found = await pool.fetchrow("SELECT * FROM notifications WHERE idempotency_key = $1", key)
    assert found is not None, f"no notification row {key}"
    return found


class Receiver(WebhookSink):
    """Answers each request with the next status of `answers` (200 once they run out)."""

    def __init__(self, *answers: int) -> None:
        super().__init__(self._answer)
        self.answers = list(answers)
        self.requests: list[WebhookRequest] = []

    def _answer(self, request: WebhookRequest) -> int:
        self.requests.append(request)
        return self.answers.pop(0) if self.answers else 200


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def small_pool(postgres: EmbeddedPostgres, pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """A pool of ONE connection (after the session pool applied the migrations)."""
    small = await connect(postgres.url, min_size=1, max_size=1)
    yield small
    await small.close()


class SlowHttp:
    """An HTTP endpoint that answers 200 only after `delay` seconds (on this event loop, without
    blocking it)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received = 0
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        self.received += 1
        await asyncio.sleep(self.delay)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()


@pytest.fixture
async def slow_http() -> AsyncIterator[SlowHttp]:
    endpoint = SlowHttp(delay=2.0)
    endpoint.server = await asyncio.start_server(endpoint._handle, "127.0.0.1", 0)
    yield endpoint
    endpoint.server.close()


# --- no connection, no lock held across the network -------------------------------------------


async def assert_database_free_while_sending(
    small_pool: asyncpg.Pool, pool: asyncpg.Pool, key: str, sending: asyncio.Task[Any]
) -> None:
    """While `sending` waits on the slow receiver: the row says `sending`, the one-connection
    pool answers at once, and the row is not locked."""
    await eventually(
        lambda: pool.fetchval(
            "SELECT status = 'sending' FROM notifications WHERE idempotency_key = $1", key
        ),
        within=5,
        every=0.05,
    )
    started = time.monotonic()
    assert await asyncio.wait_for(small_pool.fetchval("SELECT 1"), timeout=1.0) == 1
    async with pool.acquire() as other, other.transaction():
        locked = await other.fetchrow(
            "SELECT status FROM notifications WHERE idempotency_key = $1 FOR UPDATE NOWAIT", key
        )
    assert locked["status"] == "sending"
    assert time.monotonic() - started < 1.0
    assert not sending.done(), "the slow receiver should still be holding the send"


async def test_slow_relay_holds_no_connection_or_row_lock_while_it_answers(
    small_pool: asyncpg.Pool, pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    settings = Settings(pool=small_pool, smtp_url=smtp_sink.url)
    key, ticket = new_key()
    to = address("slow")
    smtp_sink.slow_down(to, 2.0)
    try:
        started = time.monotonic()
        sending = asyncio.create_task(email(settings, key, ticket, to))
        await assert_database_free_while_sending(small_pool, pool, key, sending)
        result = await sending
    finally:
        smtp_sink.slow_down(to, 0)

    assert time.monotonic() - started >= 2.0
    assert not result.already_sent and len(copies(smtp_sink, key)) == 1
    assert (await row(pool, key))["status"] == "sent"


async def test_slow_webhook_holds_no_connection_or_row_lock_while_it_answers(
    small_pool: asyncpg.Pool, pool: asyncpg.Pool, smtp_sink: SmtpSink, slow_http: SlowHttp
) -> None:
    settings = Settings(pool=small_pool, smtp_url=smtp_sink.url)
    key, ticket = new_key("alert:webhook")

    sending = asyncio.create_task(
        post_webhook_once(
            settings, key=key, ticket_id=ticket, kind="alert:test", url=slow_http.url, payload={}
        )
    )
    await assert_database_free_while_sending(small_pool, pool, key, sending)

    assert await sending is False
    assert slow_http.received == 1
    assert (await row(pool, key))["status"] == "sent"
    await settings.aclose()


# --- one key, one copy ---------------------------------------------------------------------------


async def test_concurrent_attempts_of_one_key_send_one_copy_and_the_others_fail_retryably(
    settings: Settings, smtp_sink: SmtpSink
) -> None:
    """The claim is atomic: one attempt sends, the others find it in flight and fail retryably
    without sending; their retries find it sent."""
    key, ticket = new_key()
    to = address("rita")
    smtp_sink.slow_down(to, 0.5)  # the attempts overlap for sure
    try:
        outcomes = await asyncio.gather(
            *(email(settings, key, ticket, to) for _ in range(3)), return_exceptions=True
        )
    finally:
        smtp_sink.slow_down(to, 0)

    sent = [o for o in outcomes if isinstance(o, NotificationResult)]
    in_flight = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert len(sent) == 1 and not sent[0].already_sent, outcomes
    assert len(in_flight) == 2, outcomes
    for error in in_flight:
        assert error.type == "DeliveryInFlight" and not error.non_retryable
        assert "in flight elsewhere" in error.message
    retried = await email(settings, key, ticket, to)

    assert retried.already_sent
    assert len(copies(smtp_sink, key)) == 1
    found = await row(settings.pool, key)
    assert (found["status"], found["attempts"]) == ("sent", 1)


async def test_relay_down_is_retryable_and_the_retry_sends_one_copy(
    settings: Settings, smtp_sink: SmtpSink
) -> None:
    key, ticket = new_key()
    to = address("rita")
    down = Settings(pool=settings.pool, smtp_url=f"smtp://127.0.0.1:{closed_port()}")

    with pytest.raises(aiosmtplib.SMTPConnectError):  # not an ApplicationError: retried
        await email(down, key, ticket, to)
    found = await row(settings.pool, key)
    assert (found["status"], found["attempts"]) == ("pending", 1)
    assert "SMTPConnectError" in found["last_error"]
    assert not copies(smtp_sink, key)

    first = await email(settings, key, ticket, to)
    again = await email(settings, key, ticket, to)

    assert not first.already_sent and again.already_sent
    assert len(copies(smtp_sink, key)) == 1
    found = await row(settings.pool, key)
    assert (found["status"], found["attempts"]) == ("sent", 2)
    assert found["sent_at"] is not None


async def test_a_temporary_refusal_stays_retryable(settings: Settings, smtp_sink: SmtpSink) -> None:
    key, ticket = new_key()
    to = address("full")
    smtp_sink.refuse(to, "452 4.2.2 mailbox full")
    try:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):  # not an ApplicationError
            await email(settings, key, ticket, to)
    finally:
        smtp_sink.accept(to)

    found = await row(settings.pool, key)
    assert found["status"] == "pending" and "452" in found["last_error"]
    assert (await email(settings, key, ticket, to)).already_sent is False


# --- permanent refusals ---------------------------------------------------------------------------


async def test_relay_refusing_the_address_fails_at_once_naming_it_and_marks_the_row_refused(
    settings: Settings, smtp_sink: SmtpSink
) -> None:
    key, ticket = new_key()
    to = address("bounce")
    smtp_sink.refuse(to)
    try:
        with pytest.raises(ApplicationError) as failed:
            await email(settings, key, ticket, to)
    finally:
        smtp_sink.accept(to)

    error = failed.value
    assert error.type == "RecipientRefused" and error.non_retryable
    assert error.message == f"the mail relay refused {to}: 550 5.1.1 <{to}>: user unknown"
    found = await row(settings.pool, key)
    assert (found["status"], found["attempts"]) == ("refused", 1)
    assert found["last_error"] == f"RecipientRefused: {error.message}"
    assert not copies(smtp_sink, key)

    # The retry raises the same refusal without asking the relay (it is not even reachable).
    down = Settings(pool=settings.pool, smtp_url=f"smtp://127.0.0.1:{closed_port()}")
    with pytest.raises(ApplicationError) as again:
        await email(down, key, ticket, to)
    assert (again.value.type, again.value.message) == ("RecipientRefused", error.message)
    assert again.value.non_retryable
    assert (await row(settings.pool, key))["attempts"] == 1

    # The address fixed (in the helpdesk), the same key is delivered to the new one.
    fixed = address("rita")
    assert (await email(settings, key, ticket, fixed)).already_sent is False
    [mail] = copies(smtp_sink, key)
    assert mail.rcpt_tos == (fixed,)
    found = await row(settings.pool, key)
    assert (found["status"], found["recipient"], found["attempts"]) == ("sent", fixed, 2)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_webhook_answering_a_permanent_4xx_is_rejected_without_retry(
    settings: Settings, receiver: Receiver, status: int
) -> None:
    key, ticket = new_key("alert:webhook")
    receiver.answers = [status]

    with pytest.raises(ApplicationError) as failed:
        await post_webhook_once(
            settings, key=key, ticket_id=ticket, kind="alert:test", url=receiver.url, payload={}
        )

    assert failed.value.type == "WebhookRejected" and failed.value.non_retryable
    assert f"answered {status}" in failed.value.message
    found = await row(settings.pool, key)
    assert found["status"] == "refused" and f"answered {status}" in found["last_error"]
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 503])
async def test_webhook_answering_5xx_or_a_try_later_4xx_is_retried_with_the_same_dedupe_ids(
    settings: Settings, receiver: Receiver, status: int
) -> None:
    key, ticket = new_key("alert:webhook")
    receiver.answers = [status]

    async def post() -> bool:
        return await post_webhook_once(
            settings, key=key, ticket_id=ticket, kind="alert:test", url=receiver.url, payload={}
        )

    with pytest.raises(WebhookDeliveryError, match=f"answered {status}"):
        await post()
    assert (await row(settings.pool, key))["status"] == "pending"
    assert await post() is False
    assert await post() is True

    first, second = receiver.requests
    for request in (first, second):
        assert request.headers["idempotency-key"] == key
        assert request.headers["webhook-id"] == webhook_id(key)
    assert (await row(settings.pool, key))["status"] == "sent"


# --- alerts ---------------------------------------------------------------------------------------


@pytest.fixture
def own_sink() -> Iterator[SmtpSink]:
    """A sink of this test's own: refusing the team's address must not touch the shared one."""
    sink = SmtpSink.temporary()
    sink.start()
    yield sink
    sink.stop()


def alert_for_engineering() -> AlertInput:
    ticket = f"T-{uuid.uuid4().hex[:10].upper()}"
    return AlertInput(
        key=f"{ticket}:customer_replied:3",
        ticket_id=ticket,
        kind="customer_replied",
        team="engineering",
        priority=Priority.P1,
        headline="the customer replied",
        details={},
        workflow_id=workflow_id_for(ticket),
    )


async def send_alert(settings: Settings, alert: AlertInput) -> Any:
    return await ActivityEnvironment().run(AlertActivities(settings).send_alert, alert)


@pytest.mark.parametrize(
    ("webhook_answer", "permanent"), [(404, True), (503, False)], ids=["both-refuse", "mixed"]
)
async def test_alert_fails_for_good_only_when_every_failed_channel_refused_for_good(
    tmp_path: Path,
    pool: asyncpg.Pool,
    own_sink: SmtpSink,
    receiver: Receiver,
    webhook_answer: int,
    permanent: bool,
) -> None:
    own_sink.refuse("engineering@photovault.example")
    receiver.answers = [webhook_answer]
    settings = Settings(
        pool=pool,
        smtp_url=own_sink.url,
        policy_path=policy_with_webhooks(tmp_path, receiver.url, teams=("engineering",)),
    )
    alert = alert_for_engineering()

    with pytest.raises(ApplicationError) as failed:
        await send_alert(settings, alert)

    error = failed.value
    assert error.type == "AlertDeliveryFailed" and error.non_retryable is permanent
    assert "RecipientRefused: the mail relay refused engineering@photovault.example: 550" in (
        error.message
    )
    assert f"answered {webhook_answer}" in error.message
    statuses = {
        r["idempotency_key"]: r["status"]
        for r in await pool.fetch(
            "SELECT idempotency_key, status FROM notifications WHERE ticket_id = $1",
            alert.ticket_id,
        )
    }
    assert statuses == {
        f"{alert.key}:email": "refused",
        f"{alert.key}:webhook": "refused" if permanent else "pending",
    }
    await settings.aclose()


async def test_alert_log_row_has_its_own_key_beside_the_workflow_event_with_the_same_key(
    pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    """The P1 'customer replied' alert key equals the reply event's log key: both rows stay."""
    alert = alert_for_engineering()
    await pool.execute(
        "INSERT INTO escalation_log (idempotency_key, ticket_id, action, event)"
        " VALUES ($1, $2, 'customer_replied', $3)",
        alert.key,
        alert.ticket_id,
        {"ticketId": alert.ticket_id, "action": "customer_replied"},
    )

    await send_alert(Settings(pool=pool, smtp_url=smtp_sink.url), alert)

    rows = await pool.fetch(
        "SELECT idempotency_key, action FROM escalation_log WHERE ticket_id = $1 ORDER BY id",
        alert.ticket_id,
    )
    assert [tuple(r) for r in rows] == [
        (alert.key, "customer_replied"),
        (f"alert:{alert.key}", "alert:customer_replied"),
    ]


# --- secrets stay out of rows, errors and logs ------------------------------------------------


async def test_starttls_required_refuses_a_relay_without_it_and_sends_nothing(
    settings: Settings, smtp_sink: SmtpSink
) -> None:
    """smtp+starttls:// never falls back to plain text (the sink offers no STARTTLS); the
    credentials in the URL reach neither the error nor the row."""
    host = smtp_sink.url.removeprefix("smtp://")
    settings.smtp_url = f"smtp+starttls://mailer:s3cr3t-pw@{host}"
    key, ticket = new_key()
    with pytest.raises(Exception) as failed:
        await email(settings, key, ticket, address("tls"))
    assert "STARTTLS" in str(failed.value).upper()
    assert copies(smtp_sink, key) == []
    found = await row(settings.pool, key)
    assert found["status"] == "pending" and "s3cr3t-pw" not in (found["last_error"] or "")
    assert "s3cr3t-pw" not in str(failed.value)


async def test_a_bad_smtp_url_is_named_without_its_password(settings: Settings) -> None:
    settings.smtp_url = "smtpx://mailer:s3cr3t-pw@relay.example:587"
    key, ticket = new_key()
    with pytest.raises(ValueError) as failed:
        await email(settings, key, ticket, address("bad-url"))
    assert "smtpx://***@relay.example:587" in str(failed.value)
    assert "s3cr3t-pw" not in str(failed.value)


async def test_a_webhook_url_secret_reaches_neither_the_row_nor_the_error(
    settings: Settings, receiver: Receiver
) -> None:
    """An incoming-webhook URL's path is its credential (Slack: /services/T../B../<secret>)."""
    key, ticket = new_key("alert:webhook")
    url = receiver.url.replace("/hook", "/services/T0001/B0001/XXXXsecretXXXX")
    receiver.answers = [404]
    with pytest.raises(ApplicationError) as failed:
        await post_webhook_once(
            settings, key=key, ticket_id=ticket, kind="alert:t", url=url, payload={}
        )
    found = await row(settings.pool, key)
    for text in (found["recipient"], found["last_error"], failed.value.message):
        assert "XXXXsecretXXXX" not in text, text


@pytest.mark.parametrize(
    "recipient", ["a(comment)@example.org", '"q"@example.org', "x@y.example, v@w.example"]
)
async def test_an_address_that_is_not_one_rfc_5322_addr_spec_is_refused_and_not_sent(
    settings: Settings, smtp_sink: SmtpSink, recipient: str
) -> None:
    key, ticket = new_key()
    with pytest.raises(ApplicationError) as failed:
        await email(settings, key, ticket, recipient)
    assert failed.value.type == "RecipientRefused" and failed.value.non_retryable
    assert "RFC 5322" in failed.value.message
    assert copies(smtp_sink, key) == []


async def test_the_envelope_names_exactly_the_recipient(
    settings: Settings, smtp_sink: SmtpSink
) -> None:
    key, ticket = new_key()
    to = address("envelope")
    await email(settings, key, ticket, to)
    [copy] = copies(smtp_sink, key)
    assert copy.rcpt_tos == (to,) and copy.message["To"] == to
