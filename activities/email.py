"""Email delivery that never sends twice: every message has an idempotency key, a row in
`notifications`, and a Message-ID derived from the key."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

import aiosmtplib
from temporalio import activity

from activities.settings import Settings
from escalation.messages import NotificationResult


def message_id_for(key: str) -> str:
    """Stable across retries, so even a resend after a crash is recognisable as the same mail."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@escalation.photovault.example>"


async def deliver(smtp_url: str, message: EmailMessage) -> None:
    """Send through SMTP_URL: smtp://[user:pass@]host:port, or smtps:// for implicit TLS."""
    url = urlsplit(smtp_url)
    if url.scheme not in {"smtp", "smtps"} or not url.hostname:
        raise ValueError(f"SMTP_URL must look like smtp://host:port, got {smtp_url!r}")
    await aiosmtplib.send(
        message,
        hostname=url.hostname,
        port=url.port or (465 if url.scheme == "smtps" else 25),
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        use_tls=url.scheme == "smtps",
        start_tls=False if url.scheme == "smtps" else None,
        timeout=20,
    )


async def send_email_once(
    settings: Settings,
    *,
    key: str,
    ticket_id: str,
    kind: str,
    recipient: str,
    subject: str,
    body: str,
) -> NotificationResult:
    """Record, send, mark sent — in one transaction holding the row lock, so a concurrent or
    retried attempt waits and then finds the message already sent."""
    message_id = message_id_for(key)
    try:
        async with settings.pool.acquire() as db, db.transaction():
            await db.execute(
                """
                INSERT INTO notifications (idempotency_key, ticket_id, kind, channel, recipient,
                                           subject, body, message_id)
                VALUES ($1, $2, $3, 'email', $4, $5, $6, $7)
                ON CONFLICT (idempotency_key) DO NOTHING
                """,
                key,
                ticket_id,
                kind,
                recipient,
                subject,
                body,
                message_id,
            )
            row = await db.fetchrow(
                "SELECT status FROM notifications WHERE idempotency_key = $1 FOR UPDATE", key
            )
            already_sent = row["status"] == "sent"
            if not already_sent:
                message = EmailMessage()
                message["From"] = settings.sender
                message["To"] = recipient
                message["Subject"] = subject
                message["Message-ID"] = message_id
                message["Date"] = formatdate(usegmt=True)
                message["X-Escalation-Ticket"] = ticket_id
                message.set_content(body)
                await deliver(settings.smtp_url, message)
                await db.execute(
                    "UPDATE notifications SET status = 'sent', sent_at = now(),"
                    " attempts = attempts + 1 WHERE idempotency_key = $1",
                    key,
                )
    except Exception as error:
        await record_failed_attempt(
            settings,
            key=key,
            ticket_id=ticket_id,
            kind=kind,
            channel="email",
            recipient=recipient,
            subject=subject,
            body=body,
            message_id=message_id,
            error=error,
        )
        raise
    return NotificationResult(
        idempotency_key=key,
        message_id=message_id,
        recipient=recipient,
        subject=subject,
        already_sent=already_sent,
    )


async def record_failed_attempt(
    settings: Settings,
    *,
    key: str,
    ticket_id: str,
    kind: str,
    channel: str,
    recipient: str,
    subject: str | None,
    body: str,
    error: BaseException,
    message_id: str | None = None,
) -> None:
    """Count a failed delivery and keep its error on the notification row, so a channel that is
    down shows in the database while Temporal retries. Runs on its own connection after the
    sending transaction rolled back (that rollback may have removed the row: hence the upsert);
    a failure to record is logged, never allowed to hide the delivery error."""
    reason = f"{type(error).__name__}: {error}"[:2000]
    activity.logger.warning("%s delivery %s failed: %s", channel, key, reason)
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
            key,
            ticket_id,
            kind,
            channel,
            recipient,
            subject,
            body,
            message_id,
            reason,
        )
    except Exception:
        activity.logger.exception("could not record the failed delivery %s", key)
