"""The web app's one dependencies module: every route reaches the app's connections
(`ServicesDep`) and the caller (`ApiAgent`, `PageAgent`, the webhook guard) through it. FastAPI
glue around web/auth.py and web/sessions.py: who may call what.

- Helpdesk webhooks: `SignedWebhookRoute` checks the Standard-Webhooks signature on the raw
  bytes BEFORE FastAPI parses or validates anything (an unsigned request learns nothing about
  our validation and starts nothing). A delivery already answered (the sender's retry: same
  webhook id, same request) gets its first answer again, 200, without acting; the id reused for
  another request is refused (409). A new delivery's successful answer is kept with its id
  after the handler ran, holding no connection meanwhile; should keeping it fail, the retry
  acts again, and the effects are idempotent on the id (Temporal update id; the workflow's
  seen deliveries for signals; the memo of the run a delivery started).
- Agents: `Authorization: Bearer <token>`, or the server-side session the login form opens
  (its id in a `__Host-` cookie: HttpOnly, Secure, SameSite=Strict). A request authenticated
  by the cookie that changes something must also come from our own origin (Origin, else
  Referer), so another site cannot post forms for us.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from web.auth import Agent, FirstAnswer, WebhookAuthError, first_answer, keep_answer
from web.services import Services, origin_of
from web.sessions import SESSION_COOKIE, session_agent

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="agentToken",
    description="An agent's token (see ESCALATION_AGENTS); the agent's name is taken from it.",
)
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="agentSession",
    description="The session cookie set by POST /login: a random session id held by the server "
    "(browsers only; same-origin posts).",
)


def unauthorized(reason: str, *, close: bool = False) -> JSONResponse:
    """401 with a reason safe to show; `close` for an answer given before the body was read
    (the server then stops reading instead of draining what the sender still streams)."""
    headers = {"connection": "close"} if close else None
    return JSONResponse({"detail": reason}, status_code=401, headers=headers)


# --- webhooks ------------------------------------------------------------------------------


REPLAYED_HEADER = "idempotent-replayed"  # as Stripe names it
FIRST_STATUS_HEADER = "webhook-first-status"


def replayed(first: FirstAnswer) -> Response:
    """A delivery answered before: its first answer again, 200 (the sender stops retrying)."""
    return Response(
        first.answer,
        status_code=200,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true", FIRST_STATUS_HEADER: str(first.status)},
    )


def reused(webhook_id: str, first: FirstAnswer) -> JSONResponse:
    return JSONResponse(
        {
            "detail": f"webhook-id {webhook_id} was already delivered with another request "
            f"(to {first.request_path}): a delivery id belongs to one request"
        },
        status_code=409,
    )


class SignedWebhookRoute(APIRoute):
    """A route only a helpdesk holding one of our webhook secrets can call; the handler finds
    the delivery's id in `request.state.webhook_id` (see `delivery_id`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def verified(request: Request) -> Response:
            found = services(request)
            verifier = found.config.verifier
            try:
                # Missing or stale headers: refused before a byte of the body is read (and
                # the connection closed, so the server does not drain it either).
                verifier.check_headers(request.headers, datetime.now(UTC))
            except WebhookAuthError as error:
                return unauthorized(error.reason, close=True)
            # Read (within web/limits.py's bound) before a pooled connection is taken: a slow
            # sender holds none. Cached: FastAPI parses these same bytes afterwards.
            body = await request.body()
            try:
                webhook_id = verifier.verify(request.headers, body, datetime.now(UTC))
            except WebhookAuthError as error:
                return unauthorized(error.reason)
            path = request.url.path
            first = await first_answer(found.pool, webhook_id)
            if first is not None:
                return replayed(first) if first.answers(path, body) else reused(webhook_id, first)
            request.state.webhook_id = webhook_id
            response = await handle(request)
            if response.status_code >= 400:  # nothing done: the retry is decided afresh
                return response
            answer = bytes(getattr(response, "body", b"")).decode("utf-8")
            status = response.status_code
            first = await keep_answer(found.pool, webhook_id, path, body, status, answer)
            if first is None:
                return response
            return replayed(first) if first.answers(path, body) else reused(webhook_id, first)

        return verified


def delivery_id(request: Request) -> str:
    """The webhook id of the delivery being handled (set by SignedWebhookRoute)."""
    found: str = request.state.webhook_id
    return found


def webhook_headers(
    webhook_id: Annotated[
        str, Header(description="Unique id of this delivery (the same on retries).")
    ],
    webhook_timestamp: Annotated[
        str, Header(description="Unix seconds when it was signed; refused if 5 min off.")
    ],
    webhook_signature: Annotated[
        str,
        Header(
            description='"v1,<base64 HMAC-SHA256 of id.timestamp.body>", space-separated if '
            "signed with several secrets."
        ),
    ],
) -> None:
    """Documents the Standard-Webhooks headers; SignedWebhookRoute has already checked them."""


# --- agents --------------------------------------------------------------------------------


class LoginRequired(Exception):
    """A page was asked for without a valid session: send the browser to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def same_origin(request: Request, found: Services) -> bool:
    """The request came from one of our own pages (CSRF defence for cookie-authenticated
    posts; browsers always send Origin on POST, Referer is the fallback)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        referer = request.headers.get("referer")
        if not referer:
            return False
        origin = origin_of(referer)
    return origin.lower() in found.config.trusted_origins(request)


async def api_agent(
    request: Request,
    found: Annotated[Services, Depends(services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    session: Annotated[str | None, Depends(cookie_scheme)],
) -> Agent:
    """The agent calling the API: 401 without a valid token; 403 for a cookie-authenticated
    change coming from another origin."""
    if credentials is not None:
        agent = found.config.agents.authenticate(credentials.credentials)
        if agent is None:
            raise HTTPException(401, "invalid agent token", headers={"WWW-Authenticate": "Bearer"})
        return agent
    agent = await session_agent(found.pool, found.config.agents, session)
    if agent is None:
        raise HTTPException(401, "agent token required", headers={"WWW-Authenticate": "Bearer"})
    if request.method in UNSAFE_METHODS and not same_origin(request, found):
        raise HTTPException(403, "cross-origin request refused")
    return agent


def local_path(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


async def page_agent(request: Request, found: Annotated[Services, Depends(services)]) -> Agent:
    """The agent behind a page request (session cookie); otherwise off to /login."""
    agent = await session_agent(
        found.pool, found.config.agents, request.cookies.get(SESSION_COOKIE)
    )
    if agent is None:
        # After a refused form post, come back to the page the form was on.
        if request.method == "GET":
            raise LoginRequired(local_path(request))
        path = request.url.path
        raise LoginRequired(
            "/knowledge" if path.startswith("/knowledge/") else path.split("/actions/")[0]
        )
    return agent


def safe_next(value: str | None) -> str:
    """Where to go after login: only a path on this site (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def services(request: Request) -> Services:
    """The app's connections (a FastAPI dependency)."""
    found: Services | None = getattr(request.app.state, "services", None)
    if found is None:
        raise RuntimeError("the web app's lifespan has not run: no connections")
    return found


# The dependencies as route parameters: the app's connections, and the agent acting (a bearer
# token or a session for the JSON API; a session for the pages, else the sign-in page).
ServicesDep = Annotated[Services, Depends(services)]
ApiAgent = Annotated[Agent, Depends(api_agent)]
PageAgent = Annotated[Agent, Depends(page_agent)]
