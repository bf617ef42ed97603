"""De-escalation 1, outside: tell the ticketing system a ticket is resolved, in a workflow of
its own. The escalation run starts it and completes at once (parent-close policy ABANDON), so
a helpdesk that is down for hours never keeps a resolved escalation open."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.de_escalation import DeEscalationActivities
    from escalation.messages import TicketStatusUpdate

# Retried for a day; then the failure stays on the `notifications` row and in this run.
GIVE_UP = timedelta(hours=24)


@workflow.defn
class TicketStatusWorkflow:
    """Delivers one signed ticket-status webhook, at least once (its `webhook-id` is stable)."""

    @workflow.run
    async def run(self, update: TicketStatusUpdate) -> bool:
        """True when the ticketing system took it, False when it was given up on."""
        try:
            await workflow.execute_activity_method(
                DeEscalationActivities.notify_ticketing_system,
                update,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=GIVE_UP,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=5),
                ),
                summary="De-escalation: tell the ticketing system",
            )
        except ActivityError as error:
            workflow.logger.warning("ticket-status webhook gave up: %s", error.cause or error)
            return False
        return True
