"""The triage quality bar of issue 11 on the shared development set: at least 95% of tickets
decided exactly right, no ticket whose right priority is P0 decided P2 or lower (or left with
auto-response), and at least 90% within every tag that has four cases or more. The same bar on
our own set of 60 tickets written blind to the code (tests/data/triage/blind.jsonl: it scored
46/60 before the fixes its misses led to, so it is a regression set now, not a held-out one)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from escalation.evaluation import EvaluationReport, evaluate, parse_cases
from escalation.policy import load_policy
from escalation.triage import triage

ROOT = Path(__file__).resolve().parent.parent
DEV_CASES = Path(
    os.environ.get("TRIAGE_DEV_CASES") or ROOT.parent / "shared" / "triage-dev" / "cases.jsonl"
)


@pytest.fixture(scope="module")
def report() -> EvaluationReport:
    if not DEV_CASES.is_file():
        pytest.skip(f"no development set at {DEV_CASES} (set TRIAGE_DEV_CASES)")
    cases = parse_cases(DEV_CASES.read_text(encoding="utf-8"), str(DEV_CASES))
    policy = load_policy(ROOT / "config" / "policy.toml")
    return evaluate(cases, lambda package: triage(package, policy))


def test_at_least_95_percent_of_the_development_set_is_decided_exactly(
    report: EvaluationReport,
) -> None:
    missed = [(f.id, f.expected.label, f.got.scenario) for f in report.failures]
    assert report.accuracy is not None and report.accuracy >= 0.95, missed


def test_no_p0_ticket_is_decided_below_p1(report: EvaluationReport) -> None:
    assert report.p0_under == 0


def test_every_tag_with_four_cases_is_at_least_90_percent(report: EvaluationReport) -> None:
    weak = {
        tag: tally.accuracy
        for tag, tally in report.per_tag.items()
        if tally.cases >= 4 and (tally.accuracy or 0) < 0.9
    }
    assert not weak


BLIND = Path(__file__).resolve().parent / "data" / "triage" / "blind.jsonl"


def test_the_blind_set_meets_the_same_bar() -> None:
    cases = parse_cases(BLIND.read_text(encoding="utf-8"), str(BLIND))
    policy = load_policy(ROOT / "config" / "policy.toml")
    report = evaluate(cases, lambda package: triage(package, policy))
    missed = [(f.id, f.expected.label, f.got.scenario) for f in report.failures]
    assert report.accuracy is not None and report.accuracy >= 0.95, missed
    assert report.p0_under == 0
