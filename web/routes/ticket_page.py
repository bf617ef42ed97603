"""The ticket page and its action forms: every episode of the ticket, its timeline, and
respond / wait on customer / reassign / resolve as workflow updates. One-shot flash
messages in a cookie, so nothing is reflected from the URL."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from escalation.messages import (
    MAX_COMMENT_CHARS,
    MAX_NOTE_CHARS,
    AgentResponse,
    EscalationStateName,
    EscalationStatus,
    Reassign,
    ResolveInput,
    WaitOnCustomer,
    workflow_id_for,
)
from escalation.models import TEAMS, Model, Priority
from web import permissions, queries, temporal_ops
from web.auth import Agent
from web.deps import (
    PageAgent,
    ServicesDep,
    same_origin,
)
from web.episodes import acknowledgement_of, episode_anchor
from web.rendering import TimelineEntry, indicators, priority_indicator, timeline
from web.routes.html import forbidden, not_found, not_yours, page
from web.schemas import (
    TICKET_ID_PATTERN,
    ReassignRequest,
    ResolveRequest,
    RespondRequest,
    WaitRequest,
)

router = APIRouter(include_in_schema=False)


FLASH_COOKIE = "escalation_flash"
ACTIONS: dict[str, tuple[str, str]] = {
    # path segment: (workflow update, what the button says)
    "respond": ("respond", "Respond"),
    "wait": ("wait_on_customer", "Wait on customer"),
    "reassign": ("reassign", "Reassign"),
    "resolve": ("resolve", "Resolve"),
}


# --- ticket --------------------------------------------------------------------------------


def valid_ticket_id(ticket_id: str) -> bool:
    return re.fullmatch(TICKET_ID_PATTERN, ticket_id) is not None


@dataclass(frozen=True)
class EpisodeView:
    """One escalation episode of the ticket as the page shows it."""

    row: queries.QueueRow | None
    number: int
    anchor: str
    timeline: list[TimelineEntry]
    ack: queries.Acknowledgement | None
    csat: queries.CsatAnswer | None


def _episode_view(
    ticket_id: str,
    row: queries.QueueRow | None,
    number: int,
    episode_id: str | None,
    first: bool,
    events: list[queries.LogEvent],
    acks: dict[str, queries.Acknowledgement],
) -> EpisodeView:
    mine = queries.events_of(events, episode_id, first) if episode_id else []
    ack = acks.get(episode_id) if episode_id else None
    if ack is None and first:
        ack = acks.get(queries.LEGACY_EPISODE + ticket_id)
    return EpisodeView(
        row=row,
        number=number,
        anchor=episode_anchor(number),
        timeline=timeline(mine, ack),
        ack=ack,
        csat=queries.csat_of(mine),
    )


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
async def ticket_page(
    request: Request, ticket_id: str, agent: PageAgent, found: ServicesDep
) -> HTMLResponse:
    """The latest escalation episode on top (summary, timeline, acknowledgement, the actions
    it still takes, with the workflow's live status), the earlier episodes below it."""
    if not valid_ticket_id(ticket_id):
        return not_found(request, agent, "That is not a ticket id.")
    rows = await queries.episodes(found.pool, ticket_id)  # the latest first
    live: EscalationStatus | None = None
    live_error: str | None = None
    try:
        live = await temporal_ops.status(found.temporal, ticket_id)
    except temporal_ops.TicketError as error:
        if not rows and isinstance(error, temporal_ops.TicketNotFound):
            return not_found(request, agent, f"There is no escalation for ticket {ticket_id}.")
        live_error = error.message
    try:
        permissions.check(
            agent, ticket_id, (live.team if live else None) or (rows[0].team if rows else None)
        )
    except permissions.Forbidden as error:
        return not_yours(request, agent, error)
    events = await queries.log_events(found.pool, ticket_id)
    acks = await queries.acknowledgements(found.pool, ticket_id)
    # The live run is the latest episode; its row may not be written yet (Steps 1-4).
    current_id = (live.episode_id if live else None) or (rows[0].episode_id if rows else None)
    row = next((r for r in rows if r.episode_id == current_id), None)
    earlier_rows = [r for r in rows if r.episode_id != current_id]
    first_id = rows[-1].episode_id if rows else current_id
    number = live.episode if live else (row.episode_number if row else 1)
    current = _episode_view(
        ticket_id, row, number, current_id, current_id == first_id, events, acks
    )
    earlier = [
        _episode_view(
            ticket_id, r, r.episode_number, r.episode_id, r.episode_id == first_id, events, acks
        )
        for r in earlier_rows
    ]
    flash = read_flash(request, ticket_id)
    priority = (live.priority.value if live and live.priority else None) or (
        row.priority if row else None
    )
    resolved = (live is not None and live.state is EscalationStateName.RESOLVED) or (
        live is None and row is not None and row.resolved
    )
    # What the agent may still do: the run says (status.actions); without its answer, the
    # row's state does (a resolved escalation takes no agent action).
    if live is not None:
        offered = set(live.actions)
    else:
        offered = set() if resolved or row is None else {name for name, _ in ACTIONS.values()}
    forms = [segment for segment, (name, _) in ACTIONS.items() if name in offered]
    paused = live.paused if live else bool(row and row.paused and not resolved)
    resolved_at = (live.resolved_at if live else None) or (row.resolved_at if row else None)
    resolution = (live.resolution if live else None) or (row.resolution if row else None)
    # Step 5's state: pending | sent | refused | gave_up | cancelled (none: not escalated yet)
    if live is not None:
        acknowledgement = live.acknowledgement
    elif row is not None:
        acknowledgement = acknowledgement_of(row, current.ack)
    else:
        acknowledgement = "none"
    notice = (live.customer_notice if live else None) or (row.customer_notice if row else None)
    response = page(
        request,
        "ticket.j2",
        {
            "agent": agent,
            "ticket_id": ticket_id,
            "row": row,
            "live": live,
            "live_error": live_error,
            "summary": (live.summary_markdown if live else None)
            or (row.summary_markdown if row else None),
            "current": current,
            "earlier": earlier,
            "episode": number,
            "reopened_because": (live.reopened_because if live else None)
            or (row.reopened_because if row else None),
            "timeline": current.timeline,
            "ack": current.ack,
            "flash": flash,
            "teams": TEAMS,
            "priorities": [p.value for p in Priority],
            "priority": priority,
            "priority_mark": priority_indicator(priority),
            "marks": indicators(priority, row.premium, row.time_sensitive) if row else [],
            "resolved": resolved,
            "resolved_at": resolved_at,
            "resolution": resolution,
            "paused": paused,
            "acknowledgement": acknowledgement,
            "notice": notice,
            "satisfaction": current.csat.score
            if current.csat
            else (live.satisfaction if live else None),
            "forms": forms,
            "only_after_resolution": bool(offered) and offered <= {"set_satisfaction"},
            "note_max": MAX_NOTE_CHARS,
            "comment_max": MAX_COMMENT_CHARS,
            "temporal_url": found.config.endpoints.workflow_url(workflow_id_for(ticket_id)),
            "now": datetime.now(UTC),
        },
    )
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.post("/tickets/{ticket_id}/actions/{action}", response_model=None)
async def ticket_action(
    request: Request,
    ticket_id: str,
    action: str,
    agent: PageAgent,
    found: ServicesDep,
    note: Annotated[str | None, Form()] = None,
    question: Annotated[str | None, Form()] = None,
    team: Annotated[str | None, Form()] = None,
    priority: Annotated[str | None, Form()] = None,
    reason: Annotated[str | None, Form()] = None,
    resolution: Annotated[str | None, Form()] = None,
    escalation_necessary: Annotated[str | None, Form()] = None,
) -> Response:
    """A form on the ticket page: send the update, then show the workflow's answer."""
    if not same_origin(request, found):
        return forbidden(request)
    if action not in ACTIONS or not valid_ticket_id(ticket_id):
        return not_found(request, agent, "No such ticket or action.")
    name, label = ACTIONS[action]
    try:
        message = _message(
            action, agent, note, question, team, priority, reason, resolution, escalation_necessary
        )
        await permissions.authorize(found, agent, ticket_id)
        answer = await temporal_ops.update(found.temporal, ticket_id, name, message)
    except permissions.Forbidden as error:
        return not_yours(request, agent, error)
    except ValidationError as error:
        flash = {"level": "error", "message": f"{label}: {_first_problem(error)}"}
    except Unanswered as error:
        flash = {"level": "error", "message": f"{label}: {error}"}
    except temporal_ops.TicketError as error:
        flash = {"level": "error", "message": f"{label} refused: {error.message}"}
    else:
        flash = {"level": "ok", "message": f"{label}: {_answer(action, answer)}"}
    response = RedirectResponse(f"/tickets/{ticket_id}", status_code=303)
    write_flash(response, ticket_id, flash, secure=found.config.secure_cookies)
    return response


# "Was this escalation necessary?" is asked, never pre-answered: the form's radio buttons start
# unchecked and a resolution without an answer is refused (the accuracy metric counts it).
NECESSARY_ANSWERS = {"yes": True, "no": False}


class Unanswered(ValueError):
    """A form question the agent left unanswered."""


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _message(
    action: str,
    agent: Agent,
    note: str | None,
    question: str | None,
    team: str | None,
    priority: str | None,
    reason: str | None,
    resolution: str | None,
    escalation_necessary: str | None,
) -> Model:
    """The update's input, validated by the same request models as the JSON API."""
    match action:
        case "respond":
            body = RespondRequest(note=_blank(note))
            return AgentResponse(agent=agent.name, note=body.note)
        case "wait":
            asked = WaitRequest(question=_blank(question))
            return WaitOnCustomer(agent=agent.name, question=asked.question)
        case "reassign":
            moved = ReassignRequest(
                team=_blank(team), priority=_blank(priority), reason=_blank(reason)
            )
            return Reassign(
                team=moved.team, priority=moved.priority, reason=moved.reason, agent=agent.name
            )
        case _:
            answered = NECESSARY_ANSWERS.get(escalation_necessary or "")
            if answered is None:
                raise Unanswered("say whether this escalation was necessary (yes or no)")
            done = ResolveRequest(
                resolution=(resolution or "").strip(), escalation_necessary=answered
            )
            return ResolveInput(
                agent=agent.name,
                resolution=done.resolution,
                escalation_necessary=done.escalation_necessary,
            )


def _first_problem(error: ValidationError) -> str:
    item = error.errors()[0]
    field = ".".join(str(part) for part in item["loc"])
    return f"{field}: {item['msg']}"


def _answer(action: str, status: EscalationStatus) -> str:
    """The workflow's answer in a sentence."""
    state = status.state.value.replace("_", " ")
    if action == "resolve":
        return f"the workflow accepted the resolution; the escalation is now {state}."
    if action == "reassign":
        return f"the workflow moved the ticket to {status.team} ({status.priority}); {state}."
    return f"the workflow accepted it; the escalation is now {state}."


# --- flash messages: one-shot, in a cookie so nothing is reflected from the URL ----------------


def write_flash(response: Response, ticket_id: str, flash: dict[str, str], secure: bool) -> None:
    value = json.dumps({"ticket": ticket_id, **flash, "message": flash["message"][:1_000]})
    response.set_cookie(
        FLASH_COOKIE,
        base64.urlsafe_b64encode(value.encode()).decode(),
        max_age=120,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


def read_flash(request: Request, ticket_id: str) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict) or data.get("ticket") != ticket_id:
        return None
    level = "error" if data.get("level") == "error" else "ok"
    return {"level": level, "message": str(data.get("message", ""))}
