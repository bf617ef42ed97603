"""The CLI speaks one way (issue 13, item 9): a readable answer by default and `--json` on
every verb; "was this escalation necessary?" is asked, never assumed."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli import readable
from cli.errors import UsageError
from cli.main import parser
from cli.tickets import necessary_answer
from escalation.messages import EscalationStateName, EscalationStatus
from tests.conftest import EXAMPLES, ROOT
from web.auth import new_token, write_agents_file


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def leaf_parsers(
    cli: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every verb's parser (`kb list`, `triage eval`, …), by its words."""
    subparsers = [a for a in cli._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        return [(" ".join(path), cli)]
    found = []
    for name, sub in subparsers[0].choices.items():
        found += leaf_parsers(sub, (*path, name))
    return found


def test_every_verb_takes_json() -> None:
    verbs = leaf_parsers(parser())
    assert len(verbs) >= 15, [name for name, _ in verbs]
    lacking = [name for name, verb in verbs if "--json" not in verb._option_string_actions]
    assert lacking == []


def test_decide_reads_as_a_verdict_and_json_is_contract_2() -> None:
    ticket = str(EXAMPLES / "T-12345-full.json")
    text = run_cli("decide", ticket)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "Escalate T-12345 to engineering as P1 (first response within 60 min)"
    assert any(line.startswith("Scenario:") and "data_loss_single_user" in line for line in lines)
    assert "Reasons:" in lines and lines[lines.index("Reasons:") + 1].startswith("  - ")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.stdout)
    as_json = run_cli("decide", ticket, "--json")
    assert as_json.returncode == 0, as_json.stderr
    decision = json.loads(as_json.stdout)
    assert (decision["team"], decision["priority"]) == ("engineering", "P1")


def test_resolve_without_the_answer_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    """No terminal to ask on, no --necessary/--unnecessary: exit 2 naming both, and nothing
    reaches Temporal (its address here answers nobody)."""
    agents = write_agents_file(tmp_path / "agents.toml", {"ana": ("engineering", new_token())})
    env = {"ESCALATION_AGENTS": str(agents), "TEMPORAL_ADDRESS": "127.0.0.1:9"}
    result = run_cli("resolve", "T-1", "--agent", "ana", "--resolution", "Relinked", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: say whether the escalation was necessary: --necessary or --unnecessary"
    )
    both = run_cli("resolve", "T-1", "--resolution", "x", "--necessary", "--unnecessary", env=env)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_on_a_terminal_the_question_is_asked_until_answered() -> None:
    asked: list[str] = []
    replies = iter(["", "maybe", "N"])

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return next(replies)

    args = argparse.Namespace(necessary=None)
    assert necessary_answer(args, ask) is False
    assert asked == ["Was this escalation necessary? [y/n] "] * 3
    assert necessary_answer(argparse.Namespace(necessary=True), ask) is True
    with pytest.raises(UsageError, match="--necessary or --unnecessary"):
        necessary_answer(args)  # pytest's stdin is no terminal


def test_the_status_reads_state_team_deadline_and_actions() -> None:
    at = datetime(2026, 12, 2, 9, 15, tzinfo=UTC)
    answer = EscalationStatus(
        ticket_id="T-7",
        workflow_id="escalation-T-7",
        state=EscalationStateName.ESCALATED,
        team="engineering",
        priority="P1",
        scenario="data_loss_single_user",
        escalated_at=at,
        response_due_at=at + timedelta(hours=1),
        acknowledgement="refused",
        customer_notice="550 mailbox unavailable",
        actions=["respond", "resolve"],
    ).to_json_dict()
    lines = readable.status(answer).splitlines()
    assert lines[0] == "T-7: escalated — engineering, P1"
    shown = {line.split(":")[0]: line.split(":", 1)[1].strip() for line in lines[1:]}
    assert shown["Response due"] == "2026-12-02 10:15:00 UTC"
    assert shown["Customer told"] == "refused: 550 mailbox unavailable"
    assert shown["Actions"] == "respond, resolve"
    assert "Resolved" not in shown and "Satisfaction" not in shown  # empty fields are left out
