"""Sign-in and sign-out: a server-side session behind a `__Host-` cookie, sign-ins throttled."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web.deps import (
    ServicesDep,
    safe_next,
    same_origin,
)
from web.routes.html import forbidden, page
from web.sessions import (
    LEGACY_SESSION_COOKIE,
    SESSION_COOKIE,
    close_session,
    describe_wait,
    open_session,
)

router = APIRouter(include_in_schema=False)


# --- login ---------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return page(request, "login.j2", login_context(next, None))


def login_context(next: str | None, error: str | None, name: str = "") -> dict[str, object]:
    return {"next": safe_next(next), "error": error, "agent": None, "name": name}


def client_address(request: Request) -> str:
    """The address the sign-in came from (behind a proxy: the proxy's, unless uvicorn is told
    to trust its forwarded headers, --forwarded-allow-ips)."""
    return request.client.host if request.client else "unknown"


@router.post("/login", response_model=None)
async def login(
    request: Request,
    found: ServicesDep,
    agent_name: Annotated[str, Form(alias="agent", max_length=128)] = "",
    token: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2_000)] = "/",
) -> Response:
    """Checks the agent's name and token (throttled per client address and per agent), then
    opens a server-side session: its random id in a `__Host-` cookie (HttpOnly, Secure,
    SameSite=Strict), the token itself never stored in the browser."""
    if not same_origin(request, found):
        return forbidden(request)
    name, address = agent_name.strip(), client_address(request)
    throttle = found.config.sign_in_throttle
    wait = await throttle.retry_after(found.pool, address, name)
    if wait is not None:
        error = f"Too many failed sign-ins: try again in {describe_wait(wait)}."
        response = page(request, "login.j2", login_context(next, error, name), status_code=429)
        response.headers["retry-after"] = str(wait)
        return response
    agent = found.config.agents.authenticate(token.strip())
    if agent is None or agent.name != name:
        await throttle.failed(found.pool, address, name)
        error = "That agent name and token do not match."
        return page(request, "login.j2", login_context(next, error, name), status_code=401)
    await throttle.succeeded(found.pool, address, name)
    lifetime = timedelta(seconds=found.config.session_seconds)
    session_id = await open_session(found.pool, agent, token.strip(), lifetime)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=found.config.session_seconds,
        httponly=True,
        samesite="strict",
        secure=True,
        path="/",
    )
    if LEGACY_SESSION_COOKIE in request.cookies:
        response.delete_cookie(LEGACY_SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.post("/logout", response_model=None)
async def logout(request: Request, found: ServicesDep) -> Response:
    """Ends the session on the server (its row is deleted): the cookie is worth nothing after."""
    if not same_origin(request, found):
        return forbidden(request)
    await close_session(found.pool, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response
