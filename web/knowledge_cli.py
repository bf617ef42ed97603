"""`starter.py kb list|show|approve|reject`: the learned patterns from the command line."""

from __future__ import annotations

import json

import asyncpg

from web.knowledge import KnowledgePattern, PatternError, decide_pattern, get_pattern, list_patterns
from web.services import connect_pool


def render_list(patterns: list[KnowledgePattern]) -> str:
    if not patterns:
        return "No learned patterns yet: quick resolutions are grouped here as they happen."
    lines = [f"{'ID':>4}  {'STATUS':<10}  {'SEEN':>4}  {'SCENARIO':<28}  TITLE"]
    for p in patterns:
        title = p.title or f"({p.normalised_resolution[:60]})"
        lines.append(f"{p.id:>4}  {p.status:<10}  {p.occurrences:>4}  {p.scenario:<28}  {title}")
    drafts = sum(1 for p in patterns if p.status == "draft")
    if drafts:
        lines.append(f"\n{drafts} draft(s) wait for approval: starter.py kb approve ID")
    return "\n".join(lines)


def render_pattern(p: KnowledgePattern) -> str:
    head = [
        f"Pattern {p.id} — {p.status}, seen {p.occurrences} time(s)",
        f"Scenario: {p.scenario}; error code: {p.error_code or 'none'}",
        f"Tickets: {', '.join(p.ticket_ids) or 'none'}",
    ]
    if p.decided_by:
        head.append(f"Decided by {p.decided_by} at {p.decided_at:%Y-%m-%d %H:%M} UTC")
    body = [p.article_markdown or "(no draft yet)"]
    if p.auto_response:
        body += ["---", "Auto-response candidate:", p.auto_response]
    return "\n".join(head) + "\n\n" + "\n".join(body)


async def kb_command(
    database_url: str,
    action: str,
    *,
    pattern_id: int | None = None,
    agent: str = "",
    status: str | None = None,
    as_json: bool = False,
) -> tuple[int, str]:
    """(exit code, text): 0 done, 2 refused or unknown pattern (reason given), 1 database."""
    try:
        pool = await connect_pool(database_url)
    except (OSError, asyncpg.PostgresError) as error:
        return 1, f"error: cannot connect to the database: {error}"
    try:
        if action == "list":
            patterns = await list_patterns(pool, status)
            if as_json:
                return 0, json.dumps([p.to_json_dict() for p in patterns], indent=2)
            return 0, render_list(patterns)
        assert pattern_id is not None
        if action == "show":
            pattern = await get_pattern(pool, pattern_id)
            return 0, json.dumps(pattern.to_json_dict(), indent=2) if as_json else render_pattern(
                pattern
            )
        pattern = await decide_pattern(pool, pattern_id, approve=action == "approve", agent=agent)
        answer = {
            "id": pattern.id,
            "status": pattern.status,
            "title": pattern.title,
            "decidedBy": pattern.decided_by,
        }
        return 0, json.dumps(answer, indent=2, ensure_ascii=False)
    except PatternError as error:
        return 2, f"error: {error.message}"
    except asyncpg.PostgresError as error:
        return 1, f"error: database: {error}"
    finally:
        await pool.close()
