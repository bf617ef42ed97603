"""The HTTP API: intake for the ticketing system (signed webhooks) and the agents' actions
(bearer tokens). Every route declares its bodies and its error answers, so `/openapi.json` is
the whole contract."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from escalation.messages import (
    AgentResponse,
    CustomerReply,
    EscalationStatus,
    Reassign,
    ResolveInput,
    SatisfactionInput,
    WaitOnCustomer,
    workflow_id_for,
)
from escalation.models import Model, TicketPayload
from web import permissions, queries, temporal_ops
from web.auth import Agent
from web.episodes import TicketStatus
from web.episodes import ticket_status as ticket_status_of
from web.feedback import CsatRecorded, rate
from web.guards import (
    FIRST_STATUS_HEADER,
    REPLAYED_HEADER,
    SignedWebhookRoute,
    api_agent,
    delivery_id,
    webhook_headers,
)
from web.knowledge import (
    STATUSES,
    KnowledgePattern,
    PatternError,
    decide_pattern,
    edit_pattern,
    list_patterns,
    revoke_pattern,
)
from web.rendering import indicators
from web.schemas import (
    TEAM_PATTERN,
    TICKET_ID_PATTERN,
    CustomerReplyRequest,
    ErrorDetail,
    PatternEdit,
    PatternReview,
    PatternRevoke,
    QueueItem,
    QueueResponse,
    ReassignRequest,
    ReplyAccepted,
    ResolveRequest,
    RespondRequest,
    SatisfactionRequest,
    TicketAccepted,
    WaitRequest,
)
from web.services import Services, services

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

TicketIdPath = Annotated[
    str, Path(pattern=TICKET_ID_PATTERN, description="The helpdesk's ticket id, e.g. T-12345")
]

webhooks = APIRouter(
    prefix="/api",
    tags=["ticketing system"],
    route_class=SignedWebhookRoute,
    dependencies=[Depends(webhook_headers)],
    responses=errors(413),
)
agents = APIRouter(prefix="/api", tags=["agents"], responses=errors(413))


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
    found: Annotated[Services, Depends(services)],
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
    found: Annotated[Services, Depends(services)],
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
    found: Annotated[Services, Depends(services)],
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


# --- agents --------------------------------------------------------------------------------

AgentDep = Annotated[Agent, Depends(api_agent)]
AGENT_ERRORS = errors(400, 401, 403, 404, 409, 503, 504)


async def _act(
    found: Services, agent: Agent, ticket_id: str, name: str, message: Model
) -> EscalationStatus:
    """The update, once the agent may act on the ticket (403 otherwise)."""
    await permissions.authorize(found, agent, ticket_id)
    return await temporal_ops.update(found.temporal, ticket_id, name, message)


@agents.post(
    "/tickets/{ticket_id}/respond",
    response_model=EscalationStatus,
    summary="First (or further) human response",
    responses=AGENT_ERRORS,
)
async def respond(
    ticket_id: TicketIdPath,
    body: RespondRequest,
    agent: AgentDep,
    found: Annotated[Services, Depends(services)],
) -> EscalationStatus:
    """The `respond` update; the first response stops the response clock."""
    message = AgentResponse(agent=agent.name, note=body.note)
    return await _act(found, agent, ticket_id, "respond", message)


@agents.post(
    "/tickets/{ticket_id}/wait",
    response_model=EscalationStatus,
    summary="Wait on the customer (pauses the resolution clock)",
    responses=AGENT_ERRORS,
)
async def wait_on_customer(
    ticket_id: TicketIdPath,
    body: WaitRequest,
    agent: AgentDep,
    found: Annotated[Services, Depends(services)],
) -> EscalationStatus:
    """The `wait_on_customer` update; the customer's next reply resumes the clock."""
    message = WaitOnCustomer(agent=agent.name, question=body.question)
    return await _act(found, agent, ticket_id, "wait_on_customer", message)


@agents.post(
    "/tickets/{ticket_id}/reassign",
    response_model=EscalationStatus,
    summary="Hand the ticket to another team or change its priority",
    responses=AGENT_ERRORS,
)
async def reassign(
    ticket_id: TicketIdPath,
    body: ReassignRequest,
    agent: AgentDep,
    found: Annotated[Services, Depends(services)],
) -> EscalationStatus:
    """The `reassign` update: a new team and/or priority, recorded as a correction of triage;
    unknown teams and a request that changes nothing are refused (409)."""
    message = Reassign(team=body.team, priority=body.priority, reason=body.reason, agent=agent.name)
    return await _act(found, agent, ticket_id, "reassign", message)


@agents.post(
    "/tickets/{ticket_id}/resolve",
    response_model=EscalationStatus,
    summary="Resolve the escalation (completes the workflow)",
    responses=AGENT_ERRORS,
)
async def resolve(
    ticket_id: TicketIdPath,
    body: ResolveRequest,
    agent: AgentDep,
    found: Annotated[Services, Depends(services)],
) -> EscalationStatus:
    """The `resolve` update; a second resolve is refused with the reason (409)."""
    message = ResolveInput(
        agent=agent.name,
        resolution=body.resolution,
        escalation_necessary=body.escalation_necessary,
    )
    return await _act(found, agent, ticket_id, "resolve", message)


@agents.get(
    "/tickets/{ticket_id}",
    response_model=TicketStatus,
    summary="The latest escalation episode's live status, and the earlier episodes",
    responses=errors(401, 403, 404, 503, 504),
)
async def ticket_status(
    ticket_id: TicketIdPath,
    agent: AgentDep,
    found: Annotated[Services, Depends(services)],
) -> TicketStatus:
    """The latest run's `status` query (state, team, priority, deadlines in UTC, alerts, the
    actions still possible) with `earlierEpisodes` from the database, and the CSAT after
    resolution once the episode is resolved. A run Temporal no longer keeps is answered from
    its episode's row (`source` "database")."""

    async def database() -> asyncpg.Pool:
        return found.pool

    found_status = await ticket_status_of(found.temporal, database, ticket_id)
    permissions.check(agent, ticket_id, found_status.team)
    return found_status


@agents.get(
    "/queue",
    response_model=QueueResponse,
    summary="Open escalations, most urgent first",
    responses=errors(401, 503),
)
async def queue(
    request: Request,
    agent: AgentDep,
    found: Annotated[Services, Depends(services)],
    team: Annotated[
        str | None, Query(pattern=TEAM_PATTERN, description="Only this team's escalations")
    ] = None,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=queries.QUEUE_LIMIT,
            description=f"Rows per page (default {queries.QUEUE_PAGE}, at most "
            f"{queries.QUEUE_LIMIT})",
        ),
    ] = queries.QUEUE_PAGE,
    after: Annotated[
        str | None,
        Query(
            pattern=queries.CURSOR_PATTERN,
            description="The previous page's `nextCursor`: the page after it",
        ),
    ] = None,
) -> QueueResponse:
    """From PostgreSQL (kept current by the workflow's Step 9), sorted by priority then the
    next SLA deadline, with the seed's indicators; only the escalations the agent may see
    (their team's, a manager's teams', an admin's all). One `team` at most: a repeated one is
    refused (422), not read as its last value. Paged by keyset: `limit` rows, and
    `nextCursor` to pass as `after` for the next page (null on the last one); a cursor that is
    not one is refused (422, naming `after`)."""
    for name in ("team", "limit", "after"):
        if len(request.query_params.getlist(name)) > 1:
            raise RequestValidationError(
                [{"type": "too_many", "loc": ("query", name), "msg": f"give one {name} at most"}]
            )
    cursor = None
    if after is not None:
        try:
            cursor = queries.QueueCursor.decode(after)
        except ValueError as error:
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("query", "after"), "msg": str(error)}]
            ) from error
    found_page = await queries.queue_page(
        found.pool, team, permissions.visible_teams(agent), limit, cursor
    )
    return QueueResponse(
        team=team,
        generated_at=datetime.now(UTC),
        items=[queue_item(row) for row in found_page.rows],
        next_cursor=found_page.next.encode() if found_page.next else None,
    )


_ROW_FIELDS = tuple(
    field.name
    for field in dataclasses.fields(queries.QueueRow)
    if field.name in QueueItem.model_fields
)


def queue_item(row: queries.QueueRow) -> QueueItem:
    """The queue row as the API shows it: its columns (the rest are ignored), plus the
    ticket page's address and the indicators."""
    return QueueItem(
        **{name: getattr(row, name) for name in _ROW_FIELDS},
        episode=row.episode_number,
        reopened=row.reopened,
        url=f"/tickets/{row.ticket_id}",
        indicators=indicators(row.priority, row.premium, row.time_sensitive),
    )


# --- learned patterns (seed De-escalation 3-5) ------------------------------------------------

PatternIdPath = Annotated[int, Path(ge=1, le=2**62, description="The learned pattern's id")]


def _pattern_refused(error: PatternError) -> HTTPException:
    return HTTPException(status_code=404 if error.not_found else 409, detail=error.message)


@agents.get(
    "/knowledge",
    response_model=list[KnowledgePattern],
    summary="Learned patterns: drafts waiting for approval first",
    responses=errors(401, 503),
)
async def knowledge(
    agent: AgentDep,
    found: Annotated[Services, Depends(services)],
    status: Annotated[
        str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$", description="Only these")
    ] = None,
) -> list[KnowledgePattern]:
    return permissions.visible_patterns(agent, await list_patterns(found.pool, status))


@agents.get(
    "/knowledge/{pattern_id}",
    response_model=KnowledgePattern,
    summary="One learned pattern: its KB article draft and auto-response candidate",
    responses=errors(401, 403, 404, 503),
)
async def knowledge_pattern(
    pattern_id: PatternIdPath, agent: AgentDep, found: Annotated[Services, Depends(services)]
) -> KnowledgePattern:
    """403 for a pattern learned from another team's tickets (web/permissions.py)."""
    try:
        return await permissions.authorize_pattern(found.pool, agent, pattern_id)
    except PatternError as error:
        raise _pattern_refused(error) from None


@agents.post(
    "/knowledge/{pattern_id}/edit",
    response_model=KnowledgePattern,
    summary="Edit a draft's title, KB article or auto-response before it is approved",
    responses=errors(400, 401, 403, 404, 409, 503),
)
async def edit_knowledge(
    pattern_id: PatternIdPath,
    body: PatternEdit,
    agent: AgentDep,
    found: Annotated[Services, Depends(services)],
) -> KnowledgePattern:
    """Only a draft is edited (an approved pattern is revoked first, 409); the editor is
    recorded and cannot approve the text they wrote."""
    try:
        await permissions.authorize_pattern(found.pool, agent, pattern_id)
        return await edit_pattern(
            found.pool,
            pattern_id,
            agent=agent.name,
            title=body.title,
            article_markdown=body.article_markdown,
            auto_response=body.auto_response,
        )
    except PatternError as error:
        raise _pattern_refused(error) from None


@agents.post(
    "/knowledge/{pattern_id}/revoke",
    response_model=KnowledgePattern,
    summary="Revoke an approval: the pattern is a draft again, out of triage at once",
    responses=errors(400, 401, 403, 404, 409, 503),
)
async def revoke_knowledge(
    pattern_id: PatternIdPath,
    agent: AgentDep,
    found: Annotated[Services, Depends(services)],
    body: PatternRevoke | None = None,
) -> KnowledgePattern:
    """Only an approved pattern is revoked (409 otherwise); who revoked it and why are kept."""
    try:
        await permissions.authorize_pattern(found.pool, agent, pattern_id)
        return await revoke_pattern(
            found.pool, pattern_id, agent=agent.name, reason=body.reason if body else None
        )
    except PatternError as error:
        raise _pattern_refused(error) from None


@agents.post(
    "/knowledge/{pattern_id}/{decision}",
    response_model=KnowledgePattern,
    summary="Approve a draft (triage then answers matching tickets with it) or reject it",
    responses=errors(400, 401, 403, 404, 409, 503),
)
async def decide_knowledge(
    pattern_id: PatternIdPath,
    decision: Annotated[str, Path(pattern="^(approve|reject)$")],
    agent: AgentDep,
    found: Annotated[Services, Depends(services)],
    body: PatternReview | None = None,
) -> KnowledgePattern:
    """Only a draft can be decided; repeating the same decision is harmless (200). Approval is
    a second person's: 409 for an agent who resolved one of the pattern's tickets or wrote its
    current text, and (with `reviewedSha256`) for a text changed since it was read. The
    approval keeps the text's SHA-256 (`approvedSha256`), and is refused (409) while the text
    quotes an email address, phone number, link or identifier of the customers whose tickets
    the pattern came from. 403 on every pattern route for a pattern of another team's tickets
    (web/permissions.py)."""
    try:
        await permissions.authorize_pattern(found.pool, agent, pattern_id)
        return await decide_pattern(
            found.pool,
            pattern_id,
            approve=decision == "approve",
            agent=agent.name,
            reviewed_sha256=body.reviewed_sha256 if body else None,
        )
    except PatternError as error:
        raise _pattern_refused(error) from None
