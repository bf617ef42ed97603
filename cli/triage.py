"""`triage eval` and `triage corrections --export`: triage measured on labelled cases, and the
agents' corrections of it written as such cases. Each returns (exit code, text)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg

from cli.decide import policy_path
from connections import open_pool
from escalation.evaluation import CorpusError, evaluate, parse_cases, render_text
from escalation.policy import PolicyError, load_policy
from escalation.triage import triage
from web.corrections import correction_cases, unwritable


def triage_eval(source: str, as_json: bool) -> tuple[int, str]:
    """The report of triage on a labelled corpus, with the policy `decide` uses; 0 whatever
    the accuracy, 2 with the reason for a missing file, a bad line or a bad policy."""
    path = Path(source)
    if not path.is_file():
        return 2, f"error: {source}: no such file"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return 2, f"error: {source}: cannot read: {error}"
    try:
        policy = load_policy(policy_path())
        cases = parse_cases(text, source, policy.teams)
    except (PolicyError, CorpusError) as error:
        return 2, f"error: {error}"
    report = evaluate(cases, lambda package: triage(package, policy))
    if as_json:
        answer = {"source": source, "policy": str(policy_path()), **report.to_json_dict()}
        return 0, json.dumps(answer, indent=2, ensure_ascii=False)
    return 0, render_text(report, source, str(policy_path()))


async def export_corrections(database_url: str, target: str, as_json: bool) -> tuple[int, str]:
    """Write every episode's latest correction to `target` as JSONL cases."""
    path = Path(target)
    problem = unwritable(path)
    if problem:
        return 2, f"error: {problem}"
    try:
        pool = await open_pool(database_url)
    except (OSError, asyncpg.PostgresError) as error:
        return 1, f"error: cannot connect to the database: {error}"
    try:
        cases = await correction_cases(pool)
    except asyncpg.PostgresError as error:
        return 1, f"error: cannot read triage_corrections: {error}"
    finally:
        await pool.close()
    lines = "".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases)
    try:
        await asyncio.to_thread(path.write_text, lines, encoding="utf-8")
    except OSError as error:
        return 2, f"error: {path}: {error.strerror or error}"
    if as_json:
        return 0, json.dumps({"file": str(path), "corrections": len(cases)})
    return 0, f"wrote {len(cases)} correction(s) to {path}"
