"""Inputs and results that cross the workflow boundary: the workflow's own input, its query
answer, its outcome, its signals (Contract 4) and the inputs of the step activities."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from escalation.models import (
    MAX_DESCRIPTION_CHARS,
    EscalationPackage,
    KnownSolution,
    Model,
    Priority,
    TicketPayload,
    TriageDecision,
    UtcDatetime,
)
from escalation.quality import QualityReport
from escalation.sla import AlertRecord

# Caps on what agents and the ticketing system send in messages: every message is a Temporal
# payload kept in the history (and carried across continue-as-new), far below its 2 MB limit.
MAX_AGENT_NAME_CHARS = 200  # an agent's name
MAX_NOTE_CHARS = 10_000  # a note, a question, a reason, a resolution
MAX_COMMENT_CHARS = 2_000  # a CSAT comment
AgentName = Annotated[str, Field(max_length=MAX_AGENT_NAME_CHARS)]
Note = Annotated[str, Field(max_length=MAX_NOTE_CHARS)]


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
    """One workflow id per ticket: one run at a time; each escalation episode is a new run."""
    return f"escalation-{ticket_id}"


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


class EscalationStatus(Model):
    """The `status` query answer: enough for ops and the CLI without opening the history."""

    ticket_id: str
    workflow_id: str
    state: EscalationStateName
    # The escalation episode: its id (the first run id), its number for this ticket, and the
    # episode it reopens, if any.
    episode_id: str | None = None
    episode: int = 1
    previous_episode_id: str | None = None
    reopened_because: str | None = None
    team: str | None = None
    priority: Priority | None = None
    scenario: str | None = None
    triggers: list[str] = Field(default_factory=list)
    escalated_at: UtcDatetime | None = None
    response_due_at: UtcDatetime | None = None
    # Step 5 runs alongside the escalation: False until the acknowledgement is sent.
    # `acknowledgement` says where it is (pending | sent | refused | gave_up | cancelled) and
    # `customer_notice` why the customer could not be notified.
    customer_notified: bool = False
    acknowledgement: str = "pending"
    customer_notice: str | None = None
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
    # The workflow messages an agent may still send (a resolved ticket takes none).
    actions: list[str] = Field(default_factory=list)


class EscalationOutcome(Model):
    """What the run ended with: 'auto-response' or 'resolved'."""

    ticket_id: str
    outcome: str
    episode_id: str | None = None
    team: str | None = None
    priority: Priority | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    resolved_at: UtcDatetime | None = None
    # Until when a customer reply reopens the ticket as a new episode.
    reopen_until: UtcDatetime | None = None


class ResolveInput(Model):
    """`resolved` signal / `resolve` update: completes the workflow."""

    agent: AgentName
    resolution: Note
    escalation_necessary: bool = True


class CustomerReply(Model):
    """`customer_replied` signal, forwarded by the ticketing system."""

    text: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)]
    at: UtcDatetime | None = None
    # The helpdesk's `webhook-id` of the delivery: a signal sent again for the same delivery
    # (the sender's retry after an answer was lost) is ignored by the workflow.
    delivery_id: Annotated[str, Field(max_length=256)] | None = None


class SatisfactionInput(Model):
    """`satisfaction_changed` signal / `set_satisfaction` update: a CSAT score 1–5."""

    score: int
    comment: Annotated[str, Field(max_length=MAX_COMMENT_CHARS)] | None = None


class AgentResponse(Model):
    """`agent_responded` signal / `respond` update: the first one stops the response clock."""

    agent: AgentName
    note: Note | None = None


class WaitOnCustomer(Model):
    """`waiting_on_customer` signal / `wait_on_customer` update: pauses the resolution clock
    until the customer replies."""

    agent: AgentName
    question: Note | None = None


class Reassign(Model):
    """`reassigned` signal / `reassign` update: a new team and/or a new priority, with the
    deadlines recomputed (a new team restarts the response clock and is alerted). Either may
    be left out to keep the current one; a request that changes neither is refused."""

    team: Annotated[str, Field(max_length=MAX_AGENT_NAME_CHARS)] | None = None
    reason: Note | None = None
    agent: AgentName | None = None
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
    """Step 5: the acknowledgement; the idempotency key is derived from ticket and episode."""

    package: EscalationPackage
    decision: TriageDecision
    episode_id: str


class NotificationResult(Model):
    idempotency_key: str
    message_id: str
    recipient: str
    subject: str
    already_sent: bool


class AssignmentInput(Model):
    """Step 6: the seed's support_assignments row."""

    ticket_id: str
    episode_id: str
    episode_number: int = 1
    previous_episode_id: str | None = None
    reopened_because: str | None = None
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
    episode_id: str | None = None
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
    episode_id: str | None = None


class AlertResult(Model):
    key: str
    delivered: list[str] = Field(default_factory=list)  # channels sent by this attempt
    already_sent: list[str] = Field(default_factory=list)  # channels a previous attempt sent


class QueueEntry(Model):
    """Step 9: what the agents' queue shows for one escalation."""

    ticket_id: str
    episode_id: str
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
    customer_notified: bool | None = None
    customer_notice: str | None = None
    paused: bool = False
    resolved_at: datetime | None = None
    resolution: str | None = None


class EscalationRecord(Model):
    """Steps 6, 7 and 9 written in one transaction: the assignment, its log event, its row in
    the agents' queue."""

    assignment: AssignmentInput
    log: LogEntry
    queue: QueueEntry


class ResolutionRecord(Model):
    """De-escalation: what the workflow knows about a resolution, for `close_ticket`."""

    ticket_id: str
    episode_id: str
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
    episode_id: str
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
    episode_id: str


__all__ = [
    "AgentResponse",
    "AlertInput",
    "AlertResult",
    "AssignmentInput",
    "ClosedTicket",
    "CustomerReply",
    "EscalationOutcome",
    "EscalationRecord",
    "EscalationStateName",
    "EscalationStatus",
    "KnownSolutionAnswer",
    "LogEntry",
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
