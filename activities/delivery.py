"""Deliver something once per idempotency key, whatever the channel (email, webhook): at least
once, and at most once except in one window, stated exactly below.

One delivery is three steps on its `notifications` row; no transaction, connection or row lock
is held while the network is used:

1. Claim — one statement (INSERT … ON CONFLICT DO UPDATE … RETURNING), committed at once. The
   row under the key is created or read. `sent`: nothing is sent, deliver_once returns True.
   Otherwise this attempt claims it: status `sending`, `attempts + 1`, `claimed_at`,
   `claimed_by` (the activity execution, or the process outside an activity).
2. Send — with no connection held, bounded by SEND_TIMEOUT_SECONDS as a whole.
3. Record — as soon as the channel acknowledged (SMTP's 250 to DATA, an HTTP 2xx) one UPDATE
   marks the row `sent`, `sent_at`; nothing else runs between the two (SMTP's QUIT waits
   until after it: `send` may return such a `finish` step). A failed send goes on the row
   instead — `last_error`, status back to `pending` for a retryable error (re-raised for
   Temporal's retry with backoff), or `refused` for a permanent refusal (the channel raises a
   non-retryable ApplicationError: RecipientRefused, WebhookRejected; re-raised as is).

What is guaranteed:

- At most one send per key, except when the worker dies — or the `sent` record fails — after
  the channel accepted and before the `sent` record is written. Then the row stays `sending`
  and the retry sends again, with the same dedupe ids: the email's `Message-ID`, the webhook's
  `webhook-id` and `Idempotency-Key`, all derived from the key. Receivers that deduplicate by
  them see one message; the others (a mailbox, a Slack incoming webhook) see two identical
  copies. The same holds for an acknowledgement lost in transit (the relay accepted, its 250
  never arrived, or the send timed out waiting for it): the retry resends.
- At least once: the row says `sent` only after the channel accepted; every other outcome
  leaves it to a retry (`pending`, or a stale `sending`) or says why it never will be
  (`refused`, with the reply in last_error). Giving up after N retries is the caller's choice.
- A refused key is not sent again to the same recipient: a retry raises the same
  non-retryable error without contacting the channel. Under a new recipient (an address
  fixed in the helpdesk or the policy) the key is sent again.

Two attempts of the same key at once (decided here): the claim is one atomic statement, so one
attempt wins and sends. The other finds a claim younger than CLAIM_LEASE and fails retryably
with DeliveryInFlight ("in flight elsewhere") without sending; its retry finds the row `sent`.
A claim older than CLAIM_LEASE — three times the send bound, so a live sender is never
overtaken — is taken over, and so is a claim left by an earlier attempt of the same activity
execution: Temporal starts attempt N+1 only after attempt N failed or timed out, so that
attempt died or gave up, maybe after the channel accepted (the window above). A worker frozen
for longer than that (or a timed-out attempt still sending on a cut-off worker) can still
send alongside its successor: two copies, same dedupe id, as above. An attempt cancelled
mid-send (worker shutdown) leaves its claim to be taken over the same way.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.settings import Settings

SEND_TIMEOUT_SECONDS = 20.0  # one send as a whole: connect, every command, the answer
CLAIM_LEASE = timedelta(seconds=3 * SEND_TIMEOUT_SECONDS)
FINISH_TIMEOUT_SECONDS = 5.0  # e.g. SMTP's QUIT, after the record
RECORD_TRIES = 3  # the `sent` UPDATE, retried at once in-process: a resend costs more

# What `send` may return: a step to run after the `sent` record (e.g. SMTP's QUIT).
Finish = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Notification:
    """One row of `notifications`: what is delivered, to whom, under which key."""

    key: str
    ticket_id: str
    kind: str
    channel: str  # 'email' | 'webhook'
    recipient: str
    body: str
    subject: str | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class Claim:
    """This attempt's hold on the row: who claimed it, and when (the two together identify it,
    so a late failure never releases a claim another attempt has taken over)."""

    claimed_by: str
    attempt: int
    claimed_at: datetime | None = None


def claimant() -> Claim:
    """The activity execution ('<run id>/<activity id>', its attempt), or this process."""
    if activity.in_activity():
        info = activity.info()
        return Claim(f"{info.workflow_run_id}/{info.activity_id}", info.attempt)
    return Claim(f"pid {os.getpid()}@{socket.gethostname()}", 0)


async def deliver_once(
    settings: Settings,
    notification: Notification,
    send: Callable[[], Awaitable[Finish | None]],
) -> bool:
    """Claim the row, run `send`, record the outcome (see the module docstring); True when an
    earlier attempt had sent it already, and then `send` is not called."""
    n = notification
    claim = await _claim(settings.pool, n, claimant())
    if claim is None:
        return True
    deadline = asyncio.timeout(SEND_TIMEOUT_SECONDS)
    try:
        async with deadline:
            finish = await send()
    except Exception as error:
        if not (isinstance(error, TimeoutError) and deadline.expired()):
            await _record_failure(settings.pool, n, claim, error)
            raise
        timeout = TimeoutError(f"no answer within {SEND_TIMEOUT_SECONDS:g} s")
        await _record_failure(settings.pool, n, claim, timeout)
        raise timeout from error
    try:
        settings.faults.maybe_exit_after_send()  # test hook: the crash window itself
        # Cancelling the activity now must not cancel the record of what the channel accepted.
        await asyncio.shield(_record_sent(settings.pool, n))
    finally:
        if finish is not None:
            await _finish(n, finish)
    return False


async def _finish(n: Notification, finish: Finish) -> None:
    """The channel's goodbye after the record: bounded, and never an error (it was accepted)."""
    try:
        async with asyncio.timeout(FINISH_TIMEOUT_SECONDS):
            await finish()
    except Exception as error:
        activity.logger.info("%s %s: after delivery: %r", n.channel, n.key, error)


CLAIM = """
INSERT INTO notifications AS n (idempotency_key, ticket_id, kind, channel, recipient, subject,
                                body, message_id, status, attempts, claimed_at, claimed_by,
                                claim_attempt)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'sending', 1, now(), $9, $10)
ON CONFLICT (idempotency_key) DO UPDATE
   SET status = 'sending', attempts = n.attempts + 1, claimed_at = now(),
       claimed_by = EXCLUDED.claimed_by, claim_attempt = EXCLUDED.claim_attempt,
       recipient = EXCLUDED.recipient, subject = EXCLUDED.subject, body = EXCLUDED.body,
       message_id = EXCLUDED.message_id
 WHERE n.status = 'pending'
    OR (n.status = 'refused' AND n.recipient <> EXCLUDED.recipient)
    OR (n.status = 'sending'
        AND (n.claimed_at IS NULL OR n.claimed_at < now() - $11::interval
             OR (n.claimed_by = EXCLUDED.claimed_by
                 AND n.claim_attempt < EXCLUDED.claim_attempt)))
RETURNING claimed_at
"""


async def _claim(pool: asyncpg.Pool, n: Notification, claim: Claim) -> Claim | None:
    """Claim the row for this attempt (None: it was sent already). A fresh claim by another
    attempt raises DeliveryInFlight (retryable); a refusal for this recipient raises the
    refusal again (non-retryable)."""
    for _ in range(3):  # the row can change between the two statements; settle in a few rounds
        claimed_at = await pool.fetchval(
            CLAIM,
            n.key, n.ticket_id, n.kind, n.channel, n.recipient, n.subject, n.body,
            n.message_id, claim.claimed_by, claim.attempt, CLAIM_LEASE,
        )  # fmt: skip
        if claimed_at is not None:
            return Claim(claim.claimed_by, claim.attempt, claimed_at)
        row = await pool.fetchrow(
            "SELECT status, recipient, last_error, claimed_by,"
            " extract(epoch FROM now() - claimed_at) AS age"
            " FROM notifications WHERE idempotency_key = $1",
            n.key,
        )
        if row is None or row["status"] == "pending":
            continue
        if row["status"] == "sent":
            return None
        if row["status"] == "refused":
            kind, _, reason = (row["last_error"] or "").partition(": ")
            raise ApplicationError(
                reason or f"{n.channel} {n.key} was refused",
                {"recipient": row["recipient"], "already_refused": True},
                type=kind or "DeliveryRefused",
                non_retryable=True,
            )
        if row["status"] == "sending":
            raise ApplicationError(
                f"{n.channel} {n.key} is in flight elsewhere (claimed by {row['claimed_by']}"
                f" {float(row['age'] or 0):.1f} s ago); not sending a second copy",
                type="DeliveryInFlight",
            )
    raise ApplicationError(f"{n.channel} {n.key}: could not claim the row", type="DeliveryRace")


async def _record_sent(pool: asyncpg.Pool, n: Notification) -> None:
    """Mark the row sent, tried RECORD_TRIES times: failing here means a resend later."""
    for attempt in range(RECORD_TRIES):
        try:
            await pool.execute(
                "UPDATE notifications SET status = 'sent', sent_at = now()"
                " WHERE idempotency_key = $1 AND status <> 'sent'",
                n.key,
            )
            return
        except Exception as error:
            activity.logger.warning("%s %s sent, recording it failed: %s", n.channel, n.key, error)
            if attempt + 1 == RECORD_TRIES:
                raise ApplicationError(
                    f"{n.channel} {n.key} was delivered but recording it failed"
                    f" ({type(error).__name__}: {error}); a retry sends it again under the"
                    " same dedupe id",
                    type="DeliveryNotRecorded",
                ) from error
            await asyncio.sleep(0.2 * 4**attempt)


def failure_reason(error: BaseException) -> str:
    """'<type>: <message>' — an ApplicationError by its own type, so a refusal read back from
    the row is raised again as the same type."""
    if isinstance(error, ApplicationError):
        return f"{error.type or 'ApplicationError'}: {error.message}"[:2000]
    return f"{type(error).__name__}: {error}"[:2000]


async def _record_failure(
    pool: asyncpg.Pool, n: Notification, claim: Claim, error: BaseException
) -> None:
    """Release this attempt's claim with the error: `refused` for a permanent refusal (a
    non-retryable ApplicationError), else `pending`. A claim taken over meanwhile is left
    alone; a failure to record is logged, never allowed to hide the delivery error."""
    refused = isinstance(error, ApplicationError) and error.non_retryable
    reason = failure_reason(error)
    activity.logger.warning("%s delivery %s failed: %s", n.channel, n.key, reason)
    try:
        await pool.execute(
            """
            UPDATE notifications SET status = $2, last_error = $3
             WHERE idempotency_key = $1 AND status = 'sending'
               AND claimed_by = $4 AND claimed_at = $5
            """,
            n.key, "refused" if refused else "pending", reason, claim.claimed_by,
            claim.claimed_at,
        )  # fmt: skip
    except Exception:
        activity.logger.exception("could not record the failed delivery %s", n.key)
