"""Every activity the worker registers, bound to one Settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.alerts import AlertActivities
from activities.assignment import AssignmentActivities
from activities.dashboard import DashboardActivities
from activities.de_escalation import DeEscalationActivities
from activities.log import LogActivities
from activities.notify import NotifyActivities
from activities.package import PackageActivities
from activities.record import RecordActivities
from activities.settings import Settings
from activities.summary import SummaryActivities
from activities.triage import TriageActivities


def all_activities(settings: Settings) -> list[Callable[..., Any]]:
    package = PackageActivities(settings)
    triage = TriageActivities(settings)
    summary = SummaryActivities(settings)
    notify = NotifyActivities(settings)
    assignment = AssignmentActivities(settings)
    log = LogActivities(settings)
    dashboard = DashboardActivities(settings)
    record = RecordActivities(settings)
    alerts = AlertActivities(settings)
    de_escalation = DeEscalationActivities(settings)
    return [
        package.gather_escalation_package,
        triage.triage_ticket,
        summary.write_summary,
        notify.notify_customer,
        assignment.earlier_episodes,
        log.log_escalation,
        dashboard.update_dashboard,
        record.record_escalation,
        triage.load_sla_rules,
        triage.assess_reply,
        alerts.send_alert,
        notify.send_known_solution,
        de_escalation.close_ticket,
        de_escalation.notify_ticketing_system,
    ]
