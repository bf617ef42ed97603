"""What the agents' pages read from PostgreSQL: the queue, a ticket's row, its log, its
acknowledgement. The workflow's activities keep these tables current; the web side only reads,
so the queue never scans Temporal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

QUEUE_LIMIT = 500


@dataclass(frozen=True)
class QueueRow:
    """One open escalation as the queue shows it."""

    ticket_id: str
    workflow_id: str
    state: str
    team: str
    priority: str
    subject: str | None
    customer_name: str | None
    premium: bool
    time_sensitive: bool
    sentiment: str | None
    scenario: str | None
    escalated_at: datetime
    sla_due_at: datetime | None
    escalation_reason: str
    summary_markdown: str | None = None


@dataclass(frozen=True)
class LogEvent:
    action: str
    event: dict[str, Any]
    logged_at: datetime


@dataclass(frozen=True)
class Acknowledgement:
    recipient: str
    subject: str | None
    body: str
    status: str
    sent_at: datetime | None
    created_at: datetime


_ROW_COLUMNS = """
    ticket_id, workflow_id, state, assigned_to_team AS team, priority, subject, customer_name,
    premium, time_sensitive, sentiment, scenario, escalated_at, sla_due_at, escalation_reason
"""


def _queue_row(record: asyncpg.Record) -> QueueRow:
    return QueueRow(**dict(record))


async def open_escalations(pool: asyncpg.Pool, team: str | None = None) -> list[QueueRow]:
    """Unresolved escalations, most urgent first: priority, then the next SLA deadline."""
    records = await pool.fetch(
        f"""
        SELECT {_ROW_COLUMNS}
          FROM support_assignments
         WHERE state <> 'resolved' AND ($1::text IS NULL OR assigned_to_team = $1)
         ORDER BY priority, sla_due_at NULLS LAST, escalated_at, ticket_id
         LIMIT {QUEUE_LIMIT}
        """,
        team,
    )
    return [_queue_row(record) for record in records]


async def assignment(pool: asyncpg.Pool, ticket_id: str) -> QueueRow | None:
    """The ticket's assignment row (any state), with the summary the agent reads first."""
    record = await pool.fetchrow(
        f"SELECT {_ROW_COLUMNS}, summary_markdown FROM support_assignments WHERE ticket_id = $1",
        ticket_id,
    )
    return _queue_row(record) if record else None


async def log_events(pool: asyncpg.Pool, ticket_id: str) -> list[LogEvent]:
    """The ticket's escalation_log in the order it was written."""
    records = await pool.fetch(
        "SELECT action, event, logged_at FROM escalation_log WHERE ticket_id = $1 ORDER BY id",
        ticket_id,
    )
    return [
        LogEvent(
            action=record["action"],
            event=record["event"] if isinstance(record["event"], dict) else {},
            logged_at=record["logged_at"],
        )
        for record in records
    ]


async def acknowledgement(pool: asyncpg.Pool, ticket_id: str) -> Acknowledgement | None:
    """The acknowledgement email Step 5 sent the customer (one per ticket, by its key)."""
    record = await pool.fetchrow(
        """
        SELECT recipient, subject, body, status, sent_at, created_at
          FROM notifications
         WHERE ticket_id = $1 AND kind = 'acknowledgement'
         ORDER BY created_at
         LIMIT 1
        """,
        ticket_id,
    )
    return Acknowledgement(**dict(record)) if record else None
