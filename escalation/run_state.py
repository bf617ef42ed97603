"""The escalation run's state in one model: what the workflow knows about one episode of one
ticket, carried whole across continue-as-new. The rules that change it live in
escalation/handling.py; the workflow only orchestrates."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from escalation.messages import (
    EscalationStateName,
    PendingWork,
    ResolveInput,
)
from escalation.models import (
    EscalationPackage,
    Model,
    TicketPayload,
    TriageDecision,
    UtcDatetime,
)
from escalation.sla import AlertSpec, SlaClock, SlaRules


class Episode(Model):
    """One escalation of a ticket. A ticket escalated again (the helpdesk reopened it, the
    customer replied after the resolution) is a new episode linked to the previous one."""

    id: str  # the first run id of the workflow chain: unique, kept across continue-as-new
    number: int = 1
    previous_id: str | None = None
    reopened_because: str | None = None


class EarlierEpisodes(Model):
    """What the database knows about the ticket's earlier escalations (Step 1)."""

    count: int = 0
    latest_id: str | None = None


AcknowledgementState = Literal["pending", "sent", "refused", "gave_up", "cancelled"]


class Acknowledgement(Model):
    """Step 5's outcome. It runs alongside the escalation, so it is pending for a while."""

    state: AcknowledgementState = "pending"
    message_id: str | None = None
    reason: str | None = None  # why the customer was not notified

    @property
    def notified(self) -> bool | None:
        """True sent, False given up or refused, None while still on its way."""
        if self.state == "sent":
            return True
        return None if self.state == "pending" else False


class RunState(Model):
    """Everything one escalation run knows. The status query, the queue row and the log
    events are computed from it (escalation/handling.py)."""

    ticket_id: str
    workflow_id: str
    stage: EscalationStateName = EscalationStateName.RECEIVED
    episode: Episode
    gaps: list[str] = Field(default_factory=list)
    package: EscalationPackage | None = None
    decision: TriageDecision | None = None
    summary_markdown: str = ""
    quality_checks: dict[str, bool] = Field(default_factory=dict)
    acknowledgement: Acknowledgement = Field(default_factory=Acknowledgement)
    clock: SlaClock | None = None
    rules: SlaRules | None = None
    # Alerts fired and not yet delivered: a continued run delivers them again (same keys).
    undelivered: list[AlertSpec] = Field(default_factory=list)
    work: list[PendingWork] = Field(default_factory=list)
    resolution: ResolveInput | None = None
    resolved_at: UtcDatetime | None = None
    # The most recent webhook deliveries (and update ids) this episode acted on, oldest first,
    # at most handling.SEEN_DELIVERIES_KEPT: a delivery seen again is not applied twice, also
    # after continue-as-new (the list travels with the state).
    seen_deliveries: list[str] = Field(default_factory=list)
    runs: int = 1  # 1 + how many times the run continued as new

    def monitoring(self) -> tuple[SlaClock, SlaRules]:
        assert self.clock is not None and self.rules is not None, "monitoring not started"
        return self.clock, self.rules

    def escalation(self) -> tuple[EscalationPackage, TriageDecision]:
        assert self.package is not None and self.decision is not None, "not escalated yet"
        return self.package, self.decision

    def resolved_with(self) -> tuple[ResolveInput, datetime]:
        """The resolution and its time (only once resolved)."""
        assert self.resolution is not None and self.resolved_at is not None, "not resolved"
        return self.resolution, self.resolved_at

    @property
    def finished(self) -> bool:
        """No more messages will be taken: resolved, or kept with auto-response."""
        return self.resolution is not None or self.stage is EscalationStateName.AUTO_RESPONSE


class EscalationInput(Model):
    """The workflow's one input: the validated payload and when the service received it.

    `reopened_because` says why the intake starts the ticket again (a reply after the
    resolution). A run that continues as new carries its whole state in `resume`."""

    payload: TicketPayload
    received_at: UtcDatetime
    reopened_because: str | None = None
    # The webhook delivery that started this episode (a customer reply reopening the ticket):
    # the same delivery signalled to it later is ignored.
    delivery_id: str | None = None
    resume: RunState | None = None
    # Test hook: continue as new once history passes this many events (None: when Temporal
    # suggests it).
    continue_as_new_after_events: int | None = None
