"""Tickets in Spanish, German, French, Portuguese, Italian and Dutch are decided as their English
equivalents (issue 11, item 6). The tickets live in tests/data/languages/<code>.jsonl, each with
its English twin; both must give the expected scenario, team and priority."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from escalation.language import detect_language
from escalation.models import EscalationPackage, TriageDecision, parse_payload
from escalation.policy import Policy, load_policy
from escalation.triage import triage

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "languages"
LANGUAGES = ("es", "de", "fr", "pt", "it", "nl")


def _cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for code in LANGUAGES:
        path = DATA / f"{code}.jsonl"
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    cases.append(json.loads(line))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(ROOT / "config" / "policy.toml")


def _decide(policy: Policy, case: dict[str, Any], text: dict[str, str]) -> TriageDecision:
    payload = {
        "ticket": {
            "id": f"L-{case['id']}",
            "subject": text["subject"],
            "description": text["description"],
            "category": case.get("category"),
            "urgency": case.get("urgency", "medium"),
            "createdAt": "2025-05-06T10:00:00Z",
            "customerEmail": "kunde@example.com",
            "customerName": "Kim",
            "autoResponseEligible": case.get("autoResponseEligible", False),
            "kbMatched": case.get("kbMatched", False),
        },
        "customer": {
            "userId": "user_l",
            "accountStatus": "premium" if case.get("premium") else "standard",
        },
    }
    return triage(EscalationPackage.from_payload(parse_payload(payload)), policy)


def _outcome(decision: TriageDecision, expected: dict[str, Any]) -> tuple[object, ...]:
    if not expected["escalate"]:
        return (decision.escalate,)
    priority = decision.priority.value if decision.priority else None
    return (decision.escalate, decision.team, priority, decision.scenario)


def _wanted(expected: dict[str, Any]) -> tuple[object, ...]:
    if not expected["escalate"]:
        return (False,)
    return (True, expected["team"], expected["priority"], expected["scenario"])


def test_every_language_has_its_test_tickets() -> None:
    present = {case["language"] for case in CASES}
    assert present == set(LANGUAGES), f"missing: {sorted(set(LANGUAGES) - present)}"
    for code in LANGUAGES:
        assert sum(case["language"] == code for case in CASES) >= 20, code


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_a_ticket_is_decided_as_its_english_equivalent(
    policy: Policy, case: dict[str, Any]
) -> None:
    expected = case["expected"]
    english = _decide(policy, case, case["english"])
    translated = _decide(policy, case, case["ticket"])
    assert english.language == "en"
    assert translated.language == case["language"], translated.language
    assert _outcome(english, expected) == _wanted(expected), ("english", english.reasons)
    assert _outcome(translated, expected) == _wanted(expected), (
        translated.scenario,
        [(e.scenario, e.phrases) for e in translated.evidence],
        translated.reasons,
    )


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_the_language_is_detected(policy: Policy, case: dict[str, Any]) -> None:
    text = case["ticket"]["subject"] + "\n" + case["ticket"]["description"]
    assert detect_language(text, policy.compiled.languages) == case["language"]


@pytest.mark.parametrize(
    ("subject", "description", "stake"),
    [
        ("Fotos perdidas", "Han desaparecido las fotos de la boda de mi hermana.",
         "fotos de la boda"),
        ("Foto sparite", "Sono sparite le foto del matrimonio dal mio album.",
         "foto del matrimonio"),
        ("Photos disparues", "Les photos du mariage ont disparu de ma galerie.",
         "photos du mariage"),
    ],
)  # fmt: skip
def test_what_is_at_stake_reads_the_qualifier_after_the_noun(
    policy: Policy, subject: str, description: str, stake: str
) -> None:
    case = {"id": "stake", "urgency": "high"}
    decision = _decide(policy, case, {"subject": subject, "description": description})
    assert decision.at_stake == stake
    assert any("high emotional value" in reason for reason in decision.reasons)
