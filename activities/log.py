"""Step 7 — log the escalation: `escalation_log` events, each written once under its key. An
agent's correction of triage (a reassign) is written with its event, in one transaction, to
`triage_corrections`: the labelled examples `starter.py triage corrections` exports."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities.settings import Settings
from escalation.messages import LogEntry, TriageCorrection


class LogActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def log_escalation(self, entry: LogEntry) -> bool:
        """True when this call wrote the event, False when a retry found it already there."""
        if entry.correction is None:
            wrote = await insert_log_entry(self.settings.pool, entry)
        else:
            async with self.settings.pool.acquire() as db, db.transaction():
                wrote = await insert_log_entry(db, entry)
                await insert_correction(db, entry.correction)
        self.settings.faults.maybe_fail("log_escalation")
        return wrote


async def insert_log_entry(db: asyncpg.Pool | asyncpg.Connection, entry: LogEntry) -> bool:
    """The event, once under its key: True when this call wrote it."""
    status: str = await db.execute(
        """
        INSERT INTO escalation_log (idempotency_key, ticket_id, episode_id, action, event)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (idempotency_key) DO NOTHING
        """,
        entry.key,
        entry.ticket_id,
        entry.episode_id,
        entry.action,
        entry.event,
    )
    return status.endswith(" 1")


async def insert_correction(
    db: asyncpg.Pool | asyncpg.Connection, correction: TriageCorrection
) -> bool:
    """The labelled example, once under its key: True when this call wrote it."""
    status: str = await db.execute(
        """
        INSERT INTO triage_corrections (
            idempotency_key, ticket_id, workflow_id, episode_id, run_id, sequence, payload,
            triage_team, triage_priority, triage_scenario, previous_team, previous_priority,
            agent_team, agent_priority, agent, reason, corrected_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
        ON CONFLICT (idempotency_key) DO NOTHING
        """,
        correction.key,
        correction.ticket_id,
        correction.workflow_id,
        correction.episode_id,
        correction.run_id,
        correction.sequence,
        correction.payload.to_json_dict(),
        correction.triage_team,
        correction.triage_priority,
        correction.triage_scenario,
        correction.previous_team,
        correction.previous_priority,
        correction.team,
        correction.priority,
        correction.agent,
        correction.reason,
        correction.corrected_at,
    )
    return status.endswith(" 1")
