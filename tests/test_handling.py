"""The escalation run's rules (escalation/handling.py) as plain functions: no Temporal, no
database, milliseconds. The workflow tests prove the orchestration; these prove the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from escalation import handling
from escalation.messages import (
    AgentResponse,
    ClosedTicket,
    CustomerReply,
    EscalationStateName,
    NotificationResult,
    Reassign,
    ReplyAssessment,
    ResolveInput,
    SatisfactionInput,
    WaitOnCustomer,
)
from escalation.models import EscalationPackage, Priority, TriageDecision
from escalation.run_state import Episode, RunState
from escalation.sla import SlaRules, due_alerts
from tests.conftest import load_example

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RULES = SlaRules(
    response_targets={Priority.P0: 900, Priority.P1: 3600, Priority.P2: 4 * 3600},
    teams=["engineering", "billing", "customer_success"],
)
SUMMARY = "## Issue\nPhotos gone\n## Suggested Actions\n1. Check the upload logs\n"


def decision(priority: Priority = Priority.P1) -> TriageDecision:
    return TriageDecision(
        ticket_id="T-1",
        escalate=True,
        triggers=["urgency"],
        team="engineering",
        priority=priority,
        response_target_minutes=60,
        scenario="data_loss_single_user",
        sentiment="frustrated",
        time_sensitive=False,
        premium=True,
        reasons=["photos disappeared"],
        headline="Data loss",
    )


def escalated(priority: Priority = Priority.P1, episode: str = "run-1") -> RunState:
    state = RunState(ticket_id="T-1", workflow_id="escalation-T-1", episode=Episode(id=episode))
    package = EscalationPackage.from_payload(load_example(id="T-1"))
    handling.begin_escalation(state, package, decision(priority), RULES, SUMMARY, T0)
    return state


def sent(message_id: str = "<m@x>") -> NotificationResult:
    return NotificationResult(
        idempotency_key="k",
        message_id=message_id,
        recipient="a@b.c",
        subject="s",
        already_sent=False,
    )


def logged(state: RunState) -> list[str]:
    return [work.action for work in state.work if work.kind == "log"]


def test_the_team_has_it_before_the_customer_hears() -> None:
    state = escalated()
    status = handling.status_of(state, T0)
    assert status.state is EscalationStateName.ESCALATED
    assert status.customer_notified is False and status.acknowledgement == "pending"
    assert status.quality_checks["customer_notified"] is False
    event = handling.escalated_event(state, T0 - timedelta(seconds=3), T0)
    assert event["customerNotified"] is None and event["agentTriageTime"] == "3 seconds"

    handling.acknowledged(state, sent("<ack@x>"), T0 + timedelta(seconds=2))
    status = handling.status_of(state, T0 + timedelta(seconds=2))
    assert status.customer_notified is True and status.quality_checks["customer_notified"]
    assert status.acknowledgement == "sent"
    assert logged(state) == ["customer_notified"]
    assert state.work[0].event["notificationMessageId"] == "<ack@x>"


def test_a_refused_address_is_recorded_everywhere_and_alerts_the_team() -> None:
    state = escalated()
    reason = "the mail relay refused rita@example.org: 550 5.1.1 user unknown"
    [alert] = handling.not_acknowledged(state, reason, refused=True, now=T0)
    status = handling.status_of(state, T0)
    assert status.customer_notified is False and status.customer_notice == reason
    assert status.acknowledgement == "refused"
    assert status.quality_checks["customer_notified"] is False
    assert "could not be notified" in (status.summary_markdown or "")
    assert reason in (status.summary_markdown or "")
    assert (alert.kind, alert.audience) == ("customer_not_notified", "team")
    assert alert.key == "T-1:run-1:customer_not_notified"
    assert logged(state) == ["customer_not_notified"]
    assert state.work[0].event["reason"] == reason
    entry = handling.queue_entry(state, handling.status_of(state, T0))
    assert (entry.customer_notified, entry.customer_notice) == (False, reason)


def test_every_key_belongs_to_its_episode() -> None:
    first, second = escalated(episode="run-1"), escalated(episode="run-2")
    keys = [spec.key for _, spec in due_alerts(first.clock, RULES, T0 + timedelta(hours=2))]
    other = [spec.key for _, spec in due_alerts(second.clock, RULES, T0 + timedelta(hours=2))]
    assert keys and all(key.startswith("T-1:run-1:") for key in keys)
    assert not set(keys) & set(other)
    assert handling.log_entry(first, "escalated", {}).key == "T-1:run-1:escalated"
    assert handling.log_entry(second, "escalated", {}).key == "T-1:run-2:escalated"
    assert handling.assignment(second).episode_id == "run-2"


def test_the_first_response_survives_a_reassignment() -> None:
    state = escalated()
    handling.agent_responded(state, AgentResponse(agent="ana"), T0 + timedelta(minutes=5))
    [alert] = handling.reassigned(
        state, Reassign(team="billing", agent="ana"), T0 + timedelta(minutes=10), run_id="r"
    )
    assert alert.kind == "reassigned"
    status = handling.status_of(state, T0 + timedelta(minutes=10))
    assert status.responded_at == T0 + timedelta(minutes=5) and status.responded_by == "ana"
    # The new team's own response clock runs (it has not answered yet).
    assert status.response_due_at == T0 + timedelta(minutes=10, hours=1)
    handling.resolved(state, ResolveInput(agent="bo", resolution="Refunded"), T0 + timedelta(1))
    assert handling.resolution_record(state).responded_at == T0 + timedelta(minutes=5)


def test_resolved_shows_the_resolution_and_no_live_deadline_or_agent_action() -> None:
    state = escalated(Priority.P2)
    handling.waiting_on_customer(state, WaitOnCustomer(agent="ana"), T0 + timedelta(hours=1))
    at = T0 + timedelta(hours=2)
    handling.resolved(state, ResolveInput(agent="ana", resolution="Relinked"), at)
    status = handling.status_of(state, at + timedelta(hours=30))
    assert status.state is EscalationStateName.RESOLVED
    assert (status.resolution, status.resolved_at) == ("Relinked", at)
    for deadline in (
        status.response_due_at,
        status.response_warning_at,
        status.manager_escalation_at,
        status.next_daily_check_at,
        status.no_progress_followup_at,
        status.sla_due_at,
    ):
        assert deadline is None
    assert status.paused is False
    assert status.paused_seconds == 3600  # counted up to the resolution, not to now
    assert status.actions == ["set_satisfaction"]
    with pytest.raises(ValueError, match="already resolved"):
        handling.check_agent(state, AgentResponse(agent="bo"))
    outcome = handling.outcome(state)
    assert outcome.resolved_at == at and outcome.reopen_until == at + timedelta(days=7)
    closed = ClosedTicket(
        resolution_seconds=3600, after_response_seconds=0, quick=True, quick_threshold_seconds=1
    )
    assert handling.resolved_event(state, closed)["pausedSeconds"] == 3600


def test_a_paused_clock_shows_paused_and_no_manager_deadline() -> None:
    state = escalated(Priority.P1)
    handling.waiting_on_customer(state, WaitOnCustomer(agent="ana"), T0 + timedelta(minutes=5))
    status = handling.status_of(state, T0 + timedelta(hours=1))
    assert status.paused and status.state is EscalationStateName.WAITING_ON_CUSTOMER
    assert status.manager_escalation_at is None
    later = T0 + timedelta(hours=1)
    assert handling.queue_entry(state, handling.status_of(state, later)).paused
    [alert] = handling.customer_replied(
        state, CustomerReply(text="Here it is"), T0 + timedelta(hours=1)
    )
    assert alert.kind == "customer_answered"
    status = handling.status_of(state, T0 + timedelta(hours=1))
    assert not status.paused and status.paused_seconds == 55 * 60


def test_checks_refuse_what_makes_no_sense() -> None:
    state = escalated()
    with pytest.raises(ValueError, match="1-5"):
        handling.check_satisfaction(state, SatisfactionInput(score=6))
    with pytest.raises(ValueError, match="unknown team 'marketing'"):
        handling.check_reassign(state, Reassign(team="marketing"))
    with pytest.raises(ValueError, match="already with engineering"):
        handling.check_reassign(state, Reassign(team="engineering"))
    with pytest.raises(ValueError, match="team or a priority"):
        handling.check_reassign(state, Reassign())
    with pytest.raises(ValueError, match="agent must name"):
        handling.check_agent(state, AgentResponse(agent="  "))
    with pytest.raises(ValueError, match="say how"):
        handling.check_resolve(state, ResolveInput(agent="ana", resolution=" "))


def test_an_angrier_reply_lifts_the_priority_once() -> None:
    state = escalated(Priority.P2)
    lift = ReplyAssessment(sentiment="angry", angry=True, lift_to=Priority.P1)
    assert handling.reply_assessed(state, lift, T0 + timedelta(minutes=1))
    assert handling.status_of(state, T0).priority is Priority.P1
    assert not handling.reply_assessed(state, lift, T0 + timedelta(minutes=2))
    assert logged(state) == ["priority_changed"]


def test_a_satisfaction_drop_alerts_a_p1_team_and_logs_the_comment() -> None:
    state = escalated(Priority.P1)
    handling.satisfaction_changed(state, SatisfactionInput(score=4), T0)
    [alert] = handling.satisfaction_changed(
        state, SatisfactionInput(score=2, comment="slow"), T0 + timedelta(minutes=1)
    )
    assert alert.headline == "Customer satisfaction dropped to 2/5 (was 4/5)"
    assert state.work[-1].event["comment"] == "slow"
    assert handling.status_of(state, T0).satisfaction == 2


def test_an_alert_fires_once_and_is_undelivered_until_delivered() -> None:
    state = escalated(Priority.P0)
    [(due_at, spec)] = due_alerts(state.clock, RULES, T0)
    assert handling.fire(state, spec, due_at) and not handling.fire(state, spec, due_at)
    assert [s.key for s in state.undelivered] == [spec.key]
    handling.alert_delivered(state, spec.key, T0 + timedelta(seconds=1))
    assert state.undelivered == []
    [record] = handling.status_of(state, T0).alerts
    assert record.sent_at == T0 + timedelta(seconds=1)


def test_the_customer_tier_search_attribute_is_one_of_a_closed_set() -> None:
    """The account status comes from the helpdesk or the sender: ops filter on a tier, and a
    free-text status never becomes a search value."""
    from escalation.models import CustomerTier

    state = escalated()
    assert state.package is not None
    tiers = []
    for status in ("premium", "Enterprise", "trial", "standard", "suspended; DROP", None):
        state.package.customer.account_status = status
        updates = handling.search_attributes(state, handling.status_of(state, T0), with_ticket=True)
        [tier] = [u.value for u in updates if u.key.name == "CustomerTier"]
        tiers.append(tier)
    assert tiers == ["premium", "premium", "free", "standard", "other", "unknown"]
    assert set(tiers) <= {tier.value for tier in CustomerTier}


def test_a_delivery_is_applied_once_and_the_seen_ids_stay_bounded() -> None:
    state = escalated()
    assert handling.first_delivery(state, None) and handling.first_delivery(state, None)
    assert handling.first_delivery(state, "msg_1") is True
    assert handling.first_delivery(state, "msg_1") is False
    for n in range(2, handling.SEEN_DELIVERIES_KEPT + 2):
        assert handling.first_delivery(state, f"msg_{n}")
    assert len(state.seen_deliveries) == handling.SEEN_DELIVERIES_KEPT
    assert "msg_1" not in state.seen_deliveries  # the oldest forgotten first
    # Carried whole across continue-as-new: the state travels as JSON.
    resumed = RunState.model_validate_json(state.model_dump_json())
    assert handling.first_delivery(resumed, f"msg_{handling.SEEN_DELIVERIES_KEPT + 1}") is False
