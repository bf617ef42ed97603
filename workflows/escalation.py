"""The escalation workflow: one durable run per escalation episode of a ticket, named after
the seed's steps.

Triggers → Step 1 package → Steps 2–3 route and priority → Step 4 summary → Steps 6, 7 and 9
(the team has it, in one transaction) → Step 5 acknowledges the customer alongside → Step 8
watches the SLA with durable timers until a human resolves → de-escalate. Every I/O step is an
activity; the rules are plain functions (escalation/handling.py, escalation/sla.py); the run's
state is one model (escalation/run_state.py). This class decides the order and waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.assignment import AssignmentActivities
    from activities.dashboard import DashboardActivities
    from activities.de_escalation import DeEscalationActivities
    from activities.log import LogActivities
    from activities.notify import NotifyActivities
    from activities.package import PackageActivities
    from activities.record import RecordActivities
    from activities.summary import SummaryActivities
    from activities.triage import TriageActivities
    from escalation import handling
    from escalation import search_attributes as sa
    from escalation.messages import (
        AgentResponse,
        ClosedTicket,
        CustomerReply,
        EscalationOutcome,
        EscalationRecord,
        EscalationStateName,
        EscalationStatus,
        KnownSolutionAnswer,
        QueueEntry,
        Reassign,
        ResolveInput,
        SatisfactionInput,
        SummaryInput,
        TicketStatusUpdate,
        TriageCorrection,
        WaitOnCustomer,
    )
    from escalation.models import EscalationPackage, TriageDecision
    from escalation.run_state import Episode, EscalationInput, RunState
    from escalation.sla import SlaRules, due_alerts, next_wakeup
    from workflows.deliveries import Deliveries
    from workflows.ticket_status import TicketStatusWorkflow

# I/O steps retry with backoff until they succeed: a ticket is never dropped because SMTP or
# PostgreSQL blinked; the failure is visible on the pending activity in the Temporal UI.
IO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
IO_TIMEOUT = timedelta(seconds=30)
PURE_TIMEOUT = timedelta(seconds=10)
State = EscalationStateName


@workflow.defn
class EscalationWorkflow:
    """Decides whether humans must take over a ticket, hands it to them, and watches the SLA."""

    @workflow.init
    def __init__(self, input: EscalationInput) -> None:
        info = workflow.info()
        if input.resume is not None:
            self.state = input.resume
            self.state.runs += 1
        else:
            self.state = RunState(
                ticket_id=input.payload.ticket.id,
                workflow_id=info.workflow_id,
                episode=Episode(
                    id=info.first_execution_run_id, reopened_because=input.reopened_because
                ),
            )
            handling.first_delivery(self.state, input.delivery_id)
        self.deliveries = Deliveries(self.state)
        self._shown: tuple[object, ...] | None = None  # what the queue row shows
        self._can_after = input.continue_as_new_after_events

    @workflow.run
    async def run(self, input: EscalationInput) -> EscalationOutcome:
        if input.resume is None:
            package = await self.gather_escalation_package(input)
            decision = await self.triage(package)
            if not decision.escalate:
                return await self.keep_with_auto_response(package, decision)
            await self.escalate(input, package, decision)
        else:
            self.deliveries.resume()
        await self.monitor_sla(input)
        return await self.de_escalate()

    # --- messages (Contract 4): one signal for the ticketing system, updates for agents -------

    @workflow.signal
    async def customer_replied(self, reply: CustomerReply) -> None:
        """The customer wrote again: alert a waiting team, resume a paused clock. A delivery
        already applied (the helpdesk's retry) is ignored."""
        if not await self._accept(handling.check_reply, reply, signal=True):
            return
        if not handling.first_delivery(self.state, reply.delivery_id):
            workflow.logger.info("delivery %s already applied: ignored", reply.delivery_id)
            return
        self.deliveries.fire_now(handling.customer_replied(self.state, reply, workflow.now()))

    @workflow.update
    async def set_satisfaction(self, rating: SatisfactionInput) -> EscalationStatus:
        """A CSAT score. The web app sends it with the webhook id as the update id: Temporal
        answers a repeated id within the run, and the seen ids (kept across continue-as-new)
        keep a later repeat from applying it again."""
        await self._accept(handling.check_satisfaction, rating)
        update = workflow.current_update_info()
        if handling.first_delivery(self.state, update.id if update else None):
            alerts = handling.satisfaction_changed(self.state, rating, workflow.now())
            self.deliveries.fire_now(alerts)
        return self.status()

    @set_satisfaction.validator
    def _validate_satisfaction(self, rating: SatisfactionInput) -> None:
        handling.check_satisfaction(self.state, rating)

    @workflow.update
    async def respond(self, response: AgentResponse) -> EscalationStatus:
        """The first human response stops the response clock."""
        await self._accept(handling.check_agent, response)
        handling.agent_responded(self.state, response, workflow.now())
        return self.status()

    @respond.validator
    def _validate_respond(self, response: AgentResponse) -> None:
        handling.check_agent(self.state, response)

    @workflow.update
    async def wait_on_customer(self, wait: WaitOnCustomer) -> EscalationStatus:
        """Pause the resolution clock until the customer replies."""
        await self._accept(handling.check_agent, wait)
        handling.waiting_on_customer(self.state, wait, workflow.now())
        return self.status()

    @wait_on_customer.validator
    def _validate_wait(self, wait: WaitOnCustomer) -> None:
        handling.check_agent(self.state, wait)

    @workflow.update
    async def reassign(self, reassign: Reassign) -> EscalationStatus:
        """A new team and/or priority: deadlines recomputed, alerts to a new team; recorded
        as a correction of triage."""
        await self._accept(handling.check_reassign, reassign)
        alerts = handling.reassigned(
            self.state, reassign, workflow.now(), run_id=workflow.info().run_id
        )
        self.deliveries.fire_now(alerts)
        return self.status()

    @reassign.validator
    def _validate_reassign(self, reassign: Reassign) -> None:
        handling.check_reassign(self.state, reassign)

    @workflow.update
    async def resolve(self, resolution: ResolveInput) -> EscalationStatus:
        """Completes the workflow; the answer shows the resolution and its time. A resolve on
        a resolved ticket is rejected with the reason."""
        await self._accept(handling.check_resolve, resolution)
        handling.resolved(self.state, resolution, workflow.now())
        return self.status()

    @resolve.validator
    def _validate_resolve(self, resolution: ResolveInput) -> None:
        handling.check_resolve(self.state, resolution)

    @workflow.query
    def status(self) -> EscalationStatus:
        return handling.status_of(self.state, workflow.now())

    async def _accept(
        self, check: Callable[[RunState, Any], None], message: Any, *, signal: bool = False
    ) -> bool:
        """Wait until monitoring runs, then check the message again: validators ran before
        the clock existed, and before earlier messages of the same batch were applied.
        An invalid update fails with the reason; an invalid signal is logged and dropped."""
        await workflow.wait_condition(lambda: self.state.clock is not None or self.state.finished)
        try:
            check(self.state, message)
        except ValueError as error:
            if signal:
                workflow.logger.warning("ignored signal for %s: %s", self.state.ticket_id, error)
                return False
            raise ApplicationError(str(error), type="InvalidRequest", non_retryable=True) from None
        return True

    # --- Steps 1–4 ---------------------------------------------------------------------------

    async def gather_escalation_package(self, input: EscalationInput) -> EscalationPackage:
        """Step 1, with the ticket's earlier escalation episodes read alongside."""
        workflow.set_current_details("Step 1: gathering the escalation package.")
        episode = self.state.episode
        package, earlier = await asyncio.gather(
            workflow.execute_activity_method(
                PackageActivities.gather_escalation_package,
                input,
                start_to_close_timeout=IO_TIMEOUT,
                retry_policy=IO_RETRY,
                summary="Step 1: gather customer, history and technical context",
            ),
            workflow.execute_activity_method(
                AssignmentActivities.earlier_episodes,
                args=[self.state.ticket_id, episode.id],
                start_to_close_timeout=IO_TIMEOUT,
                retry_policy=IO_RETRY,
                summary="Step 1: the ticket's earlier escalations",
            ),
        )
        self.state.gaps = package.gaps
        episode.number, episode.previous_id = earlier.count + 1, earlier.latest_id
        if earlier.latest_id and episode.reopened_because is None:
            episode.reopened_because = "the ticket came in again after its escalation ended"
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
        self.state.decision = decision
        return decision

    async def keep_with_auto_response(
        self, package: EscalationPackage, decision: TriageDecision
    ) -> EscalationOutcome:
        """No trigger fired: the ticket stays with auto-response, recorded for the metrics.
        A ticket that matched an approved known solution is sent that solution's answer."""
        self.state.package = package
        self._set_state(State.AUTO_RESPONSE)
        known = decision.known_solution
        if known is not None:
            await workflow.execute_activity_method(
                NotifyActivities.send_known_solution,
                KnownSolutionAnswer(
                    package=package, solution=known, episode_id=self.state.episode.id
                ),
                start_to_close_timeout=IO_TIMEOUT,
                retry_policy=IO_RETRY,
                summary=f"Auto-response: send known solution #{known.id}",
            )
        await self._log("auto_response", handling.auto_response_event(self.state, workflow.now()))
        return handling.outcome(self.state)

    async def write_summary(self, package: EscalationPackage, decision: TriageDecision) -> str:
        """Step 4."""
        return await workflow.execute_local_activity_method(
            SummaryActivities.write_summary,
            SummaryInput(package=package, decision=decision),
            start_to_close_timeout=PURE_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 4: write the escalation summary",
        )

    async def load_sla_rules(self) -> SlaRules:
        return await workflow.execute_local_activity_method(
            TriageActivities.load_sla_rules,
            start_to_close_timeout=PURE_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 8: load the monitoring rules",
        )

    # --- the team first: Steps 6, 7 and 9, then Step 5 alongside ------------------------------

    async def escalate(
        self, input: EscalationInput, package: EscalationPackage, decision: TriageDecision
    ) -> None:
        """The team has the ticket before the customer hears: the SLA clock starts, then the
        assignment, its log event and its queue row commit in one transaction. Step 5 runs
        alongside, so a mail relay that is down never keeps a ticket from its team."""
        escalated_at = workflow.now()
        rules = await self.load_sla_rules()
        summary = await self.write_summary(package, decision)
        handling.begin_escalation(self.state, package, decision, rules, summary, escalated_at)
        status = handling.status_of(self.state, workflow.now())
        workflow.upsert_search_attributes(
            handling.search_attributes(self.state, status, with_ticket=True)
        )
        entry = handling.queue_entry(self.state, status)
        record = EscalationRecord(
            assignment=handling.assignment(self.state),
            log=handling.log_entry(
                self.state,
                "escalated",
                handling.escalated_event(self.state, input.received_at, workflow.now()),
            ),
            queue=entry,
        )
        await workflow.execute_activity_method(
            RecordActivities.record_escalation,
            record,
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Steps 6, 7 and 9: assignment, log and queue row in one transaction",
        )
        # The view as it reads after the write (an update may have been applied meanwhile).
        self._shown = handling.queue_view(handling.queue_entry(self.state, self.status()))
        self._set_state(handling.current_state(self.state, workflow.now()))
        self.deliveries.acknowledge_customer()

    # --- Step 8: watch the SLA with durable timers --------------------------------------------

    async def monitor_sla(self, input: EscalationInput) -> None:
        """Fire what is due, sleep until the next deadline or message, until resolved.

        One timer at a time (the earliest deadline): messages wake the loop early, and the
        deadlines are recomputed from the clock every time, so a moved deadline is never missed.
        """
        clock, rules = self.state.monitoring()
        while True:
            await self._do_work()
            now = workflow.now()
            while due := due_alerts(clock, rules, now):
                for due_at, spec in due:
                    self.deliveries.fire(spec, due_at)
            await self._show_state()
            if self.state.resolution is not None:
                return
            if self._should_continue_as_new():
                await self.deliveries.hand_over()
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self.state.resolution is not None:  # resolved meanwhile: finish here
                    continue
                workflow.continue_as_new(
                    EscalationInput(
                        payload=input.payload,
                        received_at=input.received_at,
                        continue_as_new_after_events=input.continue_as_new_after_events,
                        resume=self.state,
                    )
                )
            # Computed from the `now` of the alert check above: a deadline that fell due while
            # the queue was being updated is not skipped, it makes the wait zero.
            wake = next_wakeup(clock, rules, now)
            remaining = (wake - workflow.now()) if wake else None
            if remaining is not None and remaining <= timedelta(0):
                continue
            try:
                await workflow.wait_condition(
                    lambda: (
                        bool(self.state.work)
                        or self.state.resolution is not None
                        or self._should_continue_as_new()
                    ),
                    timeout=remaining,
                    timeout_summary="next SLA deadline",
                )
            except TimeoutError:
                pass

    async def _do_work(self, *, all_of_it: bool = False) -> None:
        """What handlers left behind: log events, reply assessments, in arrival order. Stops
        when the history is due to continue as new (the rest travels with the state),
        unless `all_of_it` (the run is about to finish)."""
        while self.state.work and (all_of_it or not self._should_continue_as_new()):
            item = self.state.work.pop(0)
            if item.kind == "log":
                await self._log(item.action, item.event, item.key, item.correction)
            else:
                await self._assess_reply(item.text)

    async def _assess_reply(self, text: str) -> None:
        """An angrier customer on a problem lifts the ticket (angry-customer modifier)."""
        clock, _ = self.state.monitoring()
        _, decision = self.state.escalation()
        assessment = await workflow.execute_local_activity_method(
            TriageActivities.assess_reply,
            args=[decision.model_copy(update={"priority": clock.priority}), text],
            start_to_close_timeout=PURE_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 8: assess the customer's reply",
        )
        handling.reply_assessed(self.state, assessment, workflow.now())

    # --- de-escalation -------------------------------------------------------------------

    async def de_escalate(self) -> EscalationOutcome:
        """Resolved: settle deliveries and handlers, close the ticket, log it, close the row.
        The ticketing system hears in its own workflow, so a helpdesk that is down never keeps
        this run open."""
        await self.deliveries.settle()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._do_work(all_of_it=True)
        closed = await self.close_ticket()
        await self._log("resolved", handling.resolved_event(self.state, closed))
        await self.update_dashboard()
        self._set_state(State.RESOLVED)
        workflow.upsert_search_attributes([sa.SLA_DUE_AT.value_unset()])
        if closed.notify_ticketing_system:
            await self.notify_ticketing_system()
        return handling.outcome(self.state)

    async def close_ticket(self) -> ClosedTicket:
        """De-escalation 1–5: ticket status, the resolution's timing, learning from it."""
        return await workflow.execute_activity_method(
            DeEscalationActivities.close_ticket,
            handling.resolution_record(self.state),
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="De-escalation: close the ticket, learn from the solution",
        )

    async def notify_ticketing_system(self) -> None:
        """De-escalation 1, outside: the signed ticket-status webhook, in a workflow of its own
        that outlives this run (retried for a day there)."""
        clock, _ = self.state.monitoring()
        resolution, resolved_at = self.state.resolved_with()
        await workflow.start_child_workflow(
            TicketStatusWorkflow.run,
            TicketStatusUpdate(
                ticket_id=self.state.ticket_id,
                episode_id=self.state.episode.id,
                status="resolved",
                resolved_at=resolved_at,
                resolved_by=resolution.agent,
                resolution=resolution.resolution,
                team=clock.team,
                priority=clock.priority,
            ),
            id=f"ticket-status-{self.state.ticket_id}-{self.state.episode.id}",
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"Tell the ticketing system {self.state.ticket_id} is resolved",
        )

    # --- state for ops: search attributes, current details, the queue row ---------------------

    async def _show_state(self) -> None:
        """Keep the search attributes, the current details and the queue row current."""
        now = workflow.now()
        status = handling.status_of(self.state, now)
        entry = handling.queue_entry(self.state, status)
        if handling.queue_view(entry) != self._shown:
            self._set_state(status.state)
            workflow.upsert_search_attributes(handling.search_attributes(self.state, status))
            if status.state is not State.RESOLVED:
                await self.update_dashboard(entry)
                status = handling.status_of(self.state, now)  # handlers may have run meanwhile
        workflow.set_current_details(handling.details_line(status))

    async def update_dashboard(self, entry: QueueEntry | None = None) -> None:
        """Step 9: the agents' queue row (the search attributes are kept by _set_state)."""
        if entry is None:
            entry = handling.queue_entry(self.state, self.status())
        self._shown = handling.queue_view(entry)
        await workflow.execute_activity_method(
            DashboardActivities.update_dashboard,
            entry,
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary="Step 9: update the agents' queue",
        )

    def _set_state(self, state: EscalationStateName) -> None:
        if state in (State.RESOLVED, State.AUTO_RESPONSE):
            self.state.stage = state
            workflow.set_current_details(f"Finished: {state.value}.")
        workflow.upsert_search_attributes([sa.ESCALATION_STATE.value_set(state.value)])

    def _should_continue_as_new(self) -> bool:
        if workflow.info().is_continue_as_new_suggested():
            return True
        return bool(
            self._can_after and workflow.info().get_current_history_length() > self._can_after
        )

    async def _log(
        self,
        action: str,
        event: dict[str, object],
        key: str | None = None,
        correction: TriageCorrection | None = None,
    ) -> None:
        await workflow.execute_activity_method(
            LogActivities.log_escalation,
            handling.log_entry(self.state, action, event, key, correction),
            start_to_close_timeout=IO_TIMEOUT,
            retry_policy=IO_RETRY,
            summary=f"Step 7: log {action}",
        )
