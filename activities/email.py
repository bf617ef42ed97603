"""Email delivery that never sends twice: every message has an idempotency key, a row in
`notifications`, and a Message-ID derived from the key."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

import aiosmtplib

from activities.delivery import Notification, deliver_once
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
    """Send the email once per key (see activities.delivery), with a Message-ID derived from
    the key so that even a resend after a crash is recognisably the same mail."""
    message_id = message_id_for(key)

    async def send() -> None:
        message = EmailMessage()
        message["From"] = settings.sender
        message["To"] = recipient
        message["Subject"] = subject
        message["Message-ID"] = message_id
        message["Date"] = formatdate(usegmt=True)
        message["X-Escalation-Ticket"] = ticket_id
        message.set_content(body)
        await deliver(settings.smtp_url, message)

    already_sent = await deliver_once(
        settings,
        Notification(
            key=key,
            ticket_id=ticket_id,
            kind=kind,
            channel="email",
            recipient=recipient,
            subject=subject,
            body=body,
            message_id=message_id,
        ),
        send,
    )
    return NotificationResult(
        idempotency_key=key,
        message_id=message_id,
        recipient=recipient,
        subject=subject,
        already_sent=already_sent,
    )
