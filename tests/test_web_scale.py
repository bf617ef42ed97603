"""Issue 13, item 6: what keeps the web app fast at a million rows, checked for being right
(speed is the bench's: bench/web_scale.py). The queue is paged by keyset cursor (every page
walked equals the whole queue in its order; a bad cursor is a 422 naming `after`); the
`escalations_open` gauge kept by migration 010's trigger equals a direct count after opens,
resolutions, reassignments, reopenings and deletes, and after its backfill; the metrics'
rollups of migration 011 equal a recomputation from scratch, and the report read from them
equals the Python reference (build_report) after the backfill, inserts, updates and deletes.

The database is this module's own: migrated up to 009, loaded with bench/web_scale.py's
generated rows, then migrated to the end, so the new migrations run on a database with data."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from activities.db import apply_migrations, connect, migration_files
from bench.web_scale import load
from localstack.postgres import EmbeddedPostgres
from tests.test_metrics import at, insert
from tests.web_support import WebSetup, asgi_client, login, web_setup
from web import queries
from web.app import create_app
from web.metrics import (
    ACTIONS,
    build_report,
    compute_metrics,
    compute_metrics_rolled,
    fetch_rows,
)
from web.prometheus import OPEN_REFERENCE, render_metrics

NOW = datetime(2082, 3, 1, tzinfo=UTC)
FIRST_NEW = "010"  # the migrations this module runs on a database with data


@pytest.fixture(scope="module")
def scale_url(postgres: EmbeddedPostgres) -> str:
    return postgres.url.rsplit("/", 1)[0] + f"/webscale_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def scale_pool(postgres: EmbeddedPostgres, scale_url: str) -> AsyncIterator[asyncpg.Pool]:
    name, url = scale_url.rsplit("/", 1)[1], scale_url
    admin = await asyncpg.connect(postgres.url)
    await admin.execute(f"CREATE DATABASE {name}")
    pool = await connect(url, max_size=4)
    try:
        async with pool.acquire() as db:
            await db.execute("CREATE TABLE schema_migrations (name text PRIMARY KEY)")
            for migration, sql in migration_files():
                if migration >= FIRST_NEW:
                    break
                async with db.transaction():
                    await db.execute(sql)
                    await db.execute("INSERT INTO schema_migrations VALUES ($1)", migration)
        await load(pool, 6_000, 150, NOW, prefix="SC")
        # deadlines missing and ties on escalated_at: the keyset's hard cases
        await pool.execute(
            "UPDATE support_assignments SET sla_due_at = NULL"
            " WHERE state <> 'resolved' AND right(ticket_id, 1) IN ('3', '7')"
        )
        await pool.execute(
            "UPDATE support_assignments SET escalated_at = date_trunc('hour', escalated_at)"
            " WHERE state <> 'resolved' AND right(ticket_id, 1) IN ('1', '2', '3')"
        )
        applied = await apply_migrations(pool)
        assert applied and all(name >= FIRST_NEW for name in applied)
        yield pool
    finally:
        await pool.close()
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


@pytest.fixture
def setup(scale_pool: asyncpg.Pool, scale_url: str, client: object, tmp_path: Path) -> WebSetup:
    return web_setup(client, scale_url, "web-scale-no-worker", tmp_path)  # type: ignore[arg-type]


# --- the open gauge ------------------------------------------------------------------------


async def gauge(pool: asyncpg.Pool) -> Counter[tuple[str, str]]:
    """escalations_open as a scrape reports it."""
    found: Counter[tuple[str, str]] = Counter()
    for line in (await render_metrics(pool)).decode().splitlines():
        if line.startswith("escalations_open{"):
            labels, value = line.rsplit(" ", 1)
            pairs = dict(
                part.split("=", 1)
                for part in labels.removeprefix("escalations_open{")[:-1].split(",")
            )
            found[pairs["team"].strip('"'), pairs["priority"].strip('"')] = int(float(value))
    return found


async def direct(pool: asyncpg.Pool) -> Counter[tuple[str, str]]:
    return Counter(
        {(row["team"], row["priority"]): row["n"] for row in await pool.fetch(OPEN_REFERENCE)}
    )


async def test_the_backfilled_open_gauge_equals_a_direct_count(scale_pool: asyncpg.Pool) -> None:
    counted = await direct(scale_pool)
    assert sum(counted.values()) > 100
    assert await gauge(scale_pool) == counted


async def test_the_open_gauge_follows_every_assignment_write(scale_pool: asyncpg.Pool) -> None:
    async def same() -> None:
        assert await gauge(scale_pool) == await direct(scale_pool)

    at = NOW + timedelta(days=1)
    columns = (
        "ticket_id, episode_id, assigned_to_team, priority, escalated_at, escalation_reason,"
        " expected_response_time, workflow_id, state"
    )
    insert = (
        f"INSERT INTO support_assignments ({columns})"
        " VALUES ($1, $2, $3, $4, $5, 'test', interval '1 hour', 'wf-' || $2, $6)"
    )
    # opens: a new ticket, and a second episode of a resolved ticket (it reopens)
    await scale_pool.execute(insert, "SCN-1", "SCN-1:ep1", "billing", "P1", at, "escalated")
    resolved = await scale_pool.fetchval(
        "SELECT ticket_id FROM support_assignments WHERE state = 'resolved' LIMIT 1"
    )
    await scale_pool.execute(insert, resolved, f"{resolved}:ep2", "legal", "P0", at, "escalated")
    await same()
    # a state change while open moves nothing; a reassignment and a priority lift move it
    await scale_pool.execute(
        "UPDATE support_assignments SET state = 'responded' WHERE ticket_id = 'SCN-1'"
    )
    await scale_pool.execute(
        "UPDATE support_assignments SET assigned_to_team = 'product', priority = 'P0'"
        " WHERE ticket_id = 'SCN-1'"
    )
    await same()
    # an older episode reopened alongside: the latest one only counts; a tie counts both
    await scale_pool.execute(
        insert, "SCN-1", "SCN-1:ep0", "legal", "P3", at - timedelta(hours=1), "escalated"
    )
    await same()
    await scale_pool.execute(insert, "SCN-1", "SCN-1:tie", "legal", "P3", at, "escalated")
    await same()
    # resolutions, in bulk too
    await scale_pool.execute(
        "UPDATE support_assignments SET state = 'resolved' WHERE episode_id = $1",
        f"{resolved}:ep2",
    )
    await scale_pool.execute(
        "UPDATE support_assignments SET state = 'resolved'"
        " WHERE state <> 'resolved' AND right(ticket_id, 1) = '5'"
    )
    await same()
    # a later episode deleted: the earlier one is the latest again
    await scale_pool.execute("DELETE FROM support_assignments WHERE episode_id = 'SCN-1:tie'")
    await scale_pool.execute(
        "DELETE FROM support_assignments WHERE episode_id = $1", f"{resolved}:ep2"
    )
    await same()
    total = sum((await gauge(scale_pool)).values())
    assert total == await scale_pool.fetchval(
        "SELECT count(*) FROM support_assignments AS sa WHERE state <> 'resolved' AND NOT EXISTS"
        " (SELECT 1 FROM support_assignments AS l WHERE l.ticket_id = sa.ticket_id"
        "  AND l.escalated_at > sa.escalated_at)"
    )


# --- the queue's pages -----------------------------------------------------------------------


async def whole_queue(pool: asyncpg.Pool, team: str | None = None) -> list[str]:
    rows = await pool.fetch(
        """
        SELECT ticket_id FROM support_assignments AS sa
         WHERE state <> 'resolved' AND ($1::text IS NULL OR assigned_to_team = $1)
           AND NOT EXISTS (SELECT 1 FROM support_assignments AS later
                            WHERE later.ticket_id = sa.ticket_id
                              AND later.escalated_at > sa.escalated_at)
         ORDER BY priority, sla_due_at NULLS LAST, escalated_at, ticket_id
        """,
        team,
    )
    return [row["ticket_id"] for row in rows]


@pytest.mark.parametrize("limit", [1, 7, 50])
async def test_walking_the_pages_gives_the_whole_queue_in_order(
    scale_pool: asyncpg.Pool, limit: int
) -> None:
    walked: list[str] = []
    cursor = None
    while True:
        page = await queries.queue_page(scale_pool, None, None, limit, cursor)
        assert len(page.rows) <= limit
        walked += [row.ticket_id for row in page.rows]
        if page.next is None:
            break
        cursor = queries.QueueCursor.decode(page.next.encode())
        assert cursor == page.next
    everything = await whole_queue(scale_pool)
    assert any(r.sla_due_at is None for r in await queries.open_escalations(scale_pool))
    assert walked == everything and len(walked) > 100


async def test_the_api_pages_with_a_next_cursor(setup: WebSetup, scale_pool: asyncpg.Pool) -> None:
    async with asgi_client(create_app(setup.config)) as http:
        first = (await http.get("/api/queue", headers=setup.bearer("root"))).json()
        assert len(first["items"]) == queries.QUEUE_PAGE and first["nextCursor"]
        walked = [item["ticketId"] for item in first["items"]]
        cursor = first["nextCursor"]
        while cursor:
            answer = await http.get(
                "/api/queue", params={"after": cursor, "limit": 40}, headers=setup.bearer("root")
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            walked += [item["ticketId"] for item in body["items"]]
            cursor = body["nextCursor"]
        assert walked == await whole_queue(scale_pool)
        # every string of the cursor's shape is one (the spec says the shape): the rows after it
        shaped = await http.get(
            "/api/queue", params={"after": "P2~-~0~A", "limit": 500}, headers=setup.bearer("root")
        )
        assert shaped.status_code == 200, shaped.text
        assert {item["priority"] for item in shaped.json()["items"]} <= {"P2", "P3"}
        # one team's pages: the cursor works with the filter; an agent sees their team only
        billing = await http.get("/api/queue", params={"limit": 500}, headers=setup.bearer("bo"))
        assert [i["ticketId"] for i in billing.json()["items"]] == await whole_queue(
            scale_pool, "billing"
        )
        assert billing.json()["nextCursor"] is None


@pytest.mark.parametrize(
    "after",
    ["garbage", "P1~-~12", "P1~x~12~T-1", "P1~-~123456789012345678~T-1", "P1~-~1~T 1", "%%%"],
)
async def test_a_bad_cursor_is_a_422_naming_it(setup: WebSetup, after: str) -> None:
    async with asgi_client(create_app(setup.config)) as http:
        answer = await http.get("/api/queue", params={"after": after}, headers=setup.bearer("root"))
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["query", "after"]
        await login(http, setup, "root")
        page = await http.get("/", params={"after": after})
        assert page.status_code == 422 and "after" in page.text


@pytest.mark.parametrize("limit", ["0", "501", "x"])
async def test_a_limit_out_of_range_is_a_422(setup: WebSetup, limit: str) -> None:
    async with asgi_client(create_app(setup.config)) as http:
        answer = await http.get("/api/queue", params={"limit": limit}, headers=setup.bearer("root"))
        assert answer.status_code == 422 and "limit" in answer.text


async def test_the_queue_page_links_to_the_next_page(
    setup: WebSetup, scale_pool: asyncpg.Pool
) -> None:
    everything = await whole_queue(scale_pool)
    async with asgi_client(create_app(setup.config)) as http:
        await login(http, setup, "root")
        first = await http.get("/")
        assert first.status_code == 200
        assert f"{queries.QUEUE_PAGE} open escalations on the first page" in first.text
        assert everything[queries.QUEUE_PAGE - 1] in first.text
        assert f'data-ticket-id="{everything[queries.QUEUE_PAGE]}"' not in first.text
        start = first.text.index('rel="next"')
        link = first.text[first.text.rindex('href="', 0, start) + 6 : start - 2]
        second = await http.get(link.replace("&amp;", "&"))
        assert second.status_code == 200 and 'data-paged="true"' in second.text
        assert f'data-ticket-id="{everything[queries.QUEUE_PAGE]}"' in second.text
        assert f'data-ticket-id="{everything[0]}"' not in second.text
        assert 'rel="first"' in second.text


# --- the metrics' rollups (migration 011) ------------------------------------------------------


async def latest_event(pool: asyncpg.Pool) -> datetime | None:
    latest: datetime | None = await pool.fetchval(
        "SELECT max(happened_at) FROM escalation_log WHERE action = ANY($1::text[])",
        list(ACTIONS),
    )
    return latest


async def same_report(pool: asyncpg.Pool, since: datetime, until: datetime) -> None:
    latest = await latest_event(pool)
    assert latest is not None and latest < until
    rolled = await compute_metrics_rolled(pool, since, until)
    reference = build_report(await fetch_rows(pool, since, until), since, until)
    assert rolled.counts.escalated + rolled.counts.auto_response > 0
    assert rolled.to_json_dict() == reference.to_json_dict()
    assert rolled.to_json_dict() == (await compute_metrics(pool, since, until)).to_json_dict()


async def rollups_from_scratch(pool: asyncpg.Pool) -> None:
    """The maintained rows equal a recomputation of every episode (the backfill's query)."""
    kept = await pool.fetch("SELECT * FROM metric_episodes ORDER BY episode")
    fresh = await pool.fetch(
        "SELECT * FROM metric_episodes_of(ARRAY(SELECT DISTINCT"
        " coalesce(episode_id, event->>'episodeId', 'ticket:' || ticket_id)"
        " FROM escalation_log WHERE action = ANY($1::text[]))) ORDER BY episode",
        list(ACTIONS),
    )
    assert [dict(r) for r in kept] == [dict(r) for r in fresh]
    days = await pool.fetch(
        "SELECT day, team, priority, escalated, auto, resolved, judged, necessary, sla_attained,"
        " sla_total, rated, satisfied, first_responses FROM metric_days"
        " WHERE (escalated, auto, resolved, rated, first_responses) <> (0, 0, 0, 0, 0)"
        " ORDER BY 1, 2, 3"
    )
    counted = await pool.fetch(
        """
        SELECT day, team, priority, sum(esc) AS escalated, sum(auto) AS auto,
               sum(res) AS resolved, sum(judged) AS judged, sum(nec) AS necessary,
               sum(att) AS sla_attained, sum(sla) AS sla_total, sum(rated) AS rated,
               sum(sat) AS satisfied, sum(fr) AS first_responses
          FROM (SELECT (esc_at AT TIME ZONE 'UTC')::date AS day, team, priority, 1 AS esc,
                       0 AS auto, 0 AS res, 0 AS judged, 0 AS nec, 0 AS att, 0 AS sla,
                       0 AS rated, 0 AS sat, 0 AS fr FROM metric_episodes WHERE esc_at IS NOT NULL
                UNION ALL
                SELECT (auto_at AT TIME ZONE 'UTC')::date, team, priority, 0, 1, 0, 0, 0, 0, 0,
                       0, 0, 0 FROM metric_episodes WHERE auto_at IS NOT NULL
                UNION ALL
                SELECT (res_at AT TIME ZONE 'UTC')::date, team, priority, 0, 0, 1,
                       (necessary IS NOT NULL)::int, coalesce(necessary, false)::int,
                       coalesce(attained, false)::int, (attained IS NOT NULL)::int, 0, 0, 0
                  FROM metric_episodes WHERE res_at IS NOT NULL
                UNION ALL
                SELECT (csat_at AT TIME ZONE 'UTC')::date, team, priority, 0, 0, 0, 0, 0, 0, 0,
                       1, (score IN (4, 5))::int, 0 FROM metric_episodes WHERE csat_at IS NOT NULL
                UNION ALL
                SELECT (fr_at AT TIME ZONE 'UTC')::date, team, priority, 0, 0, 0, 0, 0, 0, 0,
                       0, 0, fr_n FROM metric_episodes WHERE fr_at IS NOT NULL) AS f
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """
    )
    assert [tuple(r) for r in days] == [tuple(r) for r in counted]


async def end(pool: asyncpg.Pool) -> datetime:
    """A window's end after everything logged (as the page's default, ending now), mid-day."""
    latest = await latest_event(pool)
    assert latest is not None
    return latest + timedelta(hours=1, minutes=23)


@pytest.mark.parametrize("days", [0.3, 1, 7, 30, 365, 3660])
async def test_the_backfilled_rollups_equal_the_reference(
    scale_pool: asyncpg.Pool, days: float
) -> None:
    await rollups_from_scratch(scale_pool)
    until = await end(scale_pool)
    await same_report(scale_pool, until - timedelta(days=days), until)


async def test_the_rollups_follow_inserts_updates_and_deletes(scale_pool: asyncpg.Pool) -> None:
    base = NOW + timedelta(hours=1)
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for n in range(12):
        ticket, episode = f"SCR-{n}", f"SCR-{n}:ep"
        team = ("engineering", "billing", "legal")[n % 3]

        def event(_episode: str = episode, **fields: Any) -> dict[str, Any]:
            return {"episodeId": _episode, **fields}

        rows.append((ticket, "auto_response", event(timestamp=at(base, minutes=n))))
        rows.append(
            (
                ticket,
                "escalated",
                event(
                    timestamp=at(base, minutes=n + 2),
                    receivedAt=at(base, minutes=n, seconds=-(n * 7)),
                    ticketCreatedAt=at(base, hours=-3),
                    escalatedTo=team,
                    priority="P2",
                    slaDueAt=at(base, hours=1),
                ),
            )
        )
        if n % 2:
            rows.append(
                (ticket, "agent_responded", event(timestamp=at(base, minutes=30), firstResponse=1))
            )
        if n % 3 == 0:
            rows.append((ticket, "reassigned", event(timestamp=at(base, minutes=40), to="product")))
        if n % 4 == 0:
            rows.append(
                (ticket, "priority_changed", event(timestamp=at(base, minutes=41), to="P0"))
            )
        if n % 2 == 0:
            rows.append(
                (
                    ticket,
                    "resolved",
                    event(
                        timestamp=at(base, hours=2 + n),
                        respondedAt=at(base, minutes=20 + 5 * n),
                        escalationNecessary=n % 5 != 0,
                        pausedSeconds=60 * n,
                    ),
                )
            )
            rows.append((ticket, "csat", event(timestamp=at(base, hours=3 + n), score=2)))
            rows.append((ticket, "csat", event(timestamp=at(base, hours=4 + n), score=n % 5 + 1)))
    # one statement per row (the workflow's way) and the rest in one (a COPY's way)
    await insert(scale_pool, rows[:20])
    await scale_pool.execute(
        "INSERT INTO escalation_log (idempotency_key, ticket_id, action, event)"
        " SELECT 'bulk:' || r.n, r.ticket, r.action, r.event"
        "   FROM unnest($1::text[], $2::text[], $3::jsonb[]) WITH ORDINALITY"
        "        AS r (ticket, action, event, n)",
        [r[0] for r in rows[20:]],
        [r[1] for r in rows[20:]],
        [{"ticketId": r[0], **r[2]} for r in rows[20:]],
    )
    await rollups_from_scratch(scale_pool)
    until = await end(scale_pool)
    for days in (1, 30, 400):
        await same_report(scale_pool, until - timedelta(days=days), until)
    # an event corrected in place, one moved to another episode, and some deleted
    await scale_pool.execute(
        'UPDATE escalation_log SET event = event || \'{"escalatedTo": "legal"}\''
        " WHERE ticket_id = 'SCR-1' AND action = 'escalated'"
    )
    await scale_pool.execute(
        'UPDATE escalation_log SET event = event || \'{"episodeId": "SCR-3:other"}\''
        " WHERE ticket_id = 'SCR-3' AND action = 'agent_responded'"
    )
    await scale_pool.execute(
        "DELETE FROM escalation_log WHERE ticket_id IN ('SCR-4', 'SCR-5') AND action <> 'csat'"
    )
    await rollups_from_scratch(scale_pool)
    until = await end(scale_pool)
    for days in (1, 30, 400):
        await same_report(scale_pool, until - timedelta(days=days), until)


async def test_a_window_ending_before_the_latest_event_equals_the_reference(
    scale_pool: asyncpg.Pool,
) -> None:
    """The rollups know each episode at the end of all of its events; the episodes with events
    on both sides of a window's end are recomputed from their events before it."""
    until = await scale_pool.fetchval(
        "SELECT first_at + interval '1 hour 7 minutes' FROM metric_episodes"
        " WHERE last_at - first_at > interval '3 hours' AND esc_at IS NOT NULL"
        " ORDER BY first_at DESC OFFSET 20 LIMIT 1"
    )
    cut = await scale_pool.fetchval(
        "SELECT count(*) FROM metric_episodes WHERE first_at < $1 AND last_at >= $1", until
    )
    assert cut > 0
    for days in (0.5, 1, 30, 3660):
        since = until - timedelta(days=days)
        rolled = await compute_metrics_rolled(scale_pool, since, until)
        exact = build_report(await fetch_rows(scale_pool, since, until), since, until)
        assert rolled.to_json_dict() == exact.to_json_dict()


async def test_a_report_past_its_statement_timeout_is_a_503_page(
    setup: WebSetup, scale_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import web.metrics

    monkeypatch.setattr(
        web.metrics,
        "_ROLLED_SQL",
        "SELECT pg_sleep(5), $1::timestamptz, $2::timestamptz, $3::date, $4::date,"
        " $5::timestamptz, $6::timestamptz",
    )
    monkeypatch.setattr(web.metrics, "REPORT_STATEMENT_TIMEOUT", timedelta(milliseconds=50))
    monkeypatch.setattr(
        "web.routes.metrics_page.REPORT_STATEMENT_TIMEOUT", timedelta(milliseconds=50)
    )
    async with asgi_client(create_app(setup.config)) as http:
        await login(http, setup, "root")
        answer = await http.get("/reports/metrics", params={"since": "30d"})
        assert answer.status_code == 503
        assert "was stopped: try a shorter window" in answer.text
        assert (await http.get("/healthz")).status_code == 200


async def test_a_copy_keeps_the_rollups_and_the_gauge(scale_pool: asyncpg.Pool) -> None:
    """bench/web_scale.py's load (COPY, batches of many rows per statement) after the
    migrations: the statement trigger sees every row of a COPY."""
    await load(scale_pool, 900, 40, NOW + timedelta(days=60), prefix="SCC")
    await rollups_from_scratch(scale_pool)
    assert await gauge(scale_pool) == await direct(scale_pool)
    until = await end(scale_pool)
    await same_report(scale_pool, until - timedelta(days=30), until)
