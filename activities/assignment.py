"""Step 6 — create the assignment: the seed's `support_assignments` row, once per escalation
episode (a ticket escalated again is a new row linked to the previous one)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from temporalio import activity

from activities.settings import Settings
from escalation.messages import AssignmentInput
from escalation.run_state import EarlierEpisodes


class AssignmentActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def earlier_episodes(self, ticket_id: str, episode_id: str) -> EarlierEpisodes:
        """Step 1: how often the ticket was escalated before this episode, and the latest."""
        row = await self.settings.pool.fetchrow(
            """
            SELECT count(*) AS count,
                   (array_agg(episode_id ORDER BY escalated_at DESC))[1] AS latest_id
              FROM support_assignments
             WHERE ticket_id = $1 AND episode_id <> $2
            """,
            ticket_id,
            episode_id,
        )
        assert row is not None
        return EarlierEpisodes(count=row["count"], latest_id=row["latest_id"])


async def insert_assignment(db: asyncpg.Pool | asyncpg.Connection, input: AssignmentInput) -> bool:
    """The episode's row, once: True when this call wrote it."""
    status: str = await db.execute(
        """
        INSERT INTO support_assignments (ticket_id, episode_id, episode_number,
                                         previous_episode_id, reopened_because,
                                         assigned_to_team, priority, escalated_at,
                                         escalation_reason, expected_response_time,
                                         workflow_id, sla_due_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $8::timestamptz + $10::interval)
        ON CONFLICT (episode_id) DO NOTHING
        """,
        input.ticket_id,
        input.episode_id,
        input.episode_number,
        input.previous_episode_id,
        input.reopened_because,
        input.team,
        input.priority.value,
        input.escalated_at,
        input.escalation_reason,
        timedelta(seconds=input.expected_response_seconds),
        input.workflow_id,
    )
    return status.endswith(" 1")
