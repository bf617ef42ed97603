"""The escalation run's deliveries in the background: Step 5 (the customer's acknowledgement)
and Step 8's alerts. Neither ever holds up the team, a deadline, the resolution or a
continue-as-new: a channel that is down is retried here while the run goes on; at
continue-as-new an attempt in flight is let finish and a retry waiting out its backoff is
handed over to the next run (same keys: a channel that already took it is not sent it again);
at resolution it gets a short grace, then what did not get out is recorded."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.alerts import AlertActivities
    from activities.notify import NotifyActivities
    from escalation import handling
    from escalation.messages import NotifyCustomerInput
    from escalation.run_state import RunState
    from escalation.sla import AlertSpec, SlaRules

DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
# Every channel of an alert is tried in one attempt (each send capped at 20 s).
ALERT_TIMEOUT = timedelta(seconds=45)
ACK_TIMEOUT = timedelta(seconds=30)
# An alert channel that stays down is retried for a day, then recorded as failed on the run.
ALERT_GIVE_UP = timedelta(hours=24)
# Resolution waits this long for deliveries in flight, then records what did not get out.
GRACE = timedelta(seconds=30)
# A hand-over lets an attempt in flight finish (at most its start-to-close) and keeps its
# outcome; only a retry waiting out its backoff is cancelled outright. Abandoning a running
# attempt would make the next run send it again, and its late completion would be refused.
LET_ATTEMPT_FINISH = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


class Deliveries:
    """Background tasks of one run, keyed by what they deliver."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self._alerts: dict[str, asyncio.Task[None]] = {}
        self._acknowledging: asyncio.Task[None] | None = None
        self._handing_over = False  # tasks being cancelled: their failures are not real

    # --- Step 5 ------------------------------------------------------------------------------

    def acknowledge_customer(self) -> None:
        """Start Step 5 alongside the escalation."""
        self._acknowledging = asyncio.create_task(self.notify_customer(), name="Step 5")

    async def notify_customer(self) -> None:
        """Step 5: acknowledge the customer, retried until the policy's give-up. A relay that
        refuses the address for good (550) is not retried: the team is told instead."""
        package, decision = self.state.escalation()
        _, rules = self.state.monitoring()
        try:
            result = await workflow.execute_activity_method(
                NotifyActivities.notify_customer,
                NotifyCustomerInput(
                    package=package, decision=decision, episode_id=self.state.episode.id
                ),
                start_to_close_timeout=ACK_TIMEOUT,
                schedule_to_close_timeout=timedelta(seconds=rules.acknowledgement_give_up),
                retry_policy=DELIVERY_RETRY,
                cancellation_type=LET_ATTEMPT_FINISH,
                summary="Step 5: acknowledge the customer by email",
            )
        except ActivityError as error:
            if not self._handing_over:
                refused, reason = why_not_notified(error, rules)
                now = workflow.now()
                alerts = handling.not_acknowledged(self.state, reason, refused=refused, now=now)
                self.fire_now(alerts)
            return
        finally:
            self._acknowledging = None
        handling.acknowledged(self.state, result, workflow.now())

    # --- Step 8's alerts -----------------------------------------------------------------

    def fire_now(self, alerts: list[AlertSpec]) -> None:
        for spec in alerts:
            self.fire(spec, workflow.now())

    def fire(self, spec: AlertSpec, due_at: datetime) -> None:
        """Mark the alert fired (never computed again) and deliver it in the background."""
        if handling.fire(self.state, spec, due_at):
            self._start(spec)

    def _start(self, spec: AlertSpec) -> None:
        self._alerts[spec.key] = asyncio.create_task(self._deliver(spec), name=spec.key)

    async def _deliver(self, spec: AlertSpec) -> None:
        alert = handling.alert_input(self.state, spec)
        try:
            await workflow.execute_activity_method(
                AlertActivities.send_alert,
                alert,
                start_to_close_timeout=ALERT_TIMEOUT,
                schedule_to_close_timeout=ALERT_GIVE_UP,
                retry_policy=DELIVERY_RETRY,
                cancellation_type=LET_ATTEMPT_FINISH,
                summary=f"Step 8: alert {spec.kind} to {alert.team} ({spec.audience})",
            )
            handling.alert_delivered(self.state, spec.key, workflow.now())
        except ActivityError as error:
            if not self._handing_over:
                handling.alert_failed(self.state, spec.key, str(error.cause or error))
                workflow.logger.error("alert %s not delivered: %s", spec.key, error.cause)
        finally:
            self._alerts.pop(spec.key, None)

    # --- hand-over and settling ------------------------------------------------------------

    def resume(self) -> None:
        """A continued run picks up what the previous one handed over."""
        for spec in list(self.state.undelivered):
            self._start(spec)
        if self.state.acknowledgement.state == "pending":
            self.acknowledge_customer()

    async def hand_over(self) -> None:
        """Cancel what is in flight; what did not get out stays in the state for the next run
        to resume (an attempt already running is let finish, and counts if it succeeds)."""
        tasks = list(self._alerts.values())
        if self._acknowledging is not None:
            tasks.append(self._acknowledging)
        self._handing_over = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._handing_over = False

    async def settle(self) -> None:
        """Resolution: a short grace for what is in flight, then record what did not get
        out (a channel that is down never holds the resolution back)."""
        try:
            await workflow.wait_condition(
                lambda: not self._alerts and self._acknowledging is None,
                timeout=GRACE,
                timeout_summary="deliveries in flight before resolution",
            )
        except TimeoutError:
            pass
        await self.hand_over()
        for spec in list(self.state.undelivered):
            handling.alert_failed(self.state, spec.key, "not delivered before the resolution")
        if self.state.acknowledgement.state == "pending":
            handling.acknowledgement_cancelled(
                self.state, "not sent: the ticket was resolved before the mail relay took it"
            )


def why_not_notified(error: ActivityError, rules: SlaRules) -> tuple[bool, str]:
    """(refused for good, the reason in words) for a Step 5 that failed."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == "RecipientRefused":
        return True, cause.message
    if isinstance(cause, ActivityTimeout):
        hours = rules.acknowledgement_give_up / 3600
        last = f": {cause.cause}" if cause.cause else ""
        return False, f"the mail relay did not take the acknowledgement within {hours:g} h{last}"
    return False, str(cause or error)
