"""The web app's conversations with Temporal: start a ticket's run, signal it, ask it, update it.

The same rules as `starter.py` (one workflow per ticket, found by describing it first; the
workflow's updates answer or refuse), with Temporal's failures turned into a few exceptions
the HTTP layer maps to status codes: unknown ticket, closed ticket, refused, no answer, down.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from escalation import search_attributes as sa
from escalation.config import Endpoints
from escalation.messages import (
    EscalationStateName,
    EscalationStatus,
    workflow_id_for,
)
from escalation.models import Model, TicketPayload
from escalation.run_state import EscalationInput

# An update waits for the workflow's answer; a run whose worker is down never answers, and an
# HTTP client must not hang with it.
UPDATE_TIMEOUT_SECONDS = 30.0
# The ticket page shows the live status only if it comes quickly.
QUERY_TIMEOUT_SECONDS = 3.0

UNAVAILABLE = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
)


class TicketError(Exception):
    """A request about a ticket that Temporal answered with something other than success."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TicketNotFound(TicketError):
    """No run for this ticket: 404."""


class TicketClosed(TicketError):
    """The run has finished (resolved, or kept with auto-response): 409."""


class Refused(TicketError):
    """The workflow's update validator refused the request, with its reason: 409."""


class NoAnswer(TicketError):
    """The workflow did not answer in time (its worker may be down): 504."""


class TemporalDown(TicketError):
    """Temporal itself cannot be reached: 503."""


@dataclass(frozen=True)
class StartResult:
    ticket_id: str
    workflow_id: str
    run_id: str
    started: bool


def _translate(error: RPCError, ticket_id: str) -> TicketError:
    message = error.message or str(error)
    if error.status == RPCStatusCode.NOT_FOUND:
        if "completed" in message.lower():
            return TicketClosed(f"ticket {ticket_id} is closed: its escalation has finished")
        return TicketNotFound(f"no escalation for ticket {ticket_id}")
    if error.status in UNAVAILABLE:
        return TemporalDown(f"Temporal is unavailable: {message}")
    return TicketError(message)


def handle_for(client: Client, ticket_id: str) -> WorkflowHandle:
    return client.get_workflow_handle(workflow_id_for(ticket_id))


async def existing_run(client: Client, ticket_id: str) -> str | None:
    """The run id of the ticket's workflow (running or closed), or None when there is none."""
    try:
        description = await handle_for(client, ticket_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise _translate(error, ticket_id) from None
    return description.run_id


async def start_escalation(
    client: Client, endpoints: Endpoints, payload: TicketPayload
) -> StartResult:
    """Start `escalation-<ticketId>`, or find the run already there: one ticket, one workflow.

    Described first (as `starter.py start` does) so a second delivery of a ticket whose run has
    finished does not start it over; USE_EXISTING covers two deliveries racing each other."""
    ticket_id = payload.ticket.id
    workflow_id = workflow_id_for(ticket_id)
    run_id = await existing_run(client, ticket_id)
    if run_id is not None:
        return StartResult(ticket_id, workflow_id, run_id, started=False)
    try:
        handle: WorkflowHandle = await client.start_workflow(
            "EscalationWorkflow",
            EscalationInput(payload=payload, received_at=datetime.now(UTC)),
            id=workflow_id,
            task_queue=endpoints.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.ESCALATION_STATE, EscalationStateName.RECEIVED.value)]
            ),
            static_summary=f"Escalation of ticket {ticket_id}",
        )
    except RPCError as error:
        raise _translate(error, ticket_id) from None
    return StartResult(ticket_id, workflow_id, handle.result_run_id or "", started=True)


async def signal(client: Client, ticket_id: str, name: str, message: Model) -> None:
    """Send a signal (customer reply); unknown or closed tickets raise."""
    try:
        await handle_for(client, ticket_id).signal(name, message)
    except RPCError as error:
        raise _translate(error, ticket_id) from None


async def update(client: Client, ticket_id: str, name: str, message: Model) -> EscalationStatus:
    """Send an update and return the workflow's answer, its status after the change."""
    handle = handle_for(client, ticket_id)
    try:
        async with asyncio.timeout(UPDATE_TIMEOUT_SECONDS):
            return await handle.execute_update(name, message, result_type=EscalationStatus)
    except WorkflowUpdateFailedError as error:
        reason = error.cause.message if error.cause is not None else str(error)
        raise Refused(reason) from None
    except RPCError as error:
        raise _translate(error, ticket_id) from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise NoAnswer(
            f"the escalation of ticket {ticket_id} did not answer within "
            f"{UPDATE_TIMEOUT_SECONDS:.0f} s; the action may still be applied"
        ) from None


async def status(client: Client, ticket_id: str) -> EscalationStatus:
    """The workflow's `status` query; raises like the others, NoAnswer when it is slow."""
    try:
        async with asyncio.timeout(QUERY_TIMEOUT_SECONDS):
            return await handle_for(client, ticket_id).query("status", result_type=EscalationStatus)
    except RPCError as error:
        raise _translate(error, ticket_id) from None
    except TimeoutError:
        raise NoAnswer(f"the escalation of ticket {ticket_id} did not answer in time") from None
