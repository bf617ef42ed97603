"""Bounded request bodies, before any route runs.

`BodyLimit` is pure ASGI (no Starlette `Request`, nothing buffered): a declared
`Content-Length` over the limit is answered 413 before the app is called at all, and a body
sent in chunks (or longer than it said) is counted as the app reads it; the chunk that crosses
the limit is answered 413 at once, the app gets an error from `receive()` and whatever it tries
to answer afterwards is dropped. The 413 carries `Connection: close`, so the server stops
reading the rest of the body instead of draining it.

Limits: `webhook` (256 KB) for everything under `/api/` (the helpdesk's signed webhooks and
the agents' JSON), `form` (64 KB) for every other path (the sign-in form, the dashboard's
forms). A ticket payload is far smaller than 256 KB (escalation/models.py bounds its fields),
a form far smaller than 64 KB.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEBHOOK_LIMIT_ENV = "ESCALATION_WEBHOOK_BODY_LIMIT"
FORM_LIMIT_ENV = "ESCALATION_FORM_BODY_LIMIT"
DEFAULT_WEBHOOK_LIMIT = 256 * 1024
DEFAULT_FORM_LIMIT = 64 * 1024
API_PREFIX = "/api/"


def _size(environ: Mapping[str, str], name: str, default: int) -> int:
    """A byte count from the environment: digits, optionally ending in k or m (1024s)."""
    text = environ.get(name, "").strip().lower()
    if not text:
        return default
    factor = 1
    if text[-1] in "km":
        factor = 1024 if text[-1] == "k" else 1024 * 1024
        text = text[:-1]
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"{name} must be a positive number of bytes (e.g. 262144 or 256k)")
    return int(text) * factor


@dataclass(frozen=True)
class BodyLimits:
    """The largest request body accepted, in bytes, per kind of route."""

    webhook: int = DEFAULT_WEBHOOK_LIMIT
    form: int = DEFAULT_FORM_LIMIT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BodyLimits:
        env = os.environ if environ is None else environ
        return cls(
            webhook=_size(env, WEBHOOK_LIMIT_ENV, DEFAULT_WEBHOOK_LIMIT),
            form=_size(env, FORM_LIMIT_ENV, DEFAULT_FORM_LIMIT),
        )

    def for_path(self, path: str) -> int:
        return self.webhook if path.startswith(API_PREFIX) else self.form


class BodyTooLarge(Exception):
    """Raised from `receive()` into the app once the body has gone over the limit (the 413 is
    already sent)."""


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


async def refuse(
    send: Send, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> None:
    """A small JSON answer that also closes the connection: the rest of the request body (if
    any) is never read."""
    body = json.dumps({"detail": detail}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def too_large_detail(limit: int) -> str:
    return f"request body larger than {limit} bytes"


class BodyLimit:
    """Refuses (413) request bodies over the limit for their path; `limits` is asked per
    request (the app's configuration is known only once its lifespan has run)."""

    def __init__(self, app: ASGIApp, limits: Callable[[], BodyLimits] = BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits().for_path(scope.get("path", ""))
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await refuse(send, 400, "invalid Content-Length")
                return
            if int(declared) > limit:
                await refuse(send, 413, too_large_detail(limit))
                return

        received = 0
        refused = False  # our 413 went out: the app's own answer is dropped
        started = False  # the app began its answer: too late for a 413

        async def counted_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started and not refused:
                        refused = True
                        await refuse(send, 413, too_large_detail(limit))
                    raise BodyTooLarge(too_large_detail(limit))
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The app failed on the body we cut short (BodyTooLarge or what it made of it):
            # the client already has its 413.
