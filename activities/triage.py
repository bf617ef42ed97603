"""Steps 2–3 as an activity: the policy is read here (never inside workflow code), then the pure
triage function decides triggers, route and priority. Run as a local activity: it is CPU only."""

from __future__ import annotations

from temporalio import activity

from activities.settings import Settings
from escalation.models import EscalationPackage, TriageDecision
from escalation.triage import triage


class TriageActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def triage_ticket(self, package: EscalationPackage) -> TriageDecision:
        return triage(package, self.settings.policy())
