"""What every server-rendered page shares: the templates, the page answer, and the refusals
(another origin, another team's ticket, no such ticket)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from web import permissions
from web.auth import Agent
from web.rendering import templates

TEMPLATES = templates()


def page(
    request: Request, name: str, context: dict[str, object], status_code: int = 200
) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


def forbidden(request: Request) -> HTMLResponse:
    return page(
        request,
        "error.j2",
        {
            "agent": None,
            "title": "Request refused",
            "message": "This form was not sent from this site's own pages. Reload and try again.",
        },
        status_code=403,
    )


def not_yours(request: Request, agent: Agent | None, error: permissions.Forbidden) -> HTMLResponse:
    """The 403 page for a ticket the agent may not see (web/permissions.py)."""
    context = {
        "agent": agent,
        "title": "Not your team's ticket",
        "message": f"You cannot open this ticket: {error.message}.",
    }
    return page(request, "error.j2", context, status_code=403)


def not_found(request: Request, agent: Agent | None, message: str) -> HTMLResponse:
    context = {"agent": agent, "title": "Not found", "message": message}
    return page(request, "error.j2", context, status_code=404)
