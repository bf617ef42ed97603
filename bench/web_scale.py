"""Figure 5: the web app at a million log rows (issue 13). The bench's PostgreSQL is loaded with
`log_rows` escalation_log rows (a year of escalations, their responses, alerts, reassignments,
resolutions and CSAT answers, and auto-responses) and their support_assignments and resolutions
rows, `open_count` of the escalations still open — by COPY, in seconds — then the app (in
process, its real pool and routes, over ASGI) is timed: `/api/queue`, the queue page, a
`/metrics` scrape, the metrics page (30 days, and the longest window, 3660 days).

The baseline, measured in the same run on the same rows: the queue and the scrape with
migration 007's indexes dropped; the old ways of issue 13's later steps — the queue's old page
of 500 rows (`?limit=500`), the scrape with the open gauge counted by its anti-join (migration
010's reference query, then the scrape), the metrics report aggregated from the window's events
(web/metrics.py `compute_metrics`, 007's SQL) for 30 and 3660 days — and the metrics page's
oldest way (every event of the window read into Python, `fetch_rows` + `build_report`) for 30
days.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.stats import summary_ms

TEAMS = ("engineering", "billing", "customer_success", "product", "legal")
PRIORITIES = ("P0", "P1", "P2", "P3")
SPAN = timedelta(days=365)
MIGRATION = Path(__file__).resolve().parent.parent / "escalation/migrations/007_scale_indexes.sql"
LOG_COLUMNS = ("idempotency_key", "ticket_id", "episode_id", "action", "event", "logged_at")
ASSIGNMENT_COLUMNS = (
    "ticket_id", "assigned_to_team", "priority", "escalated_at", "escalation_reason",
    "expected_response_time", "workflow_id", "state", "subject", "customer_name", "premium",
    "time_sensitive", "sentiment", "scenario", "sla_due_at", "episode_id", "updated_at",
)  # fmt: skip
RESOLUTION_COLUMNS = (
    "ticket_id", "episode_id", "team", "priority", "scenario", "resolved_by", "resolution",
    "escalation_necessary", "escalated_at", "responded_at", "resolved_at",
    "response_target_seconds", "paused_seconds", "resolution_seconds", "quick",
)  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def episodes(
    log_rows: int, open_count: int, now: datetime, prefix: str = "WS"
) -> Iterator[tuple[list[tuple[Any, ...]], tuple[Any, ...] | None, tuple[Any, ...] | None]]:
    """(log rows, assignment row or None, resolution row or None) per generated ticket, in
    time order over the year before `now`, until `log_rows` log rows: about six rows per
    escalation (two auto-responded tickets beside each), the last `open_count` escalations
    open. Deterministic: the same arguments give the same rows."""
    per_escalation = 6.0
    escalations = max(open_count + 1, int(log_rows / per_escalation))
    written = i = 0
    while written < log_rows:
        at = now - SPAN * (1 - i / escalations)
        ticket, episode = f"{prefix}-{i:07d}", f"{prefix}-ep-{i:07d}"
        team, priority = TEAMS[i % 5], PRIORITIES[(i // 5) % 4]
        due = at + timedelta(hours=1)
        is_open = i >= escalations - open_count
        rows: list[tuple[str, dict[str, Any], datetime]] = []

        def add(action: str, when: datetime, _rows: list[Any] = rows, **event: Any) -> None:
            _rows.append((action, {"timestamp": _iso(when), **event}, when))

        add("escalated", at, receivedAt=_iso(at - timedelta(seconds=5 + i % 90)),
            ticketCreatedAt=_iso(at - timedelta(seconds=120)), escalatedTo=team,
            priority=priority, slaDueAt=_iso(due), responseTargetMinutes=60)  # fmt: skip
        responded = at + timedelta(minutes=5 + i % 120)
        if not is_open or i % 2:
            add("agent_responded", responded, firstResponse=True)
        if i % 3 == 0:
            add("alert:response_warning", at + timedelta(minutes=45))
        if i % 7 == 0:
            add("alert:response_breach", due)
        held_team = team
        if i % 10 == 0:
            held_team = TEAMS[(i + 1) % 5]
            add("reassigned", at + timedelta(minutes=30), to=held_team, **{"from": team})
        resolved_at = at + timedelta(hours=1 + i % 20)
        paused = float(600 * (i % 4))
        necessary = i % 9 != 0
        if not is_open:
            add("resolved", resolved_at, team=held_team, priority=priority,
                respondedAt=_iso(responded), escalationNecessary=necessary,
                pausedSeconds=paused)  # fmt: skip
            if i % 2 == 0:
                add("csat", resolved_at + timedelta(hours=2), score=1 + i % 5)
        for n in range(2):  # two tickets kept with auto-response for each escalation
            rows.append(
                (
                    "auto_response",
                    {"timestamp": _iso(at + timedelta(minutes=n + 1))},
                    at + timedelta(minutes=n + 1),
                )
            )
        rows = rows[: log_rows - written]
        written += len(rows)
        log = [
            (f"{ticket}:{episode}:{action}:{n}", ticket, episode, action,
             {"ticketId": ticket, "episodeId": episode, **event}, logged)
            for n, (action, event, logged) in enumerate(rows)
        ]  # fmt: skip
        state = "escalated" if i % 2 == 0 else "responded"
        assignment = (
            ticket, held_team, priority, at, "bench", timedelta(hours=1), f"escalation-{ticket}",
            state if is_open else "resolved", f"Bench ticket {i}", f"Customer {i % 1000}",
            i % 4 == 0, i % 6 == 0, "frustrated", "upload_failure", due, episode, at,
        )  # fmt: skip
        resolution = None
        if not is_open:
            seconds = max(0.0, (resolved_at - at).total_seconds() - paused)
            resolution = (
                ticket, episode, held_team, priority, "upload_failure", "bench-agent",
                "fixed", necessary, at, responded, resolved_at, 3600, paused, seconds,
                seconds < 3600,
            )  # fmt: skip
        yield log, assignment, resolution
        i += 1


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds()} seconds"
    if isinstance(value, bool):
        return "t" if value else "f"
    return "" if value is None else value


def _csv(rows: list[tuple[Any, ...]]) -> io.BytesIO:
    """Rows as COPY's CSV (an empty unquoted field is NULL)."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return io.BytesIO(text.getvalue().encode())


async def load(
    pool: asyncpg.Pool, log_rows: int, open_count: int, now: datetime, prefix: str = "WS"
) -> dict[str, int]:
    """COPY the generated rows in, in batches; returns the row counts written."""
    counts = {"escalation_log": 0, "support_assignments": 0, "resolutions": 0}
    batch: dict[str, list[tuple[Any, ...]]] = {name: [] for name in counts}

    async def flush() -> None:
        async with pool.acquire() as db:
            for table, columns in (
                ("escalation_log", LOG_COLUMNS),
                ("support_assignments", ASSIGNMENT_COLUMNS),
                ("resolutions", RESOLUTION_COLUMNS),
            ):
                if batch[table]:
                    await db.copy_to_table(
                        table, source=_csv(batch[table]), columns=columns, format="csv"
                    )
                    counts[table] += len(batch[table])
                    batch[table] = []

    for log, assignment, resolution in episodes(log_rows, open_count, now, prefix):
        batch["escalation_log"] += log
        if assignment:
            batch["support_assignments"].append(assignment)
        if resolution:
            batch["resolutions"].append(resolution)
        if len(batch["escalation_log"]) >= 50_000:
            await flush()
    await flush()
    return counts


def new_indexes() -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of each index migration 007 adds."""
    sql = MIGRATION.read_text(encoding="utf-8")
    found = re.finditer(r"CREATE INDEX IF NOT EXISTS (\w+)\s.*?;", sql, re.DOTALL)
    return [(match.group(1), match.group(0)) for match in found]


async def _timed(
    http: httpx.AsyncClient, path: str, count: int, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    took = []
    for _ in range(count):
        started = time.perf_counter()
        answer = await http.get(path, headers=headers)
        took.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:300]}")
    return {**summary_ms(took), "count": count, "bytes": len(answer.content)}


async def measure(
    database_url: str,
    pool: asyncpg.Pool,
    log_rows: int,
    open_count: int,
    samples: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    from escalation.config import Endpoints
    from web.app import create_app
    from web.auth import AgentDirectory, WebhookVerifier, new_token, write_agents_file
    from web.metrics import build_report, compute_metrics, fetch_rows
    from web.prometheus import OPEN_REFERENCE
    from web.services import WebConfig

    now = datetime.now(UTC)
    started = time.perf_counter()
    counts = await load(pool, log_rows, open_count, now)
    loaded = time.perf_counter() - started
    await pool.execute("VACUUM ANALYZE escalation_log, support_assignments, resolutions")
    vacuumed = time.perf_counter() - started - loaded
    progress(f"web: {counts} loaded in {loaded:.1f}s (+{vacuumed:.1f}s VACUUM ANALYZE)")

    token, scrape = new_token(), new_token()
    with tempfile.TemporaryDirectory(prefix="web-scale-") as folder:
        agents = write_agents_file(Path(folder) / "agents.toml", {"bench": ("engineering", token)})
        config = WebConfig(
            endpoints=Endpoints(
                temporal_address="127.0.0.1:1",  # never called: these routes read PostgreSQL
                namespace="default",
                database_url=database_url,
                smtp_url="smtp://127.0.0.1:1",
                temporal_ui_url="http://localhost:8233",
                task_queue="web-scale",
            ),
            verifier=WebhookVerifier([]),
            agents=AgentDirectory.from_file(agents),
            metrics_token=scrape,
        )
        app = create_app(config)
        bearer = {"authorization": f"Bearer {token}"}
        scraper = {"authorization": f"Bearer {scrape}"}
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            # https: httpx, like a browser, sends the Secure session cookie back only so.
            async with httpx.AsyncClient(
                transport=transport, base_url="https://testserver", timeout=600
            ) as http:
                signed_in = await http.post(
                    "/login",
                    data={"agent": "bench", "token": token, "next": "/"},
                    headers={"origin": "https://testserver"},
                )
                assert signed_in.status_code == 303, signed_in.text
                figures: dict[str, Any] = {"rows": counts, "loadSec": round(loaded, 1)}
                few = max(3, samples // 10)
                for key, path, headers, n in (
                    ("queueApi", "/api/queue", bearer, samples),
                    ("queuePage", "/", None, samples),
                    ("metricsScrape", "/metrics", scraper, samples),
                    ("metricsPage30d", "/reports/metrics?since=30d", None, samples),
                    ("metricsPage3660d", "/reports/metrics?since=3660d", None, few),
                ):
                    await http.get(path, headers=headers)  # warm
                    figures[key] = await _timed(http, path, n, headers)
                    progress(f"web: {key} p99 {figures[key]['p99Ms']} ms")

                # the baseline: the same routes without migration 007's indexes
                baseline: dict[str, Any] = {}
                indexes = new_indexes()
                async with pool.acquire() as db:
                    for name, _ in indexes:
                        await db.execute(f"DROP INDEX IF EXISTS {name}")
                try:
                    for key, path, headers in (
                        ("queueApi", "/api/queue", bearer),
                        ("queuePage", "/", None),
                        ("metricsScrape", "/metrics", scraper),
                    ):
                        baseline[key] = await _timed(http, path, few, headers)
                        progress(f"web: baseline {key} p99 {baseline[key]['p99Ms']} ms")
                finally:
                    async with pool.acquire() as db:
                        for _, create in indexes:
                            await db.execute(create)
                # the old ways, on the same rows: the queue's old page of 500 rows, the scrape
                # with the open gauge counted by its anti-join (migration 010's reference), the
                # metrics page's report aggregated from the window's events (007's SQL), and
                # the window's events read into Python
                baseline["queueApi500"] = await _timed(http, "/api/queue?limit=500", few, bearer)
                progress(f"web: baseline queueApi500 p99 {baseline['queueApi500']['p99Ms']} ms")
                took = []
                for _ in range(few):
                    begun = time.perf_counter()
                    await pool.fetch(OPEN_REFERENCE)
                    await http.get("/metrics", headers=scraper)
                    took.append(time.perf_counter() - begun)
                baseline["metricsScrapeCounted"] = {**summary_ms(took), "count": len(took)}
                progress(f"web: baseline scrape, open counted {summary_ms(took)['p99Ms']} ms")
                for key, days, n in (
                    ("metricsPage30dSql", 30, 3),
                    ("metricsPage3660dSql", 3660, 1),
                ):
                    since, until = now - timedelta(days=days), datetime.now(UTC)
                    took = []
                    for _ in range(n):
                        begun = time.perf_counter()
                        await compute_metrics(pool, since, until)
                        took.append(time.perf_counter() - begun)
                    baseline[key] = {**summary_ms(took), "count": len(took)}
                    progress(f"web: baseline {key} {summary_ms(took)['p99Ms']} ms")
                since, until = now - timedelta(days=30), now
                took = []
                for _ in range(3):
                    begun = time.perf_counter()
                    build_report(await fetch_rows(pool, since, until), since, until)
                    took.append(time.perf_counter() - begun)
                baseline["metricsPage30dPython"] = {**summary_ms(took), "count": len(took)}
                progress(f"web: baseline metrics 30d in Python {summary_ms(took)['p99Ms']} ms")
    goal = 100.0
    figures["baselineWithout007"] = baseline
    figures["goalMs"] = goal
    figures["met"] = {
        key: figures[key]["p99Ms"] <= goal
        for key in ("queueApi", "queuePage", "metricsScrape", "metricsPage30d", "metricsPage3660d")
    }
    return figures


def main() -> None:  # pragma: no cover - a manual check: python -m bench.web_scale
    from activities.db import apply_migrations, connect
    from localstack.postgres import EmbeddedPostgres

    async def run() -> None:
        server = EmbeddedPostgres.temporary(fast=True)
        server.start()
        try:
            pool = await connect(server.url, max_size=4)
            await apply_migrations(pool)
            figures = await measure(server.url, pool, 20_000, 500, 20, print)
            print(json.dumps(figures, indent=2))
            await pool.close()
        finally:
            server.stop()

    asyncio.run(run())


if __name__ == "__main__":  # pragma: no cover
    main()
