"""Steps 2–3 as an activity: the policy is read here (never inside workflow code), then the pure
triage function decides triggers, route and priority. Run as a local activity: it is CPU only."""

from __future__ import annotations

from temporalio import activity

from activities.settings import Settings
from escalation.messages import ReplyAssessment
from escalation.models import EscalationPackage, Priority, TriageDecision
from escalation.policy import Policy
from escalation.sla import SlaRules
from escalation.triage import read_reply, triage


class TriageActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def triage_ticket(self, package: EscalationPackage) -> TriageDecision:
        return triage(package, self.settings.policy())

    @activity.defn
    async def load_sla_rules(self) -> SlaRules:
        """Step 8's rules from the policy, handed to the workflow once per run."""
        return self.settings.policy().sla_rules()

    @activity.defn
    async def assess_reply(self, decision: TriageDecision, text: str) -> ReplyAssessment:
        """A reply that turns the customer angry about a problem lifts the ticket (the
        angry-customer modifier), as it would have at triage: the reply is read as triage
        reads a ticket (what the customer wrote now, in its language)."""
        return reply_assessment(decision, text, self.settings.policy())


def reply_assessment(decision: TriageDecision, text: str, policy: Policy) -> ReplyAssessment:
    """The pure step of :meth:`TriageActivities.assess_reply`."""
    problem = (
        decision.scenario is not None
        and policy.has_scenario(decision.scenario)
        and policy.scenario(decision.scenario).kind == "problem"
    )
    sentiment = read_reply(text, policy, problem)
    lift_to: Priority | None = None
    floor = policy.modifiers.angry_complaint_min
    if sentiment.angry and problem and decision.priority and decision.priority.rank > floor.rank:
        lift_to = floor
    return ReplyAssessment(sentiment=sentiment.label, angry=sentiment.angry, lift_to=lift_to)
