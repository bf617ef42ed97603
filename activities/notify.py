"""Step 5 — notify the customer: the acknowledgement email, once per escalation episode."""

from __future__ import annotations

from temporalio import activity

from activities.email import send_email_once
from activities.rendering import acknowledgement_email, known_solution_email
from activities.settings import Settings
from escalation.messages import KnownSolutionAnswer, NotificationResult, NotifyCustomerInput


class NotifyActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def notify_customer(self, input: NotifyCustomerInput) -> NotificationResult:
        ticket = input.package.ticket
        subject, body = acknowledgement_email(input.package, input.decision, self.settings.policy())
        result = await send_email_once(
            self.settings,
            key=f"{ticket.id}:{input.episode_id}:acknowledgement",
            ticket_id=ticket.id,
            kind="acknowledgement",
            recipient=ticket.customer_email,
            subject=subject,
            body=body,
        )
        self.settings.faults.maybe_fail("notify_customer")
        return result

    @activity.defn
    async def send_known_solution(self, input: KnownSolutionAnswer) -> NotificationResult:
        """Auto-response with an approved known solution (De-escalation 5): its answer, once."""
        ticket = input.package.ticket
        subject, body = known_solution_email(input.package, input.solution.auto_response)
        return await send_email_once(
            self.settings,
            key=f"{ticket.id}:{input.episode_id}:known-solution",
            ticket_id=ticket.id,
            kind="known_solution",
            recipient=ticket.customer_email,
            subject=subject,
            body=body,
        )
