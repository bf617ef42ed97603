"""Issue 13, scale: the metrics computed in PostgreSQL equal the Python reference on generated
data; the queue, Step 1's lookups and the metrics' window use migration 007's indexes (EXPLAIN on
tables with enough rows, in a database of this module's own); the Prometheus counters kept by
triggers equal a count of the log; `/metrics` wants its scrape token.

The comparison runs on a year of generated escalations (bench/web_scale.py's generator) in a
far-future span (2081) that no other test writes to."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from activities.db import apply_migrations, connect
from bench.web_scale import load, new_indexes
from localstack.postgres import EmbeddedPostgres
from tests.web_support import METRICS_TOKEN, asgi_client, web_setup
from web.app import create_app
from web.metrics import build_report, compute_metrics, fetch_rows
from web.prometheus import TIME_TO_ESCALATE_BUCKETS, render_metrics


@pytest.fixture(scope="module")
async def scale_db(postgres: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own on the session's server, migrated, with 30,000 log rows."""
    name = f"scale_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres.url)
    await admin.execute(f"CREATE DATABASE {name}")
    url = postgres.url.rsplit("/", 1)[0] + f"/{name}"
    pool = await connect(url, max_size=4)
    try:
        await apply_migrations(pool)
        await load(pool, 30_000, 300, datetime(2081, 6, 1, tzinfo=UTC), prefix="SQ")
        await pool.execute("VACUUM ANALYZE")
        yield pool
    finally:
        await pool.close()
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


@pytest.mark.parametrize("days", [1, 7, 30, 365, 3660])
async def test_sql_metrics_equal_the_python_reference(scale_db: asyncpg.Pool, days: int) -> None:
    until = datetime(2081, 6, 1, tzinfo=UTC) - timedelta(days=3)
    since = until - timedelta(days=days)
    in_sql = await compute_metrics(scale_db, since, until)
    in_python = build_report(await fetch_rows(scale_db, since, until), since, until)
    assert in_sql.counts.escalated > 0
    assert in_sql.to_json_dict() == in_python.to_json_dict()


async def test_the_shared_hand_made_cases_agree(pool: asyncpg.Pool) -> None:
    """Every row other tests wrote (the hand-made weeks of test_metrics, the workflow's own),
    over the whole span the session's database holds."""
    since, until = datetime(2000, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC)
    in_sql = await compute_metrics(pool, since, until)
    in_python = build_report(await fetch_rows(pool, since, until), since, until)
    assert in_sql.to_json_dict() == in_python.to_json_dict()


async def plan(db: asyncpg.Pool, sql: str, *args: object) -> str:
    rows = await db.fetch(f"EXPLAIN {sql}", *args)
    return "\n".join(row[0] for row in rows)


async def test_the_queue_and_step_1_use_the_new_indexes(scale_db: asyncpg.Pool) -> None:
    from web.queries import QUEUE_LIMIT

    queue = f"""
        SELECT ticket_id FROM support_assignments AS sa
         WHERE state <> 'resolved' AND ($1::text IS NULL OR assigned_to_team = $1)
           AND NOT EXISTS (SELECT 1 FROM support_assignments AS later
                            WHERE later.ticket_id = sa.ticket_id
                              AND later.escalated_at > sa.escalated_at)
         ORDER BY priority, sla_due_at NULLS LAST, escalated_at, ticket_id LIMIT {QUEUE_LIMIT}"""
    assert "support_assignments_open" in await plan(scale_db, queue, None)
    await scale_db.execute(
        "INSERT INTO customers (user_id, email, account_created)"
        " SELECT 'sq' || i, 'Sq' || i || '@Example.com', now() FROM generate_series(1, 5000) i"
    )
    await scale_db.execute(
        "INSERT INTO tickets (ticket_id, customer_email, subject, created_at)"
        " SELECT 'SQT-' || i, 'sq' || (i % 5000) || '@example.com', 's', now()"
        "   FROM generate_series(1, 20000) i"
    )
    await scale_db.execute("ANALYZE customers, tickets")
    profile = await plan(
        scale_db,
        "SELECT * FROM customers WHERE user_id = $1 OR lower(email) = lower($2)"
        " ORDER BY (user_id = $1) DESC LIMIT 1",
        "nobody",
        "SQ7@example.com",
    )
    assert "customers_by_lower_email" in profile, profile
    history = await plan(
        scale_db,
        "SELECT count(*) FROM tickets WHERE lower(customer_email) = lower($2)"
        " AND ticket_id <> $1 AND created_at < $3",
        "SQT-1",
        "SQ7@example.com",
        datetime.now(UTC),
    )
    assert "tickets_by_lower_customer" in history, history


async def test_before_and_after_the_indexes(scale_db: asyncpg.Pool) -> None:
    """The same queue query without migration 007's index (dropped in a transaction rolled
    back): a scan of every episode and a sort; with it, the open rows' index (walked in its
    order, or as a bitmap then sorted when few rows are open: the planner's choice)."""
    sql = (
        "SELECT ticket_id FROM support_assignments WHERE state <> 'resolved'"
        " ORDER BY priority, sla_due_at NULLS LAST, escalated_at, ticket_id LIMIT 500"
    )
    after = await plan(scale_db, sql)
    assert "support_assignments_open" in after, after
    with pytest.raises(_Rollback):
        async with scale_db.acquire() as db, db.transaction():
            await db.execute("DROP INDEX support_assignments_open")
            before = await plan(db, sql)
            assert "support_assignments_open" not in before and "Sort" in before, before
            raise _Rollback


class _Rollback(Exception):
    pass


async def test_the_counters_equal_a_count_of_the_log(scale_db: asyncpg.Pool) -> None:
    text = (await render_metrics(scale_db)).decode()
    escalated = await scale_db.fetchval(
        "SELECT count(*) FROM escalation_log WHERE action = 'escalated'"
    )
    alerts = await scale_db.fetchval(
        "SELECT count(*) FROM escalation_log WHERE action = 'alert:response_breach'"
    )
    resolved = await scale_db.fetchval("SELECT count(*) FROM resolutions")
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    total = sum(float(v) for k, v in lines.items() if k.startswith("escalations_total{"))
    assert total == escalated
    assert float(lines["sla_breaches_total"]) == alerts
    assert float(lines['time_to_escalate_seconds_bucket{le="+Inf"}']) == escalated
    assert sum(
        float(v) for k, v in lines.items() if k.startswith("escalations_resolved_total{")
    ) == (resolved)
    # a scrape folds the deltas: at most one row per series is left
    assert await scale_db.fetchval(
        "SELECT count(*) = count(DISTINCT (metric, team, priority, kind, bucket))"
        " FROM metric_counts"
    )
    bounds = await scale_db.fetchval("SELECT escalation_tte_bounds()")
    assert tuple(bounds) == TIME_TO_ESCALATE_BUCKETS
    assert len(new_indexes()) == 4


async def test_metrics_wants_its_token_unless_opted_out(
    postgres: EmbeddedPostgres, client: object, tmp_path: Path
) -> None:
    setup = web_setup(client, postgres.url, "metrics-token-no-worker", tmp_path)  # type: ignore[arg-type]
    ok = {"authorization": f"Bearer {METRICS_TOKEN}"}
    async with asgi_client(create_app(setup.config)) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (
            await http.get("/metrics", headers={"authorization": "Bearer nope"})
        ).status_code == 401
        assert (await http.get("/metrics", headers=setup.bearer())).status_code == 401  # an agent's
        assert (await http.get("/metrics", headers=ok)).status_code == 200
    unset = dataclasses.replace(setup.config, metrics_token=None)
    async with asgi_client(create_app(unset)) as http:
        assert (await http.get("/metrics", headers=ok)).status_code == 403
    public = dataclasses.replace(setup.config, metrics_token=None, metrics_public=True)
    async with asgi_client(create_app(public)) as http:
        answer: httpx.Response = await http.get("/metrics")
        assert answer.status_code == 200 and "escalations_total" in answer.text
