"""A ticket's status as the API and `starter.py status` answer it: the latest run's `status`
query (the latest escalation episode) with the earlier episodes from `support_assignments`, and
the customer's satisfaction after the resolution (web/feedback.py records it in the database,
after the run has finished) in place of the score the run last saw.

When Temporal no longer has the ticket's run (retention, or deleted by ops) the latest
episode's row stands in for it (`source` "database"): what the queue last recorded, no live
deadline, and no agent action (there is no run to act on).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal

import asyncpg
from pydantic import Field
from temporalio.client import Client

from escalation.messages import EscalationStateName, EscalationStatus, workflow_id_for
from escalation.models import Model, Priority, UtcDatetime
from web import queries, temporal_ops

# What the database-only status offers: the helpdesk may still rate a resolved escalation.
AFTER_RESOLUTION = ("set_satisfaction",)
DatabaseOpener = Callable[[], Awaitable[asyncpg.Pool | asyncpg.Connection]]
DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class EarlierEpisode(Model):
    """An earlier escalation of the ticket, as its assignment row records it."""

    episode: int
    episode_id: str
    escalated_at: UtcDatetime
    resolved_at: UtcDatetime | None = None
    team: str
    priority: str
    state: str
    resolution: str | None = None
    reopened_because: str | None = None
    url: str  # the ticket page's section for this episode


class CsatAfterResolution(Model):
    score: int
    comment: str | None = None
    recorded_at: UtcDatetime


class TicketStatus(EscalationStatus):
    """The latest episode's status, and the ticket's earlier episodes (latest first). Null
    `earlierEpisodes`: the database did not answer (the status itself is the run's)."""

    source: Literal["workflow", "database"] = "workflow"
    earlier_episodes: list[EarlierEpisode] | None = Field(default_factory=list)
    csat_after_resolution: CsatAfterResolution | None = None


def episode_anchor(number: int) -> str:
    return f"episode-{number}"


def earlier_episode(row: queries.QueueRow) -> EarlierEpisode:
    return EarlierEpisode(
        episode=row.episode_number,
        episode_id=row.episode_id,
        escalated_at=row.escalated_at,
        resolved_at=row.resolved_at,
        team=row.team,
        priority=row.priority,
        state=row.state,
        resolution=row.resolution,
        reopened_because=row.reopened_because,
        url=f"/tickets/{row.ticket_id}#{episode_anchor(row.episode_number)}",
    )


def _state(text: str) -> EscalationStateName:
    try:
        return EscalationStateName(text)
    except ValueError:
        return EscalationStateName.ESCALATED


def _priority(text: str) -> Priority | None:
    try:
        return Priority(text)
    except ValueError:
        return None


def acknowledgement_of(row: queries.QueueRow, ack: queries.Acknowledgement | None) -> str:
    """Step 5's state as the status query names it, from the queue row (customer_notified:
    NULL while on its way) and the acknowledgement's notification row."""
    if row.customer_notified:
        return "sent"
    if row.customer_notified is None:
        return "pending"
    # Not sent for good: refused by the relay, or given up (the notice says which and why).
    return "refused" if ack is not None and ack.status == "refused" else "gave_up"


def status_from_row(
    row: queries.QueueRow, responded_at: datetime | None, ack: queries.Acknowledgement | None
) -> EscalationStatus:
    """What the database knows of an episode whose run Temporal no longer has."""
    resolved = row.resolved
    return EscalationStatus(
        ticket_id=row.ticket_id,
        workflow_id=row.workflow_id or workflow_id_for(row.ticket_id),
        state=_state(row.state),
        episode_id=row.episode_id,
        episode=row.episode_number,
        previous_episode_id=row.previous_episode_id,
        reopened_because=row.reopened_because,
        team=row.team,
        priority=_priority(row.priority),
        scenario=row.scenario,
        escalated_at=row.escalated_at,
        customer_notified=bool(row.customer_notified),
        acknowledgement=acknowledgement_of(row, ack),
        customer_notice=row.customer_notice,
        summary_markdown=row.summary_markdown,
        resolved_at=row.resolved_at,
        resolution=row.resolution,
        sla_due_at=None if resolved else row.sla_due_at,
        responded_at=responded_at,
        paused=row.paused and not resolved,
        actions=list(AFTER_RESOLUTION) if resolved else [],
    )


async def ticket_status(client: Client, open_db: DatabaseOpener, ticket_id: str) -> TicketStatus:
    """The latest episode's status with the earlier ones; TicketNotFound when neither Temporal
    nor the database knows the ticket."""
    live: EscalationStatus | None = None
    try:
        live = await temporal_ops.status(client, ticket_id)
    except temporal_ops.TicketNotFound:
        pass
    try:
        db = await open_db()
        rows = await queries.episodes(db, ticket_id)
        events = await queries.log_events(db, ticket_id) if rows else []
        responded = await queries.first_responses(db, ticket_id) if rows and not live else {}
        acks = await queries.acknowledgements(db, ticket_id) if rows and not live else {}
    except DATABASE_ERRORS:
        if live is None:
            raise temporal_ops.TicketNotFound(f"no escalation for ticket {ticket_id}") from None
        return TicketStatus(**live.model_dump(), earlier_episodes=None)
    if live is None:
        if not rows:
            raise temporal_ops.TicketNotFound(f"no escalation for ticket {ticket_id}")
        latest = rows[0]
        live = status_from_row(
            latest, responded.get(latest.episode_id), acks.get(latest.episode_id)
        )
        source: Literal["workflow", "database"] = "database"
    else:
        source = "workflow"
    current = live.episode_id
    status = TicketStatus(
        **live.model_dump(),
        source=source,
        earlier_episodes=[earlier_episode(row) for row in rows if row.episode_id != current],
    )
    if status.state is EscalationStateName.RESOLVED and current is not None:
        first = bool(rows) and rows[-1].episode_id == current
        csat = queries.csat_of(queries.events_of(events, current, first))
        if csat is not None:
            status.satisfaction = csat.score
            status.csat_after_resolution = CsatAfterResolution(
                score=csat.score, comment=csat.comment, recorded_at=csat.recorded_at
            )
    return status
