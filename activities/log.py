"""Step 7 — log the escalation: `escalation_log` events, each written once under its key."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities.settings import Settings
from escalation.messages import LogEntry


class LogActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def log_escalation(self, entry: LogEntry) -> bool:
        """True when this call wrote the event, False when a retry found it already there."""
        wrote = await insert_log_entry(self.settings.pool, entry)
        self.settings.faults.maybe_fail("log_escalation")
        return wrote


async def insert_log_entry(db: asyncpg.Pool | asyncpg.Connection, entry: LogEntry) -> bool:
    """The event, once under its key: True when this call wrote it."""
    status = await db.execute(
        """
        INSERT INTO escalation_log (idempotency_key, ticket_id, action, event)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (idempotency_key) DO NOTHING
        """,
        entry.key,
        entry.ticket_id,
        entry.action,
        entry.event,
    )
    return status.endswith(" 1")
