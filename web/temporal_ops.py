"""The web app's conversations with Temporal: start a ticket's run, signal it, ask it, update it.

The same rules as `starter.py` (one workflow id per ticket, `escalation-<ticketId>`; each
escalation of the ticket is an episode, a run of its own under that id; the workflow's updates
answer or refuse), with Temporal's failures turned into a few exceptions the HTTP layer maps to
status codes: unknown ticket, closed ticket, refused, no answer, down.

Episodes: a delivery of a ticket whose run is still running finds that run; a delivery of a
ticket whose run has finished (or whose run Temporal no longer keeps) starts a new episode; a
customer reply to a resolved ticket within the policy's `reopen_within` starts a new episode
from the previous run's payload, the reply on top and the earlier description quoted below.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import FailureError
from temporalio.service import RPCError, RPCStatusCode

from escalation import search_attributes as sa
from escalation.config import Endpoints
from escalation.messages import (
    CustomerReply,
    EscalationOutcome,
    EscalationStateName,
    EscalationStatus,
    workflow_id_for,
)
from escalation.models import MAX_DESCRIPTION_CHARS, Model, TicketPayload
from escalation.run_state import EscalationInput

# An update waits for the workflow's answer; a run whose worker is down never answers, and an
# HTTP client must not hang with it.
log = logging.getLogger("web")

UPDATE_TIMEOUT_SECONDS = 30.0
# The ticket page shows the live status only if it comes quickly.
QUERY_TIMEOUT_SECONDS = 3.0
# A closed run's result and its first history event come back at once; a server that does not
# answer in this time is treated as down.
HISTORY_TIMEOUT_SECONDS = 10.0

# Why a new episode starts (the workflow logs it, the queue and the ticket page show it).
REOPENED_BY_HELPDESK = "the helpdesk sent the ticket again after its escalation ended"
REOPENED_BY_REPLY = "the customer replied after the resolution"

# The memo key naming the webhook delivery that started a run: the same delivery sent again
# (its answer was lost) finds that run instead of starting another episode.
DELIVERY_MEMO = "webhookId"

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


class ReopenWindowClosed(TicketClosed):
    """A customer reply came after the resolution's `reopen_until`: 409, the helpdesk must
    send a new ticket."""


class Refused(TicketError):
    """The workflow's update validator refused the request, with its reason: 409."""


class NoAnswer(TicketError):
    """The workflow did not answer in time (its worker may be down): 504."""


class TemporalDown(TicketError):
    """Temporal itself cannot be reached: 503."""


TEMPORAL_DOWN = "Temporal is unavailable"


@dataclass(frozen=True)
class StartResult:
    """The run a delivery started or found. `episode_id` is the run chain's first run id (the
    escalation episode); `previous_run_id` the closed run a new episode follows, if Temporal
    still had one."""

    ticket_id: str
    workflow_id: str
    run_id: str
    started: bool
    reopened: bool = False
    episode_id: str | None = None
    previous_run_id: str | None = None
    reopened_because: str | None = None


@dataclass(frozen=True)
class ReplyResult:
    """A customer reply: signalled to the running episode, or a new episode it reopened."""

    ticket_id: str
    workflow_id: str
    signalled: bool
    reopened: bool = False
    run_id: str | None = None
    previous_run_id: str | None = None
    reopen_until: datetime | None = None


def unreachable(error: BaseException) -> bool:
    """The lazy client's first connection failed (the SDK raises a bare RuntimeError for it,
    not an RPCError): Temporal is down, or not up yet."""
    return isinstance(error, RuntimeError) and str(error).startswith("Failed client connect")


def _translate(error: RPCError | RuntimeError, ticket_id: str) -> TicketError:
    if not isinstance(error, RPCError):
        if not unreachable(error):
            raise error
        log.warning("Temporal is unreachable (ticket %s): %s", ticket_id, error)
        return TemporalDown(TEMPORAL_DOWN)
    message = error.message or str(error)
    if error.status == RPCStatusCode.NOT_FOUND:
        if "completed" in message.lower():
            return TicketClosed(f"ticket {ticket_id} is closed: its escalation has finished")
        return TicketNotFound(f"no escalation for ticket {ticket_id}")
    if error.status in UNAVAILABLE:
        # The gRPC message names addresses and transport errors: logged, never answered.
        log.warning("Temporal is unavailable (ticket %s): %s", ticket_id, message)
        return TemporalDown(TEMPORAL_DOWN)
    return TicketError(message)


def handle_for(client: Client, ticket_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(workflow_id_for(ticket_id))


async def latest_run(client: Client, ticket_id: str) -> WorkflowExecutionDescription | None:
    """The ticket's latest run (running or closed), or None when Temporal has none (never
    started, or deleted by retention or by ops)."""
    try:
        return await handle_for(client, ticket_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise _translate(error, ticket_id) from None
    except RuntimeError as error:
        raise _translate(error, ticket_id) from None


async def existing_run(client: Client, ticket_id: str) -> str | None:
    """The run id of the ticket's latest run (running or closed), or None when there is none."""
    description = await latest_run(client, ticket_id)
    return description.run_id if description is not None else None


def episode_of(description: WorkflowExecutionDescription) -> str:
    """The escalation episode of a run: its chain's first run id (kept across continue-as-new)."""
    first = description.raw_description.workflow_execution_info.first_run_id
    return first or description.run_id


async def started_by(description: WorkflowExecutionDescription, delivery_id: str | None) -> bool:
    """The run was started by this webhook delivery (its memo names it)."""
    if delivery_id is None:
        return False
    found = await description.memo_value(DELIVERY_MEMO, None)
    return bool(found == delivery_id)


async def start_escalation(
    client: Client, endpoints: Endpoints, payload: TicketPayload, delivery_id: str | None = None
) -> StartResult:
    """Start `escalation-<ticketId>`, or find the run already there.

    Described first (as `starter.py start` does): a running run is the ticket's escalation, so
    the delivery finds it (started false). A closed run (resolved, kept with auto-response,
    terminated, failed, timed out) or none at all starts a new episode under the same workflow
    id, `reopened` when a previous run existed. USE_EXISTING covers two deliveries racing each
    other: the second finds the run the first started. A run started by this very delivery
    (`delivery_id`, the helpdesk's retry after our answer was lost) is that delivery's answer,
    even once it has finished: the retry never starts another episode."""
    ticket_id = payload.ticket.id
    previous = await latest_run(client, ticket_id)
    if previous is not None and await started_by(previous, delivery_id):
        return StartResult(
            ticket_id,
            workflow_id_for(ticket_id),
            previous.run_id,
            started=True,
            reopened=bool(await previous.memo_value("reopened", False)),
            episode_id=episode_of(previous),
        )
    if previous is not None and previous.status == WorkflowExecutionStatus.RUNNING:
        return StartResult(
            ticket_id,
            workflow_id_for(ticket_id),
            previous.run_id,
            started=False,
            episode_id=episode_of(previous),
        )
    because = REOPENED_BY_HELPDESK if previous is not None else None
    return await start_episode(
        client,
        endpoints,
        payload,
        reopened_because=because,
        previous_run_id=previous.run_id if previous is not None else None,
        delivery_id=delivery_id,
    )


async def start_episode(
    client: Client,
    endpoints: Endpoints,
    payload: TicketPayload,
    *,
    reopened_because: str | None,
    previous_run_id: str | None,
    delivery_id: str | None = None,
) -> StartResult:
    """A new run under the ticket's workflow id (a closed run's id may be reused); the webhook
    delivery starting it is in its memo and its input (the run ignores it if signalled)."""
    ticket_id = payload.ticket.id
    workflow_id = workflow_id_for(ticket_id)
    try:
        handle: WorkflowHandle[Any, Any] = await client.start_workflow(
            "EscalationWorkflow",
            EscalationInput(
                payload=payload,
                received_at=datetime.now(UTC),
                reopened_because=reopened_because,
                delivery_id=delivery_id,
            ),
            id=workflow_id,
            task_queue=endpoints.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.ESCALATION_STATE, EscalationStateName.RECEIVED.value)]
            ),
            static_summary=f"Escalation of ticket {ticket_id}"
            + (" (reopened)" if reopened_because else ""),
            memo=(
                {DELIVERY_MEMO: delivery_id, "reopened": previous_run_id is not None}
                if delivery_id
                else None
            ),
        )
    except (RPCError, RuntimeError) as error:
        raise _translate(error, ticket_id) from None
    run_id = handle.result_run_id or ""
    # The server says whether this call started the run or found one a racing delivery had
    # just started (USE_EXISTING); the SDK keeps its answer on the handle.
    response = getattr(handle, "_start_workflow_response", None)
    started = bool(getattr(response, "started", True))
    return StartResult(
        ticket_id,
        workflow_id,
        run_id,
        started=started,
        reopened=started and previous_run_id is not None,
        episode_id=(handle.first_execution_run_id or run_id) if started else None,
        previous_run_id=previous_run_id,
        reopened_because=reopened_because if started else None,
    )


async def signal(client: Client, ticket_id: str, name: str, message: Model) -> None:
    """Send a signal (customer reply); unknown or closed tickets raise."""
    try:
        await handle_for(client, ticket_id).signal(name, message)
    except (RPCError, RuntimeError) as error:
        raise _translate(error, ticket_id) from None


async def update(
    client: Client, ticket_id: str, name: str, message: Model, update_id: str | None = None
) -> EscalationStatus:
    """Send an update and return the workflow's answer, its status after the change.
    `update_id` (a webhook delivery's id) makes a repeat of the same request an answer of
    Temporal's, not a second change."""
    handle = handle_for(client, ticket_id)
    try:
        async with asyncio.timeout(UPDATE_TIMEOUT_SECONDS):
            answer: EscalationStatus = await handle.execute_update(
                name, message, id=update_id, result_type=EscalationStatus
            )
            return answer
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        reason = cause.message if isinstance(cause, FailureError) else str(cause or error)
        raise Refused(reason) from None
    except (RPCError, RuntimeError) as error:
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
            found: EscalationStatus = await handle_for(client, ticket_id).query(
                "status", result_type=EscalationStatus
            )
            return found
    except (RPCError, RuntimeError) as error:
        raise _translate(error, ticket_id) from None
    except TimeoutError:
        raise NoAnswer(f"the escalation of ticket {ticket_id} did not answer in time") from None


# --- a customer reply after the resolution -----------------------------------------------------


async def reply(
    client: Client,
    endpoints: Endpoints,
    ticket_id: str,
    message: CustomerReply,
    now: datetime | None = None,
) -> ReplyResult:
    """Forward a customer reply: the `customer_replied` signal while the episode runs; once it
    is resolved, within the outcome's `reopen_until` a new episode whose description is the
    reply over the earlier one quoted. After `reopen_until` ReopenWindowClosed (409); a run
    kept with auto-response or closed without a resolution TicketClosed (409); no run at all
    TicketNotFound (404). The message's `delivery_id` makes the reply once-only: the running
    episode ignores a delivery it has seen, and a closed run this delivery reopened answers
    as reopened instead of reopening again."""
    workflow_id = workflow_id_for(ticket_id)
    for _ in range(2):  # a new episode may start between the failed signal and the describe
        try:
            await signal(client, ticket_id, "customer_replied", message)
        except TicketClosed:
            pass
        else:
            return ReplyResult(ticket_id, workflow_id, signalled=True)
        closed = await latest_run(client, ticket_id)
        if closed is None:
            raise TicketNotFound(f"no escalation for ticket {ticket_id}")
        if closed.status != WorkflowExecutionStatus.RUNNING:
            break
    else:
        raise TicketError(f"ticket {ticket_id}: its run changed twice while the reply was sent")
    if await started_by(closed, message.delivery_id):  # this reply reopened it, and it ended
        return ReplyResult(
            ticket_id, workflow_id, signalled=False, reopened=True, run_id=closed.run_id
        )
    outcome = await _outcome_of(client, ticket_id, closed.run_id)
    now = now or datetime.now(UTC)
    if outcome.outcome != "resolved" or outcome.reopen_until is None:
        raise TicketClosed(
            f"ticket {ticket_id} is closed ({outcome.outcome}): the helpdesk must send it as a "
            "new ticket"
        )
    if now >= outcome.reopen_until:
        resolved = f" on {_day(outcome.resolved_at)}" if outcome.resolved_at else ""
        raise ReopenWindowClosed(
            f"ticket {ticket_id} was resolved{resolved}; a customer reply reopens it only until "
            f"{_day(outcome.reopen_until)}: the helpdesk must send a new ticket"
        )
    previous = await _input_of(client, ticket_id, closed.run_id)
    payload = reopened_payload(previous, message, now)
    started = await start_episode(
        client,
        endpoints,
        payload,
        reopened_because=REOPENED_BY_REPLY,
        previous_run_id=closed.run_id,
        delivery_id=message.delivery_id,
    )
    if not started.started:  # another delivery reopened it first: this reply goes to that run
        await signal(client, ticket_id, "customer_replied", message)
        return ReplyResult(ticket_id, workflow_id, signalled=True, run_id=started.run_id)
    return ReplyResult(
        ticket_id,
        workflow_id,
        signalled=False,
        reopened=True,
        run_id=started.run_id,
        previous_run_id=closed.run_id,
        reopen_until=outcome.reopen_until,
    )


def _day(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


async def _outcome_of(client: Client, ticket_id: str, run_id: str) -> EscalationOutcome:
    """A closed run's result; TicketClosed for a run that ended without one."""
    handle = client.get_workflow_handle(
        workflow_id_for(ticket_id), run_id=run_id, result_type=EscalationOutcome
    )
    try:
        async with asyncio.timeout(HISTORY_TIMEOUT_SECONDS):
            outcome: EscalationOutcome = await handle.result(follow_runs=False)
    except WorkflowFailureError:
        raise TicketClosed(
            f"ticket {ticket_id} is closed without a resolution: the helpdesk must send it as "
            "a new ticket"
        ) from None
    except (RPCError, RuntimeError) as error:
        raise _translate(error, ticket_id) from None
    except TimeoutError:
        raise NoAnswer(f"Temporal did not give the result of {ticket_id}'s run in time") from None
    return outcome


async def _input_of(client: Client, ticket_id: str, run_id: str) -> EscalationInput:
    """The run's input, from the first event of its history."""
    handle = client.get_workflow_handle(workflow_id_for(ticket_id), run_id=run_id)
    try:
        async with asyncio.timeout(HISTORY_TIMEOUT_SECONDS):
            async for event in handle.fetch_history_events():
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                decoded = await client.data_converter.decode(payloads, [EscalationInput])
                found: EscalationInput = decoded[0]
                return found
    except (RPCError, RuntimeError) as error:
        raise _translate(error, ticket_id) from None
    except TimeoutError:
        raise NoAnswer(f"Temporal did not give the history of {ticket_id}'s run in time") from None
    raise TicketNotFound(f"no escalation for ticket {ticket_id}: its run has no history")


QUOTE_CUT = "> [...]"


def reopened_payload(
    previous: EscalationInput, message: CustomerReply, now: datetime
) -> TicketPayload:
    """The previous episode's payload with the reply as the ticket's description and the
    earlier description quoted under an "On <date>, <name> wrote:" header, as a mail client
    quotes it: triage's segmenter reads the quote as context, the reply as what is new. The
    quote is cut (whole lines, from the end) to keep the description within its cap."""
    ticket = previous.payload.ticket
    # The earlier text was written when the ticket was created, or (a reopened episode)
    # when the reply that reopened it came in.
    written = previous.received_at if previous.reopened_because else ticket.created_at
    who = (
        f"{ticket.customer_name} <{ticket.customer_email}>"
        if ticket.customer_name
        else (f"<{ticket.customer_email}>")
    )
    header = f"On {written.astimezone(UTC):%a, %d %b %Y at %H:%M} UTC, {who} wrote:"
    text = message.text.strip()
    earlier = ticket.description.strip()
    quoted = [f"> {line}" if line else ">" for line in earlier.splitlines()]
    room = MAX_DESCRIPTION_CHARS - len(text) - len(header) - 4
    description = text
    if earlier and room > len(QUOTE_CUT):
        kept: list[str] = []
        used = 0
        for line in quoted:
            if used + len(line) + 1 > room - len(QUOTE_CUT) - 1:
                kept.append(QUOTE_CUT)
                break
            kept.append(line)
            used += len(line) + 1
        description = f"{text}\n\n{header}\n" + "\n".join(kept)
    data = previous.payload.to_json_dict()
    data["ticket"]["description"] = description[:MAX_DESCRIPTION_CHARS]
    try:
        return TicketPayload.model_validate(data)
    except ValidationError:  # the whole ticket over its cap with the quote: the reply alone
        data["ticket"]["description"] = text[:MAX_DESCRIPTION_CHARS]
        return TicketPayload.model_validate(data)
