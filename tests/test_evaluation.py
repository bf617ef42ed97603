"""Measuring triage on a labelled corpus (escalation/evaluation.py): parsing the triage-dev case
format with errors that name the line and the field, the README's scoring rule, the per-team /
per-priority / per-tag tallies, the confusion table, the P0 safety figure and the failures.

The decisions are made by hand here, so the figures do not move while triage improves; the
real triage on the shared development set is run by tests/test_cli.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from escalation.evaluation import (
    CorpusError,
    Expected,
    correction_case,
    evaluate,
    label_of,
    parse_cases,
    render_text,
    score,
    worst_first,
)
from escalation.messages import TriageCorrection
from escalation.models import EscalationPackage, Priority, TicketPayload, TriageDecision


def payload(ticket_id: str, text: str = "Something is wrong") -> dict[str, Any]:
    return {
        "ticket": {
            "id": ticket_id,
            "subject": text,
            "description": text,
            "urgency": "high",
            "createdAt": "2026-01-05T10:00:00Z",
            "customerEmail": "case@example.org",
        }
    }


def case(
    case_id: str,
    escalate: bool,
    team: str | None = None,
    priority: str | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": case_id,
        "payload": payload(f"E-{case_id}"),
        "expected": {"escalate": escalate, "team": team, "priority": priority},
        "why": f"hand-made {case_id}",
        "tags": tags or [],
    }


def corpus(*cases: dict[str, Any], blank_after: int | None = None) -> str:
    lines = [json.dumps(c) for c in cases]
    if blank_after is not None:
        lines.insert(blank_after, "   ")
    return "\n".join(lines) + "\n\n"


def decided(
    ticket_id: str,
    escalate: bool,
    team: str | None = None,
    priority: str | None = None,
    scenario: str | None = "feature_broken",
) -> TriageDecision:
    return TriageDecision(
        ticket_id=ticket_id,
        escalate=escalate,
        triggers=["urgency"] if escalate else [],
        team=team,  # type: ignore[arg-type]
        priority=Priority(priority) if priority else None,
        response_target_minutes=60 if escalate else None,
        scenario=scenario,
        sentiment="calm",
        time_sensitive=False,
        premium=False,
        reasons=[],
    )


# Six cases, each decided by hand:
#   c1 engineering/P0 → engineering/P0   pass
#   c2 engineering/P0 → engineering/P2   fail (team right, priority wrong; P0 under)
#   c3 billing/P0     → not escalated    fail (P0 under)
#   c4 legal/P1       → billing/P1       fail (team wrong)
#   c5 no escalation  → not escalated    pass
#   c6 no escalation  → product/P3       fail
#   c7 engineering/P0 → engineering/P1   fail, but P1 is not "P2 or lower"
SMALL = [
    case("c1", True, "engineering", "P0", ["outage"]),
    case("c2", True, "engineering", "P0", ["outage", "several_users_hint"]),
    case("c3", True, "billing", "P0", ["payment_outage", "several_users_hint"]),
    case("c4", True, "legal", "P1", ["privacy_gdpr"]),
    case("c5", False, tags=["no_escalation", "how_to"]),
    case("c6", False, tags=["no_escalation"]),
    case("c7", True, "engineering", "P0", ["outage"]),
]
DECISIONS = [
    decided("E-c1", True, "engineering", "P0", "site_down"),
    decided("E-c2", True, "engineering", "P2"),
    decided("E-c3", False, scenario=None),
    decided("E-c4", True, "billing", "P1", "payment_dispute"),
    decided("E-c5", False, scenario="complex_how_to"),
    decided("E-c6", True, "product", "P3", "feature_request"),
    decided("E-c7", True, "engineering", "P1", "data_loss_single_user"),
]


def test_a_small_corpus_is_scored_by_the_readme_rule() -> None:
    cases = parse_cases(corpus(*SMALL, blank_after=3), "small.jsonl")
    assert [c.id for c in cases] == ["c1", "c2", "c3", "c4", "c5", "c6", "c7"]
    assert [c.line for c in cases] == [1, 2, 3, 5, 6, 7, 8]  # line 4 is blank
    report = score(cases, DECISIONS).to_json_dict()

    assert (report["cases"], report["correct"]) == (7, 2)
    assert report["accuracy"] == pytest.approx(2 / 7)
    # expected team (no_escalation for the cases that should stay with auto-response)
    assert report["perTeam"] == {
        "billing": {"cases": 1, "correct": 0, "accuracy": 0.0},
        "engineering": {"cases": 3, "correct": 1, "accuracy": pytest.approx(1 / 3)},
        "legal": {"cases": 1, "correct": 0, "accuracy": 0.0},
        "no_escalation": {"cases": 2, "correct": 1, "accuracy": 0.5},
    }
    assert report["perPriority"] == {
        "P0": {"cases": 4, "correct": 1, "accuracy": 0.25},
        "P1": {"cases": 1, "correct": 0, "accuracy": 0.0},
        "no_escalation": {"cases": 2, "correct": 1, "accuracy": 0.5},
    }
    third = pytest.approx(1 / 3)
    assert report["perTag"]["outage"] == {"cases": 3, "correct": 1, "accuracy": third}
    assert report["perTag"]["several_users_hint"] == {"cases": 2, "correct": 0, "accuracy": 0.0}
    assert report["perTag"]["how_to"] == {"cases": 1, "correct": 1, "accuracy": 1.0}
    assert report["perTag"]["no_escalation"] == {"cases": 2, "correct": 1, "accuracy": 0.5}

    # expected label → decided label → count
    assert report["confusion"] == {
        "billing/P0": {"no_escalation": 1},
        "engineering/P0": {"engineering/P0": 1, "engineering/P1": 1, "engineering/P2": 1},
        "legal/P1": {"billing/P1": 1},
        "no_escalation": {"no_escalation": 1, "product/P3": 1},
    }
    # c2 (decided P2) and c3 (not escalated); c7's P1 is a miss but not "P2 or lower"
    assert (report["p0Cases"], report["p0Under"]) == (4, 2)

    assert [f["id"] for f in report["failures"]] == ["c2", "c3", "c4", "c6", "c7"]
    c4 = report["failures"][2]
    assert c4 == {
        "id": "c4",
        "expected": {"escalate": True, "team": "legal", "priority": "P1"},
        "got": {
            "escalate": True,
            "team": "billing",
            "priority": "P1",
            "scenario": "payment_dispute",
        },
        "tags": ["privacy_gdpr"],
    }


def test_team_and_priority_are_not_compared_when_nothing_should_escalate() -> None:
    [only] = parse_cases(corpus(case("n1", False)))
    odd = decided("E-n1", False, "engineering", "P1")  # a decision that kept odd leftovers
    assert score([only], [odd]).correct == 1


def test_the_readable_report_has_every_section_with_tags_worst_first() -> None:
    cases = parse_cases(corpus(*SMALL), "small.jsonl")
    text = render_text(score(cases, DECISIONS), "small.jsonl", "config/policy.toml")
    lines = text.splitlines()
    assert lines[0] == "Triage on small.jsonl: 2/7 correct (28.6%)"
    assert lines[1] == "Policy: config/policy.toml"
    assert lines[2] == (
        "P0 under-prioritised (decided P2 or lower, or not escalated): 2 of 4 P0 case(s)"
    )
    assert lines[3] == "Failures: 5"
    for heading in (
        "per team (expected)",
        "per priority (expected)",
        "per tag (worst first)",
        "confusion (expected -> what triage decided)",
        "failures",
    ):
        assert any(line.startswith(heading) for line in lines), heading
    tags = lines[lines.index(next(x for x in lines if x.startswith("per tag"))) + 1 :]
    order = [line.split()[0] for line in tags[:6]]
    # 0% first (the larger group first among equals), then 33%, 50%, 100%
    assert order == [
        "several_users_hint",
        "payment_outage",
        "privacy_gdpr",
        "outage",
        "no_escalation",
        "how_to",
    ]
    assert "  engineering/P0     3: engineering/P0 1 ✓, engineering/P1 1, engineering/P2 1" in lines
    assert "  billing/P0         1: no_escalation 1" in lines
    assert (
        "  c2: expected engineering/P0, got engineering/P2 (scenario feature_broken)"
        "  [outage, several_users_hint]"
    ) in lines
    assert (
        "  c3: expected billing/P0, got no_escalation  [payment_outage, several_users_hint]"
    ) in lines


def test_worst_first_orders_by_accuracy_then_size_then_name() -> None:
    report = score(parse_cases(corpus(*SMALL)), DECISIONS)
    assert [key for key, _ in worst_first(report.per_team)] == [
        "billing",
        "legal",
        "engineering",
        "no_escalation",
    ]


def test_evaluate_decides_each_payload_alone() -> None:
    cases = parse_cases(corpus(*SMALL))
    seen: list[EscalationPackage] = []
    by_ticket = {d.ticket_id: d for d in DECISIONS}

    def decide(package: EscalationPackage) -> TriageDecision:
        seen.append(package)
        return by_ticket[package.ticket.id]

    report = evaluate(cases, decide)
    assert [p.ticket.id for p in seen] == [f"E-c{n}" for n in range(1, 8)]
    assert seen[0].customer.account_status is None  # the payload alone, no database
    assert report.correct == 2


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "cases.jsonl:2: not valid JSON: "),
        ("[1, 2]", "cases.jsonl:2: a case is a JSON object, found list"),
        (json.dumps({**case("x", False), "id": ""}), "cases.jsonl:2: id: missing"),
        (json.dumps(case("ok", False)), "cases.jsonl:2: id: duplicate id 'ok' (first on line 1)"),
        (json.dumps({**case("x", False), "payload": None}), "cases.jsonl:2: payload: missing"),
        (
            json.dumps({**case("x", False), "payload": {"ticket": {"id": "T-1"}}}),
            "cases.jsonl:2: payload.ticket.subject: Field required; payload.ticket.urgency",
        ),
        (
            json.dumps({**case("x", True, "engineering", "P0"), "expected": None}),
            "cases.jsonl:2: expected: missing",
        ),
        (
            json.dumps(case("x", "yes", "engineering", "P0")),  # type: ignore[arg-type]
            "cases.jsonl:2: expected.escalate: must be true or false, found 'yes'",
        ),
        (
            json.dumps(case("x", True, "engineering", "P5")),
            "cases.jsonl:2: expected.priority: unknown priority 'P5' (known: P0, P1, P2, P3)",
        ),
        (json.dumps(case("x", True, "engineering")), "cases.jsonl:2: expected.priority: missing"),
        (
            json.dumps(case("x", True, "marketing", "P1")),
            "cases.jsonl:2: expected.team: unknown team 'marketing' (known: engineering, billing",
        ),
        (
            json.dumps(case("x", False, "legal")),
            "cases.jsonl:2: expected.team: must be null when escalate is false, found 'legal'",
        ),
        (json.dumps({**case("x", False), "why": 3}), "cases.jsonl:2: why: must be a string"),
        (
            json.dumps({**case("x", False), "tags": "outage"}),
            "cases.jsonl:2: tags: must be a list of non-empty strings",
        ),
    ],
)
def test_a_bad_line_is_an_error_naming_the_line_and_the_field(line: str, problem: str) -> None:
    text = json.dumps(case("ok", False)) + "\n" + line + "\n" + json.dumps(case("z", False))
    with pytest.raises(CorpusError) as error:
        parse_cases(text, "cases.jsonl")
    assert str(error.value).startswith(problem), str(error.value)


def test_an_empty_corpus_is_an_error() -> None:
    with pytest.raises(CorpusError, match=r"^empty\.jsonl: no cases"):
        parse_cases("\n  \n", "empty.jsonl")


def test_teams_come_from_the_policy() -> None:
    text = json.dumps(case("x", True, "marketing", "P1"))
    [only] = parse_cases(text, teams=["marketing", "engineering"])
    assert only.expected == Expected(escalate=True, team="marketing", priority=Priority.P1)
    assert label_of(True, "marketing", Priority.P1) == "marketing/P1"


def test_an_agent_correction_is_a_case_in_the_same_format() -> None:
    ticket = TicketPayload.model_validate(payload("T-corr"))
    correction = TriageCorrection(
        key="escalation-T-corr:run-1:correction:3",
        ticket_id="T-corr",
        workflow_id="escalation-T-corr",
        episode_id="run-1",
        run_id="run-1",
        sequence=3,
        payload=ticket,
        triage_team="engineering",
        triage_priority=Priority.P1,
        triage_scenario="data_loss_single_user",
        previous_team="billing",
        previous_priority=Priority.P1,
        team="billing",
        priority=Priority.P2,
        agent="ana",
        reason="a refund, not lost photos",
        corrected_at=datetime(2026, 1, 5, 11, tzinfo=UTC),
    )
    made = correction_case(correction, "correction-T-corr-7", corrections=2)
    assert made == {
        "id": "correction-T-corr-7",
        "payload": ticket.to_json_dict(),
        "expected": {"escalate": True, "team": "billing", "priority": "P2"},
        "why": "Agent ana corrected triage: engineering/P1 → billing/P2 (a refund, not lost "
        "photos). Triage decided engineering/P1, scenario data_loss_single_user. Latest of 2 "
        "corrections.",
        "tags": ["agent_correction", "data_loss_single_user", "team_changed", "priority_changed"],
    }
    [parsed] = parse_cases(json.dumps(made), "corrections.jsonl")  # it reads back as a case
    assert parsed.expected.label == "billing/P2" and parsed.payload == ticket
