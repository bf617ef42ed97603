"""Outgoing webhooks that never post twice: every POST has an idempotency key, a row in
`notifications` (channel 'webhook') and the key in an `Idempotency-Key` header for receivers
that deduplicate too. Used by alerts and, signed, by the ticket-status webhook."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from activities.delivery import Notification, deliver_once
from activities.settings import Settings
from escalation.signing import sign

USER_AGENT = "photovault-escalation/0.1"


class WebhookDeliveryError(Exception):
    """The endpoint answered non-2xx or could not be reached: retryable, Temporal backs off."""


def redact_url(url: str) -> str:
    """scheme://host[:port]/… — an incoming-webhook URL's path is its secret, and error
    messages end up in logs and the Temporal UI."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}/…"


def webhook_id(key: str) -> str:
    """A Standard Webhooks id stable across retries (receivers drop a second delivery)."""
    return f"msg_{uuid.uuid5(uuid.NAMESPACE_URL, key).hex}"


async def _post(
    client: httpx.AsyncClient, url: str, key: str, body: bytes, secret: bytes | None = None
) -> None:
    """One POST; anything but a 2xx answer raises WebhookDeliveryError. With a secret, signed
    the Standard Webhooks way (as the helpdesk signs what it sends us), timestamped now."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": key,
        "User-Agent": USER_AGENT,
    }
    if secret is not None:
        message_id, timestamp = webhook_id(key), int(time.time())
        headers |= {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message_id, timestamp, body),
        }
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
    secret: bytes | None = None,
) -> bool:
    """POST `payload` as JSON to `url` unless the row under `key` says it was sent already;
    returns True when a previous attempt had sent it.

    The once-per-key mechanism is activities.delivery.deliver_once.
    """
    body = json.dumps(payload, ensure_ascii=False)
    return await deliver_once(
        settings,
        Notification(
            key=key, ticket_id=ticket_id, kind=kind, channel="webhook", recipient=url, body=body
        ),
        lambda: _post(settings.http(), url, key, body.encode(), secret),
    )
