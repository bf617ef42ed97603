"""Inputs and results that cross the workflow boundary: the workflow's own input, its query
answer, its outcome, its signals (Contract 4) and the inputs of the step activities."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from escalation.models import (
    EscalationPackage,
    Model,
    Priority,
    TicketPayload,
    TriageDecision,
    UtcDatetime,
)
from escalation.quality import QualityReport


class EscalationStateName(StrEnum):
    """What the run is doing; kept in the `EscalationState` search attribute."""

    RECEIVED = "received"
    AUTO_RESPONSE = "auto_response"
    ESCALATED = "escalated"
    RESPONDED = "responded"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    BREACHED = "breached"
    RESOLVED = "resolved"


def workflow_id_for(ticket_id: str) -> str:
    """One workflow per ticket: starting the same ticket twice finds the same run."""
    return f"escalation-{ticket_id}"


class EscalationInput(Model):
    """The workflow's one input: the validated payload and when the service received it."""

    payload: TicketPayload
    received_at: UtcDatetime


class EscalationStatus(Model):
    """The `status` query answer: enough for ops and the CLI without opening the history."""

    ticket_id: str
    workflow_id: str
    state: EscalationStateName
    team: str | None = None
    priority: Priority | None = None
    scenario: str | None = None
    triggers: list[str] = Field(default_factory=list)
    escalated_at: UtcDatetime | None = None
    response_due_at: UtcDatetime | None = None
    customer_notified: bool = False
    quality_checks: dict[str, bool] = Field(default_factory=dict)
    gaps: list[str] = Field(default_factory=list)
    summary_markdown: str | None = None
    resolved_at: UtcDatetime | None = None
    resolution: str | None = None


class EscalationOutcome(Model):
    """What the run ended with: 'auto-response' or 'resolved'."""

    ticket_id: str
    outcome: str
    team: str | None = None
    priority: Priority | None = None
    resolved_by: str | None = None
    resolution: str | None = None


class ResolveInput(Model):
    """`resolved` signal: the agent's resolution, and whether escalating was necessary."""

    agent: str = Field(min_length=1)
    resolution: str = Field(min_length=1)
    escalation_necessary: bool = True


# --- step activity inputs ----------------------------------------------------------------


class SummaryInput(Model):
    package: EscalationPackage
    decision: TriageDecision


class NotifyCustomerInput(Model):
    """Step 5: the acknowledgement; the idempotency key is derived from the ticket id."""

    package: EscalationPackage
    decision: TriageDecision


class NotificationResult(Model):
    idempotency_key: str
    message_id: str
    recipient: str
    subject: str
    already_sent: bool


class AssignmentInput(Model):
    """Step 6: the seed's support_assignments row."""

    ticket_id: str
    workflow_id: str
    team: str
    priority: Priority
    escalated_at: UtcDatetime
    escalation_reason: str
    expected_response_minutes: int


class LogEntry(Model):
    """Step 7: one escalation_log event; `key` makes a retried write a no-op."""

    key: str
    ticket_id: str
    action: str
    event: dict[str, Any]


class QueueEntry(Model):
    """Step 9: what the agents' queue shows for one escalation."""

    ticket_id: str
    state: EscalationStateName
    subject: str
    customer_name: str | None
    premium: bool
    time_sensitive: bool
    sentiment: str
    scenario: str | None
    sla_due_at: datetime | None
    summary_markdown: str


__all__ = [
    "AssignmentInput",
    "EscalationInput",
    "EscalationOutcome",
    "EscalationStateName",
    "EscalationStatus",
    "LogEntry",
    "NotificationResult",
    "NotifyCustomerInput",
    "QualityReport",
    "QueueEntry",
    "ResolveInput",
    "SummaryInput",
    "workflow_id_for",
]
