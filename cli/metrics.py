"""`metrics --since 7d [--json]`: the escalation metrics of the last window, as a table or JSON.

`metrics_command` returns (exit code, text) and prints nothing (cli/main.py prints it): 0 with
the report, 2 for a bad --since, 1 when the database cannot be read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg

from connections import open_pool
from web.charts import format_duration, format_percent
from web.metrics import MetricsReport, compute_metrics, parse_window


def _percent(value: float | None) -> str:
    return format_percent(value, missing="-")


def _duration(seconds: float | None) -> str:
    return format_duration(seconds, missing="-")


def _status(met: bool | None, has_target: bool = True) -> str:
    if not has_target:
        return "no target" if met is None else ("met" if met else "NOT met")
    return "no data" if met is None else ("met" if met else "NOT met")


def render_text(report: MetricsReport) -> str:
    """One line per metric: name, value, target, met / NOT met / no data."""
    rate, tte = report.escalation_rate, report.time_to_escalate
    acc, csat, res = (
        report.escalation_accuracy,
        report.csat_after_escalation,
        report.resolution_time,
    )
    sla, routing = report.sla_attainment, report.routing_accuracy
    lines = [
        (
            "escalation rate",
            f"{_percent(rate.value)} ({rate.escalated}/{rate.tickets} tickets)",
            rate.target,
            _status(rate.met),
        ),
        (
            "time to escalate",
            f"p50 {_duration(tte.p50_seconds)}, p90 {_duration(tte.p90_seconds)}, "
            f"max {_duration(tte.max_seconds)} (n={tte.count})",
            tte.target,
            _status(tte.met),
        ),
        (
            "escalation accuracy",
            f"{_percent(acc.value)} ({acc.necessary}/{acc.resolved} necessary)",
            acc.target,
            _status(acc.met),
        ),
        (
            "csat after escalation",
            f"{_percent(csat.value)} ({csat.satisfied}/{csat.rated} rated 4-5)",
            csat.target,
            _status(csat.met),
        ),
        (
            "resolution time",
            f"p50 {_duration(res.p50_seconds)}, p90 {_duration(res.p90_seconds)} (n={res.count})",
            res.target or "-",
            "no data" if res.count == 0 else _status(res.met, has_target=False),
        ),
        (
            "sla attainment",
            f"{_percent(sla.value)} ({sla.attained}/{sla.total} responded in time)",
            sla.target or "-",
            "no data" if sla.total == 0 else _status(sla.met, has_target=False),
        ),
        (
            "routing accuracy",
            f"{_percent(routing.value)} ({routing.kept}/{routing.escalated} not reassigned)",
            routing.target,
            _status(routing.met),
        ),
    ]
    width = max(len(value) for _, value, _, _ in lines)
    out = [
        f"Escalation metrics {report.window.since.isoformat()} .. "
        f"{report.window.until.isoformat()}",
        f"{'metric':<22}  {'value':<{width}}  {'target':<12}  status",
    ]
    out += [
        f"{name:<22}  {value:<{width}}  {target:<12}  {status}"
        for name, value, target, status in lines
    ]
    if report.by_priority:
        out.append("")
        out.append(
            "by priority: "
            + ", ".join(
                f"{key} {b.escalated} escalated, SLA {_percent(b.sla_attainment)}"
                for key, b in report.by_priority.items()
            )
        )
    if report.by_team:
        out.append(
            "by team: "
            + ", ".join(
                f"{key} {b.escalated} escalated, {b.resolved} resolved"
                for key, b in report.by_team.items()
            )
        )
    return "\n".join(out)


async def metrics_command(
    database_url: str, since: str, as_json: bool, *, now: datetime | None = None
) -> tuple[int, str]:
    """The report for [now − since, now); `now` (default: the current time) is for tests."""
    try:
        window = parse_window(since)
    except ValueError as error:
        return 2, f"error: {error}"
    until = now or datetime.now(UTC)
    try:
        pool = await open_pool(database_url)
    except (OSError, asyncpg.PostgresError) as error:
        return 1, f"error: cannot connect to the database: {error}"
    try:
        report = await compute_metrics(pool, until - window, until)
    except asyncpg.PostgresError as error:
        return 1, f"error: cannot read escalation_log: {error}"
    finally:
        await pool.close()
    if as_json:
        return 0, json.dumps(report.to_json_dict(), indent=2)
    return 0, render_text(report)
