"""PostgreSQL access: the connection pool and the plain-SQL migrations applied in order."""

from __future__ import annotations

import logging
from importlib import resources

import asyncpg

from connections import open_pool

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every process applying migrations.
_MIGRATION_LOCK = 7_191_500


async def connect(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool that decodes jsonb to Python values (`connections.open_pool`, the one place a
    pool is opened; a database that does not answer is a one-line `Unreachable`)."""
    return await open_pool(database_url, min_size=min_size, max_size=max_size)


def migration_files() -> list[tuple[str, str]]:
    """(name, sql) of every migration shipped in escalation/migrations, in name order."""
    folder = resources.files("escalation") / "migrations"
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [(entry.name, entry.read_text(encoding="utf-8")) for entry in files]


async def apply_migrations(pool: asyncpg.Pool) -> list[str]:
    """Apply the migrations not applied yet, each in its own transaction; return their names.

    An advisory lock lets several workers start at once without racing each other.
    """
    applied_now: list[str] = []
    async with pool.acquire() as connection:
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                row["name"] for row in await connection.fetch("SELECT name FROM schema_migrations")
            }
            for name, sql in migration_files():
                if name in done:
                    continue
                async with connection.transaction():
                    await connection.execute(sql)
                    await connection.execute(
                        "INSERT INTO schema_migrations (name) VALUES ($1)", name
                    )
                log.info("applied migration %s", name)
                applied_now.append(name)
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now
