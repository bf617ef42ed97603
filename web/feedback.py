"""CSAT after resolution: the customer's answer arrives when the escalation's workflow has
finished (or is finishing), so it is recorded straight into `escalation_log` as a `csat` event
against the escalation — the figure the seed's "customer satisfaction after escalation" metric
counts. While the escalation is open, the score goes to the workflow instead (a drop alerts the
team); both paths start from `rate`. (Pools here encode jsonb themselves: see web/services.py.)

A ticket escalated more than once has one assignment row per episode: the answer belongs to
the ticket's latest episode (the one the customer was last helped in), one `csat` event per
episode (key `<ticket>:<episode>:csat`), and the ticket's status and page show it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
from temporalio.client import Client

from escalation.messages import EscalationStateName, EscalationStatus, SatisfactionInput
from escalation.models import Model, UtcDatetime
from web import temporal_ops
from web.temporal_ops import Refused, TicketClosed, TicketNotFound

CSAT_ACTION = "csat"


class CsatRecorded(Model):
    """The answer to a CSAT score for a resolved escalation: recorded, nothing to update."""

    ticket_id: str
    episode_id: str | None = None  # the escalation episode it was recorded against
    score: int
    comment: str | None = None
    recorded_at: UtcDatetime
    after_resolution: bool = True


class NotEscalated(TicketNotFound):
    """A CSAT answer for a ticket that never reached a human: not an escalation's CSAT."""


def check_score(score: int) -> None:
    if not 1 <= score <= 5:
        raise Refused(f"score must be 1-5, got {score}")


async def record_csat_after_resolution(
    db: asyncpg.Pool | asyncpg.Connection,
    ticket_id: str,
    rating: SatisfactionInput,
    now: datetime | None = None,
) -> CsatRecorded:
    """One `csat` event per episode (key `<ticket>:<episode>:csat`), against the ticket's
    latest episode: a later answer replaces the earlier one, and repeating a request changes
    nothing."""
    check_score(rating.score)
    at = now or datetime.now(UTC)
    row = await db.fetchrow(
        """
        SELECT episode_id, episode_number, assigned_to_team, priority FROM support_assignments
         WHERE ticket_id = $1 ORDER BY escalated_at DESC LIMIT 1
        """,
        ticket_id,
    )
    if row is None:
        raise NotEscalated(
            f"ticket {ticket_id} was not escalated: CSAT after escalation is recorded only "
            "for escalated tickets"
        )
    episode_id: str = row["episode_id"]
    event = {
        "episodeId": episode_id,
        "ticketId": ticket_id,
        "action": CSAT_ACTION,
        "timestamp": at.isoformat(),
        "score": rating.score,
        "comment": rating.comment,
        "team": row["assigned_to_team"],
        "priority": row["priority"],
        "episode": row["episode_number"],
        "afterResolution": True,
    }
    await db.execute(
        """
        INSERT INTO escalation_log (idempotency_key, ticket_id, episode_id, action, event)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (idempotency_key) DO UPDATE
           SET event = EXCLUDED.event, logged_at = now()
         WHERE escalation_log.event IS DISTINCT FROM EXCLUDED.event
        """,
        csat_key(ticket_id, episode_id),
        ticket_id,
        episode_id,
        CSAT_ACTION,
        event,
    )
    return CsatRecorded(
        ticket_id=ticket_id,
        episode_id=episode_id,
        score=rating.score,
        comment=rating.comment,
        recorded_at=at,
    )


def csat_key(ticket_id: str, episode_id: str) -> str:
    return f"{ticket_id}:{episode_id}:{CSAT_ACTION}"


async def _resolved_on_record(db: asyncpg.Pool | asyncpg.Connection, ticket_id: str) -> bool:
    """The ticket's latest episode has a resolution row, or (runs resolved before
    de-escalation wrote one) its queue row says resolved."""
    return bool(
        await db.fetchval(
            """
            WITH latest AS (
                SELECT episode_id, state FROM support_assignments
                 WHERE ticket_id = $1 ORDER BY escalated_at DESC LIMIT 1
            )
            SELECT EXISTS (SELECT 1 FROM latest WHERE state = 'resolved')
                OR EXISTS (SELECT 1 FROM resolutions JOIN latest USING (episode_id))
            """,
            ticket_id,
        )
    )


async def _escalated(db: asyncpg.Pool | asyncpg.Connection, ticket_id: str) -> bool:
    return bool(
        await db.fetchval("SELECT 1 FROM support_assignments WHERE ticket_id = $1", ticket_id)
    )


DatabaseOpener = Callable[[], Awaitable[asyncpg.Pool | asyncpg.Connection]]


async def rate(
    client: Client,
    open_db: DatabaseOpener,
    ticket_id: str,
    rating: SatisfactionInput,
    update_id: str | None = None,
) -> EscalationStatus | CsatRecorded:
    """The `set_satisfaction` update while the escalation is open; once it is resolved (the
    run refuses as resolved, or has completed), the CSAT-after-resolution record. The
    database is opened only then (the CLI needs none for an open escalation). `update_id`
    (the webhook id) makes a repeated delivery change nothing more (the record after the
    resolution is one row per episode anyway)."""
    check_score(rating.score)
    try:
        return await temporal_ops.update(
            client, ticket_id, "set_satisfaction", rating, update_id=update_id
        )
    except TicketClosed:
        db = await open_db()
        if await _escalated(db, ticket_id) and not await _resolved_on_record(db, ticket_id):
            # ended without a resolution (terminated by ops): there is no "after resolution"
            raise TicketClosed(
                f"ticket {ticket_id} is closed without a resolution: no CSAT after resolution"
            ) from None
        return await record_csat_after_resolution(db, ticket_id, rating)
    except Refused:
        status = await temporal_ops.status(client, ticket_id)
        if status.state is not EscalationStateName.RESOLVED:
            raise
    except TicketNotFound:
        # No run (history retention removed it, or the server words "closed" otherwise): a
        # resolved escalation on record still takes its customer's answer.
        db = await open_db()
        if not await _resolved_on_record(db, ticket_id):
            raise
        return await record_csat_after_resolution(db, ticket_id, rating)
    return await record_csat_after_resolution(await open_db(), ticket_id, rating)
