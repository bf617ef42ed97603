"""Step 8 — set monitoring: the SLA clock as pure functions of its state and the time.

The workflow owns one `SlaClock`, changes it in its message handlers, and asks this module two
questions: which alerts are due now (`due_alerts`) and when to wake up next (`next_wakeup`).
Every alert carries a key derived from the clock (ticket, episode, kind, generation, sequence),
so the same alert computed twice — after a retry, a replay or a continue-as-new — is one alert,
and the next escalation episode of the same ticket has keys of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from escalation.models import Model, Priority, UtcDatetime

HIGH = (Priority.P0, Priority.P1)
LOW = (Priority.P2, Priority.P3)


class SlaRules(Model):
    """The monitoring part of the policy, in seconds, handed to the workflow once."""

    warning_fraction: float = 0.75
    manager_escalation_after: int = 4 * 3600
    manager_escalation_priorities: list[Priority] = Field(default_factory=lambda: list(HIGH))
    immediate_alert_priorities: list[Priority] = Field(default_factory=lambda: [Priority.P0])
    reply_alert_priorities: list[Priority] = Field(default_factory=lambda: list(HIGH))
    satisfaction_alert_priorities: list[Priority] = Field(default_factory=lambda: list(HIGH))
    satisfaction_alert_below: int = 3
    daily_check_every: int = 24 * 3600
    daily_check_priorities: list[Priority] = Field(default_factory=lambda: list(LOW))
    no_progress_after: int = 48 * 3600
    no_progress_priorities: list[Priority] = Field(default_factory=lambda: list(LOW))
    response_targets: dict[Priority, int] = Field(default_factory=dict)
    teams: list[str] = Field(default_factory=list)
    angry_complaint_min: Priority = Priority.P1
    acknowledgement_give_up: int = 6 * 3600
    reopen_within: int = 7 * 24 * 3600


class AlertSpec(Model):
    """An alert the clock says is due: what, to whom, and the key that makes it unique."""

    key: str
    kind: str
    audience: Literal["team", "manager", "agent"] = "team"
    headline: str
    details: dict[str, str] = Field(default_factory=dict)


class AlertRecord(Model):
    """An alert as the status query reports it."""

    key: str
    kind: str
    audience: str
    team: str
    due_at: UtcDatetime
    sent_at: UtcDatetime | None = None
    failed: str | None = None


class SlaClock(Model):
    """Everything the monitoring needs; carried whole across continue-as-new."""

    ticket_id: str
    # The escalation episode (the first run id of the workflow chain): part of every key.
    episode_id: str = ""
    team: str
    priority: Priority
    escalated_at: UtcDatetime
    response_target_seconds: int
    # The response clock restarts on reassignment: the new team has not responded yet.
    response_clock_started_at: UtcDatetime
    responded_at: UtcDatetime | None = None
    responded_by: str | None = None
    # The episode's first human response, whoever holds the ticket now: a reassignment never
    # erases it (SLA attainment and quick resolutions are measured from it).
    first_responded_at: UtcDatetime | None = None
    first_responded_by: str | None = None
    paused_since: UtcDatetime | None = None
    paused_seconds: float = 0.0
    last_customer_activity_at: UtcDatetime | None = None
    last_agent_activity_at: UtcDatetime | None = None
    last_progress_at: UtcDatetime
    satisfaction: int | None = None
    # Bumped when team or priority changes: response alerts of the new generation are new.
    generation: int = 0
    replies: int = 0
    satisfaction_changes: int = 0
    daily_checks: int = 0
    followups_since_progress: int = 0
    manager_escalated: bool = False
    log_seq: int = 0  # numbers escalation_log events of messages, for their idempotency keys
    fired: list[str] = Field(default_factory=list)
    alerts: list[AlertRecord] = Field(default_factory=list)

    # --- deadlines --------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    def key(self, *parts: object) -> str:
        """An idempotency key of this episode: ticket, episode, then `parts`."""
        return ":".join([self.ticket_id, self.episode_id, *(str(part) for part in parts)])

    def responded(self, agent: str, now: datetime) -> bool:
        """A human answered: stops the response clock; True when it is the episode's first."""
        if self.responded_at is None:
            self.responded_at, self.responded_by = now, agent
        first = self.first_responded_at is None
        if first:
            self.first_responded_at, self.first_responded_by = now, agent
        return first

    def response_due_at(self) -> datetime | None:
        if self.responded_at is not None:
            return None
        return self.response_clock_started_at + timedelta(seconds=self.response_target_seconds)

    def response_warning_at(self, rules: SlaRules) -> datetime | None:
        if self.responded_at is not None or self.response_target_seconds <= 0:
            return None
        fraction = self.response_target_seconds * rules.warning_fraction
        return self.response_clock_started_at + timedelta(seconds=fraction)

    def manager_escalation_at(self, rules: SlaRules) -> datetime | None:
        """4 h after escalation, not counting time spent waiting on the customer.

        None while paused: the deadline moves with every paused second, so it cannot fire."""
        if self.priority not in rules.manager_escalation_priorities or self.paused:
            return None
        return self.escalated_at + timedelta(
            seconds=rules.manager_escalation_after + self.paused_seconds
        )

    def next_daily_check_at(self, rules: SlaRules) -> datetime | None:
        if self.priority not in rules.daily_check_priorities:
            return None
        return self.escalated_at + timedelta(
            seconds=rules.daily_check_every * (self.daily_checks + 1)
        )

    def no_progress_followup_at(self, rules: SlaRules) -> datetime | None:
        if self.priority not in rules.no_progress_priorities:
            return None
        stalled = rules.no_progress_after * (self.followups_since_progress + 1)
        return self.last_progress_at + timedelta(seconds=stalled)

    def breached(self, now: datetime) -> bool:
        due = self.response_due_at()
        return due is not None and now >= due

    def next_sla_due_at(self, rules: SlaRules) -> datetime | None:
        """The next deadline ops care about (the `SlaDueAt` search attribute)."""
        candidates = [self.response_due_at(), self.manager_escalation_at(rules)]
        if self.manager_escalated or self.priority not in rules.manager_escalation_priorities:
            candidates.append(self.no_progress_followup_at(rules))
        due = [moment for moment in candidates if moment is not None]
        return min(due) if due else None

    # --- changes the handlers make -------------------------------------------------------

    def progress(self, now: datetime) -> None:
        self.last_progress_at = now
        self.followups_since_progress = 0

    def pause(self, now: datetime) -> None:
        if self.paused_since is None:
            self.paused_since = now

    def resume(self, now: datetime) -> None:
        if self.paused_since is not None:
            self.paused_seconds += (now - self.paused_since).total_seconds()
            self.paused_since = None

    def paused_seconds_at(self, now: datetime) -> float:
        running = (now - self.paused_since).total_seconds() if self.paused_since else 0.0
        return self.paused_seconds + running

    def retarget(self, *, team: str, priority: Priority, rules: SlaRules, now: datetime) -> None:
        """Team or priority changed: new response target and a new generation of alerts.

        A new team restarts the response clock (nobody there has responded yet); a new
        priority keeps the clock's start and changes its length."""
        if team != self.team:
            self.response_clock_started_at = now
            self.responded_at = None
            self.responded_by = None
        self.team = team
        self.priority = priority
        self.response_target_seconds = rules.response_targets.get(
            priority, self.response_target_seconds
        )
        self.generation += 1

    def mark_fired(self, spec: AlertSpec, due_at: datetime) -> None:
        self.fired.append(spec.key)
        self.alerts.append(
            AlertRecord(
                key=spec.key, kind=spec.kind, audience=spec.audience, team=self.team, due_at=due_at
            )
        )
        if spec.kind == "daily_status":
            self.daily_checks += 1
        elif spec.kind == "no_progress":
            self.followups_since_progress += 1
        elif spec.kind == "manager_escalation":
            self.manager_escalated = True


def _minutes(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{int(seconds)} seconds"


def _timed_alerts(clock: SlaClock, rules: SlaRules) -> list[tuple[datetime, AlertSpec]]:
    """Every timer-driven alert with the moment it becomes due, fired or not."""
    key, gen, target = clock.key, clock.generation, clock.response_target_seconds
    out: list[tuple[datetime, AlertSpec]] = []
    if clock.priority in rules.immediate_alert_priorities and clock.responded_at is None:
        out.append(
            (
                clock.response_clock_started_at,
                AlertSpec(
                    key=key("immediate", f"g{gen}"),
                    kind="immediate",
                    headline=f"{clock.priority} escalation needs a human now",
                ),
            )
        )
    warning = clock.response_warning_at(rules)
    if warning is not None and clock.priority not in rules.immediate_alert_priorities:
        out.append(
            (
                warning,
                AlertSpec(
                    key=key("response_warning", f"g{gen}"),
                    kind="response_warning",
                    headline=f"{int(rules.warning_fraction * 100)}% of the {_minutes(target)} "
                    "response target used and no human response yet",
                ),
            )
        )
    due = clock.response_due_at()
    if due is not None:
        out.append(
            (
                due,
                AlertSpec(
                    key=key("response_breach", f"g{gen}"),
                    kind="response_breach",
                    headline=f"No human response within the {_minutes(target)} response target",
                    details={"dueAt": due.isoformat()},
                ),
            )
        )
    manager = clock.manager_escalation_at(rules)
    if manager is not None:
        out.append(
            (
                manager,
                AlertSpec(
                    key=key("manager_escalation"),
                    kind="manager_escalation",
                    audience="manager",
                    headline=f"Not resolved within {_minutes(rules.manager_escalation_after)} of "
                    "escalation: escalated to the team's manager",
                    details={"pausedSeconds": str(int(clock.paused_seconds))},
                ),
            )
        )
    daily = clock.next_daily_check_at(rules)
    if daily is not None:
        out.append(
            (
                daily,
                AlertSpec(
                    key=key("daily_status", clock.daily_checks + 1),
                    kind="daily_status",
                    headline=f"Daily status: {clock.priority} ticket open for "
                    f"{clock.daily_checks + 1} day(s)",
                ),
            )
        )
    followup = clock.no_progress_followup_at(rules)
    if followup is not None:
        out.append(
            (
                followup,
                AlertSpec(
                    key=key("no_progress", followup.isoformat()),
                    kind="no_progress",
                    audience="agent",
                    headline=f"No progress for {_minutes(rules.no_progress_after)}: "
                    "please follow up",
                ),
            )
        )
    return out


def due_alerts(clock: SlaClock, rules: SlaRules, now: datetime) -> list[tuple[datetime, AlertSpec]]:
    """Timer-driven alerts due at `now` that were not fired yet, earliest first."""
    fired = set(clock.fired)
    due = [(at, spec) for at, spec in _timed_alerts(clock, rules) if at <= now]
    return sorted(
        ((at, spec) for at, spec in due if spec.key not in fired), key=lambda item: item[0]
    )


def next_wakeup(clock: SlaClock, rules: SlaRules, now: datetime) -> datetime | None:
    """The earliest future moment an alert becomes due; None when nothing is scheduled."""
    fired = set(clock.fired)
    future = [at for at, spec in _timed_alerts(clock, rules) if spec.key not in fired and at > now]
    return min(future) if future else None
