"""The learned patterns (seed De-escalation 3–5) as agents see them: list, read, edit, approve
or reject a draft, revoke an approval. Approval is the only door from learning into triage: the
package gatherer loads approved patterns only (and only while their text has the hash the
approval recorded), so nothing learned changes a decision before a human says so.

Four eyes (issue 13, item 5): a draft is approved by a second person, one who resolved none of
the pattern's tickets and did not write its current text; the approval keeps the SHA-256 of the
text reviewed (`reviewed_text`), and an approver who read another version is refused. A draft's
text can be edited before approval; an approval can be revoked after (the pattern is a draft
again, out of triage at once).
"""

from __future__ import annotations

import functools
import hashlib
import os
from datetime import datetime
from pathlib import Path

import asyncpg
from pydantic import Field

from escalation.models import Model, UtcDatetime
from escalation.policy import PolicyError, load_policy
from escalation.redaction import mentions, redact

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
    approved_sha256: str | None = None  # the text reviewed, as approved
    text_sha256: str = ""  # the text now: what an approver must have read
    edited_by: str | None = None
    edited_at: UtcDatetime | None = None
    revoked_by: str | None = None
    revoked_at: UtcDatetime | None = None
    revoke_reason: str | None = None
    # The teams that held the pattern's tickets when they were resolved (who may see and act
    # on it: web/permissions.py); empty when no resolution of it is recorded (admins only).
    teams: list[str] = Field(default_factory=list)


MAX_TITLE_CHARS = 300
MAX_TEXT_CHARS = 20_000


def reviewed_text(title: str | None, article: str | None, answer: str | None) -> str:
    """What a reviewer reads and approves: the title, the KB article and the customer-facing
    auto-response (unit separators between them, as activities/package.py hashes it too)."""
    return "\x1f".join([title or "", article or "", answer or ""])


def text_sha256(title: str | None, article: str | None, answer: str | None) -> str:
    return hashlib.sha256(reviewed_text(title, article, answer).encode("utf-8")).hexdigest()


class PatternError(Exception):
    """A request about a pattern that cannot be done; the message says why."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.not_found = not_found


_COLUMNS = """id, scenario, error_code, status, occurrences, ticket_ids, symptom_terms,
    normalised_resolution, title, article_markdown, auto_response, drafted_at, decided_at,
    decided_by, updated_at, approved_sha256, edited_by, edited_at, revoked_by, revoked_at,
    revoke_reason,
    ARRAY(SELECT DISTINCT r.team FROM resolutions r
           WHERE r.pattern_id = kb_patterns.id OR r.ticket_id = ANY(kb_patterns.ticket_ids)
           ORDER BY r.team) AS teams"""


def _pattern(row: asyncpg.Record) -> KnowledgePattern:
    return KnowledgePattern.model_validate(
        {
            **dict(row),
            "ticket_ids": list(row["ticket_ids"]),
            "symptom_terms": list(row["symptom_terms"]),
            "teams": list(row["teams"]),
            "text_sha256": text_sha256(row["title"], row["article_markdown"], row["auto_response"]),
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


async def resolvers(
    db: asyncpg.Pool | asyncpg.Connection, pattern: KnowledgePattern
) -> dict[str, list[str]]:
    """{agent: the pattern's tickets they resolved}, from the resolutions recorded."""
    rows = await db.fetch(
        """
        SELECT resolved_by, ticket_id FROM resolutions
         WHERE pattern_id = $1 OR ticket_id = ANY($2::text[])
         ORDER BY ticket_id
        """,
        pattern.id,
        pattern.ticket_ids,
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row["resolved_by"], []).append(row["ticket_id"])
    return found


DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "config" / "policy.toml"


@functools.lru_cache(maxsize=4)
def _our_hosts_of(path: str, _mtime: float) -> tuple[str, ...]:
    return tuple(load_policy(path).de_escalation.our_hosts)


def our_hosts() -> tuple[str, ...]:
    """The policy's `de_escalation.our_hosts` ($ESCALATION_POLICY, as the worker reads it):
    links and addresses of ours, never a customer's. None when the policy cannot be read (the
    stricter answer: every link found in the pattern's tickets counts as the customer's)."""
    path = os.environ.get("ESCALATION_POLICY") or str(DEFAULT_POLICY)
    try:
        return _our_hosts_of(path, Path(path).stat().st_mtime)
    except (OSError, PolicyError):
        return ()


async def customer_data(
    db: asyncpg.Pool | asyncpg.Connection, pattern: KnowledgePattern
) -> list[str]:
    """What of the pattern's customers its text must not carry: the email addresses of its
    tickets' customers, and the addresses, links, phone numbers and identifiers written in its
    tickets' subjects and resolutions (escalation/redaction.py; our own hosts are not theirs)."""
    rows = await db.fetch(
        """
        WITH ids AS (
            SELECT unnest($2::text[]) AS ticket_id
            UNION SELECT ticket_id FROM resolutions WHERE pattern_id = $1
        )
        SELECT t.customer_email, c.email AS account_email, t.subject, t.resolution,
               r.resolution AS resolved_with
          FROM ids
          LEFT JOIN tickets t USING (ticket_id)
          LEFT JOIN customers c ON c.user_id = t.user_id
          LEFT JOIN resolutions r USING (ticket_id)
        """,
        pattern.id,
        pattern.ticket_ids,
    )
    ours = our_hosts()
    found: dict[str, None] = {}
    for row in rows:
        for email in (row["customer_email"], row["account_email"]):
            if email:
                found.setdefault(email.strip(), None)
        for text in (row["subject"], row["resolution"], row["resolved_with"]):
            for value in redact(text or "", ours).found:
                found.setdefault(value, None)
    return list(found)


def _named(agent: str) -> str:
    if not agent.strip():
        raise PatternError("the deciding agent must be named")
    return agent.strip()


async def decide_pattern(
    db: asyncpg.Pool | asyncpg.Connection,
    pattern_id: int,
    *,
    approve: bool,
    agent: str,
    now: datetime | None = None,
    reviewed_sha256: str | None = None,
) -> KnowledgePattern:
    """Approve (or reject) a draft. Saying the same thing twice is harmless; approving a
    pattern that has no draft yet, or changing a decision, is refused with the reason.

    Approval is a second person's: refused to an agent who resolved one of the pattern's
    tickets or wrote its current text, and (given `reviewed_sha256`, the hash of the text the
    approver read) when the text has changed since. The approval keeps the text's hash."""
    agent = _named(agent)
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
    digest: str | None = None
    if approve:
        own = (await resolvers(db, current)).get(agent)
        if own:
            raise PatternError(
                f"{agent} cannot approve pattern {pattern_id}: they resolved its ticket"
                f"{'s' if len(own) > 1 else ''} {', '.join(own)}. A second person who resolved "
                "none of its tickets must review and approve it."
            )
        if current.edited_by == agent:
            raise PatternError(
                f"{agent} cannot approve pattern {pattern_id}: they wrote its current text. A "
                "second person must review and approve it."
            )
        if reviewed_sha256 is not None and reviewed_sha256.lower() != current.text_sha256:
            raise PatternError(
                f"pattern {pattern_id}'s text changed since it was read (reviewed "
                f"{reviewed_sha256[:12]}, now {current.text_sha256[:12]}): read it again"
            )
        quoted = mentions(
            reviewed_text(current.title, current.article_markdown, current.auto_response),
            await customer_data(db, current),
        )
        if quoted:
            raise PatternError(
                f"pattern {pattern_id} cannot be approved: its text still quotes data of the "
                f"customers whose tickets it came from ({', '.join(quoted)}). Edit it out "
                "(e.g. [email], [number], [link]) before approving: the answer is sent to other "
                "customers."
            )
        digest = current.text_sha256
    row = await db.fetchrow(
        f"""
        UPDATE kb_patterns
           SET status = $2, decided_at = coalesce($3, now()), decided_by = $4, updated_at = now(),
               approved_sha256 = $5
         WHERE id = $1 AND status = 'draft' AND title IS NOT DISTINCT FROM $6
           AND article_markdown IS NOT DISTINCT FROM $7 AND auto_response IS NOT DISTINCT FROM $8
        RETURNING {_COLUMNS}
        """,
        pattern_id,
        target,
        now,
        agent,
        digest,
        current.title,
        current.article_markdown,
        current.auto_response,
    )
    if row is None:  # decided or edited concurrently: decide against what is there now
        return await decide_pattern(
            db,
            pattern_id,
            approve=approve,
            agent=agent,
            now=now,
            reviewed_sha256=reviewed_sha256 or current.text_sha256,
        )
    return _pattern(row)


def _checked(name: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.replace("\r\n", "\n").strip()
    if not value:
        raise PatternError(f"{name} cannot be empty")
    if len(value) > limit:
        raise PatternError(f"{name} is longer than {limit} characters")
    if "\x00" in value:
        raise PatternError(f"{name} contains a NUL character")
    return value


async def edit_pattern(
    db: asyncpg.Pool | asyncpg.Connection,
    pattern_id: int,
    *,
    agent: str,
    title: str | None = None,
    article_markdown: str | None = None,
    auto_response: str | None = None,
) -> KnowledgePattern:
    """Change a draft's title, KB article or auto-response (None: unchanged) before it is
    approved. The editor is recorded and cannot approve the text they wrote. An approved
    pattern is revoked first; a rejected or collecting one has nothing to edit."""
    agent = _named(agent)
    title = _checked("title", title, MAX_TITLE_CHARS)
    article_markdown = _checked("the KB article", article_markdown, MAX_TEXT_CHARS)
    auto_response = _checked("the auto-response", auto_response, MAX_TEXT_CHARS)
    current = await get_pattern(db, pattern_id)
    if current.status != "draft":
        hint = " (revoke the approval first)" if current.status == "approved" else ""
        raise PatternError(
            f"pattern {pattern_id} is {current.status}: only a draft is edited{hint}"
        )
    if (title, article_markdown, auto_response) == (None, None, None):
        return current
    row = await db.fetchrow(
        f"""
        UPDATE kb_patterns
           SET title = coalesce($2, title), article_markdown = coalesce($3, article_markdown),
               auto_response = coalesce($4, auto_response), edited_by = $5, edited_at = now(),
               updated_at = now()
         WHERE id = $1 AND status = 'draft'
        RETURNING {_COLUMNS}
        """,
        pattern_id,
        title,
        article_markdown,
        auto_response,
        agent,
    )
    if row is None:
        raise PatternError(f"pattern {pattern_id} was decided meanwhile: only a draft is edited")
    return _pattern(row)


async def revoke_pattern(
    db: asyncpg.Pool | asyncpg.Connection,
    pattern_id: int,
    *,
    agent: str,
    reason: str | None = None,
) -> KnowledgePattern:
    """Withdraw an approval: the pattern is a draft again (triage stops answering with it at
    once), the approval's hash is cleared, who revoked it and why are kept. Anyone may revoke:
    it is the safe direction."""
    agent = _named(agent)
    reason = _checked("the reason", reason, MAX_TITLE_CHARS) if reason else None
    row = await db.fetchrow(
        f"""
        UPDATE kb_patterns
           SET status = 'draft', decided_at = NULL, decided_by = NULL, approved_sha256 = NULL,
               revoked_by = $2, revoked_at = now(), revoke_reason = $3, updated_at = now()
         WHERE id = $1 AND status = 'approved'
        RETURNING {_COLUMNS}
        """,
        pattern_id,
        agent,
        reason,
    )
    if row is None:
        current = await get_pattern(db, pattern_id)
        raise PatternError(
            f"pattern {pattern_id} is {current.status}, not approved: nothing to revoke"
        )
    return _pattern(row)
