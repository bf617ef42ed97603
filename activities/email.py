"""Email delivery once per idempotency key, at least once (activities.delivery says exactly
what that guarantees): every message has a row in `notifications` and a Message-ID derived
from the key, so a resend after a crash is recognisably the same mail.

A relay's permanent refusal — a 5xx reply to RCPT TO (unknown user, suppression list) or to
DATA (content refused) — is not retried: it raises a non-retryable ApplicationError of type
RecipientRefused that names the recipient and the reply, and the row says `refused`. Anything
else (connection refused, timeouts, a 4xx such as greylisting, and 5xx replies to the
connection, EHLO, AUTH or MAIL FROM, which are about our sender or credentials and shared by
every mail until someone fixes them) stays retryable.
"""

from __future__ import annotations

import hashlib
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

import aiosmtplib
from temporalio.exceptions import ApplicationError

from activities.delivery import Finish, Notification, deliver_once
from activities.settings import Settings
from escalation.messages import NotificationResult

SMTP_COMMAND_TIMEOUT = 20  # seconds, each command (activities.delivery bounds the whole send)


def message_id_for(key: str) -> str:
    """Stable across retries, so even a resend after a crash is recognisable as the same mail."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@escalation.photovault.example>"


def recipient_refused(recipient: str, code: int, text: str, what: str = "") -> ApplicationError:
    """'the mail relay refused rita@example.org: 550 5.1.1 user unknown', non-retryable."""
    return ApplicationError(
        f"the mail relay refused {what}{recipient}: {code} {text}".strip(),
        {"recipient": recipient, "code": code, "reply": text},
        type="RecipientRefused",
        non_retryable=True,
    )


# aiosmtplib's start_tls per scheme: None = when offered, True = required, False = not (TLS
# from the first byte).
START_TLS: dict[str, bool | None] = {"smtp": None, "smtp+starttls": True, "smtps": False}


def redact_smtp_url(smtp_url: str) -> str:
    """The URL without its credentials, for messages that reach logs and the Temporal UI."""
    url = urlsplit(smtp_url)
    host = url.netloc.rsplit("@", 1)[-1]
    return url._replace(netloc=f"***@{host}" if "@" in url.netloc else host).geturl()


async def deliver(smtp_url: str, message: EmailMessage, recipient: str) -> Finish:
    """Send through SMTP_URL: smtp://[user:pass@]host:port (STARTTLS when the relay offers
    it), smtp+starttls:// (STARTTLS required: a relay without it is an error, never plain
    text), or smtps:// for implicit TLS.

    Returns once the relay accepted the message (its 250 to DATA) with the QUIT still to do:
    the returned step says goodbye, run by deliver_once after the `sent` record.
    """
    url = urlsplit(smtp_url)
    if url.scheme not in START_TLS or not url.hostname:
        raise ValueError(
            "SMTP_URL must look like smtp://host:port, smtp+starttls://host:port or "
            f"smtps://host:port, got {redact_smtp_url(smtp_url)!r}"
        )
    client = aiosmtplib.SMTP(
        hostname=url.hostname,
        port=url.port or (465 if url.scheme == "smtps" else 25),
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        use_tls=url.scheme == "smtps",
        start_tls=START_TLS[url.scheme],
        timeout=SMTP_COMMAND_TIMEOUT,
    )
    try:
        await client.connect()
        # The envelope names its one recipient: never derived from the headers.
        await client.send_message(message, recipients=[recipient])
    except BaseException as error:
        client.close()
        refusal = permanent_refusal(error, str(message["To"]))
        if refusal is None:
            raise
        raise refusal from error

    async def quit() -> None:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            pass  # accepted is accepted; a relay that hangs up first loses nothing
        finally:
            client.close()

    return quit


def rfc5322_address(recipient: str) -> Address:
    """`recipient` as one RFC 5322 addr-spec, or a non-retryable refusal naming it: a value
    with a comment, a group or a second address must not reach the headers."""
    try:
        address = Address(addr_spec=recipient)
    except (ValueError, IndexError, HeaderParseError):
        address = None
    if address is None or address.addr_spec != recipient or not address.domain:
        raise ApplicationError(
            f"{recipient!r} is not one RFC 5322 address: not sent",
            {"recipient": recipient, "code": None, "reply": "not an RFC 5322 address"},
            type="RecipientRefused",
            non_retryable=True,
        )
    return address


def permanent_refusal(error: BaseException, recipient: str) -> ApplicationError | None:
    """RecipientRefused for a 5xx reply to RCPT TO (every recipient) or to DATA, else None."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        refusals = error.recipients
        if refusals and all(r.code >= 500 for r in refusals):
            first = refusals[0]
            return recipient_refused(first.recipient or recipient, first.code, first.message)
    elif isinstance(error, aiosmtplib.SMTPRecipientRefused) and error.code >= 500:
        return recipient_refused(error.recipient or recipient, error.code, error.message)
    elif isinstance(error, aiosmtplib.SMTPDataError) and error.code >= 500:
        return recipient_refused(recipient, error.code, error.message, "the message to ")
    return None


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
    the key so that even a resend after a crash is recognisably the same mail. A permanent
    refusal raises ApplicationError(type="RecipientRefused", non_retryable=True)."""
    message_id = message_id_for(key)

    async def send() -> Finish:
        message = EmailMessage()
        message["From"] = settings.sender
        message["To"] = rfc5322_address(recipient)
        message["Subject"] = subject
        message["Message-ID"] = message_id
        message["Date"] = formatdate(usegmt=True)
        message["X-Escalation-Ticket"] = ticket_id
        message.set_content(body)
        return await deliver(settings.smtp_url, message, recipient)

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
