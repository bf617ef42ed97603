"""Step 6 — create the assignment: the seed's `support_assignments` row, once per ticket."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from temporalio import activity

from activities.settings import Settings
from escalation.messages import AssignmentInput


class AssignmentActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def create_assignment(self, input: AssignmentInput) -> bool:
        """Insert the row; the ticket id is the idempotency key. True when this call wrote it.
        Runs started since Steps 6, 7 and 9 share a transaction use `record_escalation`."""
        wrote = await insert_assignment(self.settings.pool, input)
        self.settings.faults.maybe_fail("create_assignment")
        return wrote


async def insert_assignment(db: asyncpg.Pool | asyncpg.Connection, input: AssignmentInput) -> bool:
    """The row, once: True when this call wrote it."""
    status = await db.execute(
        """
        INSERT INTO support_assignments (ticket_id, assigned_to_team, priority, escalated_at,
                                         escalation_reason, expected_response_time,
                                         workflow_id, sla_due_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $4::timestamptz + $6::interval)
        ON CONFLICT (ticket_id) DO NOTHING
        """,
        input.ticket_id,
        input.team,
        input.priority.value,
        input.escalated_at,
        input.escalation_reason,
        timedelta(seconds=input.expected_response_seconds),
        input.workflow_id,
    )
    return status.endswith(" 1")
