"""The learned patterns (seed De-escalation 3–5) as agents see them: list, read, approve or
reject a draft. Approval is the only door from learning into triage: the package gatherer
loads approved patterns only, so nothing learned changes a decision before a human says so.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from escalation.models import Model, UtcDatetime

STATUSES = ("collecting", "draft", "approved", "rejected")


class KnowledgePattern(Model):
    id: int
    scenario: str
    error_code: str | None
    status: str
    occurrences: int
    ticket_ids: list[str]
    symptom_terms: list[str]
    normalised_resolution: str
    title: str | None
    article_markdown: str | None
    auto_response: str | None
    drafted_at: UtcDatetime | None
    decided_at: UtcDatetime | None
    decided_by: str | None
    updated_at: UtcDatetime


class PatternError(Exception):
    """A request about a pattern that cannot be done; the message says why."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.not_found = not_found


_COLUMNS = """id, scenario, error_code, status, occurrences, ticket_ids, symptom_terms,
    normalised_resolution, title, article_markdown, auto_response, drafted_at, decided_at,
    decided_by, updated_at"""


def _pattern(row: asyncpg.Record) -> KnowledgePattern:
    return KnowledgePattern.model_validate(
        {
            **dict(row),
            "ticket_ids": list(row["ticket_ids"]),
            "symptom_terms": list(row["symptom_terms"]),
        }
    )


async def list_patterns(
    db: asyncpg.Pool | asyncpg.Connection, status: str | None = None
) -> list[KnowledgePattern]:
    """Patterns, drafts first (they wait for a human), then approved, collecting, rejected."""
    if status is not None and status not in STATUSES:
        raise PatternError(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
    rows = await db.fetch(
        f"""
        SELECT {_COLUMNS} FROM kb_patterns
         WHERE $1::text IS NULL OR status = $1
         ORDER BY array_position(ARRAY['draft', 'approved', 'collecting', 'rejected'], status),
                  occurrences DESC, id
        """,
        status,
    )
    return [_pattern(row) for row in rows]


async def get_pattern(db: asyncpg.Pool | asyncpg.Connection, pattern_id: int) -> KnowledgePattern:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM kb_patterns WHERE id = $1", pattern_id)
    if row is None:
        raise PatternError(f"no learned pattern with id {pattern_id}", not_found=True)
    return _pattern(row)


async def decide_pattern(
    db: asyncpg.Pool | asyncpg.Connection,
    pattern_id: int,
    *,
    approve: bool,
    agent: str,
    now: datetime | None = None,
) -> KnowledgePattern:
    """Approve (or reject) a draft. Saying the same thing twice is harmless; approving a
    pattern that has no draft yet, or changing a decision, is refused with the reason."""
    if not agent.strip():
        raise PatternError("the deciding agent must be named")
    target = "approved" if approve else "rejected"
    current = await get_pattern(db, pattern_id)
    if current.status == target:
        return current
    if current.status != "draft":
        if current.status == "collecting":
            raise PatternError(
                f"pattern {pattern_id} has no draft yet: {current.occurrences} quick "
                "resolution(s) so far"
            )
        raise PatternError(f"pattern {pattern_id} is already {current.status}")
    row = await db.fetchrow(
        f"""
        UPDATE kb_patterns
           SET status = $2, decided_at = coalesce($3, now()), decided_by = $4, updated_at = now()
         WHERE id = $1 AND status = 'draft'
        RETURNING {_COLUMNS}
        """,
        pattern_id,
        target,
        now,
        agent.strip(),
    )
    if row is None:  # decided concurrently: report what won
        return await decide_pattern(db, pattern_id, approve=approve, agent=agent, now=now)
    return _pattern(row)
