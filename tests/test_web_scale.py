"""Issue 13, item 6: what keeps the web app fast at a million rows, checked for being right
(speed is the bench's: bench/web_scale.py). The queue is paged by keyset cursor (every page
walked equals the whole queue in its order; a bad cursor is a 422 naming `after`); the
`escalations_open` gauge kept by migration 010's trigger equals a direct count after opens,
resolutions, reassignments, reopenings and deletes, and after its backfill.

The database is this module's own: migrated up to 009, loaded with bench/web_scale.py's
generated rows, then migrated to the end, so the new migrations run on a database with data."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from activities.db import apply_migrations, connect, migration_files
from bench.web_scale import load
from localstack.postgres import EmbeddedPostgres
from tests.web_support import WebSetup, asgi_client, login, web_setup
from web import queries
from web.app import create_app
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
        # one team's pages: the cursor works with the filter; an agent sees their team only
        billing = await http.get("/api/queue", params={"limit": 500}, headers=setup.bearer("bo"))
        assert [i["ticketId"] for i in billing.json()["items"]] == await whole_queue(
            scale_pool, "billing"
        )
        assert billing.json()["nextCursor"] is None


@pytest.mark.parametrize(
    "after",
    ["garbage", "WyJQMSJd", "eyJhIjogMX0", "WyJQMSIsIG51bGwsICIyMDgxLTAxLTAxIiwgIlgiXQ", "%%%"],
)
async def test_a_bad_cursor_is_a_422_naming_it(setup: WebSetup, after: str) -> None:
    async with asgi_client(create_app(setup.config)) as http:
        answer = await http.get("/api/queue", params={"after": after}, headers=setup.bearer("root"))
        assert answer.status_code == 422, answer.text
        assert "after" in answer.text and "cursor" in answer.text
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
