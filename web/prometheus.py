"""`GET /metrics` in the Prometheus text format: escalations by team and priority, alerts by
kind, SLA breaches, and a time-to-escalate histogram — read from PostgreSQL at scrape time, so
every web replica reports the same totals and nothing is lost on restart. Each figure is an
aggregate over an index (migration 007), so a scrape costs milliseconds with a million log rows
(bench/web_scale.py), and the route asks for a scrape token (web/app.py, README Operations).

Every escalation episode counts (a ticket reopened and escalated again is a second
escalation). `escalations_total` is labelled with the team and priority triage routed it to: a
counter's series must only ever grow, so a reassignment cannot move it from one label set to
another. Where an escalation ends up is in `escalations_resolved_total` (the team and priority
that held it at the resolution) and the `escalations_open` gauge (the team and priority holding
each open escalation now, kept by a trigger on the assignments: migration 010)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import asyncpg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

# Seconds from receipt to escalation delivered; the seed's target is < 120 s.
TIME_TO_ESCALATE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

# The counters are kept as the log and the resolutions are written (migration 007's triggers
# append a delta row per counted event); a scrape folds the deltas written since the last one
# into a row per series and reads the few rows left, so it never reads history.
_FOLD = """
    WITH gone AS (DELETE FROM metric_counts RETURNING *)
    INSERT INTO metric_counts (metric, team, priority, kind, bucket, n, seconds)
    SELECT metric, team, priority, kind, bucket, sum(n), sum(seconds)
      FROM gone GROUP BY metric, team, priority, kind, bucket
"""
_COUNTS = """
    SELECT metric, team, priority, kind, bucket, sum(n)::bigint AS n, sum(seconds) AS seconds
      FROM metric_counts GROUP BY metric, team, priority, kind, bucket
"""
# Each ticket's latest episode, when it is not resolved: what the queue shows. The gauge is
# kept by migration 010's trigger on support_assignments (metric 'open' delta rows in
# metric_counts); this direct count, an anti-join per open row, is its reference (the tests
# compare them).
OPEN_REFERENCE = """
    SELECT assigned_to_team AS team, priority, count(*) AS n
      FROM support_assignments AS sa
     WHERE state <> 'resolved'
       AND NOT EXISTS (SELECT 1 FROM support_assignments AS later
                        WHERE later.ticket_id = sa.ticket_id
                          AND later.escalated_at > sa.escalated_at)
     GROUP BY 1, 2
"""


class _Snapshot:
    """The figures read in one scrape, exposed as a prometheus_client collector."""

    def __init__(self, counts: list[asyncpg.Record]) -> None:
        self.open_now: dict[tuple[str, str], int] = defaultdict(int)
        self.escalations: dict[tuple[str, str], int] = defaultdict(int)
        self.resolved: dict[tuple[str, str], int] = defaultdict(int)
        self.alerts: dict[str, int] = defaultdict(int)
        self.auto_responses = 0
        self.timed = [0] * (len(TIME_TO_ESCALATE_BUCKETS) + 1)  # per bucket, the last: +Inf
        self.seconds = 0.0
        for row in counts:
            match row["metric"]:
                case "escalations":
                    self.escalations[row["team"], row["priority"]] += row["n"]
                    if row["bucket"] >= 0:
                        self.timed[min(row["bucket"], len(TIME_TO_ESCALATE_BUCKETS))] += row["n"]
                        self.seconds += row["seconds"]
                case "resolved":
                    self.resolved[row["team"], row["priority"]] += row["n"]
                case "alerts":
                    self.alerts[row["kind"]] += row["n"]
                case "auto_responses":
                    self.auto_responses += row["n"]
                case "open":
                    self.open_now[row["team"], row["priority"]] += row["n"]

    def collect(self) -> Iterator[Metric]:
        escalated = CounterMetricFamily(
            "escalations",
            "Escalations to a human team (each episode), by the team and priority triage chose",
            labels=["team", "priority"],
        )
        for (team, priority), n in sorted(self.escalations.items()):
            escalated.add_metric([team, priority], n)
        yield escalated
        resolved = CounterMetricFamily(
            "escalations_resolved",
            "Escalations resolved, by the team and priority that held them at the end",
            labels=["team", "priority"],
        )
        for (team, priority), n in sorted(self.resolved.items()):
            resolved.add_metric([team, priority], n)
        yield resolved
        open_now = GaugeMetricFamily(
            "escalations_open",
            "Open escalations (each ticket's latest episode), by the team holding them now",
            labels=["team", "priority"],
        )
        for (team, priority), n in sorted(self.open_now.items()):
            if n:
                open_now.add_metric([team, priority], n)
        yield open_now
        yield CounterMetricFamily(
            "auto_responses", "Tickets triage kept with auto-response", value=self.auto_responses
        )
        alerts = CounterMetricFamily("alerts", "SLA alerts delivered", labels=["kind"])
        breaches = 0
        for kind, n in sorted(self.alerts.items()):
            alerts.add_metric([kind], n)
            if kind == "response_breach":
                breaches = n
        yield alerts
        yield CounterMetricFamily(
            "sla_breaches", "Escalations without a human response by the target", value=breaches
        )
        buckets, cumulative = [], 0
        for bound, n in zip(TIME_TO_ESCALATE_BUCKETS, self.timed, strict=False):
            cumulative += n
            buckets.append((str(bound), cumulative))
        buckets.append(("+Inf", sum(self.timed)))
        yield HistogramMetricFamily(
            "time_to_escalate_seconds",
            "From receipt of the ticket to the escalation delivered",
            buckets=buckets,
            sum_value=self.seconds,
        )


async def render_metrics(pool: asyncpg.Pool) -> bytes:
    """One consistent read of the counters, rendered in the Prometheus text format."""
    async with pool.acquire() as db, db.transaction():
        await db.execute(_FOLD)
        snapshot = _Snapshot(await db.fetch(_COUNTS))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(snapshot)  # type: ignore[arg-type]
    return generate_latest(registry)
