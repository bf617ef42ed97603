"""The seed's "Quality Checks": eight questions answered before the escalation is delivered.

A failed check never stops an escalation (losing the ticket is worse than escalating without
context); it is recorded in the log and flagged in the summary so the agent knows what is missing.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from escalation.models import TEAMS, EscalationPackage, TriageDecision

QUALITY_CHECKS: tuple[str, ...] = (
    "all_context_gathered",
    "customer_sentiment_assessed",
    "previous_tickets_reviewed",
    "technical_details_included",
    "suggested_actions_provided",
    "customer_notified",
    "priority_correctly_set",
    "correct_team_assigned",
)

_NUMBERED_ACTION = re.compile(r"^\s*1\.\s+\S", re.MULTILINE)


class QualityReport(BaseModel):
    checks: dict[str, bool] = Field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    @property
    def failed(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]


def run_quality_checks(
    package: EscalationPackage,
    decision: TriageDecision,
    summary_markdown: str,
    customer_notified: bool,
) -> QualityReport:
    technical = package.technical_context
    suggested = summary_markdown.partition("## Suggested Actions")[2].partition("\n## ")[0]
    checks = {
        "all_context_gathered": not package.gaps,
        "customer_sentiment_assessed": bool(decision.sentiment),
        "previous_tickets_reviewed": package.history.previous_tickets is not None,
        "technical_details_included": any(
            value is not None
            for value in (technical.error_code, technical.browser_info, technical.upload_status)
        ),
        "suggested_actions_provided": bool(_NUMBERED_ACTION.search(suggested)),
        "customer_notified": customer_notified,
        "priority_correctly_set": decision.priority is not None
        and (decision.response_target_minutes or 0) > 0,
        "correct_team_assigned": decision.team in TEAMS,
    }
    return QualityReport(checks=checks)
