"""What every JSON API route declares: its error answers (so `/openapi.json` is the whole
contract) and the path parameters they share."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from web.schemas import (
    TICKET_ID_PATTERN,
    ErrorDetail,
)

ERRORS: dict[int, str] = {
    400: "The body could not be read as JSON text (e.g. not UTF-8), or (webhooks) the body's "
    "`ticketId` is not the ticket in the path",
    401: "Not authenticated: unsigned, forged or stale webhook, or no valid token",
    403: "Cookie-authenticated change from another origin, or (agents) a ticket not held by a "
    "team the agent works for (an agent's team, a manager's teams; legal tickets for the legal "
    "team and admins only)",
    404: "No escalation for this ticket",
    409: "The workflow refused the request (the reason is in `detail`), or the ticket is closed",
    413: "The body is larger than the limit (ESCALATION_WEBHOOK_BODY_LIMIT, 256 KB)",
    503: "Temporal or PostgreSQL is unavailable (try again after `Retry-After` seconds)",
    504: "The workflow did not answer in time",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error codes a route can answer."""
    return {code: {"model": ErrorDetail, "description": ERRORS[code]} for code in codes}


TicketIdPath = Annotated[
    str, Path(pattern=TICKET_ID_PATTERN, description="The helpdesk's ticket id, e.g. T-12345")
]


# --- agents --------------------------------------------------------------------------------

AGENT_ERRORS = errors(400, 401, 403, 404, 409, 503, 504)


# Outages answer 503 with this: a sender or a browser tries again shortly.
RETRY_AFTER_SECONDS = 5
RETRY_AFTER = {"retry-after": str(RETRY_AFTER_SECONDS)}
