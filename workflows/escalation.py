"""The escalation workflow: one durable run per ticket, named after the seed's steps.

Triggers → Step 1 package → Steps 2–3 route and priority → Step 4 summary → Step 5 notify the
customer → quality checks → Step 6 assignment → Step 7 log → Step 9 dashboard → wait for a human
to resolve. Every I/O step is an activity; this file only decides and waits.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.assignment import AssignmentActivities
    from activities.dashboard import DashboardActivities
    from activities.log import LogActivities
    from activities.notify import NotifyActivities
    from activities.package import PackageActivities
    from activities.summary import SummaryActivities
    from activities.triage import TriageActivities
    from escalation import search_attributes as sa
    from escalation.messages import (
        AssignmentInput,
        EscalationInput,
        EscalationOutcome,
        EscalationStateName,
        EscalationStatus,
        LogEntry,
        NotificationResult,
        NotifyCustomerInput,
        QueueEntry,
        ResolveInput,
        SummaryInput,
    )
    from escalation.models import EscalationPackage, TriageDecision
    from escalation.quality import QualityReport, run_quality_checks

# I/O steps retry with backoff until they succeed: a ticket is never dropped because SMTP or
# PostgreSQL blinked; the failure is visible on the pending activity in the Temporal UI.
IO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
IO_TIMEOUT = timedelta(seconds=30)
PURE_TIMEOUT = timedelta(seconds=10)


@workflow.defn
class EscalationWorkflow:
    """Decides whether humans must take over a ticket, hands it to them, and waits."""

    @workflow.init
    def __init__(self, input: EscalationInput) -> None:
        self._status = EscalationStatus(
            ticket_id=input.payload.ticket.id,
            workflow_id=workflow.info().workflow_id,
            state=EscalationStateName.RECEIVED,
        )
        self._resolution: ResolveInput | None = None

    @workflow.run
    async def run(self, input: EscalationInput) -> EscalationOutcome:
        package = await self.gather_escalation_package(input)
        decision = await self.triage(package)
        if not decision.escalate:
            return await self.keep_with_auto_response(package, decision)

        self._status.team = decision.team
        self._status.priority = decision.priority
        self._status.escalated_at = workflow.now()
        self._status.response_due_at = self._status.escalated_at + timedelta(
            minutes=decision.response_target_minutes or 0
        )
        self.update_search_attributes(package, decision)

        summary = await self.write_summary(package, decision)
        notification = await self.notify_customer(package, decision)
        quality = run_quality_checks(package, decision, summary, customer_notified=True)
        self._status.quality_checks = quality.checks
        await self.create_assignment(package, decision)
        await self.log_escalation(input, package, decision, notification, quality)
        await self.update_dashboard(package, decision, summary, EscalationStateName.ESCALATED)
        self._set_state(EscalationStateName.ESCALATED)
        workflow.set_current_details(
            f"Escalated to **{decision.team}** as **{decision.priority}**; waiting for a human "
            f"response by {self._status.response_due_at:%Y-%m-%d %H:%M} UTC."
        )

        await workflow.wait_condition(
            lambda: self._resolution is not None and workflow.all_handlers_finished()
        )
        return await self.finish_resolved(package, decision, summary)

    # --- messages (Contract 4) -----------------------------------------------------------

    @workflow.signal
    def resolved(self, input: ResolveInput) -> None:
        """An agent resolved the ticket: completes the workflow. A second resolve is ignored."""
        if self._resolution is None:
            self._resolution = input

    @workflow.query
    def status(self) -> EscalationStatus:
        return self._status

    # --- steps ---------------------------------------------------------------------------

    async def gather_escalation_package(self, input: EscalationInput) -> EscalationPackage:
        """Step 1."""
        workflow.set_current_details("Step 1: gathering the escalation package.")
        package = await workflow.execute_activity_method(
            PackageActivities.gather_escalation_package,
            input,
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 1: gather customer, history and technical context",
        )
        self._status.gaps = package.gaps
        return package

    async def triage(self, package: EscalationPackage) -> TriageDecision:
        """Triggers, Step 2 (route) and Step 3 (priority): pure, so a local activity."""
        decision = await workflow.execute_local_activity_method(
            TriageActivities.triage_ticket,
            package,
            start_to_close_timeout=PURE_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Steps 2-3: triggers, route, priority",
        )
        self._status.scenario = decision.scenario
        self._status.triggers = list(decision.triggers)
        return decision

    async def keep_with_auto_response(
        self, package: EscalationPackage, decision: TriageDecision
    ) -> EscalationOutcome:
        """No trigger fired: the ticket stays with auto-response, recorded for the metrics."""
        self._set_state(EscalationStateName.AUTO_RESPONSE)
        await self._log(
            "auto_response",
            {
                "ticketId": package.ticket.id,
                "action": "auto_response",
                "timestamp": workflow.now().isoformat(),
                "triggers": [],
                "scenario": decision.scenario,
                "reasons": decision.reasons,
            },
        )
        return EscalationOutcome(ticket_id=package.ticket.id, outcome="auto-response")

    async def write_summary(self, package: EscalationPackage, decision: TriageDecision) -> str:
        """Step 4."""
        summary = await workflow.execute_local_activity_method(
            SummaryActivities.write_summary,
            SummaryInput(package=package, decision=decision),
            start_to_close_timeout=PURE_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 4: write the escalation summary",
        )
        self._status.summary_markdown = summary
        return summary

    async def notify_customer(
        self, package: EscalationPackage, decision: TriageDecision
    ) -> NotificationResult:
        """Step 5."""
        result = await workflow.execute_activity_method(
            NotifyActivities.notify_customer,
            NotifyCustomerInput(package=package, decision=decision),
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 5: acknowledge the customer by email",
        )
        self._status.customer_notified = True
        return result

    async def create_assignment(self, package: EscalationPackage, decision: TriageDecision) -> None:
        """Step 6."""
        assert decision.team and decision.priority and self._status.escalated_at
        await workflow.execute_activity_method(
            AssignmentActivities.create_assignment,
            AssignmentInput(
                ticket_id=package.ticket.id,
                workflow_id=self._status.workflow_id,
                team=decision.team,
                priority=decision.priority,
                escalated_at=self._status.escalated_at,
                escalation_reason=decision.headline or (decision.reasons or ["escalated"])[0],
                expected_response_minutes=decision.response_target_minutes or 0,
            ),
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 6: create the support assignment",
        )

    async def log_escalation(
        self,
        input: EscalationInput,
        package: EscalationPackage,
        decision: TriageDecision,
        notification: NotificationResult,
        quality: QualityReport,
    ) -> None:
        """Step 7: the seed's log fields, plus what ops and the metrics need."""
        now = workflow.now()
        triage_seconds = max(0, round((now - input.received_at).total_seconds()))
        await self._log(
            "escalated",
            {
                "ticketId": package.ticket.id,
                "action": "escalated",
                "timestamp": now.isoformat(),
                "escalatedTo": decision.team,
                "priority": decision.priority,
                "reason": decision.headline,
                "agentTriageTime": f"{triage_seconds} seconds",
                "customerNotified": True,
                "notificationMessageId": notification.message_id,
                "triggers": list(decision.triggers),
                "scenario": decision.scenario,
                "responseTargetMinutes": decision.response_target_minutes,
                "slaDueAt": self._status.response_due_at.isoformat()
                if self._status.response_due_at
                else None,
                "ticketCreatedAt": package.ticket.created_at.isoformat(),
                "receivedAt": input.received_at.isoformat(),
                "qualityChecks": quality.checks,
                "qualityPassed": quality.passed,
                "missingContext": package.gaps,
            },
        )

    async def update_dashboard(
        self,
        package: EscalationPackage,
        decision: TriageDecision,
        summary: str,
        state: EscalationStateName,
    ) -> None:
        """Step 9: the agents' queue row (the search attributes are kept by _set_state)."""
        await workflow.execute_activity_method(
            DashboardActivities.update_dashboard,
            QueueEntry(
                ticket_id=package.ticket.id,
                state=state,
                subject=package.ticket.subject,
                customer_name=package.ticket.customer_name,
                premium=decision.premium,
                time_sensitive=decision.time_sensitive,
                sentiment=decision.sentiment,
                scenario=decision.scenario,
                sla_due_at=self._status.response_due_at,
                summary_markdown=summary,
            ),
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 9: put the escalation on the agents' queue",
        )

    async def finish_resolved(
        self, package: EscalationPackage, decision: TriageDecision, summary: str
    ) -> EscalationOutcome:
        resolution = self._resolution
        assert resolution is not None
        self._status.resolved_at = workflow.now()
        self._status.resolution = resolution.resolution
        await self._log(
            "resolved",
            {
                "ticketId": package.ticket.id,
                "action": "resolved",
                "timestamp": self._status.resolved_at.isoformat(),
                "resolvedBy": resolution.agent,
                "resolution": resolution.resolution,
                "escalationNecessary": resolution.escalation_necessary,
            },
        )
        await self.update_dashboard(package, decision, summary, EscalationStateName.RESOLVED)
        self._set_state(EscalationStateName.RESOLVED)
        return EscalationOutcome(
            ticket_id=package.ticket.id,
            outcome="resolved",
            team=decision.team,
            priority=decision.priority,
            resolved_by=resolution.agent,
            resolution=resolution.resolution,
        )

    # --- helpers -------------------------------------------------------------------------

    def update_search_attributes(
        self, package: EscalationPackage, decision: TriageDecision
    ) -> None:
        """What ops filter on in the Temporal UI: priority, team, tier, 🔥, SLA due time."""
        assert decision.team and decision.priority and self._status.response_due_at
        workflow.upsert_search_attributes(
            [
                sa.ESCALATION_PRIORITY.value_set(decision.priority.value),
                sa.ESCALATION_TEAM.value_set(decision.team),
                sa.CUSTOMER_TIER.value_set(package.customer.account_status or "unknown"),
                sa.TIME_SENSITIVE.value_set(decision.time_sensitive),
                sa.SLA_DUE_AT.value_set(self._status.response_due_at),
            ]
        )

    def _set_state(self, state: EscalationStateName) -> None:
        self._status.state = state
        workflow.upsert_search_attributes([sa.ESCALATION_STATE.value_set(state.value)])
        if state in (EscalationStateName.RESOLVED, EscalationStateName.AUTO_RESPONSE):
            workflow.set_current_details(f"Finished: {state.value}.")

    async def _log(self, action: str, event: dict[str, object]) -> None:
        await workflow.execute_activity_method(
            LogActivities.log_escalation,
            LogEntry(
                key=f"{self._status.ticket_id}:{action}",
                ticket_id=self._status.ticket_id,
                action=action,
                event=event,
            ),
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary=f"Step 7: log {action}",
        )
