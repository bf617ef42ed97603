"""The web app: intake API for the ticketing system, agent API, and the agents' dashboard.

`uvicorn web.app:app` runs it from the environment (see WebConfig.from_env); tests call
`create_app(WebConfig(...))` to point it at their own Temporal server, database and queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connections import MISCONFIGURED
from web import permissions, temporal_ops
from web.auth import forget_deliveries
from web.deps import LoginRequired
from web.limits import BodyLimit, BodyLimits
from web.routes import (
    agent_api,
    intake,
    knowledge_api,
    knowledge_page,
    metrics_page,
    ops,
    queue_page,
    sign_in,
    ticket_page,
)
from web.routes.html import not_yours
from web.routes.openapi import RETRY_AFTER
from web.services import Services, WebConfig, connect_pool, connect_temporal
from web.sessions import revoke_rotated

__all__ = ["WebConfig", "app", "create_app"]

log = logging.getLogger("web")
# Every route, by module (web/routes/): the JSON API, then the pages, then ops.
ROUTERS = (
    intake.webhooks,
    agent_api.agents,
    knowledge_api.knowledge,
    sign_in.router,
    queue_page.router,
    ticket_page.router,
    metrics_page.router,
    knowledge_page.router,
    ops.router,
)
STATIC = Path(__file__).resolve().parent / "static"
# Deliveries older than any retry of them (web/auth.py): drop them now and then.
DELIVERY_CLEANUP_SECONDS = 600.0

# What a request can meet when PostgreSQL is down, overloaded or slow: a pooled connection
# not given within the acquire timeout (TimeoutError), a statement over statement_timeout
# (QueryCanceledError), a server refusing connections or restarting.
DATABASE_OUTAGES: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.QueryCanceledError,
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,
    ConnectionError,
    TimeoutError,
)

STATUS_FOR: dict[type[temporal_ops.TicketError], int] = {
    temporal_ops.TicketNotFound: 404,
    temporal_ops.TicketClosed: 409,
    temporal_ops.Refused: 409,
    temporal_ops.NoAnswer: 504,
    temporal_ops.TemporalDown: 503,
}

# Pages render only our own files: no inline script, no third-party anything. A `<script>`
# that slipped through escaping would still not run.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


class SecurityHeaders:
    """Adds the CSP and friends to every response, with no exception: the app serves no page
    that needs an inline script or a CDN (no Swagger UI or ReDoc; `/openapi.json` is the spec)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", CONTENT_SECURITY_POLICY)
                if not path.startswith("/static/"):
                    headers.setdefault("cache-control", "no-store")
            await send(message)

        await self.app(scope, receive, with_headers)


async def _forget_old_deliveries(pool: asyncpg.Pool, config: WebConfig) -> None:
    """Old webhook deliveries, expired sessions and sign-in failures past their window."""
    while True:
        await asyncio.sleep(DELIVERY_CLEANUP_SECONDS)
        try:
            await forget_deliveries(pool)
            await revoke_rotated(pool, config.agents)
            await config.sign_in_throttle.forget_old(pool)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("could not drop old webhook ids, sessions or sign-in failures: %s", error)


def _stop_misconfigured(error: Exception) -> NoReturn:
    """A misconfiguration read from the environment ends the process with one line naming the
    variable and exit 2: raised from the lifespan, uvicorn would print a traceback."""
    print(f"web: error: {error}", file=sys.stderr, flush=True)
    os._exit(2)


def create_app(config: WebConfig | None = None) -> FastAPI:
    """The app; without `config` it reads the environment when it starts (not on import)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            resolved = config or WebConfig.from_env()
        except MISCONFIGURED as error:
            _stop_misconfigured(error)
        if not resolved.verifier.configured:
            log.warning("ESCALATION_WEBHOOK_SECRETS is empty: every webhook will get 401")
        if not len(resolved.agents):
            log.warning("ESCALATION_AGENTS is unset or empty: no agent can sign in")
        if resolved.metrics_token is None and not resolved.metrics_public:
            log.warning(
                "ESCALATION_METRICS_TOKEN is unset: /metrics answers 403 (set the token, or "
                "ESCALATION_METRICS_PUBLIC=1 when the app listens on a private address only)"
            )
        # Lazy: the app starts (and /healthz answers) while PostgreSQL is down; /readyz and
        # the 503s say so, and the pool connects once it is back.
        try:
            pool = await connect_pool(resolved.endpoints.database_url, resolved.database, lazy=True)
        except MISCONFIGURED as error:
            if config is not None:  # a test's own configuration: its failure is the test's
                raise
            _stop_misconfigured(error)
        try:  # a rotated token (or a removed agent) ends the sessions opened with the old one
            revoked = await revoke_rotated(pool, resolved.agents)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("could not revoke the sessions of rotated tokens: %s", error)
        else:
            if revoked:
                log.info("revoked %d expired or rotated agent session(s)", revoked)
        cleanup = asyncio.create_task(
            _forget_old_deliveries(pool, resolved), name="forget deliveries"
        )
        try:
            temporal = await connect_temporal(resolved.endpoints)
            app.state.services = Services(config=resolved, pool=pool, temporal=temporal)
            yield
        finally:
            cleanup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cleanup
            app.state.services = None
            await pool.close()

    app = FastAPI(
        title="Escalation service",
        version="1.0.0",
        summary="Intake for the ticketing system, actions and queue for support agents.",
        description=(
            "Webhook routes (tag *ticketing system*) need a Standard-Webhooks signature: "
            "`webhook-id`, `webhook-timestamp` (Unix seconds, at most 5 minutes off) and "
            "`webhook-signature: v1,<base64 HMAC-SHA256 of '{id}.{timestamp}.{body}'>` with "
            "one of the secrets in ESCALATION_WEBHOOK_SECRETS. A delivery is acted on once: "
            "the same `webhook-id` again (the sender's retry, same path and body) is answered "
            "200 with the first answer and header `Idempotent-Replayed: true`; reused for "
            "another request, 409. Reply and CSAT bodies carry `ticketId`, which must be the "
            "path's ticket (400 otherwise): the signature covers the body, not the path. "
            "Agent routes need `Authorization: Bearer <token>` (or the dashboard's session "
            "cookie, `__Host-escalation_session`: a server-side session opened by signing in)."
        ),
        lifespan=lifespan,
        # FastAPI's Swagger UI and ReDoc pages load their scripts from a CDN and start them
        # with an inline script: both refused by our CSP. The spec stays at /openapi.json, for
        # any viewer an agent runs locally (and for schemathesis).
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )

    def body_limits() -> BodyLimits:
        if config is not None:
            return config.body_limits
        found: Services | None = getattr(app.state, "services", None)
        return found.config.body_limits if found is not None else BodyLimits()

    # Before any route (and inside SecurityHeaders, so a 413 carries the same headers).
    app.add_middleware(BodyLimit, limits=body_limits)
    app.add_middleware(SecurityHeaders)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(temporal_ops.TicketError)
    async def ticket_error(request: Request, error: temporal_ops.TicketError) -> JSONResponse:
        kinds = type(error).__mro__  # subclasses (feedback.NotEscalated) answer as their base
        status = next((STATUS_FOR[kind] for kind in kinds if kind in STATUS_FOR), 502)
        if isinstance(error, temporal_ops.TemporalDown):
            # The reason (addresses, gRPC details) is logged by temporal_ops, not shown.
            return JSONResponse(
                {"detail": temporal_ops.TEMPORAL_DOWN}, status_code=503, headers=RETRY_AFTER
            )
        return JSONResponse({"detail": error.message}, status_code=status)

    @app.exception_handler(permissions.Forbidden)
    async def forbidden_ticket(request: Request, error: permissions.Forbidden) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": error.message}, status_code=403)
        return not_yours(request, None, error)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, error: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(error.next_path, safe='/')}", 303)

    async def database_down(request: Request, error: Exception) -> JSONResponse:
        # The reason is for the log; the answer says what is down, not why (no addresses,
        # no SQL, no driver messages).
        log.error("database unavailable (%s %s): %r", request.method, request.url.path, error)
        detail = (
            "the database did not answer in time"
            if isinstance(error, TimeoutError | asyncpg.QueryCanceledError)
            else "the database is unavailable"
        )
        return JSONResponse({"detail": detail}, status_code=503, headers=RETRY_AFTER)

    for kind in DATABASE_OUTAGES:
        app.add_exception_handler(kind, database_down)

    return app


app = create_app()
