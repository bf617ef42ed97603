"""`GET /metrics` in the Prometheus text format: escalations by team and priority, alerts by
kind, SLA breaches, and a time-to-escalate histogram — read from PostgreSQL at scrape time, so
every web replica reports the same totals and nothing is lost on restart.

Every escalation episode counts (a ticket reopened and escalated again is a second
escalation). `escalations_total` is labelled with the team and priority triage routed it to: a
counter's series must only ever grow, so a reassignment cannot move it from one label set to
another. Where an escalation ends up is in `escalations_resolved_total` (the team and priority
that held it at the resolution) and the `escalations_open` gauge (the team and priority holding
each open escalation now)."""

from __future__ import annotations

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

_ESCALATIONS = """
    SELECT event->>'escalatedTo' AS team, event->>'priority' AS priority, count(*) AS n
      FROM escalation_log WHERE action = 'escalated' GROUP BY 1, 2
"""
_ALERTS = """
    SELECT substr(action, 7) AS kind, count(*) AS n
      FROM escalation_log WHERE action LIKE 'alert:%' GROUP BY 1
"""
_RESOLVED = "SELECT team, priority, count(*) AS n FROM resolutions GROUP BY 1, 2"
# Each ticket's latest episode, when it is not resolved: what the queue shows.
_OPEN = """
    SELECT assigned_to_team AS team, priority, count(*) AS n
      FROM support_assignments AS sa
     WHERE state <> 'resolved'
       AND NOT EXISTS (SELECT 1 FROM support_assignments AS later
                        WHERE later.ticket_id = sa.ticket_id
                          AND later.escalated_at > sa.escalated_at)
     GROUP BY 1, 2
"""
_AUTO_RESPONSES = "SELECT count(*) FROM escalation_log WHERE action = 'auto_response'"
_TIME_TO_ESCALATE = """
    SELECT extract(epoch FROM (event->>'timestamp')::timestamptz
                              - (event->>'receivedAt')::timestamptz) AS seconds
      FROM escalation_log
     WHERE action = 'escalated' AND event ? 'receivedAt' AND event ? 'timestamp'
"""


class _Snapshot:
    """The figures read in one scrape, exposed as a prometheus_client collector."""

    def __init__(
        self,
        escalations: list[asyncpg.Record],
        resolved: list[asyncpg.Record],
        open_now: list[asyncpg.Record],
        alerts: list[asyncpg.Record],
        auto_responses: int,
        seconds: list[float],
    ) -> None:
        self.escalations, self.resolved, self.open_now = escalations, resolved, open_now
        self.alerts = alerts
        self.auto_responses, self.seconds = auto_responses, seconds

    def collect(self) -> Iterator[Metric]:
        escalated = CounterMetricFamily(
            "escalations",
            "Escalations to a human team (each episode), by the team and priority triage chose",
            labels=["team", "priority"],
        )
        for row in self.escalations:
            escalated.add_metric([row["team"] or "", row["priority"] or ""], row["n"])
        yield escalated
        resolved = CounterMetricFamily(
            "escalations_resolved",
            "Escalations resolved, by the team and priority that held them at the end",
            labels=["team", "priority"],
        )
        for row in self.resolved:
            resolved.add_metric([row["team"] or "", row["priority"] or ""], row["n"])
        yield resolved
        open_now = GaugeMetricFamily(
            "escalations_open",
            "Open escalations (each ticket's latest episode), by the team holding them now",
            labels=["team", "priority"],
        )
        for row in self.open_now:
            open_now.add_metric([row["team"] or "", row["priority"] or ""], row["n"])
        yield open_now
        yield CounterMetricFamily(
            "auto_responses", "Tickets triage kept with auto-response", value=self.auto_responses
        )
        alerts = CounterMetricFamily("alerts", "SLA alerts delivered", labels=["kind"])
        breaches = 0
        for row in self.alerts:
            alerts.add_metric([row["kind"]], row["n"])
            if row["kind"] == "response_breach":
                breaches = row["n"]
        yield alerts
        yield CounterMetricFamily(
            "sla_breaches", "Escalations without a human response by the target", value=breaches
        )
        buckets, cumulative = [], 0
        for bound in TIME_TO_ESCALATE_BUCKETS:
            cumulative = sum(1 for s in self.seconds if s <= bound)
            buckets.append((str(bound), cumulative))
        buckets.append(("+Inf", len(self.seconds)))
        yield HistogramMetricFamily(
            "time_to_escalate_seconds",
            "From receipt of the ticket to the escalation delivered",
            buckets=buckets,
            sum_value=sum(self.seconds),
        )


async def render_metrics(pool: asyncpg.Pool) -> bytes:
    """One consistent read of the log, rendered in the Prometheus text format."""
    async with pool.acquire() as db, db.transaction(readonly=True, isolation="repeatable_read"):
        snapshot = _Snapshot(
            await db.fetch(_ESCALATIONS),
            await db.fetch(_RESOLVED),
            await db.fetch(_OPEN),
            await db.fetch(_ALERTS),
            await db.fetchval(_AUTO_RESPONSES),
            [float(row["seconds"]) for row in await db.fetch(_TIME_TO_ESCALATE)],
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(snapshot)  # type: ignore[arg-type]
    return generate_latest(registry)
