"""`kb list|show|approve|reject|edit|revoke`: the learned patterns from the command line, as
the configured agent acting (their teams apply as on the web: web/permissions.py). Each verb
answers in readable lines, or as the API's JSON with `--json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

import asyncpg

from connections import open_pool
from web import permissions
from web.auth import Agent
from web.knowledge import (
    KnowledgePattern,
    PatternError,
    decide_pattern,
    edit_pattern,
    list_patterns,
    revoke_pattern,
)


class TextFileError(ValueError):
    """A --article-file / --answer-file that cannot be read; the message names it."""


def read_text_file(option: str, name: str | None, stdin: TextIO | None = None) -> str | None:
    """The text of `name` (UTF-8; "-" is standard input), None when the option is not given."""
    if name is None:
        return None
    if name == "-":
        try:
            return (stdin or sys.stdin).read()
        except UnicodeDecodeError:
            raise TextFileError(f"{option} -: standard input is not UTF-8 text") from None
    try:
        return Path(name).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TextFileError(f"{option} {name}: not UTF-8 text") from None
    except OSError as error:
        raise TextFileError(f"{option} {name}: {error.strerror or error}") from None


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


ACTIONS = ("list", "show", "approve", "reject", "edit", "revoke")


async def kb_command(
    database_url: str,
    action: str,
    *,
    agent: Agent,
    pattern_id: int | None = None,
    status: str | None = None,
    as_json: bool = False,
    title: str | None = None,
    article_markdown: str | None = None,
    auto_response: str | None = None,
    reason: str | None = None,
) -> tuple[int, str]:
    """(exit code, text): 0 done, 2 refused, unknown or another team's pattern (reason given),
    1 database. `agent` acts: they list and read the patterns of their teams only, and edit,
    approve, reject or revoke only those (web/permissions.py). `edit` changes the fields given
    (as POST /api/knowledge/{id}/edit), `revoke` records `reason` (as .../revoke); both print
    the pattern as the API answers it (JSON)."""
    if action not in ACTIONS:
        return 2, f"error: unknown kb action {action!r} (one of {', '.join(ACTIONS)})"
    if action != "list" and pattern_id is None:
        return 2, f"error: kb {action} needs a pattern ID"
    if action == "edit" and (title, article_markdown, auto_response) == (None, None, None):
        return 2, "error: kb edit needs --title, --article-file or --answer-file"
    try:
        pool = await open_pool(database_url)
    except (OSError, asyncpg.PostgresError) as error:
        return 1, f"error: cannot connect to the database: {error}"
    try:
        if action == "list":
            patterns = permissions.visible_patterns(agent, await list_patterns(pool, status))
            if as_json:
                return 0, json.dumps([p.to_json_dict() for p in patterns], indent=2)
            return 0, render_list(patterns)
        assert pattern_id is not None
        pattern = await permissions.authorize_pattern(pool, agent, pattern_id)
        if action == "show":
            return 0, json.dumps(pattern.to_json_dict(), indent=2) if as_json else render_pattern(
                pattern
            )
        if action == "edit":
            pattern = await edit_pattern(
                pool,
                pattern_id,
                agent=agent.name,
                title=title,
                article_markdown=article_markdown,
                auto_response=auto_response,
            )
            if as_json:
                return 0, json.dumps(pattern.to_json_dict(), indent=2, ensure_ascii=False)
            return 0, f"Edited pattern {pattern.id} (still a {pattern.status})\n\n" + (
                render_pattern(pattern)
            )
        if action == "revoke":
            pattern = await revoke_pattern(pool, pattern_id, agent=agent.name, reason=reason)
            if as_json:
                return 0, json.dumps(pattern.to_json_dict(), indent=2, ensure_ascii=False)
            return 0, (
                f"Revoked the approval of pattern {pattern.id}: a {pattern.status} again; "
                "triage no longer answers with it"
            )
        pattern = await decide_pattern(
            pool, pattern_id, approve=action == "approve", agent=agent.name
        )
        answer = {
            "id": pattern.id,
            "status": pattern.status,
            "title": pattern.title,
            "decidedBy": pattern.decided_by,
        }
        if as_json:
            return 0, json.dumps(answer, indent=2, ensure_ascii=False)
        verdict = "approved" if pattern.status == "approved" else pattern.status
        return 0, f"Pattern {pattern.id} is {verdict} by {pattern.decided_by}: {pattern.title}"
    except permissions.Forbidden as error:
        return 2, f"error: {error.message}"
    except PatternError as error:
        return 2, f"error: {error.message}"
    except asyncpg.PostgresError as error:
        return 1, f"error: database: {error}"
    finally:
        await pool.close()
