"""Step 9 — update the dashboard: the queue columns of the episode's assignment row."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities.settings import Settings
from escalation.messages import QueueEntry


class DashboardActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def update_dashboard(self, entry: QueueEntry) -> None:
        await write_queue_entry(self.settings.pool, entry)


async def write_queue_entry(db: asyncpg.Pool | asyncpg.Connection, entry: QueueEntry) -> None:
    """An UPDATE to fixed values: repeating it changes nothing."""
    await db.execute(
        """
        UPDATE support_assignments
           SET state = $2, subject = $3, customer_name = $4, premium = $5,
               time_sensitive = $6, sentiment = $7, scenario = $8,
               sla_due_at = coalesce($9, sla_due_at), summary_markdown = $10,
               assigned_to_team = coalesce($11, assigned_to_team),
               priority = coalesce($12, priority),
               customer_notified = $13, customer_notice = $14, paused = $15,
               resolved_at = $16, resolution = $17,
               updated_at = now()
         WHERE episode_id = $1
        """,
        entry.episode_id,
        entry.state.value,
        entry.subject,
        entry.customer_name,
        entry.premium,
        entry.time_sensitive,
        entry.sentiment,
        entry.scenario,
        entry.sla_due_at,
        entry.summary_markdown,
        entry.team,
        entry.priority.value if entry.priority else None,
        entry.customer_notified,
        entry.customer_notice,
        entry.paused,
        entry.resolved_at,
        entry.resolution,
    )
