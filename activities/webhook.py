"""Outgoing webhooks once per idempotency key, at least once (activities.delivery says exactly
what that guarantees): every POST has a row in `notifications` (channel 'webhook') and carries
two dedupe ids derived from the key, the same on every retry, for receivers that deduplicate:
`Idempotency-Key` (the key itself) and the Standard Webhooks `webhook-id` (`msg_…`). With a
secret the POST is also signed the Standard Webhooks way (`webhook-timestamp`,
`webhook-signature`). Used by alerts and, signed, by the ticket-status webhook.

A 4xx answer other than 408, 409, 425 and 429 is permanent: it raises a non-retryable
ApplicationError of type WebhookRejected (the endpoint is gone, the token revoked, the payload
refused: retrying changes nothing) and the row says `refused`. 5xx, 408/409/425/429, 3xx and
transport errors (refused connections, timeouts) raise WebhookDeliveryError, retried.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from temporalio.exceptions import ApplicationError

from activities.delivery import Notification, deliver_once
from activities.settings import Settings
from escalation.signing import sign

USER_AGENT = "photovault-escalation/0.1"


# 4xx answers that mean "not now" rather than "never": timeout, conflict, too early, too many.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 409, 425, 429})


class WebhookDeliveryError(Exception):
    """The endpoint failed or could not be reached: retryable, Temporal backs off."""


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
    """One POST with the dedupe ids (and, with a secret, signed the Standard Webhooks way, as
    the helpdesk signs what it sends us, timestamped now). Anything but a 2xx answer raises:
    WebhookRejected (non-retryable) for a permanent 4xx, WebhookDeliveryError otherwise."""
    message_id = webhook_id(key)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": key,
        "webhook-id": message_id,
        "User-Agent": USER_AGENT,
    }
    if secret is not None:
        timestamp = int(time.time())
        headers |= {
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message_id, timestamp, body),
        }
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        raise WebhookDeliveryError(
            f"POST {redact_url(url)} failed: {type(error).__name__}: {error}"
        ) from error
    if response.is_success:
        return
    answer = f"POST {redact_url(url)} answered {response.status_code}: {response.text[:200]}"
    status = response.status_code
    if 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS:
        raise ApplicationError(
            answer, {"status": status}, type="WebhookRejected", non_retryable=True
        )
    raise WebhookDeliveryError(answer)


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
    returns True when a previous attempt had sent it. A permanent 4xx raises
    ApplicationError(type="WebhookRejected", non_retryable=True).

    The once-per-key mechanism is activities.delivery.deliver_once.
    """
    body = json.dumps(payload, ensure_ascii=False)
    return await deliver_once(
        settings,
        Notification(
            key=key,
            ticket_id=ticket_id,
            kind=kind,
            channel="webhook",
            recipient=redact_url(url),
            body=body,
        ),
        lambda: _post(settings.http(), url, key, body.encode(), secret),
    )
