"""What the agents' pages read from PostgreSQL: the queue, a ticket's episodes, their log, their
acknowledgements. The workflow's activities keep these tables current; the web side only reads
(CSAT after resolution excepted, web/feedback.py), so the queue never scans Temporal.

A ticket may have been escalated more than once: `support_assignments` holds one row per
escalation episode (`episode_id`, its number, the episode it reopens). The queue shows each
ticket's latest episode; a ticket page shows the latest on top and the earlier ones below.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from escalation.models import TICKET_ID_PATTERN

QUEUE_LIMIT = 500  # the most rows one page of the queue may ask for
QUEUE_PAGE = 50  # a page of the queue when the caller says nothing
LEGACY_EPISODE = "legacy:"  # rows written before episodes existed (migration 005)


@dataclass(frozen=True)
class QueueRow:
    """One escalation episode as the queue and the ticket page show it."""

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
    episode_id: str = ""
    episode_number: int = 1
    previous_episode_id: str | None = None
    reopened_because: str | None = None
    paused: bool = False
    customer_notified: bool | None = None
    customer_notice: str | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None
    summary_markdown: str | None = None

    @property
    def resolved(self) -> bool:
        return self.state == "resolved"

    @property
    def reopened(self) -> bool:
        return self.episode_number > 1 or self.previous_episode_id is not None


@dataclass(frozen=True)
class LogEvent:
    action: str
    event: dict[str, Any]
    logged_at: datetime
    episode_id: str | None = None


@dataclass(frozen=True)
class Acknowledgement:
    recipient: str
    subject: str | None
    body: str
    status: str  # pending | sending | sent | refused (migration 006)
    sent_at: datetime | None
    created_at: datetime
    last_error: str | None = None
    episode_id: str | None = None


_ROW_COLUMNS = """
    ticket_id, workflow_id, state, assigned_to_team AS team, priority, subject, customer_name,
    premium, time_sensitive, sentiment, scenario, escalated_at, sla_due_at, escalation_reason,
    episode_id, episode_number, previous_episode_id, reopened_because, paused,
    customer_notified, customer_notice, resolved_at, resolution
"""


def _queue_row(record: asyncpg.Record) -> QueueRow:
    return QueueRow(**dict(record))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICKET_BODY = TICKET_ID_PATTERN.removeprefix("^").removesuffix("$")
# A cursor: priority ~ SLA deadline ~ escalated_at ~ ticket id, the times in microseconds since
# the epoch ("-": no deadline). Every string of this shape is a cursor (a page after that key),
# so the API's schema says exactly which values it takes (anything else: 422 naming `after`).
CURSOR_PATTERN = rf"^[A-Za-z0-9_-]{{1,32}}~(?:-|[0-9]{{1,17}})~[0-9]{{1,17}}~{_TICKET_BODY}$"


def _micros(moment: datetime) -> str:
    return str((moment - _EPOCH) // timedelta(microseconds=1))


@dataclass(frozen=True)
class QueueCursor:
    """Where a page of the queue ended: the last row's sort key (priority, SLA deadline,
    escalated_at, ticket id). The next page starts after it (keyset paging: the read walks
    migration 007's partial index from there, whatever the page's depth)."""

    priority: str
    sla_due_at: datetime | None
    escalated_at: datetime
    ticket_id: str

    @classmethod
    def after(cls, row: QueueRow) -> QueueCursor:
        return cls(row.priority, row.sla_due_at, row.escalated_at, row.ticket_id)

    def encode(self) -> str:
        due = _micros(self.sla_due_at) if self.sla_due_at else "-"
        return f"{self.priority}~{due}~{_micros(self.escalated_at)}~{self.ticket_id}"

    @classmethod
    def decode(cls, text: str) -> QueueCursor:
        """A cursor of CURSOR_PATTERN's shape; anything else is a ValueError saying so."""
        if not re.fullmatch(CURSOR_PATTERN, text):
            raise ValueError(
                "not a queue cursor: pass the nextCursor of the previous page unchanged"
            )
        priority, due, escalated, ticket = text.split("~", 3)
        return cls(
            priority,
            None if due == "-" else _EPOCH + timedelta(microseconds=int(due)),
            _EPOCH + timedelta(microseconds=int(escalated)),
            ticket,
        )


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next: QueueCursor | None  # None on the last page


# Rows after the cursor in the queue's order (priority, sla_due_at NULLS LAST, escalated_at,
# ticket_id): spelt out because a NULL deadline sorts last, which a row comparison cannot say.
_AFTER = """
   AND priority >= $3
   AND (priority > $3
        OR CASE WHEN $4::timestamptz IS NULL
                THEN sla_due_at IS NULL AND (escalated_at, ticket_id) > ($5, $6)
                ELSE sla_due_at > $4 OR sla_due_at IS NULL
                     OR (sla_due_at = $4 AND (escalated_at, ticket_id) > ($5, $6)) END)
"""


async def open_escalations(
    pool: asyncpg.Pool,
    team: str | None = None,
    teams: Sequence[str] | None = None,
    limit: int = QUEUE_LIMIT,
) -> list[QueueRow]:
    """The first `limit` rows of the queue (queue_page)."""
    return (await queue_page(pool, team, teams, limit)).rows


async def queue_page(
    pool: asyncpg.Pool,
    team: str | None = None,
    teams: Sequence[str] | None = None,
    limit: int = QUEUE_PAGE,
    after: QueueCursor | None = None,
) -> QueuePage:
    """Each ticket's latest episode when it is not resolved, most urgent first: priority, then
    the next SLA deadline; only `team`'s when given, and only those held by one of `teams`
    when given (what the agent may see, web/permissions.py). (An earlier episode that never
    got a resolution, e.g. a run ops terminated, is not on the queue once the ticket has a
    newer one.) At most `limit` rows (1..QUEUE_LIMIT), those after `after` when given, and
    the cursor of the next page when there are more."""
    limit = max(1, min(limit, QUEUE_LIMIT))
    args: list[Any] = [team, None if teams is None else list(teams)]
    if after is not None:
        args += [after.priority, after.sla_due_at, after.escalated_at, after.ticket_id]
    records = await pool.fetch(
        f"""
        SELECT {_ROW_COLUMNS}
          FROM support_assignments AS sa
         WHERE state <> 'resolved' AND ($1::text IS NULL OR assigned_to_team = $1)
           AND ($2::text[] IS NULL OR assigned_to_team = ANY($2::text[]))
           AND NOT EXISTS (SELECT 1 FROM support_assignments AS later
                            WHERE later.ticket_id = sa.ticket_id
                              AND later.escalated_at > sa.escalated_at)
           {_AFTER if after is not None else ""}
         ORDER BY priority, sla_due_at NULLS LAST, escalated_at, ticket_id
         LIMIT {limit + 1}
        """,
        *args,
    )
    rows = [_queue_row(record) for record in records[:limit]]
    more = len(records) > limit
    return QueuePage(rows, QueueCursor.after(rows[-1]) if more else None)


async def assignment(
    db: asyncpg.Pool | asyncpg.Connection, ticket_id: str, episode_id: str | None = None
) -> QueueRow | None:
    """One episode's assignment row with the summary the agent reads first: `episode_id`'s,
    or the ticket's latest."""
    record = await db.fetchrow(
        f"""
        SELECT {_ROW_COLUMNS}, summary_markdown FROM support_assignments
         WHERE ticket_id = $1 AND ($2::text IS NULL OR episode_id = $2)
         ORDER BY escalated_at DESC LIMIT 1
        """,
        ticket_id,
        episode_id,
    )
    return _queue_row(record) if record else None


async def episodes(db: asyncpg.Pool | asyncpg.Connection, ticket_id: str) -> list[QueueRow]:
    """Every escalation episode of the ticket, the latest first."""
    records = await db.fetch(
        f"""
        SELECT {_ROW_COLUMNS}, summary_markdown FROM support_assignments
         WHERE ticket_id = $1
         ORDER BY escalated_at DESC, episode_number DESC
        """,
        ticket_id,
    )
    return [_queue_row(record) for record in records]


async def first_responses(
    db: asyncpg.Pool | asyncpg.Connection, ticket_id: str
) -> dict[str, datetime | None]:
    """The first human response of each resolved episode (resolutions.responded_at)."""
    records = await db.fetch(
        "SELECT episode_id, responded_at FROM resolutions WHERE ticket_id = $1", ticket_id
    )
    return {record["episode_id"]: record["responded_at"] for record in records}


def _episode_from_key(ticket_id: str, key: str) -> str | None:
    """An alert's log row is keyed `alert:<ticket>:<episode>:<kind>...` (the alert key), and
    until the alert activity writes `episode_id` that is where its episode is said."""
    prefix = f"alert:{ticket_id}:"
    if not key.startswith(prefix):
        return None
    episode = key.removeprefix(prefix).split(":", 1)[0]
    return episode or None


async def log_events(db: asyncpg.Pool | asyncpg.Connection, ticket_id: str) -> list[LogEvent]:
    """The ticket's escalation_log in the order it was written, each with its episode."""
    records = await db.fetch(
        """
        SELECT action, event, logged_at, idempotency_key,
               coalesce(episode_id, event->>'episodeId') AS episode_id
          FROM escalation_log WHERE ticket_id = $1 ORDER BY id
        """,
        ticket_id,
    )
    return [
        LogEvent(
            action=record["action"],
            event=record["event"] if isinstance(record["event"], dict) else {},
            logged_at=record["logged_at"],
            episode_id=record["episode_id"]
            or _episode_from_key(ticket_id, record["idempotency_key"]),
        )
        for record in records
    ]


def events_of(events: list[LogEvent], episode_id: str, first: bool) -> list[LogEvent]:
    """The events of one episode. Events that name none were written before episodes
    existed: they belong to the ticket's first episode."""
    return [e for e in events if e.episode_id == episode_id or (e.episode_id is None and first)]


async def acknowledgements(
    db: asyncpg.Pool | asyncpg.Connection, ticket_id: str
) -> dict[str, Acknowledgement]:
    """The acknowledgement Step 5 sent (or tried to send) for each episode, by episode id. Its
    key is `<ticket>:<episode>:acknowledgement`; `<ticket>:acknowledgement` before episodes,
    filed under the legacy episode."""
    records = await db.fetch(
        """
        SELECT idempotency_key, recipient, subject, body, status, sent_at, created_at,
               last_error
          FROM notifications
         WHERE ticket_id = $1 AND kind = 'acknowledgement'
         ORDER BY created_at
        """,
        ticket_id,
    )
    found: dict[str, Acknowledgement] = {}
    for record in records:
        key: str = record["idempotency_key"]
        middle = key.removeprefix(f"{ticket_id}:").removesuffix(":acknowledgement")
        episode = LEGACY_EPISODE + ticket_id if middle == "acknowledgement" else middle
        values = {name: record[name] for name in record.keys() if name != "idempotency_key"}
        found.setdefault(episode, Acknowledgement(**values, episode_id=episode))
    return found


async def acknowledgement(
    db: asyncpg.Pool | asyncpg.Connection, ticket_id: str, episode_id: str | None = None
) -> Acknowledgement | None:
    """One episode's acknowledgement (`episode_id`'s, or the ticket's latest)."""
    found = await acknowledgements(db, ticket_id)
    if episode_id is not None:
        return found.get(episode_id)
    return max(found.values(), key=lambda ack: ack.created_at, default=None)


@dataclass(frozen=True)
class CsatAnswer:
    """The customer's satisfaction answer after the resolution (web/feedback.py)."""

    score: int
    comment: str | None
    recorded_at: datetime


def csat_of(events: list[LogEvent]) -> CsatAnswer | None:
    """The latest `csat` event among `events` (one episode's)."""
    for event in reversed(events):
        score = event.event.get("score")
        if event.action == "csat" and isinstance(score, int):
            comment = event.event.get("comment")
            return CsatAnswer(score, comment if isinstance(comment, str) else None, event.logged_at)
    return None
