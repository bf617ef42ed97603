"""The agents' pages: login, the queue, a ticket with its actions, the escalation metrics.
Server-rendered (works without JavaScript; the metrics' charts are inline SVG); queue.js only
adds the live countdowns and the polling."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

import asyncpg
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
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
from web import charts, permissions, queries, temporal_ops
from web.auth import Agent
from web.episodes import acknowledgement_of, episode_anchor
from web.guards import page_agent, safe_next, same_origin
from web.metrics import (
    ACCURACY_TARGET,
    CSAT_TARGET,
    ESCALATION_RATE_TARGET,
    REPORT_STATEMENT_TIMEOUT,
    ROUTING_ACCURACY_TARGET,
    TIME_TO_ESCALATE_TARGET_SECONDS,
    MetricsReport,
    compute_metrics_rolled,
    parse_window,
)
from web.rendering import TimelineEntry, indicators, priority_indicator, templates, timeline
from web.schemas import (
    TEAM_PATTERN,
    TICKET_ID_PATTERN,
    ReassignRequest,
    ResolveRequest,
    RespondRequest,
    WaitRequest,
)
from web.services import Services, services
from web.sessions import (
    LEGACY_SESSION_COOKIE,
    SESSION_COOKIE,
    close_session,
    describe_wait,
    open_session,
)

FLASH_COOKIE = "escalation_flash"
ACTIONS: dict[str, tuple[str, str]] = {
    # path segment: (workflow update, what the button says)
    "respond": ("respond", "Respond"),
    "wait": ("wait_on_customer", "Wait on customer"),
    "reassign": ("reassign", "Reassign"),
    "resolve": ("resolve", "Resolve"),
}

router = APIRouter(include_in_schema=False)
TEMPLATES = templates()
AgentDep = Annotated[Agent, Depends(page_agent)]
ServicesDep = Annotated[Services, Depends(services)]


def page(
    request: Request, name: str, context: dict[str, object], status_code: int = 200
) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


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


# --- queue ---------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    agent: AgentDep,
    found: ServicesDep,
    team: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=1024)] = None,
) -> HTMLResponse:
    """Open escalations, most urgent first, a page of queries.QUEUE_PAGE at a time with a link
    to the next (keyset: `after` is the previous page's cursor); queue.js keeps the first page
    current without reloading."""
    selected = team if team and re.fullmatch(TEAM_PATTERN, team) else None
    visible = permissions.visible_teams(agent)
    cursor = None
    if after:
        try:
            cursor = queries.QueueCursor.decode(after)
        except ValueError as error:
            context = {"agent": agent, "title": "Bad page link", "message": f"after: {error}."}
            return page(request, "error.j2", context, status_code=422)
    found_page = await queries.queue_page(found.pool, selected, visible, queries.QUEUE_PAGE, cursor)
    next_link = None
    if found_page.next is not None:
        query = {"after": found_page.next.encode(), **({"team": selected} if selected else {})}
        next_link = "/?" + urlencode(query)
    return page(
        request,
        "queue.j2",
        {
            "agent": agent,
            "rows": found_page.rows,
            "teams": TEAMS if visible is None else tuple(visible),
            "team": selected,
            "now": datetime.now(UTC),
            "paged": cursor is not None,
            "next_link": next_link,
            "first_link": "/?" + urlencode({"team": selected}) if selected else "/",
        },
    )


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
    request: Request, ticket_id: str, agent: AgentDep, found: ServicesDep
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


@router.post("/tickets/{ticket_id}/actions/{action}", response_model=None)
async def ticket_action(
    request: Request,
    ticket_id: str,
    action: str,
    agent: AgentDep,
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


# --- metrics -------------------------------------------------------------------------------

DEFAULT_METRICS_WINDOW = "30d"
METRICS_WINDOWS = ("24h", "7d", "30d", "90d")  # the quick links above the form
MAX_QUERY_TEXT = 40


@dataclass(frozen=True)
class MetricCard:
    """One metric as the page shows it (the same figures as `starter.py metrics`)."""

    key: str  # the JSON name, e.g. "escalationRate"
    name: str
    value: str
    detail: str
    target: str
    status: str  # css hook: met, missed, nodata, untargeted
    status_text: str  # the words, so the colour is never the only sign
    meter: Markup | None = None


def _status(met: bool | None, has_target: bool, has_data: bool) -> tuple[str, str]:
    if not has_data or (has_target and met is None):
        return "nodata", "No data"
    if not has_target:
        return "untargeted", "No target"
    return ("met", "Met") if met else ("missed", "Not met")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def metric_cards(report: MetricsReport) -> list[MetricCard]:
    rate, tte = report.escalation_rate, report.time_to_escalate
    acc, csat = report.escalation_accuracy, report.csat_after_escalation
    res, sla, routing = report.resolution_time, report.sla_attainment, report.routing_accuracy
    pct, dur = charts.format_percent, charts.format_duration
    from_created = (
        f" · p50 from ticket creation {dur(tte.from_created_p50_seconds)}"
        if tte.from_created_p50_seconds is not None
        else ""
    )
    cards = [
        (
            "escalationRate",
            "Escalation rate",
            pct(rate.value),
            f"{rate.escalated} of {_plural(rate.tickets, 'ticket')} escalated "
            f"({report.counts.auto_response} kept with auto-response)",
            rate.target,
            rate.met,
            rate.tickets > 0,
            charts.meter(rate.value, ESCALATION_RATE_TARGET, rate.met),
        ),
        (
            "timeToEscalate",
            "Time to escalate",
            f"p50 {dur(tte.p50_seconds)}",
            f"p90 {dur(tte.p90_seconds)} · max {dur(tte.max_seconds)} · "
            f"{_plural(tte.count, 'escalation')}{from_created}",
            tte.target,
            tte.met,
            tte.count > 0,
            None,
        ),
        (
            "escalationAccuracy",
            "Escalation accuracy",
            pct(acc.value),
            f"{acc.necessary} of {_plural(acc.resolved, 'resolved escalation')} "
            "marked necessary by the resolving agent",
            acc.target,
            acc.met,
            acc.resolved > 0,
            charts.meter(acc.value, ACCURACY_TARGET, acc.met),
        ),
        (
            "csatAfterEscalation",
            "Satisfaction after escalation",
            pct(csat.value),
            f"{csat.satisfied} of {_plural(csat.rated, 'answer')} after resolution scored 4–5",
            csat.target,
            csat.met,
            csat.rated > 0,
            charts.meter(csat.value, CSAT_TARGET, csat.met),
        ),
        (
            "resolutionTime",
            "Resolution time after escalation",
            f"p50 {dur(res.p50_seconds)}",
            f"p90 {dur(res.p90_seconds)} · {_plural(res.count, 'resolution')}, "
            "paused time excluded",
            res.target or "none set",
            res.met,
            res.count > 0,
            None,
        ),
        (
            "slaAttainment",
            "SLA attainment",
            pct(sla.value),
            f"{sla.attained} of {_plural(sla.total, 'resolved escalation')} "
            "answered within the response target",
            sla.target or "none set",
            sla.met,
            sla.total > 0,
            charts.meter(sla.value, None, sla.met),
        ),
        (
            "routingAccuracy",
            "Routing accuracy",
            pct(routing.value),
            f"{routing.kept} of {_plural(routing.escalated, 'escalation')} kept the team and "
            f"priority triage gave them ({routing.reassigned} reassigned by an agent)",
            routing.target,
            routing.met,
            routing.escalated > 0,
            charts.meter(routing.value, ROUTING_ACCURACY_TARGET, routing.met),
        ),
    ]
    result = []
    for key, name, value, detail, target, met, has_data, meter in cards:
        status, words = _status(met, target != "none set", has_data)
        result.append(MetricCard(key, name, value, detail, target, status, words, meter))
    return result


def _label(key: str) -> str:
    return key.replace("_", " ")


def metric_charts(report: MetricsReport) -> dict[str, Markup]:
    """The page's charts, by name (the template gives each a heading)."""
    tte = report.time_to_escalate
    teams, priorities = report.by_team.items(), report.by_priority.items()
    return {
        "by_team": charts.count_bars(
            "escalations-by-team",
            "Escalations by team",
            [(_label(team), b.escalated) for team, b in teams],
        ),
        "by_priority": charts.count_bars(
            "escalations-by-priority",
            "Escalations by priority",
            [(_label(priority), b.escalated) for priority, b in priorities],
        ),
        "time_to_escalate": charts.percentile_bars(
            "time-to-escalate",
            "Time to escalate, p50, p90 and max",
            tte.p50_seconds,
            tte.p90_seconds,
            tte.max_seconds,
            TIME_TO_ESCALATE_TARGET_SECONDS,
        ),
        "sla_by_priority": charts.share_bars(
            "sla-by-priority",
            "SLA attainment by priority",
            [(_label(priority), b.sla_attained, b.sla_total) for priority, b in priorities],
        ),
        "resolution_by_team": charts.duration_bars(
            "resolution-by-team",
            "Resolution time p50 by team",
            [(_label(team), b.resolution_p50_seconds) for team, b in teams],
        ),
    }


def parse_until(text: str | None, now: datetime) -> datetime:
    """The window's end: empty is now; an ISO date (midnight UTC) or date and time (UTC
    unless it says otherwise)."""
    if not text or not text.strip():
        return now
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"invalid end {text!r}: use an ISO date or date and time, e.g. 2025-03-31 or "
            "2025-03-31T12:00Z, or leave it empty for now"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@router.get("/reports/metrics", response_class=HTMLResponse)
async def metrics_page(
    request: Request,
    agent: AgentDep,
    found: ServicesDep,
    since: str = DEFAULT_METRICS_WINDOW,
    until: str | None = None,
) -> HTMLResponse:
    """The escalation metrics of a window (`?since=7d`, optionally `&until=2025-03-31`): one
    card per metric with its target and met / not met, and small SVG charts."""
    context: dict[str, object] = {
        "agent": agent,
        "since": since[:MAX_QUERY_TEXT],
        "until": (until or "")[:MAX_QUERY_TEXT],
        "windows": METRICS_WINDOWS,
        "error": None,
        "report": None,
        "cards": [],
        "charts": {},
    }
    problems: list[str] = []
    window = timedelta(0)
    end = datetime.now(UTC)
    if len(since) > MAX_QUERY_TEXT:
        problems.append(f"invalid window: at most {MAX_QUERY_TEXT} characters, e.g. 7d or 30d")
    else:
        try:
            window = parse_window(since)
        except ValueError as error:
            problems.append(str(error))
    if until is not None and len(until) > MAX_QUERY_TEXT:
        problems.append(f"invalid end: at most {MAX_QUERY_TEXT} characters, e.g. 2025-03-31")
    else:
        try:
            end = parse_until(until, end)
        except ValueError as error:
            problems.append(str(error))
    start: datetime | None = None
    if not problems:
        try:
            start = end - window
        except OverflowError:
            problems.append(f"invalid window {since!r}: it would start before the year 1")
    if problems or start is None:
        context["error"] = "; ".join(problems)
        return page(request, "metrics.j2", context, status_code=400)
    try:
        report = await compute_metrics_rolled(found.pool, start, end, REPORT_STATEMENT_TIMEOUT)
    except asyncpg.QueryCanceledError:
        context["error"] = (
            f"the report for {since} took longer than "
            f"{REPORT_STATEMENT_TIMEOUT.total_seconds():.0f} s and was stopped: "
            "try a shorter window"
        )
        return page(request, "metrics.j2", context, status_code=503)
    context.update(report=report, cards=metric_cards(report), charts=metric_charts(report), now=end)
    return page(request, "metrics.j2", context)


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
