"""Inputs and results that cross the workflow boundary: the workflow's own input, its query
answer, its outcome, its signals (Contract 4) and the inputs of the step activities."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from escalation.models import (
    EscalationPackage,
    KnownSolution,
    Model,
    Priority,
    TicketPayload,
    TriageDecision,
    UtcDatetime,
)
from escalation.quality import QualityReport
from escalation.sla import AlertRecord, SlaClock, SlaRules


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
    """The workflow's one input: the validated payload and when the service received it.

    A run that continues as new carries `resume`, and skips straight to monitoring."""

    payload: TicketPayload
    received_at: UtcDatetime
    resume: MonitoringSnapshot | None = None
    # Test hook: continue as new once history passes this many events (None: when Temporal
    # suggests it).
    continue_as_new_after_events: int | None = None


class TriageCorrection(Model):
    """An agent's correction of triage — a reassign to another team, a priority change — kept
    as a labelled example (`triage_corrections`): the payload triage decided on, what it
    decided, and what the agent set. `key` (workflow, episode, sequence) makes it one row
    however often the write is retried or replayed."""

    key: str
    ticket_id: str
    workflow_id: str
    # The escalation episode: the first run's id, kept across continue-as-new.
    episode_id: str
    run_id: str
    sequence: int
    # Contract 1 as triage saw it: the intake payload with the context Step 1 gathered.
    payload: TicketPayload
    triage_team: str | None
    triage_priority: Priority | None
    triage_scenario: str | None
    previous_team: str
    previous_priority: Priority
    team: str
    priority: Priority
    agent: str | None = None
    reason: str | None = None
    corrected_at: UtcDatetime


class PendingWork(Model):
    """Something a message handler left for the loop: a log event to write (with the agent's
    correction it records, if any), or a customer reply to assess. Carried across
    continue-as-new, so nothing is lost in between."""

    kind: Literal["log", "assess_reply"]
    action: str = ""
    event: dict[str, Any] = Field(default_factory=dict)
    key: str = ""
    text: str = ""
    correction: TriageCorrection | None = None


class MonitoringSnapshot(Model):
    """Everything a continued run needs to go on watching the SLA."""

    package: EscalationPackage
    decision: TriageDecision
    summary_markdown: str
    clock: SlaClock
    rules: SlaRules
    status: EscalationStatus
    work: list[PendingWork] = Field(default_factory=list)


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
    # Step 8 — the SLA clock, for ops and the CLI.
    response_warning_at: UtcDatetime | None = None
    manager_escalation_at: UtcDatetime | None = None
    next_daily_check_at: UtcDatetime | None = None
    no_progress_followup_at: UtcDatetime | None = None
    sla_due_at: UtcDatetime | None = None
    responded_at: UtcDatetime | None = None
    responded_by: str | None = None
    paused: bool = False
    paused_seconds: float = 0.0
    last_customer_activity_at: UtcDatetime | None = None
    last_agent_activity_at: UtcDatetime | None = None
    satisfaction: int | None = None
    customer_replies: int = 0
    alerts: list[AlertRecord] = Field(default_factory=list)
    runs: int = 1  # 1 + how many times the run continued as new


class EscalationOutcome(Model):
    """What the run ended with: 'auto-response' or 'resolved'."""

    ticket_id: str
    outcome: str
    team: str | None = None
    priority: Priority | None = None
    resolved_by: str | None = None
    resolution: str | None = None


class ResolveInput(Model):
    """`resolved` signal / `resolve` update: completes the workflow."""

    agent: str
    resolution: str
    escalation_necessary: bool = True


class CustomerReply(Model):
    """`customer_replied` signal, forwarded by the ticketing system."""

    text: str
    at: UtcDatetime | None = None


class SatisfactionInput(Model):
    """`satisfaction_changed` signal / `set_satisfaction` update: a CSAT score 1–5."""

    score: int
    comment: str | None = None


class AgentResponse(Model):
    """`agent_responded` signal / `respond` update: the first one stops the response clock."""

    agent: str
    note: str | None = None


class WaitOnCustomer(Model):
    """`waiting_on_customer` signal / `wait_on_customer` update: pauses the resolution clock
    until the customer replies."""

    agent: str
    question: str | None = None


class Reassign(Model):
    """`reassigned` signal / `reassign` update: a new team and/or a new priority, with the
    deadlines recomputed (a new team restarts the response clock and is alerted). Either may
    be left out to keep the current one; a request that changes neither is refused."""

    team: str | None = None
    reason: str | None = None
    agent: str | None = None
    priority: Priority | None = None


class ReplyAssessment(Model):
    """What a customer reply says about the ticket: how they feel, and a priority lift."""

    sentiment: str
    angry: bool
    lift_to: Priority | None = None


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
    expected_response_seconds: int


class LogEntry(Model):
    """Step 7: one escalation_log event; `key` makes a retried write a no-op. An agent's
    correction of triage is written with its event, in the same transaction."""

    key: str
    ticket_id: str
    action: str
    event: dict[str, Any]
    correction: TriageCorrection | None = None


class AlertInput(Model):
    """One alert to a team, its manager or the assigned agent (Step 8, SLA monitoring).

    `key` is derived from the ticket, the alert kind and the clock's state, so the same alert
    computed again (retry, replay, continue-as-new) has the same key and is delivered once.
    """

    key: str
    ticket_id: str
    kind: str  # immediate | response_warning | response_breach | customer_replied | ...
    audience: Literal["team", "manager", "agent"] = "team"
    team: str
    priority: Priority
    agent: str | None = None
    headline: str
    details: dict[str, str] = Field(default_factory=dict)
    workflow_id: str


class AlertResult(Model):
    key: str
    delivered: list[str] = Field(default_factory=list)  # channels sent by this attempt
    already_sent: list[str] = Field(default_factory=list)  # channels a previous attempt sent


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
    team: str | None = None
    priority: Priority | None = None


class EscalationRecord(Model):
    """Steps 6, 7 and 9 written in one transaction: the assignment, its log event, its row in
    the agents' queue."""

    assignment: AssignmentInput
    log: LogEntry
    queue: QueueEntry


class ResolutionRecord(Model):
    """De-escalation: what the workflow knows about a resolution, for `close_ticket`."""

    ticket_id: str
    agent: str
    resolution: str
    escalation_necessary: bool
    team: str
    priority: Priority
    scenario: str | None
    error_code: str | None
    ticket_text: str  # subject and description: where the pattern's symptoms come from
    escalated_at: UtcDatetime
    responded_at: UtcDatetime | None
    resolved_at: UtcDatetime
    paused_seconds: float
    response_target_seconds: int


class ClosedTicket(Model):
    """`close_ticket`'s answer: the resolution's timing and what was learned from it."""

    resolution_seconds: float
    after_response_seconds: float | None
    quick: bool
    quick_threshold_seconds: float
    pattern_id: int | None = None
    pattern_status: str | None = None
    pattern_occurrences: int = 0
    # The ticketing system wants the status back (a webhook is configured).
    notify_ticketing_system: bool = False


class TicketStatusUpdate(Model):
    """The signed outgoing webhook that tells the ticketing system the ticket is resolved."""

    ticket_id: str
    status: str
    resolved_at: UtcDatetime
    resolved_by: str
    resolution: str
    team: str
    priority: Priority


class KnownSolutionAnswer(Model):
    """Auto-response with an approved known solution: the customer gets its answer."""

    package: EscalationPackage
    solution: KnownSolution


__all__ = [
    "AgentResponse",
    "AlertInput",
    "AlertResult",
    "AssignmentInput",
    "ClosedTicket",
    "CustomerReply",
    "EscalationInput",
    "EscalationOutcome",
    "EscalationRecord",
    "EscalationStateName",
    "EscalationStatus",
    "KnownSolutionAnswer",
    "LogEntry",
    "MonitoringSnapshot",
    "NotificationResult",
    "NotifyCustomerInput",
    "PendingWork",
    "QualityReport",
    "QueueEntry",
    "Reassign",
    "ReplyAssessment",
    "ResolutionRecord",
    "ResolveInput",
    "SatisfactionInput",
    "SummaryInput",
    "TicketStatusUpdate",
    "TriageCorrection",
    "WaitOnCustomer",
    "workflow_id_for",
]


MonitoringSnapshot.model_rebuild()
EscalationInput.model_rebuild()
