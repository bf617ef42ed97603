"""Escalation metrics (seed "Escalation Metrics") computed from `escalation_log`.

One SQL query reads the events; everything else is pure Python (`build_report`), so the
arithmetic is testable without a database.

Window: an event belongs to [since, until) by its `event->>'timestamp'` (when the workflow says
it happened), falling back to `logged_at` for an event without one.

Episodes: a ticket may be escalated more than once (reopened by the helpdesk, or by a customer
reply after the resolution); each escalation is an episode with its own events (`episodeId`),
and the metrics count episodes: a ticket escalated twice is two escalations, each with its own
time to escalate, resolution and CSAT. (Events from before episodes existed count per ticket.)
Team and priority: an episode counts for the team and priority that hold it at the end (as
escalated, moved by agents' reassignments and priority lifts, as resolved), in every figure of
the breakdowns, so each team's row counts the escalations it holds and no other's. Per metric:

* escalation rate — episodes with an `escalated` event / episodes with an `escalated` or
  `auto_response` event, both in the window (target < 15%; `tickets` counts these episodes);
* time to escalate — `escalated` events in the window, `timestamp − receivedAt` (target p50 <
  120 s). `receivedAt`, not `ticketCreatedAt`: tickets may be imported from the helpdesk with
  old creation dates, which would measure the backlog's age rather than our triage; the
  createdAt-based p50 is still reported as `fromCreatedP50Seconds`;
* escalation accuracy — `resolved` events in the window with `escalationNecessary` true / those
  with a boolean `escalationNecessary` (target > 90%);
* CSAT after escalation — escalation episodes whose CSAT answer after resolution (`csat`
  event, recorded by web/feedback.py once the workflow has finished; the latest answer counts)
  in the window is 4 or 5 / those with an answer in the window (target > 85%). Scores sent
  while the escalation is still open (`satisfaction_changed`) drive the SLA alerts, not this
  figure;
* resolution time — `resolved` events in the window, `timestamp − escalated.timestamp −
  pausedSeconds` (the escalation itself may lie before the window). The seed sets no target, so
  `target` and `met` are null;
* SLA attainment — `resolved` events in the window whose `respondedAt` (the episode's first
  human response, the same as resolutions.responded_at: a reassignment does not erase it) <=
  `escalated.slaDueAt` (never responded counts as missed; no `slaDueAt` leaves the episode
  out), overall and per priority;
* routing accuracy — episodes with an `escalated` event in the window that no agent reassigned
  (a `reassigned` event in the window: another team or another priority) / those escalated
  (target >= 90%). Priority lifts the workflow makes itself (an angrier reply) do not count.

Percentiles are nearest-rank: the value at rank ceil(p/100 · n) of the n sorted values (always a
value that was observed; p50 of [30, 60, 200] is 60, p90 is 200).

Rates are fractions (0.3 = 30%); `met` is null whenever a metric has no data.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from escalation.models import Model

ESCALATION_RATE_TARGET = 0.15
TIME_TO_ESCALATE_TARGET_SECONDS = 120
ACCURACY_TARGET = 0.90
CSAT_TARGET = 0.85
ROUTING_ACCURACY_TARGET = 0.90
SATISFIED_SCORES = frozenset({4, 5})

ACTIONS = (
    "auto_response",
    "escalated",
    "csat",
    "agent_responded",
    "resolved",
    "reassigned",
    "priority_changed",
)

# --- window ------------------------------------------------------------------------------------

_WINDOW = re.compile(r"^\s*(\d+)\s*([dhm])\s*$", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
MAX_WINDOW = timedelta(days=3660)


def parse_window(text: str) -> timedelta:
    """'7d' → 7 days, '24h' → 24 hours, '90m' → 90 minutes; anything else is a ValueError."""
    match = _WINDOW.fullmatch(text or "")
    if not match:
        raise ValueError(
            f"invalid window {text!r}: use a positive whole number of days, hours or minutes, "
            "e.g. 7d, 24h or 30d"
        )
    amount, unit = int(match.group(1)), match.group(2).lower()
    if amount <= 0:
        raise ValueError(f"invalid window {text!r}: must be longer than zero")
    window = timedelta(**{_UNITS[unit]: amount})
    if window > MAX_WINDOW:
        raise ValueError(f"invalid window {text!r}: at most {MAX_WINDOW.days} days")
    return window


# --- pure helpers ------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the value at rank ceil(p/100 · n) of the sorted values."""
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def parse_time(value: Any) -> datetime | None:
    """An ISO timestamp from an event (naive taken as UTC); None for missing or malformed."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds()


def _met_below(value: float | None, target: float) -> bool | None:
    return None if value is None else value < target


def _met_above(value: float | None, target: float) -> bool | None:
    return None if value is None else value > target


def _met_at_least(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


# --- the report --------------------------------------------------------------------------------


class Window(Model):
    since: datetime
    until: datetime


class Counts(Model):
    tickets: int  # escalated + auto_response tickets
    escalated: int
    auto_response: int
    resolved: int
    rated: int  # tickets with a satisfaction score
    agent_first_responses: int


class EscalationRate(Model):
    value: float | None
    escalated: int
    tickets: int
    target: str = "< 15%"
    met: bool | None


class TimeToEscalate(Model):
    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None
    from_created_p50_seconds: float | None
    target: str = "p50 < 120 s"
    met: bool | None


class EscalationAccuracy(Model):
    value: float | None
    necessary: int
    resolved: int
    target: str = "> 90%"
    met: bool | None


class CsatAfterEscalation(Model):
    value: float | None
    satisfied: int
    rated: int
    target: str = "> 85%"
    met: bool | None


class ResolutionTime(Model):
    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    target: str | None = None  # the seed tracks it without a target
    met: bool | None = None


class SlaAttainment(Model):
    value: float | None
    attained: int
    total: int
    target: str | None = None  # reported, no seed target
    met: bool | None = None


class RoutingAccuracy(Model):
    value: float | None
    kept: int  # escalations whose team and priority no agent changed
    reassigned: int
    escalated: int
    target: str = ">= 90%"
    met: bool | None


class Breakdown(Model):
    escalated: int = 0
    time_to_escalate_p50_seconds: float | None = None
    resolved: int = 0
    resolution_p50_seconds: float | None = None
    sla_attained: int = 0
    sla_total: int = 0
    sla_attainment: float | None = None


# Contract 3's metric keys, in the seed's order (plus SLA attainment, beyond the seed).
METRIC_KEYS: tuple[str, ...] = (
    "escalationRate",
    "timeToEscalate",
    "escalationAccuracy",
    "csatAfterEscalation",
    "resolutionTime",
    "slaAttainment",
    "routingAccuracy",
)


class MetricsReport(Model):
    window: Window
    counts: Counts
    escalation_rate: EscalationRate
    time_to_escalate: TimeToEscalate
    escalation_accuracy: EscalationAccuracy
    csat_after_escalation: CsatAfterEscalation
    resolution_time: ResolutionTime
    sla_attainment: SlaAttainment
    routing_accuracy: RoutingAccuracy
    by_team: dict[str, Breakdown]
    by_priority: dict[str, Breakdown]


@dataclass(frozen=True)
class LogRow:
    """One escalation_log event: `at` is when it happened (event timestamp, else logged_at);
    `episode_id` the escalation episode it belongs to (None for events written before
    episodes existed: the ticket's only escalation then)."""

    id: int
    ticket_id: str
    action: str
    event: dict[str, Any]
    at: datetime
    episode_id: str | None = None

    @property
    def episode(self) -> str:
        """What the metrics count: the episode, or the ticket for a row from before them."""
        named = self.episode_id or self.event.get("episodeId")
        return str(named) if named else f"ticket:{self.ticket_id}"


@dataclass
class _Group:
    escalated: int = 0
    to_escalate: list[float] | None = None
    resolved: int = 0
    resolution: list[float] | None = None
    sla_attained: int = 0
    sla_total: int = 0

    def breakdown(self) -> Breakdown:
        return Breakdown(
            escalated=self.escalated,
            time_to_escalate_p50_seconds=percentile(self.to_escalate or [], 50),
            resolved=self.resolved,
            resolution_p50_seconds=percentile(self.resolution or [], 50),
            sla_attained=self.sla_attained,
            sla_total=self.sla_total,
            sla_attainment=ratio(self.sla_attained, self.sla_total),
        )


def holders(ordered: Iterable[LogRow], until: datetime) -> dict[str, tuple[str, str]]:
    """Each episode's (team, priority) at the end: as escalated, then moved by every agent's
    reassignment and every priority lift, and as the resolution recorded it — up to `until`."""
    held: dict[str, tuple[str, str]] = {}
    for row in ordered:
        if row.at >= until:
            break
        event, key = row.event, row.episode
        team, priority = held.get(key, ("unknown", "unknown"))
        match row.action:
            case "escalated":
                team = str(event.get("escalatedTo") or team)
                priority = str(event.get("priority") or priority)
            case "reassigned":
                team = str(event.get("to") or team)
                priority = str(event.get("toPriority") or priority)
            case "priority_changed":
                priority = str(event.get("to") or priority)
            case "resolved":
                team = str(event.get("team") or team)
                priority = str(event.get("priority") or priority)
            case _:
                continue
        held[key] = (team, priority)
    return held


def build_report(rows: Iterable[LogRow], since: datetime, until: datetime) -> MetricsReport:
    """The report from log rows: those in [since, until) count; an `escalated` row outside the
    window is used only as the start of an episode resolved inside it.

    Every escalation episode counts (a ticket escalated again is a second escalation), and an
    episode's team and priority figures go to the team and priority that hold it at the end
    (`holders`): a reassigned escalation counts once, for the team it was handed to."""
    since, until = parse_time(since), parse_time(until)
    assert since is not None and until is not None
    ordered = sorted(rows, key=lambda row: (row.at, row.id))
    inside = [row for row in ordered if since <= row.at < until]

    # an episode's escalation, whether or not it is in the window
    escalations: dict[str, LogRow] = {}
    for row in ordered:
        if row.action == "escalated" and row.at < until:
            escalations.setdefault(row.episode, row)
    held = holders(ordered, until)

    by_team: dict[str, _Group] = defaultdict(_Group)
    by_priority: dict[str, _Group] = defaultdict(_Group)

    def groups(row: LogRow) -> list[_Group]:
        team, priority = held.get(row.episode, ("unknown", "unknown"))
        return [by_team[team], by_priority[priority]]

    # escalation rate and time to escalate
    escalated_ids: set[str] = set()
    auto_ids: set[str] = set()
    to_escalate: list[float] = []
    from_created: list[float] = []
    for row in inside:
        if row.action == "auto_response":
            auto_ids.add(row.episode)
        elif row.action == "escalated" and row.episode not in escalated_ids:
            escalated_ids.add(row.episode)
            delivered = parse_time(row.event.get("timestamp")) or row.at
            seconds = _seconds(delivered, parse_time(row.event.get("receivedAt")))
            for group in groups(row):
                group.escalated += 1
                if seconds is not None:
                    group.to_escalate = [*(group.to_escalate or []), max(0.0, seconds)]
            if seconds is not None:
                to_escalate.append(max(0.0, seconds))
            created = _seconds(delivered, parse_time(row.event.get("ticketCreatedAt")))
            if created is not None:
                from_created.append(max(0.0, created))
    auto_ids -= escalated_ids  # one run kept with auto-response and escalated counts once
    tickets = len(escalated_ids) + len(auto_ids)

    # accuracy, resolution time, SLA attainment
    necessary = judged = 0
    resolution: list[float] = []
    sla_attained = sla_total = 0
    resolved_ids: set[str] = set()
    for row in inside:
        if row.action != "resolved" or row.episode in resolved_ids:
            continue
        resolved_ids.add(row.episode)
        event = row.event
        flag = event.get("escalationNecessary")
        if isinstance(flag, bool):
            judged += 1
            necessary += flag
        escalation = escalations.get(row.episode)
        escalated_at = parse_time(escalation.event.get("timestamp")) if escalation else None
        resolved_at = parse_time(event.get("timestamp")) or row.at
        elapsed = _seconds(resolved_at, escalated_at)
        seconds = None
        if elapsed is not None:
            paused = event.get("pausedSeconds") or 0
            paused = paused if isinstance(paused, int | float) else 0
            seconds = max(0.0, elapsed - paused)
            resolution.append(seconds)
        due = parse_time(escalation.event.get("slaDueAt")) if escalation else None
        attained = None
        if due is not None:
            # the episode's first human response (a reassignment does not erase it)
            responded = parse_time(event.get("respondedAt"))
            attained = responded is not None and responded <= due
            sla_total += 1
            sla_attained += attained
        for group in groups(row):
            group.resolved += 1
            if seconds is not None:
                group.resolution = [*(group.resolution or []), seconds]
            if attained is not None:
                group.sla_total += 1
                group.sla_attained += attained

    # CSAT after resolution: each episode's latest answer in the window
    latest_score: dict[str, int] = {}
    for row in inside:
        score = row.event.get("score")
        if row.action == "csat" and isinstance(score, int):
            latest_score[row.episode] = score
    satisfied = sum(1 for score in latest_score.values() if score in SATISFIED_SCORES)

    # routing accuracy: escalations in the window an agent moved to another team or priority
    reassigned = {
        row.episode for row in inside if row.action == "reassigned" and row.episode in escalated_ids
    }
    routed = ratio(len(escalated_ids) - len(reassigned), len(escalated_ids))

    first_responses = sum(
        1 for row in inside if row.action == "agent_responded" and row.event.get("firstResponse")
    )

    rate = ratio(len(escalated_ids), tickets)
    p50 = percentile(to_escalate, 50)
    accuracy = ratio(necessary, judged)
    csat = ratio(satisfied, len(latest_score))
    return MetricsReport(
        window=Window(since=since, until=until),
        counts=Counts(
            tickets=tickets,
            escalated=len(escalated_ids),
            auto_response=len(auto_ids),
            resolved=len(resolved_ids),
            rated=len(latest_score),
            agent_first_responses=first_responses,
        ),
        escalation_rate=EscalationRate(
            value=rate,
            escalated=len(escalated_ids),
            tickets=tickets,
            met=_met_below(rate, ESCALATION_RATE_TARGET),
        ),
        time_to_escalate=TimeToEscalate(
            count=len(to_escalate),
            p50_seconds=p50,
            p90_seconds=percentile(to_escalate, 90),
            max_seconds=max(to_escalate, default=None),
            from_created_p50_seconds=percentile(from_created, 50),
            met=_met_below(p50, TIME_TO_ESCALATE_TARGET_SECONDS),
        ),
        escalation_accuracy=EscalationAccuracy(
            value=accuracy,
            necessary=necessary,
            resolved=judged,
            met=_met_above(accuracy, ACCURACY_TARGET),
        ),
        csat_after_escalation=CsatAfterEscalation(
            value=csat,
            satisfied=satisfied,
            rated=len(latest_score),
            met=_met_above(csat, CSAT_TARGET),
        ),
        resolution_time=ResolutionTime(
            count=len(resolution),
            p50_seconds=percentile(resolution, 50),
            p90_seconds=percentile(resolution, 90),
        ),
        sla_attainment=SlaAttainment(
            value=ratio(sla_attained, sla_total), attained=sla_attained, total=sla_total
        ),
        routing_accuracy=RoutingAccuracy(
            value=routed,
            kept=len(escalated_ids) - len(reassigned),
            reassigned=len(reassigned),
            escalated=len(escalated_ids),
            met=_met_at_least(routed, ROUTING_ACCURACY_TARGET),
        ),
        by_team={team: group.breakdown() for team, group in sorted(by_team.items())},
        by_priority={key: group.breakdown() for key, group in sorted(by_priority.items())},
    )


# --- the database ------------------------------------------------------------------------------

# `at` is the event's own timestamp (guarded so a malformed one falls back to logged_at rather
# than failing the cast). The second branch brings the escalation of a ticket resolved in the
# window, which may have happened before it.
_QUERY = r"""
WITH ev AS MATERIALIZED (
    SELECT id, ticket_id, action, event,
           coalesce(episode_id, event->>'episodeId') AS episode_id,
           coalesce(episode_id, event->>'episodeId', 'ticket:' || ticket_id) AS episode,
           CASE WHEN event->>'timestamp' ~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}'
                THEN (event->>'timestamp')::timestamptz
                ELSE logged_at END AS at
      FROM escalation_log
     WHERE action = ANY($3::text[])
),
inside AS (
    SELECT * FROM ev WHERE at >= $1 AND at < $2
)
SELECT id, ticket_id, action, event, at, episode_id FROM inside
UNION
SELECT id, ticket_id, action, event, at, episode_id FROM ev
 WHERE action = 'escalated' AND at < $1
   AND episode IN (SELECT episode FROM inside WHERE action = 'resolved')
"""


async def fetch_rows(
    db: asyncpg.Pool | asyncpg.Connection, since: datetime, until: datetime
) -> list[LogRow]:
    records = await db.fetch(_QUERY, since, until, list(ACTIONS))
    return [
        LogRow(
            id=record["id"],
            ticket_id=record["ticket_id"],
            action=record["action"],
            event=record["event"] if isinstance(record["event"], dict) else {},
            at=record["at"],
            episode_id=record["episode_id"],
        )
        for record in records
    ]


async def compute_metrics(
    db: asyncpg.Pool | asyncpg.Connection, since: datetime, until: datetime
) -> MetricsReport:
    """The escalation metrics for events in [since, until) (naive datetimes are UTC)."""
    since_utc, until_utc = parse_time(since), parse_time(until)
    if since_utc is None or until_utc is None or since_utc >= until_utc:
        raise ValueError("the window needs since < until")
    rows = await fetch_rows(db, since_utc, until_utc)
    return build_report(rows, since_utc, until_utc)
