"""The escalation workflow: one durable run per ticket, named after the seed's steps.

Triggers → Step 1 package → Steps 2–3 route and priority → Step 4 summary → Step 5 notify the
customer → quality checks → Step 6 assignment → Step 7 log → Step 9 dashboard → Step 8 monitor
the SLA with durable timers until a human resolves → de-escalate. Every I/O step is an activity;
this file only decides and waits. The SLA rules themselves are pure (escalation/sla.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.alerts import AlertActivities
    from activities.assignment import AssignmentActivities
    from activities.dashboard import DashboardActivities
    from activities.de_escalation import DeEscalationActivities
    from activities.log import LogActivities
    from activities.notify import NotifyActivities
    from activities.package import PackageActivities
    from activities.record import RecordActivities
    from activities.summary import SummaryActivities
    from activities.triage import TriageActivities
    from escalation import search_attributes as sa
    from escalation.messages import (
        AgentResponse,
        AlertInput,
        AssignmentInput,
        ClosedTicket,
        CustomerReply,
        EscalationInput,
        EscalationOutcome,
        EscalationRecord,
        EscalationStateName,
        EscalationStatus,
        KnownSolutionAnswer,
        LogEntry,
        MonitoringSnapshot,
        NotificationResult,
        NotifyCustomerInput,
        PendingWork,
        QueueEntry,
        Reassign,
        ResolutionRecord,
        ResolveInput,
        SatisfactionInput,
        SummaryInput,
        TicketStatusUpdate,
        TriageCorrection,
        WaitOnCustomer,
    )
    from escalation.models import EscalationPackage, Priority, TicketPayload, TriageDecision
    from escalation.quality import QualityReport, run_quality_checks
    from escalation.sla import AlertRecord, AlertSpec, SlaClock, SlaRules, due_alerts, next_wakeup

# I/O steps retry with backoff until they succeed: a ticket is never dropped because SMTP or
# PostgreSQL blinked; the failure is visible on the pending activity in the Temporal UI.
IO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
IO_TIMEOUT = timedelta(seconds=30)
PURE_TIMEOUT = timedelta(seconds=10)
# An alert channel that stays down is retried for a day, then recorded as failed on the run.
ALERT_GIVE_UP = timedelta(hours=24)
# Runs that resolved before de-escalation closed tickets and learned skip it on replay.
DE_ESCALATION_CLOSES_TICKET = "de-escalation-closes-ticket"
# Runs started before Steps 6, 7 and 9 shared one transaction replay them one activity each.
DELIVERY_IN_ONE_TRANSACTION = "delivery-in-one-transaction"


@workflow.defn
class EscalationWorkflow:
    """Decides whether humans must take over a ticket, hands it to them, and watches the SLA."""

    @workflow.init
    def __init__(self, input: EscalationInput) -> None:
        self._ticket_id = input.payload.ticket.id
        self._resolution: ResolveInput | None = None
        self._finished = False  # no more messages will be processed (auto-response, resolved)
        self._work: list[PendingWork] = []  # what handlers left for the loop to do
        self._alerts_in_flight = 0
        self._queue_shown: tuple[object, ...] | None = None
        self._can_after = input.continue_as_new_after_events
        self._package: EscalationPackage | None = None
        self._decision: TriageDecision | None = None
        self._summary = ""
        self._clock: SlaClock | None = None
        self._rules: SlaRules | None = None
        if input.resume is not None:
            snapshot = input.resume
            self._status = snapshot.status
            self._status.runs += 1
            self._package, self._decision = snapshot.package, snapshot.decision
            self._summary, self._clock, self._rules = (
                snapshot.summary_markdown,
                snapshot.clock,
                snapshot.rules,
            )
            self._work = list(snapshot.work)
        else:
            self._status = EscalationStatus(
                ticket_id=self._ticket_id,
                workflow_id=workflow.info().workflow_id,
                state=EscalationStateName.RECEIVED,
            )

    @workflow.run
    async def run(self, input: EscalationInput) -> EscalationOutcome:
        if input.resume is None:
            package = await self.gather_escalation_package(input)
            decision = await self.triage(package)
            if not decision.escalate:
                return await self.keep_with_auto_response(package, decision)
            if workflow.patched(DELIVERY_IN_ONE_TRANSACTION):
                await self.deliver_escalation(input, package, decision)
            else:
                await self.deliver_escalation_step_by_step(input, package, decision)
                await self.set_monitoring(decision)
        await self.monitor_sla(input)
        return await self.de_escalate()

    async def deliver_escalation(
        self, input: EscalationInput, package: EscalationPackage, decision: TriageDecision
    ) -> None:
        """Steps 4–7 and 9, once the ticket is known to need a human, in three round trips:
        the pure steps run as local activities, Steps 6, 7 and 9 commit in one transaction.
        Step 8's clock starts at the escalation; messages are taken once the team has it."""
        self._begin_escalation(package, decision)
        rules = await self.load_sla_rules()
        clock = self._start_clock(decision)
        sla_due_at = clock.next_sla_due_at(rules)
        self.update_search_attributes(package, decision, sla_due_at)
        summary = await self.write_summary(package, decision)
        self._summary = summary
        notification = await self.notify_customer(package, decision)
        quality = run_quality_checks(package, decision, summary, customer_notified=True)
        self._status.quality_checks = quality.checks
        state = EscalationStateName.ESCALATED
        await workflow.execute_activity_method(
            RecordActivities.record_escalation,
            EscalationRecord(
                assignment=self._assignment(package, decision),
                log=self._log_entry(
                    "escalated",
                    self._escalated_event(input, package, decision, notification, quality),
                ),
                queue=self._queue_entry(state, sla_due_at, clock),
            ),
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Steps 6, 7 and 9: assignment, log and queue row in one transaction",
        )
        self._clock, self._rules = clock, rules
        self._refresh_status()  # the status's SLA deadline: the one the queue row now shows
        self._queue_shown = self._queue_view(state)
        self._set_state(state)

    async def deliver_escalation_step_by_step(
        self, input: EscalationInput, package: EscalationPackage, decision: TriageDecision
    ) -> None:
        """Steps 4–7 and 9 as runs started before DELIVERY_IN_ONE_TRANSACTION did them."""
        self._begin_escalation(package, decision)
        assert self._status.response_due_at
        self.update_search_attributes(package, decision, self._status.response_due_at)

        summary = await self.write_summary(package, decision)
        self._summary = summary
        notification = await self.notify_customer(package, decision)
        quality = run_quality_checks(package, decision, summary, customer_notified=True)
        self._status.quality_checks = quality.checks
        await self.create_assignment(package, decision)
        await self._log(
            "escalated", self._escalated_event(input, package, decision, notification, quality)
        )
        await self.update_dashboard(EscalationStateName.ESCALATED)
        self._set_state(EscalationStateName.ESCALATED)

    def _begin_escalation(self, package: EscalationPackage, decision: TriageDecision) -> None:
        self._package, self._decision = package, decision
        self._status.team = decision.team
        self._status.priority = decision.priority
        self._status.escalated_at = workflow.now()
        self._status.response_due_at = self._status.escalated_at + timedelta(
            seconds=self._response_seconds(decision)
        )

    # --- messages (Contract 4): signals for the ticketing system, updates for agents ----------

    @workflow.signal
    async def customer_replied(self, reply: CustomerReply) -> None:
        """The customer wrote again: alert a waiting team, resume a paused clock."""
        if await self._accept(self._check_reply, reply, signal=True):
            self._customer_replied(reply)

    @workflow.signal
    async def satisfaction_changed(self, rating: SatisfactionInput) -> None:
        if await self._accept(self._check_satisfaction, rating, signal=True):
            self._satisfaction_changed(rating)

    @workflow.update
    async def set_satisfaction(self, rating: SatisfactionInput) -> EscalationStatus:
        await self._accept(self._check_satisfaction, rating)
        self._satisfaction_changed(rating)
        return self.status()

    @set_satisfaction.validator
    def _validate_satisfaction(self, rating: SatisfactionInput) -> None:
        self._check_satisfaction(rating)

    @workflow.signal
    async def agent_responded(self, response: AgentResponse) -> None:
        if await self._accept(self._check_agent, response, signal=True):
            self._agent_responded(response)

    @workflow.update
    async def respond(self, response: AgentResponse) -> EscalationStatus:
        """The first human response stops the response clock."""
        await self._accept(self._check_agent, response)
        self._agent_responded(response)
        return self.status()

    @respond.validator
    def _validate_respond(self, response: AgentResponse) -> None:
        self._check_agent(response)

    @workflow.signal
    async def waiting_on_customer(self, wait: WaitOnCustomer) -> None:
        if await self._accept(self._check_agent, wait, signal=True):
            self._waiting_on_customer(wait)

    @workflow.update
    async def wait_on_customer(self, wait: WaitOnCustomer) -> EscalationStatus:
        """Pause the resolution clock until the customer replies."""
        await self._accept(self._check_agent, wait)
        self._waiting_on_customer(wait)
        return self.status()

    @wait_on_customer.validator
    def _validate_wait(self, wait: WaitOnCustomer) -> None:
        self._check_agent(wait)

    @workflow.signal
    async def reassigned(self, reassign: Reassign) -> None:
        if await self._accept(self._check_reassign, reassign, signal=True):
            self._reassigned(reassign)

    @workflow.update
    async def reassign(self, reassign: Reassign) -> EscalationStatus:
        """A new team and/or priority: deadlines recomputed, alerts to a new team; recorded
        as a correction of triage."""
        await self._accept(self._check_reassign, reassign)
        self._reassigned(reassign)
        return self.status()

    @reassign.validator
    def _validate_reassign(self, reassign: Reassign) -> None:
        self._check_reassign(reassign)

    @workflow.signal
    async def resolved(self, resolution: ResolveInput) -> None:
        """An agent resolved the ticket: completes the workflow. A second resolve is ignored."""
        if await self._accept(self._check_resolve, resolution, signal=True):
            self._resolved(resolution)

    @workflow.update
    async def resolve(self, resolution: ResolveInput) -> EscalationStatus:
        """Like `resolved`, but a resolve on a resolved ticket is rejected with the reason."""
        await self._accept(self._check_resolve, resolution)
        self._resolved(resolution)
        return self.status()

    @resolve.validator
    def _validate_resolve(self, resolution: ResolveInput) -> None:
        self._check_resolve(resolution)

    @workflow.query
    def status(self) -> EscalationStatus:
        self._refresh_status()
        return self._status

    # --- validation: validators reject updates; invalid signals are logged and dropped -------

    def _check_not_resolved(self) -> None:
        if self._finished or self._resolution is not None:
            state = "resolved" if self._resolution else self._status.state.value
            raise ValueError(f"ticket {self._ticket_id} is already {state}")

    def _check_reply(self, reply: CustomerReply) -> None:
        self._check_not_resolved()

    def _check_agent(self, action: AgentResponse | WaitOnCustomer | ResolveInput) -> None:
        self._check_not_resolved()
        if not action.agent.strip():
            raise ValueError("agent must name who acts")

    def _check_satisfaction(self, rating: SatisfactionInput) -> None:
        if not 1 <= rating.score <= 5:
            raise ValueError(f"satisfaction score must be 1-5, got {rating.score}")
        self._check_not_resolved()

    def _check_reassign(self, reassign: Reassign) -> None:
        self._check_not_resolved()
        if reassign.team is None and reassign.priority is None:
            raise ValueError("reassign needs a team or a priority to change to")
        rules, clock = self._rules, self._clock
        if reassign.team is not None and rules is not None and reassign.team not in rules.teams:
            known = ", ".join(rules.teams)
            raise ValueError(f"unknown team {reassign.team!r} (known: {known})")
        if clock is not None:
            team = reassign.team or clock.team
            priority = reassign.priority or clock.priority
            if (team, priority) == (clock.team, clock.priority):
                raise ValueError(
                    f"ticket {self._ticket_id} is already with {team}"
                    + (f" as {priority}" if reassign.priority else "")
                )

    def _check_resolve(self, resolution: ResolveInput) -> None:
        self._check_agent(resolution)
        if not resolution.resolution.strip():
            raise ValueError("resolution must say how the ticket was resolved")

    async def _accept(
        self, check: Callable[[Any], None], message: Any, *, signal: bool = False
    ) -> bool:
        """Wait until monitoring runs, then check the message again: validators ran before
        the clock existed, and before earlier messages of the same batch were applied.
        An invalid update fails with the reason; an invalid signal is logged and dropped."""
        await workflow.wait_condition(lambda: self._clock is not None or self._finished)
        try:
            check(message)
        except ValueError as error:
            if signal:
                workflow.logger.warning("ignored signal for %s: %s", self._ticket_id, error)
                return False
            raise ApplicationError(str(error), type="InvalidRequest", non_retryable=True) from None
        return True

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
        """No trigger fired: the ticket stays with auto-response, recorded for the metrics.
        A ticket that matched an approved known solution is sent that solution's answer."""
        self._finished = True
        self._set_state(EscalationStateName.AUTO_RESPONSE)
        known = decision.known_solution
        if known is not None:  # only runs triaged with learned knowledge: replay-safe
            await workflow.execute_activity_method(
                NotifyActivities.send_known_solution,
                KnownSolutionAnswer(package=package, solution=known),
                start_to_close_timeout=IO_TIMEOUT,
                retry_policy=IO_RETRY,
                summary=f"Auto-response: send known solution #{known.id}",
            )
        event: dict[str, object] = {
            "ticketId": package.ticket.id,
            "action": "auto_response",
            "timestamp": workflow.now().isoformat(),
            "triggers": [],
            "scenario": decision.scenario,
            "reasons": decision.reasons,
        }
        if known is not None:
            event["knownSolutionId"] = known.id
        await self._log("auto_response", event)
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
        """Step 6 (runs started before DELIVERY_IN_ONE_TRANSACTION)."""
        await workflow.execute_activity_method(
            AssignmentActivities.create_assignment,
            self._assignment(package, decision),
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 6: create the support assignment",
        )

    def _assignment(self, package: EscalationPackage, decision: TriageDecision) -> AssignmentInput:
        """Step 6: the seed's support_assignments row."""
        assert decision.team and decision.priority and self._status.escalated_at
        return AssignmentInput(
            ticket_id=package.ticket.id,
            workflow_id=self._status.workflow_id,
            team=decision.team,
            priority=decision.priority,
            escalated_at=self._status.escalated_at,
            escalation_reason=decision.headline or (decision.reasons or ["escalated"])[0],
            expected_response_seconds=self._response_seconds(decision),
        )

    def _escalated_event(
        self,
        input: EscalationInput,
        package: EscalationPackage,
        decision: TriageDecision,
        notification: NotificationResult,
        quality: QualityReport,
    ) -> dict[str, object]:
        """Step 7: the seed's log fields, plus what ops and the metrics need."""
        now = workflow.now()
        triage_seconds = max(0, round((now - input.received_at).total_seconds()))
        return {
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
        }

    async def update_dashboard(self, state: EscalationStateName) -> None:
        """Step 9: the agents' queue row (the search attributes are kept by _set_state)."""
        self._queue_shown = self._queue_view(state)
        await workflow.execute_activity_method(
            DashboardActivities.update_dashboard,
            self._queue_entry(
                state, self._status.sla_due_at or self._status.response_due_at, self._clock
            ),
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 9: update the agents' queue",
        )

    def _queue_entry(
        self, state: EscalationStateName, sla_due_at: datetime | None, clock: SlaClock | None
    ) -> QueueEntry:
        """Step 9: what the agents' queue shows for this escalation."""
        package, decision = self._package, self._decision
        assert package is not None and decision is not None
        return QueueEntry(
            ticket_id=package.ticket.id,
            state=state,
            subject=package.ticket.subject,
            customer_name=package.ticket.customer_name,
            premium=decision.premium,
            time_sensitive=decision.time_sensitive,
            sentiment=decision.sentiment,
            scenario=decision.scenario,
            sla_due_at=sla_due_at,
            summary_markdown=self._summary,
            team=clock.team if clock else decision.team,
            priority=clock.priority if clock else decision.priority,
        )

    # --- Step 8: set monitoring, then watch the SLA with durable timers ------------------------

    async def set_monitoring(self, decision: TriageDecision) -> None:
        """Start the SLA clock at the moment of escalation, with the policy's rules
        (runs started before DELIVERY_IN_ONE_TRANSACTION, once delivered)."""
        self._rules = await self.load_sla_rules()
        self._clock = self._start_clock(decision)

    async def load_sla_rules(self) -> SlaRules:
        return await workflow.execute_local_activity_method(
            TriageActivities.load_sla_rules,
            start_to_close_timeout=PURE_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 8: load the monitoring rules",
        )

    def _start_clock(self, decision: TriageDecision) -> SlaClock:
        """The SLA clock, started at the moment of escalation."""
        escalated_at = self._status.escalated_at
        assert escalated_at and decision.team and decision.priority
        return SlaClock(
            ticket_id=self._ticket_id,
            team=decision.team,
            priority=decision.priority,
            escalated_at=escalated_at,
            response_target_seconds=self._response_seconds(decision),
            response_clock_started_at=escalated_at,
            last_progress_at=escalated_at,
        )

    async def monitor_sla(self, input: EscalationInput) -> None:
        """Fire what is due, sleep until the next deadline or message, until resolved.

        One timer at a time (the earliest deadline): messages wake the loop early, and the
        deadlines are recomputed from the clock every time, so a moved deadline is never missed.
        """
        clock, rules = self._clock, self._rules
        assert clock is not None and rules is not None
        while True:
            await self._do_work()
            now = workflow.now()
            while due := due_alerts(clock, rules, now):
                for due_at, spec in due:
                    self._alert(spec, due_at)
            await self._show_state()
            if self._resolution is not None:
                return
            if self._should_continue_as_new():
                await workflow.wait_condition(
                    lambda: self._alerts_in_flight == 0 and workflow.all_handlers_finished()
                )
                if self._resolution is not None:  # resolved meanwhile: finish here instead
                    continue
                workflow.continue_as_new(self._snapshot(input))
            # Computed from the `now` of the alert check above: a deadline that fell due while
            # the queue was being updated is not skipped, it makes the wait zero.
            wake = next_wakeup(clock, rules, now)
            remaining = (wake - workflow.now()) if wake else None
            if remaining is not None and remaining <= timedelta(0):
                continue
            try:
                await workflow.wait_condition(
                    lambda: (
                        bool(self._work)
                        or self._resolution is not None
                        or self._should_continue_as_new()
                    ),
                    timeout=remaining,
                    timeout_summary="next SLA deadline",
                )
            except TimeoutError:
                pass

    def _customer_replied(self, reply: CustomerReply) -> None:
        clock, rules = self._require_clock()
        now = workflow.now()
        clock.replies += 1
        clock.last_customer_activity_at = reply.at or now
        clock.progress(now)
        excerpt = reply.text.strip()[:300]
        if clock.paused:
            clock.resume(now)
            self._alert(
                AlertSpec(
                    key=f"{self._ticket_id}:customer_answered:{clock.replies}",
                    kind="customer_answered",
                    audience="agent",
                    headline="The customer answered: the resolution clock runs again",
                    details={"reply": excerpt},
                ),
                now,
            )
        elif clock.priority in rules.reply_alert_priorities:
            self._alert(
                AlertSpec(
                    key=f"{self._ticket_id}:customer_replied:{clock.replies}",
                    kind="customer_replied",
                    headline="The customer replied while waiting for us",
                    details={"reply": excerpt},
                ),
                now,
            )
        self._record("customer_replied", {"reply": excerpt, "replyNumber": clock.replies})
        self._work.append(PendingWork(kind="assess_reply", text=reply.text))

    def _satisfaction_changed(self, rating: SatisfactionInput) -> None:
        clock, rules = self._require_clock()
        now = workflow.now()
        previous, clock.satisfaction = clock.satisfaction, rating.score
        clock.satisfaction_changes += 1
        dropped = previous is not None and rating.score < previous
        low = rating.score < rules.satisfaction_alert_below
        if (dropped or low) and clock.priority in rules.satisfaction_alert_priorities:
            self._alert(
                AlertSpec(
                    key=f"{self._ticket_id}:satisfaction_drop:{clock.satisfaction_changes}",
                    kind="satisfaction_drop",
                    headline=f"Customer satisfaction dropped to {rating.score}/5"
                    + (f" (was {previous}/5)" if previous is not None else ""),
                    details={"comment": (rating.comment or "")[:300]},
                ),
                now,
            )
        self._record("satisfaction_changed", {"score": rating.score, "previous": previous})

    def _agent_responded(self, response: AgentResponse) -> None:
        clock, _ = self._require_clock()
        now = workflow.now()
        first = clock.responded_at is None
        if first:
            clock.responded_at, clock.responded_by = now, response.agent
        clock.last_agent_activity_at = now
        clock.progress(now)
        self._record(
            "agent_responded",
            {"agent": response.agent, "note": response.note, "firstResponse": first},
        )

    def _waiting_on_customer(self, wait: WaitOnCustomer) -> None:
        clock, _ = self._require_clock()
        now = workflow.now()
        if clock.responded_at is None:  # asking the customer is a human response
            clock.responded_at, clock.responded_by = now, wait.agent
        clock.last_agent_activity_at = now
        clock.progress(now)
        clock.pause(now)
        self._record("waiting_on_customer", {"agent": wait.agent, "question": wait.question})

    def _reassigned(self, reassign: Reassign) -> None:
        """A new team and/or priority: the clock retargets (a new team restarts the response
        clock and is alerted), and the change is recorded as a correction of triage."""
        clock, rules = self._require_clock()
        now = workflow.now()
        previous, previous_priority = clock.team, clock.priority
        team = reassign.team or clock.team
        priority = reassign.priority or clock.priority
        clock.retarget(team=team, priority=priority, rules=rules, now=now)
        clock.last_agent_activity_at = now
        clock.progress(now)
        if team != previous:
            self._alert(
                AlertSpec(
                    key=f"{self._ticket_id}:reassigned:g{clock.generation}",
                    kind="reassigned",
                    headline=f"Reassigned to you from {previous}",
                    details={"reason": reassign.reason or ""},
                ),
                now,
            )
        work = self._record(
            "reassigned",
            {
                "from": previous,
                "to": team,
                "fromPriority": previous_priority,
                "toPriority": priority,
                "reason": reassign.reason,
                "agent": reassign.agent,
            },
        )
        work.correction = self._correction(reassign, previous, previous_priority, clock)

    def _correction(
        self, reassign: Reassign, previous: str, previous_priority: Priority, clock: SlaClock
    ) -> TriageCorrection:
        """The labelled example an agent's reassign makes: the payload triage decided on,
        what it decided, what the agent set. Keyed by the workflow, the escalation episode
        and the log event's sequence number: stable across retries, replays and
        continue-as-new."""
        package, decision = self._package, self._decision
        assert package is not None and decision is not None
        info = workflow.info()
        episode = info.first_execution_run_id
        return TriageCorrection(
            key=f"{info.workflow_id}:{episode}:correction:{clock.log_seq}",
            ticket_id=self._ticket_id,
            workflow_id=info.workflow_id,
            episode_id=episode,
            run_id=info.run_id,
            sequence=clock.log_seq,
            payload=TicketPayload(
                ticket=package.ticket,
                customer=package.customer,
                history=package.history,
                technical_context=package.technical_context,
            ),
            triage_team=decision.team,
            triage_priority=decision.priority,
            triage_scenario=decision.scenario,
            previous_team=previous,
            previous_priority=previous_priority,
            team=clock.team,
            priority=clock.priority,
            agent=reassign.agent,
            reason=reassign.reason,
            corrected_at=workflow.now(),
        )

    def _resolved(self, resolution: ResolveInput) -> None:
        self._resolution = resolution
        self._status.state = EscalationStateName.RESOLVED

    async def _do_work(self, *, all_of_it: bool = False) -> None:
        """What handlers left behind: log events, reply assessments, in arrival order. Stops
        when the history is due to continue as new (the rest travels with the snapshot),
        unless `all_of_it` (the run is about to finish)."""
        while self._work and (all_of_it or not self._should_continue_as_new()):
            item = self._work.pop(0)
            if item.kind == "log":
                await self._log(item.action, item.event, item.key, item.correction)
            else:
                await self._assess_reply(item.text)

    async def _assess_reply(self, text: str) -> None:
        """An angrier customer on a problem lifts the ticket (angry-customer modifier)."""
        clock, rules = self._require_clock()
        assert self._decision is not None
        assessment = await workflow.execute_local_activity_method(
            TriageActivities.assess_reply,
            args=[self._decision.model_copy(update={"priority": clock.priority}), text],
            start_to_close_timeout=PURE_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 8: assess the customer's reply",
        )
        if assessment.lift_to is not None and assessment.lift_to.rank < clock.priority.rank:
            previous = clock.priority
            clock.retarget(
                team=clock.team, priority=assessment.lift_to, rules=rules, now=workflow.now()
            )
            self._record(
                "priority_changed",
                {"from": previous, "to": clock.priority, "because": assessment.sentiment},
            )
            await self._do_work()

    def _alert(self, spec: AlertSpec, due_at: datetime) -> None:
        """Mark the alert fired (so it is never computed again) and deliver it in the
        background: a channel that is down must not hold up the next deadline."""
        clock, _ = self._require_clock()
        if spec.key in clock.fired:
            return
        clock.mark_fired(spec, due_at)
        record = clock.alerts[-1]
        self._alerts_in_flight += 1
        asyncio.create_task(self._deliver(spec, record), name=f"alert {spec.key}")  # noqa: RUF006

    async def _deliver(self, spec: AlertSpec, record: AlertRecord) -> None:
        clock, _ = self._require_clock()
        try:
            await workflow.execute_activity_method(
                AlertActivities.send_alert,
                AlertInput(
                    key=spec.key,
                    ticket_id=self._ticket_id,
                    kind=spec.kind,
                    audience=spec.audience,  # type: ignore[arg-type]
                    team=record.team,
                    priority=clock.priority,
                    agent=clock.responded_by,
                    headline=spec.headline,
                    details=spec.details,
                    workflow_id=self._status.workflow_id,
                ),
                start_to_close_timeout=IO_TIMEOUT,
                schedule_to_close_timeout=ALERT_GIVE_UP,
                retry_policy=IO_RETRY,
                summary=f"Step 8: alert {spec.kind} to {record.team} ({spec.audience})",
            )
            record.sent_at = workflow.now()
        except ActivityError as error:
            record.failed = str(error.cause or error)
            workflow.logger.error("alert %s not delivered: %s", spec.key, record.failed)
        finally:
            self._alerts_in_flight -= 1

    def _record(self, action: str, details: dict[str, object]) -> PendingWork:
        """Queue an escalation_log event; the loop writes it (an activity)."""
        clock, _ = self._require_clock()
        clock.log_seq += 1
        event = {
            "ticketId": self._ticket_id,
            "action": action,
            "timestamp": workflow.now().isoformat(),
            **details,
        }
        work = PendingWork(kind="log", action=action, event=event, key=f"{action}:{clock.log_seq}")
        self._work.append(work)
        return work

    def _require_clock(self) -> tuple[SlaClock, SlaRules]:
        assert self._clock is not None and self._rules is not None, "monitoring not started"
        return self._clock, self._rules

    def _should_continue_as_new(self) -> bool:
        if workflow.info().is_continue_as_new_suggested():
            return True
        return bool(
            self._can_after and workflow.info().get_current_history_length() > self._can_after
        )

    def _snapshot(self, input: EscalationInput) -> EscalationInput:
        assert self._package and self._decision and self._clock and self._rules
        self._refresh_status()
        return EscalationInput(
            payload=input.payload,
            received_at=input.received_at,
            continue_as_new_after_events=input.continue_as_new_after_events,
            resume=MonitoringSnapshot(
                package=self._package,
                decision=self._decision,
                summary_markdown=self._summary,
                clock=self._clock,
                rules=self._rules,
                status=self._status,
                work=self._work,
            ),
        )

    # --- state for ops: status query, search attributes, queue ---------------------------------

    def _current_state(self) -> EscalationStateName:
        clock = self._clock
        if self._resolution is not None:
            return EscalationStateName.RESOLVED
        if clock is None:
            return self._status.state
        if clock.paused:
            return EscalationStateName.WAITING_ON_CUSTOMER
        if clock.breached(workflow.now()):
            return EscalationStateName.BREACHED
        if clock.responded_at is not None:
            return EscalationStateName.RESPONDED
        return EscalationStateName.ESCALATED

    def _refresh_status(self) -> None:
        """Copy the clock's deadlines into the status the query returns."""
        clock, rules, status = self._clock, self._rules, self._status
        if clock is None or rules is None:
            return
        status.state = self._current_state()
        status.team, status.priority = clock.team, clock.priority
        status.response_due_at = clock.response_due_at()
        status.response_warning_at = clock.response_warning_at(rules)
        status.manager_escalation_at = clock.manager_escalation_at(rules)
        status.next_daily_check_at = clock.next_daily_check_at(rules)
        status.no_progress_followup_at = clock.no_progress_followup_at(rules)
        status.sla_due_at = clock.next_sla_due_at(rules)
        status.responded_at, status.responded_by = clock.responded_at, clock.responded_by
        status.paused = clock.paused
        status.paused_seconds = clock.paused_seconds_at(workflow.now())
        status.last_customer_activity_at = clock.last_customer_activity_at
        status.last_agent_activity_at = clock.last_agent_activity_at
        status.satisfaction = clock.satisfaction
        status.customer_replies = clock.replies
        status.alerts = clock.alerts

    def _queue_view(self, state: EscalationStateName) -> tuple[object, ...]:
        clock = self._clock
        if clock is None:
            return (state,)
        return (state, clock.team, clock.priority, self._status.sla_due_at)

    async def _show_state(self) -> None:
        """Keep the search attributes, the current details and the queue row current."""
        self._refresh_status()
        state = self._status.state
        clock = self._clock
        assert clock is not None
        if self._queue_view(state) != self._queue_shown:
            self._set_state(state)
            workflow.upsert_search_attributes(
                [
                    sa.ESCALATION_PRIORITY.value_set(clock.priority.value),
                    sa.ESCALATION_TEAM.value_set(clock.team),
                    sa.SLA_DUE_AT.value_set(self._status.sla_due_at)
                    if self._status.sla_due_at
                    else sa.SLA_DUE_AT.value_unset(),
                ]
            )
            if state is not EscalationStateName.RESOLVED:
                await self.update_dashboard(state)
        due = self._status.sla_due_at
        workflow.set_current_details(
            f"**{state.value}** with **{clock.team}** as **{clock.priority}**; "
            + (f"next SLA deadline {due:%Y-%m-%d %H:%M:%S} UTC" if due else "no SLA deadline")
            + (" (paused: waiting on the customer)" if clock.paused else "")
            + f"; {len(clock.alerts)} alert(s) sent."
        )

    # --- de-escalation -----------------------------------------------------------------------

    async def de_escalate(self) -> EscalationOutcome:
        """Resolved: finish in-flight alerts and handlers, log the resolution, close the row."""
        await workflow.wait_condition(
            lambda: self._alerts_in_flight == 0 and workflow.all_handlers_finished()
        )
        await self._do_work(all_of_it=True)
        self._finished = True
        resolution = self._resolution
        decision = self._decision
        clock = self._clock
        assert resolution is not None and decision is not None and clock is not None
        now = workflow.now()
        self._status.resolved_at = now
        self._status.resolution = resolution.resolution
        self._refresh_status()
        paused = clock.paused_seconds_at(now)
        event: dict[str, object] = {
            "ticketId": self._ticket_id,
            "action": "resolved",
            "timestamp": now.isoformat(),
            "resolvedBy": resolution.agent,
            "resolution": resolution.resolution,
            "escalationNecessary": resolution.escalation_necessary,
            "team": clock.team,
            "priority": clock.priority,
            "respondedAt": clock.responded_at.isoformat() if clock.responded_at else None,
            "pausedSeconds": paused,
        }
        closed: ClosedTicket | None = None
        if workflow.patched(DE_ESCALATION_CLOSES_TICKET):
            closed = await self.close_ticket(resolution, paused)
            event |= {
                "resolutionSeconds": closed.resolution_seconds,
                "afterResponseSeconds": closed.after_response_seconds,
                "quick": closed.quick,
                "patternId": closed.pattern_id,
            }
        await self._log("resolved", event)
        await self.update_dashboard(EscalationStateName.RESOLVED)
        self._set_state(EscalationStateName.RESOLVED)
        workflow.upsert_search_attributes([sa.SLA_DUE_AT.value_unset()])
        if closed is not None and closed.notify_ticketing_system:
            await self.notify_ticketing_system(resolution)
        return EscalationOutcome(
            ticket_id=self._ticket_id,
            outcome="resolved",
            team=clock.team,
            priority=clock.priority,
            resolved_by=resolution.agent,
            resolution=resolution.resolution,
        )

    async def close_ticket(self, resolution: ResolveInput, paused: float) -> ClosedTicket:
        """De-escalation 1–5: ticket status, the resolution's timing, learning from it."""
        clock, package, decision = self._clock, self._package, self._decision
        assert clock is not None and package is not None and decision is not None
        assert self._status.escalated_at is not None and self._status.resolved_at is not None
        return await workflow.execute_activity_method(
            DeEscalationActivities.close_ticket,
            ResolutionRecord(
                ticket_id=self._ticket_id,
                workflow_id=workflow.info().workflow_id,
                agent=resolution.agent,
                resolution=resolution.resolution,
                escalation_necessary=resolution.escalation_necessary,
                team=clock.team,
                priority=clock.priority,
                scenario=decision.scenario,
                error_code=package.technical_context.error_code,
                ticket_text=package.ticket.text,
                escalated_at=self._status.escalated_at,
                responded_at=clock.responded_at,
                resolved_at=self._status.resolved_at,
                paused_seconds=paused,
                response_target_seconds=clock.response_target_seconds,
            ),
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="De-escalation: close the ticket, learn from the solution",
        )

    async def notify_ticketing_system(self, resolution: ResolveInput) -> None:
        """De-escalation 1, outside: the signed ticket-status webhook to the ticketing system.
        Retried for a day; then the failure stays on the `notifications` row and the run still
        completes (the ticket is resolved whatever the helpdesk hears)."""
        clock = self._clock
        assert clock is not None and self._status.resolved_at is not None
        try:
            await workflow.execute_activity_method(
                DeEscalationActivities.notify_ticketing_system,
                TicketStatusUpdate(
                    ticket_id=self._ticket_id,
                    status="resolved",
                    resolved_at=self._status.resolved_at,
                    resolved_by=resolution.agent,
                    resolution=resolution.resolution,
                    team=clock.team,
                    priority=clock.priority,
                ),
                start_to_close_timeout=IO_TIMEOUT,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=5),
                ),
                schedule_to_close_timeout=ALERT_GIVE_UP,
                summary="De-escalation: tell the ticketing system",
            )
        except ActivityError as error:
            workflow.logger.warning("ticket-status webhook gave up: %s", error.cause or error)

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _response_seconds(decision: TriageDecision) -> int:
        if decision.response_target_seconds is not None:
            return decision.response_target_seconds
        return (decision.response_target_minutes or 0) * 60

    def update_search_attributes(
        self, package: EscalationPackage, decision: TriageDecision, sla_due_at: datetime | None
    ) -> None:
        """What ops filter on in the Temporal UI: priority, team, tier, 🔥, SLA due time."""
        assert decision.team and decision.priority
        workflow.upsert_search_attributes(
            [
                sa.ESCALATION_PRIORITY.value_set(decision.priority.value),
                sa.ESCALATION_TEAM.value_set(decision.team),
                sa.CUSTOMER_TIER.value_set(package.customer.account_status or "unknown"),
                sa.TIME_SENSITIVE.value_set(decision.time_sensitive),
                sa.SLA_DUE_AT.value_set(sla_due_at) if sla_due_at else sa.SLA_DUE_AT.value_unset(),
            ]
        )

    def _set_state(self, state: EscalationStateName) -> None:
        self._status.state = state
        workflow.upsert_search_attributes([sa.ESCALATION_STATE.value_set(state.value)])
        if state in (EscalationStateName.RESOLVED, EscalationStateName.AUTO_RESPONSE):
            workflow.set_current_details(f"Finished: {state.value}.")

    async def _log(
        self,
        action: str,
        event: dict[str, object],
        key: str | None = None,
        correction: TriageCorrection | None = None,
    ) -> None:
        await workflow.execute_activity_method(
            LogActivities.log_escalation,
            self._log_entry(action, event, key, correction),
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary=f"Step 7: log {action}",
        )

    def _log_entry(
        self,
        action: str,
        event: dict[str, object],
        key: str | None = None,
        correction: TriageCorrection | None = None,
    ) -> LogEntry:
        """Step 7: one escalation_log event (with the correction of triage it records, if
        any), written once under its key."""
        return LogEntry(
            key=f"{self._ticket_id}:{key or action}",
            ticket_id=self._ticket_id,
            action=action,
            event=event,
            correction=correction,
        )
