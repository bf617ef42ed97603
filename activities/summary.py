"""Step 4 — write the escalation summary the human agent reads first."""

from __future__ import annotations

from temporalio import activity

from activities.rendering import write_summary_markdown
from activities.settings import Settings
from escalation.messages import SummaryInput


class SummaryActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def write_summary(self, input: SummaryInput) -> str:
        return write_summary_markdown(input.package, input.decision, self.settings.policy())
