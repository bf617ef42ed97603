"""The metrics page: the seed's escalation metrics over a window, each with its target, as
cards and inline SVG charts (works without JavaScript)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from web import charts
from web.deps import (
    PageAgent,
    ServicesDep,
)
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
from web.routes.html import page

router = APIRouter(include_in_schema=False)


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
    agent: PageAgent,
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
