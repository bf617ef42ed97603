"""Where the bench sees the service's effects, each stamped the moment it arrives:

- `MailProbe`: the real SMTP sink (aiosmtpd), noting when each acknowledgement is accepted;
- `CommitProbe`: a trigger in the bench's own fresh database NOTIFYs on every assignment row;
  PostgreSQL delivers a NOTIFY only when its transaction commits, so it marks the commit;
- `HookReceiver`: a local HTTP endpoint standing in for Slack, noting each alert webhook.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser

import asyncpg

from localstack.smtp import ReceivedMessage, SmtpSink
from localstack.webhook_sink import WebhookRequest, WebhookSink

NOTIFY_CHANNEL = "bench_assignments"
COMMIT_TRIGGER = f"""
CREATE OR REPLACE FUNCTION bench_assignment_committed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{NOTIFY_CHANNEL}', NEW.ticket_id);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS bench_assignment_committed ON support_assignments;
CREATE TRIGGER bench_assignment_committed AFTER INSERT ON support_assignments
    FOR EACH ROW EXECUTE FUNCTION bench_assignment_committed();
"""


class Arrivals:
    """The first arrival of each key, as (perf_counter, wall clock) seconds; awaitable.

    `mark` runs on the event loop; other threads call `mark_threadsafe`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.at: dict[str, tuple[float, float]] = {}
        self._waiters: dict[str, asyncio.Future[float]] = {}

    def mark(self, key: str, perf: float | None = None, wall: float | None = None) -> None:
        if key in self.at:
            return
        self.at[key] = (perf or time.perf_counter(), wall or time.time())
        waiter = self._waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(self.at[key][0])

    def mark_threadsafe(self, key: str) -> None:
        self._loop.call_soon_threadsafe(self.mark, key, time.perf_counter(), time.time())

    async def wait(self, key: str) -> float:
        """perf_counter time of the key's arrival (waits for it)."""
        if key in self.at:
            return self.at[key][0]
        waiter = self._waiters.get(key)
        if waiter is None:
            waiter = self._waiters[key] = self._loop.create_future()
        return await waiter

    async def wait_all(self, keys: Iterable[str], within: float, what: str) -> float:
        """perf_counter time of the last arrival among `keys`; TimeoutError names how many."""
        keys = list(keys)
        try:
            async with asyncio.timeout(within):
                times = await asyncio.gather(*(self.wait(key) for key in keys))
        except TimeoutError:
            missing = sum(key not in self.at for key in keys)
            raise TimeoutError(
                f"{missing} of {len(keys)} {what} not seen in {within:.0f}s"
            ) from None
        return max(times, default=time.perf_counter())


class MailProbe(SmtpSink):
    """The SMTP sink, keeping only when each ticket's mail was accepted (10k parsed messages
    would cost the bench process memory and CPU it shares with nothing else it measures)."""

    def __init__(self, arrivals: Arrivals) -> None:
        super().__init__(port=0, save=False)
        self.arrivals = arrivals

    def _store(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> ReceivedMessage:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        assert isinstance(headers, EmailMessage)
        ticket = str(headers.get("X-Escalation-Ticket", ""))
        if str(headers.get("Subject", "")).startswith("["):  # an alert to a team, not the customer
            ticket = f"alert:{ticket}"
        self.arrivals.mark_threadsafe(ticket)
        return ReceivedMessage(mail_from, tuple(rcpt_tos), headers, b"")


class CommitProbe:
    """LISTENs for the commit trigger's notifications on a connection of its own."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        self._conn: asyncpg.Connection | None = None

    async def start(self, database_url: str) -> None:
        self._conn = await asyncpg.connect(database_url)
        await self._conn.execute(COMMIT_TRIGGER)
        await self._conn.add_listener(NOTIFY_CHANNEL, self._notified)

    def _notified(self, conn: object, pid: int, channel: str, ticket_id: str) -> None:
        self.arrivals.mark(ticket_id)

    async def stop(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class HookReceiver(WebhookSink):
    """The local HTTP endpoint alerts are posted to: notes the `Idempotency-Key` of each POST
    (`<ticket>:<episode>:<alert kind>:...:webhook`) with its arrival time and answers 200."""

    def __init__(self, arrivals: Arrivals) -> None:
        super().__init__(self._arrived)
        self.arrivals = arrivals

    def _arrived(self, request: WebhookRequest) -> int:
        perf, wall = time.perf_counter(), time.time()
        key = request.headers.get("idempotency-key", "").removesuffix(":webhook")
        self.arrivals.mark(key, perf, wall)
        return 200
