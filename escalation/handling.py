"""The escalation run's rules as plain functions of its state and the time.

Which messages are accepted (checks), what each one changes (effects: the clock, the log
events it queues, the alerts it fires), the events the steps log, and what the status query,
the agents' queue row and the offered actions show. The workflow (workflows/escalation.py) calls
these and only orchestrates; they are unit-tested without Temporal (tests/test_handling.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio.common import SearchAttributeUpdate

from escalation import search_attributes as sa
from escalation.messages import (
    AgentResponse,
    AlertInput,
    AssignmentInput,
    ClosedTicket,
    CustomerReply,
    EscalationOutcome,
    EscalationStateName,
    EscalationStatus,
    LogEntry,
    NotificationResult,
    PendingWork,
    QueueEntry,
    Reassign,
    ReplyAssessment,
    ResolutionRecord,
    ResolveInput,
    SatisfactionInput,
    TriageCorrection,
    WaitOnCustomer,
)
from escalation.models import EscalationPackage, Priority, TicketPayload, TriageDecision
from escalation.quality import run_quality_checks
from escalation.run_state import RunState
from escalation.sla import AlertRecord, AlertSpec, SlaClock, SlaRules

State = EscalationStateName
REPLY_EXCERPT = 300
# What an agent may send while the escalation is open; once resolved only the helpdesk's
# satisfaction rating is still taken (it lands in the database, not in the closed run).
AGENT_ACTIONS = ("respond", "wait_on_customer", "reassign", "resolve", "set_satisfaction")
AFTER_RESOLUTION = ("set_satisfaction",)


# --- checks: a message that breaks one is refused with the reason ---------------------------


def check_open(state: RunState) -> None:
    if state.finished:
        done = "resolved" if state.resolution is not None else state.stage.value
        raise ValueError(f"ticket {state.ticket_id} is already {done}")


def check_reply(state: RunState, reply: CustomerReply) -> None:
    check_open(state)


def check_agent(state: RunState, action: AgentResponse | WaitOnCustomer | ResolveInput) -> None:
    check_open(state)
    if not action.agent.strip():
        raise ValueError("agent must name who acts")


def check_satisfaction(state: RunState, rating: SatisfactionInput) -> None:
    if not 1 <= rating.score <= 5:
        raise ValueError(f"satisfaction score must be 1-5, got {rating.score}")
    check_open(state)


def check_reassign(state: RunState, reassign: Reassign) -> None:
    check_open(state)
    if reassign.team is None and reassign.priority is None:
        raise ValueError("reassign needs a team or a priority to change to")
    rules, clock = state.rules, state.clock
    if reassign.team is not None and rules is not None and reassign.team not in rules.teams:
        raise ValueError(f"unknown team {reassign.team!r} (known: {', '.join(rules.teams)})")
    if clock is not None:
        team = reassign.team or clock.team
        priority = reassign.priority or clock.priority
        if (team, priority) == (clock.team, clock.priority):
            raise ValueError(
                f"ticket {state.ticket_id} is already with {team}"
                + (f" as {priority}" if reassign.priority else "")
            )


def check_resolve(state: RunState, resolution: ResolveInput) -> None:
    check_agent(state, resolution)
    if not resolution.resolution.strip():
        raise ValueError("resolution must say how the ticket was resolved")


# --- the escalation itself -----------------------------------------------------------------


def response_seconds(decision: TriageDecision) -> int:
    if decision.response_target_seconds is not None:
        return decision.response_target_seconds
    return (decision.response_target_minutes or 0) * 60


def begin_escalation(
    state: RunState,
    package: EscalationPackage,
    decision: TriageDecision,
    rules: SlaRules,
    summary: str,
    now: datetime,
) -> None:
    """The team has it from now: the SLA clock starts, the quality checks run (the customer is
    not notified yet: Step 5 runs alongside and updates them)."""
    assert decision.team and decision.priority
    state.package, state.decision, state.rules = package, decision, rules
    state.summary_markdown = summary
    state.clock = SlaClock(
        ticket_id=state.ticket_id,
        episode_id=state.episode.id,
        team=decision.team,
        priority=decision.priority,
        escalated_at=now,
        response_target_seconds=response_seconds(decision),
        response_clock_started_at=now,
        last_progress_at=now,
    )
    state.stage = State.ESCALATED
    _check_quality(state)


def _check_quality(state: RunState) -> None:
    package, decision = state.escalation()
    notified = state.acknowledgement.notified
    report = run_quality_checks(package, decision, state.summary_markdown, bool(notified))
    state.quality_checks = report.checks


def acknowledged(state: RunState, result: NotificationResult, now: datetime) -> None:
    """Step 5 delivered: the customer knows; the log records it with the quality checks."""
    state.acknowledgement.state = "sent"
    state.acknowledgement.message_id = result.message_id
    _check_quality(state)
    record(
        state,
        "customer_notified",
        {
            "customerNotified": True,
            "notificationMessageId": result.message_id,
            "qualityChecks": state.quality_checks,
            "qualityPassed": all(state.quality_checks.values()),
        },
        now,
    )


def not_acknowledged(
    state: RunState, reason: str, *, refused: bool, now: datetime
) -> list[AlertSpec]:
    """Step 5 failed for good (the relay refused the address, or stayed down past the
    give-up): the status, the log, the summary and the quality checks say so, and the team
    is alerted so a human reaches the customer another way."""
    ack = state.acknowledgement
    ack.state, ack.reason = ("refused" if refused else "gave_up"), reason
    notice = f"\n\n> **The customer could not be notified:** {reason}\n"
    state.summary_markdown = state.summary_markdown.rstrip() + notice
    _check_quality(state)
    record(
        state,
        "customer_not_notified",
        {
            "customerNotified": False,
            "reason": reason,
            "qualityChecks": state.quality_checks,
            "qualityPassed": False,
        },
        now,
    )
    clock, _ = state.monitoring()
    return [
        AlertSpec(
            key=clock.key("customer_not_notified"),
            kind="customer_not_notified",
            headline="The customer could not be notified: please reach them another way",
            details={"reason": reason[:REPLY_EXCERPT]},
        )
    ]


def acknowledgement_cancelled(state: RunState, reason: str) -> None:
    state.acknowledgement.state, state.acknowledgement.reason = "cancelled", reason


# --- effects of messages -----------------------------------------------------------------

# How many recent delivery ids an episode remembers. A helpdesk retries a delivery within hours
# and sends far fewer messages per ticket than this in that time.
SEEN_DELIVERIES_KEPT = 200


def first_delivery(state: RunState, delivery_id: str | None) -> bool:
    """True (and remembered) the first time the episode sees this delivery id, False when it
    has already acted on it; a message without an id is always new."""
    if delivery_id is None:
        return True
    if delivery_id in state.seen_deliveries:
        return False
    state.seen_deliveries.append(delivery_id)
    del state.seen_deliveries[:-SEEN_DELIVERIES_KEPT]
    return True


def record(state: RunState, action: str, details: dict[str, object], now: datetime) -> PendingWork:
    """Queue an escalation_log event under the episode's next sequence number."""
    clock, _ = state.monitoring()
    clock.log_seq += 1
    event = {"ticketId": state.ticket_id, "action": action, "timestamp": now.isoformat()}
    work = PendingWork(
        kind="log", action=action, event=event | details, key=f"{action}:{clock.log_seq}"
    )
    state.work.append(work)
    return work


def customer_replied(state: RunState, reply: CustomerReply, now: datetime) -> list[AlertSpec]:
    """The customer wrote again: a paused clock resumes, a waiting P0/P1 team is alerted,
    and the reply is assessed (an angrier customer may lift the priority)."""
    clock, rules = state.monitoring()
    clock.replies += 1
    clock.last_customer_activity_at = reply.at or now
    clock.progress(now)
    excerpt = reply.text.strip()[:REPLY_EXCERPT]
    alerts: list[AlertSpec] = []
    if clock.paused:
        clock.resume(now)
        alerts.append(
            AlertSpec(
                key=clock.key("customer_answered", clock.replies),
                kind="customer_answered",
                audience="agent",
                headline="The customer answered: the resolution clock runs again",
                details={"reply": excerpt},
            )
        )
    elif clock.priority in rules.reply_alert_priorities:
        alerts.append(
            AlertSpec(
                key=clock.key("customer_replied", clock.replies),
                kind="customer_replied",
                headline="The customer replied while waiting for us",
                details={"reply": excerpt},
            )
        )
    record(state, "customer_replied", {"reply": excerpt, "replyNumber": clock.replies}, now)
    state.work.append(PendingWork(kind="assess_reply", text=reply.text))
    return alerts


def satisfaction_changed(
    state: RunState, rating: SatisfactionInput, now: datetime
) -> list[AlertSpec]:
    clock, rules = state.monitoring()
    previous, clock.satisfaction = clock.satisfaction, rating.score
    clock.satisfaction_changes += 1
    dropped = previous is not None and rating.score < previous
    low = rating.score < rules.satisfaction_alert_below
    alerts: list[AlertSpec] = []
    if (dropped or low) and clock.priority in rules.satisfaction_alert_priorities:
        alerts.append(
            AlertSpec(
                key=clock.key("satisfaction_drop", clock.satisfaction_changes),
                kind="satisfaction_drop",
                headline=f"Customer satisfaction dropped to {rating.score}/5"
                + (f" (was {previous}/5)" if previous is not None else ""),
                details={"comment": (rating.comment or "")[:REPLY_EXCERPT]},
            )
        )
    record(
        state,
        "satisfaction_changed",
        {"score": rating.score, "previous": previous, "comment": rating.comment},
        now,
    )
    return alerts


def agent_responded(state: RunState, response: AgentResponse, now: datetime) -> None:
    """A human answered: the response clock stops (the episode's first response is kept)."""
    clock, _ = state.monitoring()
    first = clock.responded(response.agent, now)
    clock.last_agent_activity_at = now
    clock.progress(now)
    record(
        state,
        "agent_responded",
        {"agent": response.agent, "note": response.note, "firstResponse": first},
        now,
    )


def waiting_on_customer(state: RunState, wait: WaitOnCustomer, now: datetime) -> None:
    """Asking the customer is a human response, and pauses the resolution clock."""
    clock, _ = state.monitoring()
    clock.responded(wait.agent, now)
    clock.last_agent_activity_at = now
    clock.progress(now)
    clock.pause(now)
    record(state, "waiting_on_customer", {"agent": wait.agent, "question": wait.question}, now)


def reassigned(
    state: RunState, reassign: Reassign, now: datetime, *, run_id: str
) -> list[AlertSpec]:
    """A new team and/or priority: the clock retargets (a new team restarts the response
    clock and is alerted); the change is kept as a correction of triage."""
    clock, rules = state.monitoring()
    previous, previous_priority = clock.team, clock.priority
    team = reassign.team or clock.team
    priority = reassign.priority or clock.priority
    clock.retarget(team=team, priority=priority, rules=rules, now=now)
    clock.last_agent_activity_at = now
    clock.progress(now)
    alerts: list[AlertSpec] = []
    if team != previous:
        alerts.append(
            AlertSpec(
                key=clock.key("reassigned", f"g{clock.generation}"),
                kind="reassigned",
                headline=f"Reassigned to you from {previous}",
                details={"reason": reassign.reason or ""},
            )
        )
    work = record(
        state,
        "reassigned",
        {
            "from": previous,
            "to": team,
            "fromPriority": previous_priority,
            "toPriority": priority,
            "reason": reassign.reason,
            "agent": reassign.agent,
        },
        now,
    )
    work.correction = correction(state, reassign, previous, previous_priority, now, run_id)
    return alerts


def correction(
    state: RunState,
    reassign: Reassign,
    previous: str,
    previous_priority: Priority,
    now: datetime,
    run_id: str,
) -> TriageCorrection:
    """The labelled example an agent's reassign makes, keyed by workflow, episode and the log
    event's sequence number: stable across retries, replays and continue-as-new."""
    package, decision = state.escalation()
    clock, _ = state.monitoring()
    episode = state.episode.id
    return TriageCorrection(
        key=f"{state.workflow_id}:{episode}:correction:{clock.log_seq}",
        ticket_id=state.ticket_id,
        workflow_id=state.workflow_id,
        episode_id=episode,
        run_id=run_id,
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
        corrected_at=now,
    )


def reply_assessed(state: RunState, assessment: ReplyAssessment, now: datetime) -> bool:
    """An angrier customer on a problem lifts the ticket: True when the priority changed."""
    clock, rules = state.monitoring()
    lift = assessment.lift_to
    if lift is None or lift.rank >= clock.priority.rank:
        return False
    previous = clock.priority
    clock.retarget(team=clock.team, priority=lift, rules=rules, now=now)
    record(
        state,
        "priority_changed",
        {"from": previous, "to": clock.priority, "because": assessment.sentiment},
        now,
    )
    return True


def resolved(state: RunState, resolution: ResolveInput, now: datetime) -> None:
    """Resolved now: the answer to `resolve` already shows the resolution and its time."""
    state.resolution, state.resolved_at = resolution, now
    state.stage = State.RESOLVED


# --- alerts --------------------------------------------------------------------------------


def fire(state: RunState, spec: AlertSpec, due_at: datetime) -> bool:
    """Mark the alert fired (it is never computed again) and due for delivery; False when it
    was fired before."""
    clock, _ = state.monitoring()
    if spec.key in clock.fired:
        return False
    clock.mark_fired(spec, due_at)
    state.undelivered.append(spec)
    return True


def alert_record(state: RunState, key: str) -> AlertRecord:
    clock, _ = state.monitoring()
    return next(record for record in clock.alerts if record.key == key)


def alert_delivered(state: RunState, key: str, now: datetime) -> None:
    alert_record(state, key).sent_at = now
    state.undelivered = [spec for spec in state.undelivered if spec.key != key]


def alert_failed(state: RunState, key: str, reason: str) -> None:
    alert_record(state, key).failed = reason
    state.undelivered = [spec for spec in state.undelivered if spec.key != key]


def alert_input(state: RunState, spec: AlertSpec) -> AlertInput:
    clock, _ = state.monitoring()
    return AlertInput(
        key=spec.key,
        ticket_id=state.ticket_id,
        kind=spec.kind,
        audience=spec.audience,
        team=alert_record(state, spec.key).team,
        priority=clock.priority,
        agent=clock.responded_by,
        headline=spec.headline,
        details=spec.details,
        workflow_id=state.workflow_id,
        episode_id=state.episode.id,
    )


# --- what the steps write ------------------------------------------------------------------


def log_entry(
    state: RunState,
    action: str,
    event: dict[str, object],
    key: str | None = None,
    correction: TriageCorrection | None = None,
) -> LogEntry:
    """One escalation_log event, written once under its episode's key."""
    return LogEntry(
        key=f"{state.ticket_id}:{state.episode.id}:{key or action}",
        ticket_id=state.ticket_id,
        episode_id=state.episode.id,
        action=action,
        event={"episodeId": state.episode.id, **event},
        correction=correction,
    )


def assignment(state: RunState) -> AssignmentInput:
    """Step 6: the seed's support_assignments row, one per episode."""
    _, decision = state.escalation()
    clock, _ = state.monitoring()
    return AssignmentInput(
        ticket_id=state.ticket_id,
        episode_id=state.episode.id,
        episode_number=state.episode.number,
        previous_episode_id=state.episode.previous_id,
        reopened_because=state.episode.reopened_because,
        workflow_id=state.workflow_id,
        team=clock.team,
        priority=clock.priority,
        escalated_at=clock.escalated_at,
        escalation_reason=decision.headline or (decision.reasons or ["escalated"])[0],
        expected_response_seconds=clock.response_target_seconds,
    )


def escalated_event(state: RunState, received_at: datetime, now: datetime) -> dict[str, object]:
    """Step 7: the seed's log fields, plus what ops and the metrics need. The customer's
    acknowledgement is still on its way (its own event follows)."""
    package, decision = state.escalation()
    clock, _ = state.monitoring()
    triage_seconds = max(0, round((now - received_at).total_seconds()))
    episode = state.episode
    return {
        "ticketId": state.ticket_id,
        "action": "escalated",
        "timestamp": now.isoformat(),
        "escalatedTo": decision.team,
        "priority": decision.priority,
        "reason": decision.headline,
        "agentTriageTime": f"{triage_seconds} seconds",
        "customerNotified": None,
        "triggers": list(decision.triggers),
        "scenario": decision.scenario,
        "responseTargetMinutes": decision.response_target_minutes,
        "slaDueAt": _iso(clock.response_due_at()),
        "ticketCreatedAt": package.ticket.created_at.isoformat(),
        "receivedAt": received_at.isoformat(),
        "qualityChecks": state.quality_checks,
        "qualityPassed": all(state.quality_checks.values()),
        "missingContext": package.gaps,
        "episode": episode.number,
        "previousEpisodeId": episode.previous_id,
        "reopenedBecause": episode.reopened_because,
    }


def auto_response_event(state: RunState, now: datetime) -> dict[str, object]:
    _, decision = state.escalation()
    event: dict[str, object] = {
        "ticketId": state.ticket_id,
        "action": "auto_response",
        "timestamp": now.isoformat(),
        "triggers": [],
        "scenario": decision.scenario,
        "reasons": decision.reasons,
    }
    if decision.known_solution is not None:
        event["knownSolutionId"] = decision.known_solution.id
    return event


def resolution_record(state: RunState) -> ResolutionRecord:
    """De-escalation: the resolution with its timing, measured from the episode's first
    response (a reassignment does not erase it)."""
    package, decision = state.escalation()
    clock, _ = state.monitoring()
    resolution, resolved_at = state.resolved_with()
    return ResolutionRecord(
        ticket_id=state.ticket_id,
        episode_id=state.episode.id,
        agent=resolution.agent,
        resolution=resolution.resolution,
        escalation_necessary=resolution.escalation_necessary,
        team=clock.team,
        priority=clock.priority,
        scenario=decision.scenario,
        error_code=package.technical_context.error_code,
        ticket_text=package.ticket.text,
        escalated_at=clock.escalated_at,
        responded_at=clock.first_responded_at,
        resolved_at=resolved_at,
        paused_seconds=clock.paused_seconds_at(resolved_at),
        response_target_seconds=clock.response_target_seconds,
    )


def resolved_event(state: RunState, closed: ClosedTicket) -> dict[str, object]:
    clock, _ = state.monitoring()
    resolution, resolved_at = state.resolved_with()
    return {
        "ticketId": state.ticket_id,
        "action": "resolved",
        "timestamp": resolved_at.isoformat(),
        "resolvedBy": resolution.agent,
        "resolution": resolution.resolution,
        "escalationNecessary": resolution.escalation_necessary,
        "team": clock.team,
        "priority": clock.priority,
        "respondedAt": _iso(clock.first_responded_at),
        "pausedSeconds": clock.paused_seconds_at(resolved_at),
        "resolutionSeconds": closed.resolution_seconds,
        "afterResponseSeconds": closed.after_response_seconds,
        "quick": closed.quick,
        "patternId": closed.pattern_id,
        "undeliveredAlerts": [r.key for r in clock.alerts if r.sent_at is None],
    }


def outcome(state: RunState) -> EscalationOutcome:
    if state.stage is State.AUTO_RESPONSE:
        return EscalationOutcome(
            ticket_id=state.ticket_id, outcome="auto-response", episode_id=state.episode.id
        )
    clock, rules = state.monitoring()
    resolution, resolved_at = state.resolved_with()
    return EscalationOutcome(
        ticket_id=state.ticket_id,
        outcome="resolved",
        episode_id=state.episode.id,
        team=clock.team,
        priority=clock.priority,
        resolved_by=resolution.agent,
        resolution=resolution.resolution,
        resolved_at=resolved_at,
        reopen_until=resolved_at + timedelta(seconds=rules.reopen_within),
    )


# --- what ops and agents see ------------------------------------------------------------


def current_state(state: RunState, now: datetime) -> EscalationStateName:
    clock = state.clock
    if state.resolution is not None:
        return State.RESOLVED
    if clock is None:
        return state.stage
    if clock.paused:
        return State.WAITING_ON_CUSTOMER
    if clock.breached(now):
        return State.BREACHED
    if clock.responded_at is not None:
        return State.RESPONDED
    return State.ESCALATED


def actions(state: RunState) -> list[str]:
    if state.resolution is not None:
        return list(AFTER_RESOLUTION)
    if state.finished or state.clock is None:
        return []
    return list(AGENT_ACTIONS)


def status_of(state: RunState, now: datetime) -> EscalationStatus:
    """The `status` query answer. A resolved ticket shows no live deadline."""
    episode, decision, ack = state.episode, state.decision, state.acknowledgement
    status = EscalationStatus(
        ticket_id=state.ticket_id,
        workflow_id=state.workflow_id,
        state=current_state(state, now),
        episode_id=episode.id,
        episode=episode.number,
        previous_episode_id=episode.previous_id,
        reopened_because=episode.reopened_because,
        scenario=decision.scenario if decision else None,
        triggers=list(decision.triggers) if decision else [],
        team=decision.team if decision else None,
        priority=decision.priority if decision else None,
        customer_notified=ack.state == "sent",
        acknowledgement=ack.state if state.clock is not None else "none",
        customer_notice=ack.reason,
        quality_checks=state.quality_checks,
        gaps=state.gaps,
        summary_markdown=state.summary_markdown or None,
        resolved_at=state.resolved_at,
        resolution=state.resolution.resolution if state.resolution else None,
        runs=state.runs,
        actions=actions(state),
    )
    clock, rules = state.clock, state.rules
    if clock is None or rules is None:
        return status
    status.team, status.priority = clock.team, clock.priority
    status.escalated_at = clock.escalated_at
    status.responded_at, status.responded_by = clock.first_responded_at, clock.first_responded_by
    status.paused = clock.paused and state.resolution is None
    status.paused_seconds = clock.paused_seconds_at(state.resolved_at or now)
    status.last_customer_activity_at = clock.last_customer_activity_at
    status.last_agent_activity_at = clock.last_agent_activity_at
    status.satisfaction = clock.satisfaction
    status.customer_replies = clock.replies
    status.alerts = clock.alerts
    if state.resolution is None:
        status.response_due_at = clock.response_due_at()
        status.response_warning_at = clock.response_warning_at(rules)
        status.manager_escalation_at = clock.manager_escalation_at(rules)
        status.next_daily_check_at = clock.next_daily_check_at(rules)
        status.no_progress_followup_at = clock.no_progress_followup_at(rules)
        status.sla_due_at = clock.next_sla_due_at(rules)
    return status


def queue_entry(state: RunState, status: EscalationStatus) -> QueueEntry:
    """Step 9: what the agents' queue shows for this episode (`status`: its status_of)."""
    package, decision = state.escalation()
    return QueueEntry(
        ticket_id=state.ticket_id,
        episode_id=state.episode.id,
        state=status.state,
        subject=package.ticket.subject,
        customer_name=package.ticket.customer_name,
        premium=decision.premium,
        time_sensitive=decision.time_sensitive,
        sentiment=decision.sentiment,
        scenario=decision.scenario,
        sla_due_at=status.sla_due_at,
        summary_markdown=state.summary_markdown,
        team=status.team,
        priority=status.priority,
        customer_notified=state.acknowledgement.notified,
        customer_notice=status.customer_notice,
        paused=status.paused,
        resolved_at=state.resolved_at,
        resolution=status.resolution,
    )


def queue_view(entry: QueueEntry) -> tuple[object, ...]:
    """What the queue row shows that can change: a new view means Step 9 writes again."""
    return (
        entry.state,
        entry.team,
        entry.priority,
        entry.sla_due_at,
        entry.customer_notified,
        entry.paused,
        entry.summary_markdown,
    )


def search_attributes(
    state: RunState, status: EscalationStatus, *, with_ticket: bool = False
) -> list[SearchAttributeUpdate[Any]]:
    """What ops filter on in the Temporal UI: priority, team, SLA due time, and once
    (`with_ticket`) the customer's tier and the 🔥 flag. No PII, ever."""
    package, decision = state.escalation()
    assert status.team and status.priority
    due = status.sla_due_at
    updates: list[SearchAttributeUpdate[Any]] = [
        sa.ESCALATION_PRIORITY.value_set(status.priority.value),
        sa.ESCALATION_TEAM.value_set(status.team),
        sa.SLA_DUE_AT.value_set(due) if due else sa.SLA_DUE_AT.value_unset(),
    ]
    if with_ticket:
        updates += [
            sa.CUSTOMER_TIER.value_set(package.tier.value),
            sa.TIME_SENSITIVE.value_set(decision.time_sensitive),
        ]
    return updates


def details_line(status: EscalationStatus) -> str:
    """The run's current details in the Temporal UI."""
    if status.state in (State.RESOLVED, State.AUTO_RESPONSE):
        return f"Finished: {status.state.value}."
    due = status.sla_due_at
    return (
        f"**{status.state.value}** with **{status.team}** as **{status.priority}**; "
        + (f"next SLA deadline {due:%Y-%m-%d %H:%M:%S} UTC" if due else "no SLA deadline")
        + (" (paused: waiting on the customer)" if status.paused else "")
        + f"; {len(status.alerts)} alert(s)."
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
