"""Measure triage on a labelled corpus (issue 11 item 9): parse the JSONL case format of the
shared development set, score `triage()` on it, and say where it goes wrong.

A case is one JSON object per line: `id`, `payload` (a Contract-1 intake payload), `expected`
(`escalate`, `team`, `priority`), optional `why` and `tags`. Blank lines are allowed. A bad
line is a `CorpusError` naming the line and the field (`cases.jsonl:17: expected.priority:
unknown priority 'P5'`), and then nothing is scored.

The rule (triage-dev/README.md "Scoring"): a case passes when `escalate` matches and, when the
expected `escalate` is true, `team` and `priority` match too.

Pure: the caller reads the file and loads the policy; nothing here touches a disk or a socket.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from escalation.messages import TriageCorrection
from escalation.models import (
    TEAMS,
    EscalationPackage,
    InvalidPayload,
    Model,
    Priority,
    TicketPayload,
    TriageDecision,
    parse_payload,
)

NO_ESCALATION = "no_escalation"
# A P0 decided at this priority or lower (or not escalated) is the dangerous kind of mistake.
P0_UNDER_FROM = Priority.P2


class CorpusError(ValueError):
    """A corpus that cannot be scored; the message names the line and the field."""


class Expected(Model):
    """What a human says triage should decide."""

    escalate: bool
    team: str | None = None
    priority: Priority | None = None

    @property
    def label(self) -> str:
        return label_of(self.escalate, self.team, self.priority)


@dataclass(frozen=True)
class Case:
    id: str
    payload: TicketPayload
    expected: Expected
    why: str | None = None
    tags: tuple[str, ...] = ()
    line: int = 0


def label_of(escalate: bool, team: str | None, priority: Priority | str | None) -> str:
    """`engineering/P1`, or `no_escalation`: one cell of the confusion table."""
    if not escalate:
        return NO_ESCALATION
    return f"{team or '?'}/{priority or '?'}"


# --- parsing -------------------------------------------------------------------------------


def parse_cases(text: str, source: str = "cases.jsonl", teams: Iterable[str] = TEAMS) -> list[Case]:
    """Every case of a JSONL corpus, in file order; CorpusError at the first bad line."""
    known_teams = tuple(teams)
    cases: list[Case] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue

        def fail(problem: str, where: str | None = None, number: int = number) -> CorpusError:
            return CorpusError(f"{source}:{number}: " + (f"{where}: " if where else "") + problem)

        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            raise fail(f"not valid JSON: {error.msg} (column {error.colno})") from None
        if not isinstance(data, dict):
            raise fail(f"a case is a JSON object, found {type(data).__name__}")
        case_id = data.get("id")
        if not isinstance(case_id, str) or not case_id.strip():
            raise fail("missing: every case needs a non-empty string id", "id")
        if case_id in first_line:
            raise fail(f"duplicate id {case_id!r} (first on line {first_line[case_id]})", "id")
        first_line[case_id] = number
        if not isinstance(data.get("payload"), dict):
            raise fail("missing: a Contract-1 intake payload object", "payload")
        try:
            payload = parse_payload(data["payload"])
        except InvalidPayload as error:
            raise fail("payload." + str(error).replace("; ", "; payload.")) from None
        expected = _parse_expected(data.get("expected"), known_teams, fail)
        why = data.get("why")
        if why is not None and not isinstance(why, str):
            raise fail("must be a string", "why")
        tags = data.get("tags", [])
        if tags is None:
            tags = []
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            raise fail("must be a list of non-empty strings", "tags")
        cases.append(Case(case_id, payload, expected, why, tuple(dict.fromkeys(tags)), number))
    if not cases:
        raise CorpusError(f"{source}: no cases (one JSON object per line)")
    return cases


def _parse_expected(value: Any, teams: Sequence[str], fail: Callable[..., CorpusError]) -> Expected:
    if not isinstance(value, dict):
        raise fail("missing: an object with escalate, team and priority", "expected")
    escalate = value.get("escalate")
    if not isinstance(escalate, bool):
        raise fail(f"must be true or false, found {escalate!r}", "expected.escalate")
    team, priority = value.get("team"), value.get("priority")
    if not escalate:
        for name, given in (("team", team), ("priority", priority)):
            if given is not None:
                raise fail(
                    f"must be null when escalate is false, found {given!r}", f"expected.{name}"
                )
        return Expected(escalate=False)
    if team not in teams:
        what = "missing" if team is None else f"unknown team {team!r}"
        raise fail(f"{what} (known: {', '.join(teams)})", "expected.team")
    if priority not in {p.value for p in Priority}:
        what = "missing" if priority is None else f"unknown priority {priority!r}"
        raise fail(f"{what} (known: {', '.join(p.value for p in Priority)})", "expected.priority")
    return Expected(escalate=True, team=team, priority=Priority(priority))


# --- scoring -------------------------------------------------------------------------------


def passes(expected: Expected, decision: TriageDecision) -> bool:
    """The README's rule: escalate matches, and team and priority too when it should escalate."""
    if expected.escalate != decision.escalate:
        return False
    if not expected.escalate:
        return True
    return (expected.team, expected.priority) == (decision.team, decision.priority)


def p0_under(expected: Expected, decision: TriageDecision) -> bool:
    """An expected P0 decided P2 or lower, or not escalated at all."""
    if not (expected.escalate and expected.priority is Priority.P0):
        return False
    if not decision.escalate or decision.priority is None:
        return True
    return decision.priority.rank >= P0_UNDER_FROM.rank


class Tally(Model):
    cases: int = 0
    correct: int = 0
    accuracy: float | None = None


class Decided(Model):
    """What triage decided for a failed case."""

    escalate: bool
    team: str | None
    priority: Priority | None
    scenario: str | None


class Failure(Model):
    id: str
    expected: Expected
    got: Decided
    tags: list[str]


class EvaluationReport(Model):
    """The figures `starter.py triage eval --json` prints (camelCase on the wire)."""

    accuracy: float | None
    cases: int
    correct: int
    per_team: dict[str, Tally]
    per_priority: dict[str, Tally]
    per_tag: dict[str, Tally]
    # expected label → decided label → how many cases
    confusion: dict[str, dict[str, int]]
    p0_cases: int
    p0_under: int
    failures: list[Failure] = Field(default_factory=list)


@dataclass
class _Count:
    cases: int = 0
    correct: int = 0

    def add(self, ok: bool) -> None:
        self.cases += 1
        self.correct += ok

    def tally(self) -> Tally:
        return Tally(
            cases=self.cases,
            correct=self.correct,
            accuracy=self.correct / self.cases if self.cases else None,
        )


@dataclass
class _Groups:
    counts: dict[str, _Count] = field(default_factory=lambda: defaultdict(_Count))

    def add(self, key: str, ok: bool) -> None:
        self.counts[key].add(ok)

    def tallies(self) -> dict[str, Tally]:
        return {key: count.tally() for key, count in sorted(self.counts.items())}


def score(cases: Sequence[Case], decisions: Sequence[TriageDecision]) -> EvaluationReport:
    """The report for decisions already made, one per case in the same order."""
    if len(cases) != len(decisions):
        raise ValueError(f"{len(cases)} cases but {len(decisions)} decisions")
    overall = _Count()
    teams, priorities, tags = _Groups(), _Groups(), _Groups()
    confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failures: list[Failure] = []
    p0_cases = p0_missed = 0
    for case, decision in zip(cases, decisions, strict=True):
        expected = case.expected
        ok = passes(expected, decision)
        overall.add(ok)
        teams.add(expected.team if expected.escalate and expected.team else NO_ESCALATION, ok)
        priorities.add(
            expected.priority.value if expected.escalate and expected.priority else NO_ESCALATION,
            ok,
        )
        for tag in case.tags:
            tags.add(tag, ok)
        decided = label_of(decision.escalate, decision.team, decision.priority)
        confusion[expected.label][decided] += 1
        if expected.escalate and expected.priority is Priority.P0:
            p0_cases += 1
            p0_missed += p0_under(expected, decision)
        if not ok:
            failures.append(
                Failure(
                    id=case.id,
                    expected=expected,
                    got=Decided(
                        escalate=decision.escalate,
                        team=decision.team,
                        priority=decision.priority,
                        scenario=decision.scenario,
                    ),
                    tags=list(case.tags),
                )
            )
    whole = overall.tally()
    return EvaluationReport(
        accuracy=whole.accuracy,
        cases=whole.cases,
        correct=whole.correct,
        per_team=teams.tallies(),
        per_priority=priorities.tallies(),
        per_tag=tags.tallies(),
        confusion={row: dict(sorted(cells.items())) for row, cells in sorted(confusion.items())},
        p0_cases=p0_cases,
        p0_under=p0_missed,
        failures=failures,
    )


def evaluate(
    cases: Sequence[Case], decide: Callable[[EscalationPackage], TriageDecision]
) -> EvaluationReport:
    """Decide every case from its payload alone (as `starter.py decide` does), then score.
    `decide` is `lambda package: triage(package, policy)`."""
    return score(cases, [decide(EscalationPackage.from_payload(c.payload)) for c in cases])


# --- agents' corrections as cases -----------------------------------------------------------

AGENT_CORRECTION = "agent_correction"


def correction_case(
    correction: TriageCorrection, case_id: str, corrections: int = 1
) -> dict[str, Any]:
    """An agent's correction as a labelled case (the triage-dev format): the payload triage
    decided on, `expected` as the agent set it. `corrections` counts the episode's corrections
    (this one is its latest, the label that stands)."""
    c = correction
    triaged = label_of(True, c.triage_team, c.triage_priority)
    agent_set = label_of(True, c.team, c.priority)
    why = (
        f"Agent {c.agent or 'unknown'} corrected triage: {triaged} → {agent_set}"
        + (f" ({c.reason})" if c.reason else "")
        + f". Triage decided {triaged}"
        + (f", scenario {c.triage_scenario}" if c.triage_scenario else "")
        + "."
        + (f" Latest of {corrections} corrections." if corrections > 1 else "")
    )
    tags = [AGENT_CORRECTION]
    if c.triage_scenario:
        tags.append(c.triage_scenario)
    if c.team != c.triage_team:
        tags.append("team_changed")
    if c.priority != c.triage_priority:
        tags.append("priority_changed")
    return {
        "id": case_id,
        "payload": c.payload.to_json_dict(),
        "expected": {"escalate": True, "team": c.team, "priority": c.priority.value},
        "why": why,
        "tags": tags,
    }


# --- the readable report -------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _table(title: str, tallies: Iterable[tuple[str, Tally]]) -> list[str]:
    rows = list(tallies)
    width = max([len(title), *(len(key) + 2 for key, _ in rows)])
    lines = [f"{title:<{width}}  {'cases':>5}  {'correct':>7}  {'accuracy':>8}"]
    lines += [
        f"  {key:<{width - 2}}  {t.cases:>5}  {t.correct:>7}  {_percent(t.accuracy):>8}"
        for key, t in rows
    ]
    return lines


def worst_first(tallies: dict[str, Tally]) -> list[tuple[str, Tally]]:
    """Lowest accuracy first; among equals the larger group, then by name."""
    return sorted(
        tallies.items(),
        key=lambda item: (
            2.0 if item[1].accuracy is None else item[1].accuracy,
            -item[1].cases,
            item[0],
        ),
    )


def render_text(report: EvaluationReport, source: str = "", policy: str = "") -> str:
    """The report for a terminal: the headline first (so `| head` shows it), then per team,
    per priority, per tag (worst first), the confusion table and the failures."""
    where = f" on {source}" if source else ""
    lines = [
        f"Triage{where}: {report.correct}/{report.cases} correct ({_percent(report.accuracy)})",
        *([f"Policy: {policy}"] if policy else []),
        f"P0 under-prioritised (decided P2 or lower, or not escalated): "
        f"{report.p0_under} of {report.p0_cases} P0 case(s)",
        f"Failures: {len(report.failures)}",
        "",
    ]
    lines += _table("per team (expected)", report.per_team.items())
    lines.append("")
    lines += _table("per priority (expected)", report.per_priority.items())
    if report.per_tag:
        lines.append("")
        lines += _table("per tag (worst first)", worst_first(report.per_tag))
    lines += ["", "confusion (expected -> what triage decided)"]
    width = max((len(row) for row in report.confusion), default=0)
    for row, cells in report.confusion.items():
        total = sum(cells.values())
        ordered = sorted(cells.items(), key=lambda cell: (cell[0] != row, -cell[1], cell[0]))
        decided = ", ".join(f"{label} {n}" + (" ✓" if label == row else "") for label, n in ordered)
        lines.append(f"  {row:<{width}}  {total:>4}: {decided}")
    if report.failures:
        lines += ["", "failures"]
        for failure in report.failures:
            got = failure.got
            lines.append(
                f"  {failure.id}: expected {failure.expected.label}, got "
                f"{label_of(got.escalate, got.team, got.priority)}"
                + (f" (scenario {got.scenario})" if got.scenario else "")
                + (f"  [{', '.join(failure.tags)}]" if failure.tags else "")
            )
    return "\n".join(lines)
