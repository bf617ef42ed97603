"""Build escalation packages and triage decisions from a few words, for the triage tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from escalation.models import EscalationPackage, KnownSolution, TriageDecision, parse_payload
from escalation.policy import Policy, load_policy
from escalation.triage import triage

POLICY_PATH = Path(__file__).resolve().parents[2] / "config" / "policy.toml"


def default_policy() -> Policy:
    return load_policy(POLICY_PATH)


def package(
    subject: str,
    description: str = "",
    *,
    category: str | None = None,
    urgency: str = "medium",
    status: str = "standard",
    auto_response_eligible: bool = False,
    kb_matched: bool = False,
    affected_users: int | None = None,
    recent_reports: int = 0,
    error_code: str | None = None,
    known_solutions: list[KnownSolution] | None = None,
) -> EscalationPackage:
    payload: dict[str, Any] = {
        "ticket": {
            "id": "T-2001",
            "subject": subject,
            "description": description,
            "category": category,
            "urgency": urgency,
            "createdAt": "2025-03-04T09:30:00Z",
            "customerEmail": "customer@example.com",
            "customerName": "Alex",
            "autoResponseEligible": auto_response_eligible,
            "kbMatched": kb_matched,
        },
        "customer": {"userId": "user_2", "accountStatus": status, "accountAge": "3 years"},
        "history": {"previousTickets": 0},
        "technicalContext": {"affectedUsers": affected_users, "errorCode": error_code},
    }
    return EscalationPackage.from_payload(
        parse_payload(payload),
        recent_reports=recent_reports,
        known_solutions=known_solutions or [],
    )


def decide(policy: Policy, subject: str, description: str = "", **kw: Any) -> TriageDecision:
    return triage(package(subject, description, **kw), policy)


def quiet(policy: Policy, subject: str, description: str = "", **kw: Any) -> TriageDecision:
    """A ticket the helpdesk deems auto-answerable: only what the words say can escalate it."""
    kw.setdefault("urgency", "low")
    return decide(policy, subject, description, auto_response_eligible=True, kb_matched=True, **kw)
