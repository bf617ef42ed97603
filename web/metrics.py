"""Escalation metrics (seed "Escalation Metrics") computed from `escalation_log`.

`compute_metrics` computes the report in PostgreSQL (`_REPORT_SQL`): the window's events read
through an index on when they happened (migration 007), aggregated where they are, a few rows
sent back, so a 30-day report costs 30 days of the log and never the whole of it. The same
arithmetic in pure Python (`build_report` over `fetch_rows`) is its reference: the tests check
the two agree on generated data, and the pure one is testable without a database.

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

import json
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
    start, end = parse_time(since), parse_time(until)
    assert start is not None and end is not None
    since, until = start, end
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

# The reference read for build_report: the window's rows into Python (and the escalations
# before the window of the episodes resolved in it). `at` is the event's own timestamp, read by
# escalation_time (migration 007: naive taken as UTC, malformed as missing), else logged_at; the
# window is an index range (escalation_log_by_action_at). compute_metrics no longer uses it.
_QUERY = r"""
WITH inside AS MATERIALIZED (
    SELECT id, ticket_id, action, event,
           coalesce(episode_id, event->>'episodeId') AS episode_id,
           coalesce(episode_id, event->>'episodeId', 'ticket:' || ticket_id) AS episode,
           happened_at AS at
      FROM escalation_log
     WHERE action = ANY($3::text[])
       AND happened_at >= $1
       AND happened_at < $2
)
SELECT id, ticket_id, action, event, at, episode_id FROM inside
UNION
SELECT e.id, e.ticket_id, e.action, e.event,
       e.happened_at,
       coalesce(e.episode_id, e.event->>'episodeId')
  FROM escalation_log AS e
  JOIN (SELECT DISTINCT ticket_id, episode FROM inside WHERE action = 'resolved') AS r
    ON r.ticket_id = e.ticket_id
 WHERE e.action = 'escalated'
   AND e.happened_at < $1
   AND coalesce(e.episode_id, e.event->>'episodeId', 'ticket:' || e.ticket_id) = r.episode
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


# The report computed in PostgreSQL (what compute_metrics runs): the same figures as
# build_report, aggregated where the rows are, so a report costs the window's rows read through
# an index (migration 007: escalation_log_by_action_at) and a few rows sent back, never the log.
# `ev`: the window's events; `before`: the escalations before the window of the episodes
# resolved in it (found by ticket, then episode); `eps`: one row per episode (the team and
# priority holding it at the end, its first escalation in the window, its escalation, its
# first resolution in the window, its latest CSAT answer); `m`: the episode's figures.
# Percentiles are nearest-rank as `percentile` computes them (rank ceil(p/100 · n), in the
# same floating point).
def _pct(column: str, p: int) -> str:
    return (
        f"(array_agg({column} ORDER BY {column}) FILTER (WHERE {column} IS NOT NULL))"
        f"[greatest(1, ceil(({p}::float8 / 100) * count({column})))::int]"
    )


_AT = "{e}happened_at"
_TIMES = "{e}event_at, {e}received_at, {e}ticket_created_at, {e}sla_due_at, {e}responded_at"
_EPISODE = "coalesce({e}episode_id, {e}event->>'episodeId', 'ticket:' || {e}ticket_id)"
_TRUTHY = """CASE jsonb_typeof(event->'firstResponse')
        WHEN 'boolean' THEN event->>'firstResponse' = 'true'
        WHEN 'number' THEN (event->>'firstResponse')::numeric <> 0
        WHEN 'string' THEN event->>'firstResponse' <> ''
        WHEN 'array' THEN jsonb_array_length(event->'firstResponse') > 0
        WHEN 'object' THEN event->'firstResponse' <> '{}'::jsonb
        ELSE false END"""


def _nonnegative(expression: str) -> str:
    return f"CASE WHEN ({expression}) IS NOT NULL THEN greatest(0::float8, {expression}) END"


def _seconds_sql(later: str, earlier: str) -> str:
    return f"extract(epoch FROM ({later}) - ({earlier}))::float8"


_TTE = _nonnegative(_seconds_sql("esc_in_at", "received_at"))
_CREATED = _nonnegative(_seconds_sql("esc_in_at", "created_at"))
_RESOLUTION = _nonnegative(_seconds_sql("res_at", "escalated_at") + " - paused")
_REPORT_SQL = rf"""
WITH ev AS MATERIALIZED (
    SELECT id, ticket_id, action, event, {_EPISODE.format(e="")} AS episode,
           {_AT.format(e="")} AS at, {_TIMES.format(e="")}, true AS inside
      FROM escalation_log
     WHERE action = ANY($3::text[])
       AND {_AT.format(e="")} >= $1 AND {_AT.format(e="")} < $2
),
resolved_in AS (
    SELECT DISTINCT ticket_id, episode FROM ev WHERE action = 'resolved'
),
before AS (
    SELECT e.id, e.ticket_id, e.action, e.event, r.episode, {_AT.format(e="e.")} AS at,
           {_TIMES.format(e="e.")}, false AS inside
      FROM resolved_in AS r
      JOIN escalation_log AS e ON e.ticket_id = r.ticket_id
     WHERE e.action = 'escalated' AND {_AT.format(e="e.")} < $1
       AND {_EPISODE.format(e="e.")} = r.episode
),
rows AS (
    SELECT *,
           CASE action WHEN 'escalated' THEN nullif(event->>'escalatedTo', '')
                       WHEN 'reassigned' THEN nullif(event->>'to', '')
                       WHEN 'resolved' THEN nullif(event->>'team', '') END AS team_v,
           CASE action WHEN 'escalated' THEN nullif(event->>'priority', '')
                       WHEN 'reassigned' THEN nullif(event->>'toPriority', '')
                       WHEN 'priority_changed' THEN nullif(event->>'to', '')
                       WHEN 'resolved' THEN nullif(event->>'priority', '') END AS priority_v
      FROM (SELECT * FROM ev UNION ALL SELECT * FROM before) AS fetched
),
eps AS (
    SELECT episode,
           coalesce((array_agg(team_v ORDER BY at DESC, id DESC)
                     FILTER (WHERE team_v IS NOT NULL))[1], 'unknown') AS team,
           coalesce((array_agg(priority_v ORDER BY at DESC, id DESC)
                     FILTER (WHERE priority_v IS NOT NULL))[1], 'unknown') AS priority,
           bool_or(inside AND action = 'escalated') AS esc_in,
           (array_agg(at ORDER BY at, id)
             FILTER (WHERE inside AND action = 'escalated'))[1] AS esc_in_at,
           (array_agg(received_at ORDER BY at, id)
             FILTER (WHERE inside AND action = 'escalated'))[1] AS received_at,
           (array_agg(ticket_created_at ORDER BY at, id)
             FILTER (WHERE inside AND action = 'escalated'))[1] AS created_at,
           (array_agg(event_at ORDER BY at, id) FILTER (WHERE action = 'escalated'))[1]
             AS escalated_at,
           (array_agg(sla_due_at ORDER BY at, id) FILTER (WHERE action = 'escalated'))[1]
             AS sla_due_at,
           coalesce(bool_or(inside AND action = 'auto_response'), false) AS auto,
           bool_or(inside AND action = 'resolved') AS res,
           (array_agg(at ORDER BY at, id)
             FILTER (WHERE inside AND action = 'resolved'))[1] AS res_at,
           (array_agg(responded_at ORDER BY at, id)
             FILTER (WHERE inside AND action = 'resolved'))[1] AS responded_at,
           (array_agg(CASE WHEN jsonb_typeof(event->'escalationNecessary') = 'boolean'
                           THEN (event->>'escalationNecessary')::boolean END ORDER BY at, id)
             FILTER (WHERE inside AND action = 'resolved'))[1] AS necessary,
           (array_agg(CASE WHEN jsonb_typeof(event->'pausedSeconds') = 'number'
                           THEN (event->>'pausedSeconds')::float8 ELSE 0 END ORDER BY at, id)
             FILTER (WHERE inside AND action = 'resolved'))[1] AS paused,
           (array_agg((event->>'score')::int ORDER BY at DESC, id DESC)
             FILTER (WHERE inside AND action = 'csat'
                       AND jsonb_typeof(event->'score') = 'number'
                       AND event->>'score' ~ '^-?\d{{1,9}}$'))[1] AS score,
           coalesce(bool_or(inside AND action = 'reassigned'), false) AS moved,
           count(*) FILTER (WHERE inside AND action = 'agent_responded' AND {_TRUTHY})
             AS first_responses
      FROM rows GROUP BY episode
),
m AS (
    SELECT team, priority,
           coalesce(esc_in, false) AS escalated,
           auto AND NOT coalesce(esc_in, false) AS auto_only,
           CASE WHEN esc_in THEN {_TTE} END AS tte,
           CASE WHEN esc_in THEN {_CREATED} END AS created,
           coalesce(res, false) AS resolved,
           CASE WHEN res THEN necessary END AS necessary,
           CASE WHEN res THEN {_RESOLUTION} END AS resolution,
           CASE WHEN res AND sla_due_at IS NOT NULL
                THEN coalesce(responded_at <= sla_due_at, false) END AS attained,
           score,
           moved AND coalesce(esc_in, false) AS rerouted,
           first_responses
      FROM eps
),
groups AS (
    SELECT CASE WHEN grouping(team) = 0 THEN 'team' ELSE 'priority' END AS kind,
           coalesce(team, priority) AS key,
           count(*) FILTER (WHERE escalated) AS escalated,
           {_pct("tte", 50)} AS tte_p50,
           count(*) FILTER (WHERE resolved) AS resolved,
           {_pct("resolution", 50)} AS resolution_p50,
           count(*) FILTER (WHERE attained) AS sla_attained,
           count(attained) AS sla_total
      FROM m WHERE escalated OR resolved
     GROUP BY GROUPING SETS ((team), (priority))
)
SELECT 'all' AS kind, NULL AS key,
       jsonb_build_object(
           'escalated', count(*) FILTER (WHERE escalated),
           'auto', count(*) FILTER (WHERE auto_only),
           'tte_count', count(tte),
           'tte_p50', {_pct("tte", 50)},
           'tte_p90', {_pct("tte", 90)},
           'tte_max', max(tte),
           'created_p50', {_pct("created", 50)},
           'resolved', count(*) FILTER (WHERE resolved),
           'judged', count(necessary),
           'necessary', count(*) FILTER (WHERE necessary),
           'resolution_count', count(resolution),
           'resolution_p50', {_pct("resolution", 50)},
           'resolution_p90', {_pct("resolution", 90)},
           'sla_attained', count(*) FILTER (WHERE attained),
           'sla_total', count(attained),
           'rated', count(score),
           'satisfied', count(*) FILTER (WHERE score IN (4, 5)),
           'rerouted', count(*) FILTER (WHERE rerouted),
           'first_responses', coalesce(sum(first_responses), 0)
       ) AS figures
  FROM m
UNION ALL
SELECT kind, key, to_jsonb(groups) - 'kind' - 'key' FROM groups
"""


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def report_from_figures(
    since: datetime, until: datetime, rows: Iterable[tuple[str, str | None, dict[str, Any]]]
) -> MetricsReport:
    """The report from _REPORT_SQL's rows: ('all', None, totals) and (kind, key, figures) for
    each team and priority."""
    totals: dict[str, Any] = {}
    breakdowns: dict[str, dict[str, Breakdown]] = {"team": {}, "priority": {}}
    for kind, key, figures in rows:
        if kind == "all":
            totals = figures
            continue
        assert key is not None
        breakdowns[kind][key] = Breakdown(
            escalated=figures["escalated"],
            time_to_escalate_p50_seconds=_number(figures["tte_p50"]),
            resolved=figures["resolved"],
            resolution_p50_seconds=_number(figures["resolution_p50"]),
            sla_attained=figures["sla_attained"],
            sla_total=figures["sla_total"],
            sla_attainment=ratio(figures["sla_attained"], figures["sla_total"]),
        )
    escalated, auto = totals["escalated"], totals["auto"]
    tickets = escalated + auto
    rate = ratio(escalated, tickets)
    p50 = _number(totals["tte_p50"])
    accuracy = ratio(totals["necessary"], totals["judged"])
    csat = ratio(totals["satisfied"], totals["rated"])
    kept = escalated - totals["rerouted"]
    routed = ratio(kept, escalated)
    return MetricsReport(
        window=Window(since=since, until=until),
        counts=Counts(
            tickets=tickets,
            escalated=escalated,
            auto_response=auto,
            resolved=totals["resolved"],
            rated=totals["rated"],
            agent_first_responses=int(totals["first_responses"]),
        ),
        escalation_rate=EscalationRate(
            value=rate,
            escalated=escalated,
            tickets=tickets,
            met=_met_below(rate, ESCALATION_RATE_TARGET),
        ),
        time_to_escalate=TimeToEscalate(
            count=totals["tte_count"],
            p50_seconds=p50,
            p90_seconds=_number(totals["tte_p90"]),
            max_seconds=_number(totals["tte_max"]),
            from_created_p50_seconds=_number(totals["created_p50"]),
            met=_met_below(p50, TIME_TO_ESCALATE_TARGET_SECONDS),
        ),
        escalation_accuracy=EscalationAccuracy(
            value=accuracy,
            necessary=totals["necessary"],
            resolved=totals["judged"],
            met=_met_above(accuracy, ACCURACY_TARGET),
        ),
        csat_after_escalation=CsatAfterEscalation(
            value=csat,
            satisfied=totals["satisfied"],
            rated=totals["rated"],
            met=_met_above(csat, CSAT_TARGET),
        ),
        resolution_time=ResolutionTime(
            count=totals["resolution_count"],
            p50_seconds=_number(totals["resolution_p50"]),
            p90_seconds=_number(totals["resolution_p90"]),
        ),
        sla_attainment=SlaAttainment(
            value=ratio(totals["sla_attained"], totals["sla_total"]),
            attained=totals["sla_attained"],
            total=totals["sla_total"],
        ),
        routing_accuracy=RoutingAccuracy(
            value=routed,
            kept=kept,
            reassigned=totals["rerouted"],
            escalated=escalated,
            met=_met_at_least(routed, ROUTING_ACCURACY_TARGET),
        ),
        by_team=dict(sorted(breakdowns["team"].items())),
        by_priority=dict(sorted(breakdowns["priority"].items())),
    )


async def compute_metrics(
    db: asyncpg.Pool | asyncpg.Connection, since: datetime, until: datetime
) -> MetricsReport:
    """The escalation metrics for events in [since, until) (naive datetimes are UTC),
    computed in PostgreSQL (_REPORT_SQL); `build_report` over `fetch_rows` is the same
    arithmetic in Python, kept as its reference (tests/test_metrics_sql.py)."""
    since_utc, until_utc = parse_time(since), parse_time(until)
    if since_utc is None or until_utc is None or since_utc >= until_utc:
        raise ValueError("the window needs since < until")
    records = await db.fetch(_REPORT_SQL, since_utc, until_utc, list(ACTIONS))
    return report_from_figures(
        since_utc,
        until_utc,
        [
            (r["kind"], r["key"], json.loads(f) if isinstance(f := r["figures"], str) else f)
            for r in records
        ],
    )


# --- the report from the rollups (migration 011) ------------------------------------------------

# What compute_metrics_rolled reads: the episodes escalated and resolved in the window from
# metric_episodes (index-only range scans: the percentiles stay exact, nearest rank over the
# window's values), and the figures that only sum (auto-responses, CSAT answers, first
# responses) from metric_days for the window's whole UTC days [$3, $4) plus metric_episodes for
# the partial days at its edges, [$1, $5) and [$6, $2). metric_episodes keeps what _REPORT_SQL
# computes per episode over all of its events; an episode with events on both sides of the
# window's end (`cut`: few, those still being written when the window ends now) is taken out
# and recomputed from its events before the end (`cut_now`), so the report equals
# _REPORT_SQL's — see compute_metrics_rolled for the one case it does not.
_ROLLED_SQL = rf"""
WITH cut_all AS MATERIALIZED (
    SELECT * FROM metric_episodes WHERE last_at >= $2 AND first_at < $2
),
cut_now AS MATERIALIZED (
    SELECT * FROM metric_episodes_of((SELECT array_agg(episode) FROM cut_all), $2)
),
picked AS (  -- the episodes escalated or resolved in the window: one index range each
    SELECT team, priority, esc_at, tte, created, res_at, necessary, resolution, attained,
           moved_at, auto_at
      FROM metric_episodes
     WHERE ((esc_at >= $1 AND esc_at < $2) OR (res_at >= $1 AND res_at < $2)) AND last_at < $2
    UNION ALL
    SELECT team, priority, esc_at, tte, created, res_at, necessary, resolution, attained,
           moved_at, auto_at
      FROM cut_now
     WHERE (esc_at >= $1 AND esc_at < $2) OR (res_at >= $1 AND res_at < $2)
),
flagged AS (
    SELECT *, coalesce(esc_at >= $1 AND esc_at < $2, false) AS escalated,
           coalesce(res_at >= $1 AND res_at < $2, false) AS resolved
      FROM picked
),
m AS (
    SELECT team, priority, escalated, resolved,
           CASE WHEN escalated THEN tte END AS tte,
           CASE WHEN escalated THEN created END AS created,
           CASE WHEN resolved THEN necessary END AS necessary,
           CASE WHEN resolved THEN resolution END AS resolution,
           CASE WHEN resolved THEN attained END AS attained,
           escalated AND coalesce(moved_at >= $1, false) AS rerouted,
           escalated AND coalesce(auto_at >= $1 AND auto_at < $2, false) AS auto_too
      FROM flagged
),
figures AS (  -- the totals and each team's and priority's, in one pass over m
    SELECT CASE WHEN grouping(team) = 0 THEN 'team'
                WHEN grouping(priority) = 0 THEN 'priority' ELSE 'all' END AS kind,
           coalesce(team, priority) AS key,
           count(*) FILTER (WHERE escalated) AS escalated,
           count(tte) AS tte_count,
           {_pct("tte", 50)} AS tte_p50,
           {_pct("tte", 90)} AS tte_p90,
           max(tte) AS tte_max,
           {_pct("created", 50)} AS created_p50,
           count(*) FILTER (WHERE resolved) AS resolved,
           count(necessary) AS judged,
           count(*) FILTER (WHERE necessary) AS necessary,
           count(resolution) AS resolution_count,
           {_pct("resolution", 50)} AS resolution_p50,
           {_pct("resolution", 90)} AS resolution_p90,
           count(*) FILTER (WHERE attained) AS sla_attained,
           count(attained) AS sla_total,
           count(*) FILTER (WHERE rerouted) AS rerouted,
           count(*) FILTER (WHERE auto_too) AS auto_too
      FROM m
     GROUP BY GROUPING SETS ((), (team), (priority))
),
days AS (
    SELECT coalesce(sum(auto), 0) AS auto, coalesce(sum(rated), 0) AS rated,
           coalesce(sum(satisfied), 0) AS satisfied,
           coalesce(sum(first_responses), 0) AS first_responses
      FROM metric_days WHERE day >= $3 AND day < $4
),
edges AS (
    SELECT (SELECT count(*) FROM metric_episodes
             WHERE (auto_at >= $1 AND auto_at < $5) OR (auto_at >= $6 AND auto_at < $2)) AS auto,
           (SELECT count(*) FROM metric_episodes
             WHERE (csat_at >= $1 AND csat_at < $5) OR (csat_at >= $6 AND csat_at < $2))
             AS rated,
           (SELECT count(*) FILTER (WHERE score IN (4, 5)) FROM metric_episodes
             WHERE (csat_at >= $1 AND csat_at < $5) OR (csat_at >= $6 AND csat_at < $2))
             AS satisfied,
           (SELECT coalesce(sum(fr_n), 0) FROM metric_episodes
             WHERE (fr_at >= $1 AND fr_at < $5) OR (fr_at >= $6 AND fr_at < $2))
             AS first_responses
),
fix AS (  -- the cut episodes' sums: as of the end in, as of all their events out
    SELECT coalesce(sum(sign * (auto_at >= $1 AND auto_at < $2)::int), 0) AS auto,
           coalesce(sum(sign * (csat_at >= $1 AND csat_at < $2)::int), 0) AS rated,
           coalesce(sum(sign * (csat_at >= $1 AND csat_at < $2 AND score IN (4, 5))::int), 0)
             AS satisfied,
           coalesce(sum(sign * CASE WHEN fr_at >= $1 AND fr_at < $2 THEN fr_n ELSE 0 END), 0)
             AS first_responses
      FROM (SELECT 1 AS sign, auto_at, csat_at, score, fr_at, fr_n FROM cut_now
            UNION ALL
            SELECT -1, auto_at, csat_at, score, fr_at, fr_n FROM cut_all) AS both_ways
)
SELECT 'all' AS kind, NULL AS key,
       to_jsonb(figures) - 'kind' - 'key' || jsonb_build_object(
           'auto', days.auto + edges.auto + fix.auto - figures.auto_too,
           'rated', days.rated + edges.rated + fix.rated,
           'satisfied', days.satisfied + edges.satisfied + fix.satisfied,
           'first_responses', days.first_responses + edges.first_responses
                              + fix.first_responses
       ) AS figures
  FROM figures, days, edges, fix
 WHERE figures.kind = 'all'
UNION ALL
SELECT kind, key, to_jsonb(figures) - 'kind' - 'key' FROM figures WHERE kind <> 'all'
"""


# How long a report may run before PostgreSQL cancels it (the page says so instead of holding
# a connection of the pool for as long as a ten-year window of the old way took).
REPORT_STATEMENT_TIMEOUT = timedelta(seconds=15)


def _day_start(moment: datetime, up: bool) -> datetime:
    """The UTC midnight at or before `moment` (after it when `up` and it is not one)."""
    start = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start + timedelta(days=1) if up and start < moment else start


async def compute_metrics_rolled(
    db: asyncpg.Pool | asyncpg.Connection,
    since: datetime,
    until: datetime,
    statement_timeout: timedelta | None = REPORT_STATEMENT_TIMEOUT,
) -> MetricsReport:
    """compute_metrics' report read from migration 011's rollups (`_ROLLED_SQL`): a 30-day
    window reads ~30 day rows and the index entries of the episodes escalated or resolved in
    it, never its events (but those of the few episodes with events on both sides of `until`).
    Equal to compute_metrics, except for an episode with two events of one kind on both sides
    of `since` (two escalations or two resolutions of one episode, or two first responses: the
    rollups count the episode's first only, compute_metrics its first in the window). Under
    `statement_timeout` (asyncpg.QueryCanceledError past it)."""
    since_utc, until_utc = parse_time(since), parse_time(until)
    if since_utc is None or until_utc is None or since_utc >= until_utc:
        raise ValueError("the window needs since < until")
    pool_or_db: Any = db
    async with (
        pool_or_db.acquire() if isinstance(db, asyncpg.Pool) else _same(db) as connection,
        connection.transaction(readonly=True),
    ):
        if statement_timeout is not None:
            milliseconds = int(statement_timeout.total_seconds() * 1000)
            await connection.execute(f"SET LOCAL statement_timeout = {milliseconds}")
        first, last = _day_start(since_utc, up=True), _day_start(until_utc, up=False)
        if first < last:
            days, edges = (first.date(), last.date()), (first, last)
        else:  # no whole day: the window is all edge
            days, edges = (first.date(), first.date()), (until_utc, until_utc)
        records = await connection.fetch(_ROLLED_SQL, since_utc, until_utc, *days, *edges)
    return report_from_figures(
        since_utc,
        until_utc,
        [
            (r["kind"], r["key"], json.loads(f) if isinstance(f := r["figures"], str) else f)
            for r in records
        ],
    )


class _same:
    """`async with` over a connection already held: itself, released by its owner."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def __aenter__(self) -> asyncpg.Connection:
        return self.connection

    async def __aexit__(self, *exc: object) -> None:
        return None
