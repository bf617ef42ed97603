"""Deliver something at most once per idempotency key, whatever the channel (email, webhook).

Record the `notifications` row, lock it, deliver, mark it sent — in one transaction, so a
concurrent or retried attempt waits on the lock and then finds it sent. A failed delivery is
counted on the row (attempts, last_error) on a separate connection after the rollback, then
re-raised for Temporal's retry with backoff: a channel that is down shows in the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio import activity

from activities.settings import Settings


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


async def deliver_once(
    settings: Settings, notification: Notification, send: Callable[[], Awaitable[None]]
) -> bool:
    """Run `send` unless the row under the key says it was sent; True when it already was."""
    n = notification
    try:
        async with settings.pool.acquire() as db, db.transaction():
            await db.execute(
                """
                INSERT INTO notifications (idempotency_key, ticket_id, kind, channel, recipient,
                                           subject, body, message_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (idempotency_key) DO NOTHING
                """,
                n.key, n.ticket_id, n.kind, n.channel, n.recipient, n.subject, n.body,
                n.message_id,
            )  # fmt: skip
            row = await db.fetchrow(
                "SELECT status FROM notifications WHERE idempotency_key = $1 FOR UPDATE", n.key
            )
            if row["status"] == "sent":
                return True
            await send()
            await db.execute(
                "UPDATE notifications SET status = 'sent', sent_at = now(),"
                " attempts = attempts + 1 WHERE idempotency_key = $1",
                n.key,
            )
    except Exception as error:
        await record_failed_attempt(settings, n, error)
        raise
    return False


async def record_failed_attempt(
    settings: Settings, notification: Notification, error: BaseException
) -> None:
    """Count a failed delivery and keep its error. The rollback may have removed the row (hence
    the upsert); a failure to record is logged, never allowed to hide the delivery error."""
    n = notification
    reason = f"{type(error).__name__}: {error}"[:2000]
    activity.logger.warning("%s delivery %s failed: %s", n.channel, n.key, reason)
    try:
        await settings.pool.execute(
            """
            INSERT INTO notifications (idempotency_key, ticket_id, kind, channel, recipient,
                                       subject, body, message_id, attempts, last_error)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)
            ON CONFLICT (idempotency_key) DO UPDATE
                SET attempts = notifications.attempts + 1, last_error = EXCLUDED.last_error
                WHERE notifications.status <> 'sent'
            """,
            n.key, n.ticket_id, n.kind, n.channel, n.recipient, n.subject, n.body, n.message_id,
            reason,
        )  # fmt: skip
    except Exception:
        activity.logger.exception("could not record the failed delivery %s", n.key)
