"""Outgoing webhooks that never post twice: every POST has an idempotency key, a row in
`notifications` (channel 'webhook') and the key in an `Idempotency-Key` header for receivers
that deduplicate too. Used by alerts now and by ticket-status webhooks later."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from activities.email import record_failed_attempt
from activities.settings import Settings

WEBHOOK_TIMEOUT_SECONDS = 10.0
USER_AGENT = "photovault-escalation/0.1"


class WebhookDeliveryError(Exception):
    """The endpoint answered non-2xx or could not be reached: retryable, Temporal backs off."""


def redact_url(url: str) -> str:
    """scheme://host[:port]/… — an incoming-webhook URL's path is its secret, and error
    messages end up in logs and the Temporal UI."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}/…"


async def _post(url: str, key: str, body: bytes) -> None:
    """One POST; anything but a 2xx answer raises WebhookDeliveryError."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": key,
        "User-Agent": USER_AGENT,
    }
    async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise WebhookDeliveryError(
                f"POST {redact_url(url)} failed: {type(error).__name__}: {error}"
            ) from error
    if not response.is_success:
        raise WebhookDeliveryError(
            f"POST {redact_url(url)} answered {response.status_code}: {response.text[:200]}"
        )


async def post_webhook_once(
    settings: Settings,
    *,
    key: str,
    ticket_id: str,
    kind: str,
    url: str,
    payload: dict[str, Any],
) -> bool:
    """POST `payload` as JSON to `url` unless the row under `key` says it was sent already;
    returns True when a previous attempt had sent it.

    Record, post, mark sent in one transaction holding the row lock, so a concurrent or retried
    attempt waits and then finds it sent. A failure is counted on the row (attempts,
    last_error) on a separate connection after the rollback, then re-raised for Temporal's
    retry with backoff.
    """
    body = json.dumps(payload, ensure_ascii=False)
    try:
        async with settings.pool.acquire() as db, db.transaction():
            await db.execute(
                """
                INSERT INTO notifications (idempotency_key, ticket_id, kind, channel, recipient,
                                           body)
                VALUES ($1, $2, $3, 'webhook', $4, $5)
                ON CONFLICT (idempotency_key) DO NOTHING
                """,
                key,
                ticket_id,
                kind,
                url,
                body,
            )
            row = await db.fetchrow(
                "SELECT status FROM notifications WHERE idempotency_key = $1 FOR UPDATE", key
            )
            if row["status"] == "sent":
                return True
            await _post(url, key, body.encode())
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
            channel="webhook",
            recipient=url,
            subject=None,
            body=body,
            error=error,
        )
        raise
    return False
