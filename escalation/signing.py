"""Standard Webhooks signatures, both ways: the web app verifies the helpdesk's intake
webhooks with them, and de-escalation signs the ticket-status webhooks it sends back.

HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{raw body}", sent as
`webhook-signature: v1,<base64>`; secrets are "whsec_<base64>".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

SECRET_PREFIX = "whsec_"
# The helpdesk's secrets, newest first: the web app verifies with all, the worker signs with the
# first.
SECRETS_ENV = "ESCALATION_WEBHOOK_SECRETS"
# Shorter keys make HMAC guessable; Standard Webhooks recommends 24-64 bytes.
MIN_SECRET_BYTES = 16


def parse_secret(text: str) -> bytes:
    """The key bytes of a Standard Webhooks secret: "whsec_<base64>" or the bare base64.

    Raises ValueError naming the problem (never echoing the secret, which ends up in logs).
    """
    value = text.strip()
    if value.startswith(SECRET_PREFIX):
        value = value[len(SECRET_PREFIX) :]
    if not value:
        raise ValueError("webhook secret is empty (expected 'whsec_' followed by base64)")
    try:
        key = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "webhook secret is not valid base64 (expected 'whsec_' followed by base64)"
        ) from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"webhook secret is too short: {len(key)} bytes, at least {MIN_SECRET_BYTES} needed"
        )
    return key


def digest(secret: bytes, webhook_id: str, timestamp: int | str, body: bytes) -> bytes:
    """HMAC-SHA256 over "{id}.{timestamp}.{body}": the Standard Webhooks signed content."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return hmac.new(secret, signed, hashlib.sha256).digest()


def sign(secret: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value "v1,<base64>" a helpdesk would send."""
    return "v1," + base64.b64encode(digest(secret, webhook_id, timestamp, body)).decode()


def split_secrets(text: str) -> list[str]:
    """The entries of a secrets list, separated by commas or whitespace (not yet parsed)."""
    return [entry for entry in re.split(r"[\s,]+", text) if entry]
