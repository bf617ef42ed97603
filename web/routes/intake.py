"""The ticketing system's intake (signed Standard Webhooks): a new ticket, a customer reply, a
CSAT answer. A duplicate delivery answers its first answer; nothing is done twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from escalation.messages import (
    CustomerReply,
    EscalationStatus,
    SatisfactionInput,
    workflow_id_for,
)
from escalation.models import TicketPayload
from web import temporal_ops
from web.deps import (
    FIRST_STATUS_HEADER,
    REPLAYED_HEADER,
    ServicesDep,
    SignedWebhookRoute,
    delivery_id,
    webhook_headers,
)
from web.feedback import CsatRecorded, rate
from web.routes.openapi import TicketIdPath, errors
from web.schemas import (
    CustomerReplyRequest,
    ErrorDetail,
    ReplyAccepted,
    SatisfactionRequest,
    TicketAccepted,
)

# A delivery answered before (same webhook-id, same request): its first answer again.
REPLAYED: dict[str, Any] = {
    "description": "This delivery was answered before (the sender's retry: same `webhook-id`, "
    "same path and body): the first answer's body again, nothing done twice. Header "
    f"`{REPLAYED_HEADER}: true`; `{FIRST_STATUS_HEADER}` is the first answer's status.",
}
REUSED: dict[str, Any] = {
    "model": ErrorDetail,
    "description": "The `webhook-id` was already delivered with another request (another "
    "path or body): refused, nothing done",
}
DeliveryId = Annotated[str, Depends(delivery_id)]

webhooks = APIRouter(
    prefix="/api",
    tags=["ticketing system"],
    route_class=SignedWebhookRoute,
    dependencies=[Depends(webhook_headers)],
    responses=errors(413),
)


def _without_nul(payload: TicketPayload) -> TicketPayload:
    """The payload with every NUL character replaced by U+FFFD.

    PostgreSQL text and jsonb cannot store NUL, so a run carrying one would retry its writes
    forever; and a NUL has no meaning in a helpdesk ticket, so the ticket is escalated with
    the character replaced rather than refused."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("\x00", "\ufffd")
        if isinstance(value, dict):
            return {clean(key): clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    data = payload.to_json_dict()
    cleaned = clean(data)
    if cleaned == data:
        return payload
    try:
        return TicketPayload.model_validate(cleaned)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None


# --- ticketing system ----------------------------------------------------------------------


@webhooks.post(
    "/tickets",
    status_code=202,
    response_model=TicketAccepted,
    summary="Hand a ticket over (starts its escalation, or a new episode of a finished one)",
    responses={
        200: {
            "model": TicketAccepted,
            "description": "The ticket's escalation is running: this delivery found it. Or: "
            + REPLAYED["description"],
        },
        202: {
            "description": "An escalation was started: the ticket's first, or a new episode "
            "(`reopened` true) because its previous escalation had finished"
        },
        **errors(400, 401, 503),
        409: REUSED,
    },
)
async def create_ticket(
    payload: TicketPayload,
    response: Response,
    found: ServicesDep,
    delivery: DeliveryId,
) -> TicketAccepted:
    """Start `escalation-<ticketId>` (202), find the run still running (200), or start a new
    episode when the previous one has finished (202, `reopened` true). The run started is
    marked with the delivery's id: the same delivery again never starts another episode."""
    payload = _without_nul(payload)
    endpoints = found.config.endpoints
    result = await temporal_ops.start_escalation(
        found.temporal, endpoints, payload, delivery_id=delivery
    )
    if not result.started:
        response.status_code = 200
    return TicketAccepted(
        ticket_id=result.ticket_id,
        workflow_id=result.workflow_id,
        run_id=result.run_id,
        started=result.started,
        reopened=result.reopened,
        episode_id=result.episode_id,
        previous_run_id=result.previous_run_id,
        reopened_because=result.reopened_because,
        dashboard_url=found.config.ticket_url(result.ticket_id),
        temporal_ui_url=endpoints.workflow_url(result.workflow_id),
    )


@webhooks.post(
    "/tickets/{ticket_id}/replies",
    status_code=202,
    response_model=ReplyAccepted,
    summary="Forward a customer reply (signal; reopens a recently resolved ticket)",
    responses={
        200: {"model": ReplyAccepted, **REPLAYED},
        202: {
            "description": "Signalled to the open escalation, or (resolved less than the "
            "policy's `reopen_within` ago) a new episode started with the reply (`reopened`)"
        },
        **errors(400, 401, 404, 503, 504),
        409: {
            "model": ErrorDetail,
            "description": "The ticket is closed: resolved longer than `reopen_within` ago "
            "(the detail names the date; the helpdesk must send a new ticket), kept with "
            "auto-response, or closed without a resolution; or "
            + REUSED["description"][0].lower()
            + REUSED["description"][1:],
        },
    },
)
async def customer_replied(
    ticket_id: TicketIdPath,
    reply: CustomerReplyRequest,
    found: ServicesDep,
    delivery: DeliveryId,
) -> ReplyAccepted:
    """Signal `customer_replied` (resumes a paused clock, alerts a P0/P1 team); for a ticket
    resolved within `reopen_within`, a new episode: the reply over the earlier description.
    The body's `ticketId` must be the path's ticket (it is what the signature covers). The
    signal carries the delivery's id: the workflow applies a delivery once."""
    same_ticket(ticket_id, reply.ticket_id)
    message = CustomerReply(text=reply.text, at=reply.at or datetime.now(UTC), delivery_id=delivery)
    result = await temporal_ops.reply(found.temporal, found.config.endpoints, ticket_id, message)
    return ReplyAccepted(
        ticket_id=ticket_id,
        workflow_id=workflow_id_for(ticket_id),
        signalled="customer_replied" if result.signalled else None,
        reopened=result.reopened,
        run_id=result.run_id,
        previous_run_id=result.previous_run_id,
        reopened_because=temporal_ops.REOPENED_BY_REPLY if result.reopened else None,
    )


@webhooks.post(
    "/tickets/{ticket_id}/satisfaction",
    response_model=EscalationStatus | CsatRecorded,
    summary="Record a CSAT score 1-5 (update, or CSAT after resolution)",
    responses={
        **errors(400, 401, 404, 409, 503, 504),
        200: {"description": "The status or the record; or " + REPLAYED["description"]},
    },
)
async def set_satisfaction(
    ticket_id: TicketIdPath,
    rating: SatisfactionRequest,
    found: ServicesDep,
    delivery: DeliveryId,
) -> EscalationStatus | CsatRecorded:
    """While the escalation is open, the `set_satisfaction` update (a drop alerts a P0/P1
    team; the answer is the status). Once it is resolved, the customer's CSAT after
    resolution, recorded against the escalation (the answer is the record); 404 for a ticket
    that was never escalated. The body's `ticketId` must be the path's ticket; the delivery's
    id is the update id (a repeat changes nothing). 409 also when the `webhook-id` was already
    delivered with another request."""
    same_ticket(ticket_id, rating.ticket_id)
    message = SatisfactionInput(score=rating.score, comment=rating.comment)

    async def database() -> asyncpg.Pool:
        # The route holds no connection of its own while this runs (SignedWebhookRoute): one
        # at a time from the pool, never a second while holding the first (the deadlock once
        # ten CSAT deliveries each held one and waited).
        return found.pool

    return await rate(found.temporal, database, ticket_id, message, update_id=delivery)


def same_ticket(path_ticket: str, body_ticket: str) -> None:
    """The signature covers the body, not the path: the body names the ticket, and a signed
    delivery posted to another ticket's path is refused."""
    if body_ticket != path_ticket:
        raise HTTPException(
            400,
            f"the body's ticketId {body_ticket!r} is not the ticket in the path "
            f"{path_ticket!r}: a signed delivery is for the ticket its body names",
        )
