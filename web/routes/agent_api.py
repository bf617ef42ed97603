"""The agents' JSON API (bearer token or session): the actions on a ticket as workflow
updates, the ticket's status and the queue."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError

from escalation.messages import (
    AgentResponse,
    EscalationStatus,
    Reassign,
    ResolveInput,
    WaitOnCustomer,
)
from escalation.models import Model
from web import permissions, queries, temporal_ops
from web.auth import Agent
from web.deps import (
    ApiAgent,
    ServicesDep,
)
from web.episodes import TicketStatus
from web.episodes import ticket_status as ticket_status_of
from web.rendering import indicators
from web.routes.openapi import AGENT_ERRORS, TicketIdPath, errors
from web.schemas import (
    TEAM_PATTERN,
    QueueItem,
    QueueResponse,
    ReassignRequest,
    ResolveRequest,
    RespondRequest,
    WaitRequest,
)
from web.services import Services

agents = APIRouter(prefix="/api", tags=["agents"], responses=errors(413))


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
    agent: ApiAgent,
    found: ServicesDep,
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
    agent: ApiAgent,
    found: ServicesDep,
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
    agent: ApiAgent,
    found: ServicesDep,
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
    agent: ApiAgent,
    found: ServicesDep,
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
    agent: ApiAgent,
    found: ServicesDep,
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
    agent: ApiAgent,
    found: ServicesDep,
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
