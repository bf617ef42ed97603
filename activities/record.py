"""Steps 6, 7 and 9 in one transaction: the assignment row, its `escalated` log event and its
queue columns are committed together or not at all. One round trip instead of three, and no
half-written escalation (an assignment the queue shows without its log event, or the reverse)
whatever fails between them."""

from __future__ import annotations

from temporalio import activity

from activities.assignment import insert_assignment
from activities.dashboard import write_queue_entry
from activities.log import insert_log_entry
from activities.settings import Settings
from escalation.messages import EscalationRecord


class RecordActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def record_escalation(self, record: EscalationRecord) -> bool:
        """True when this call wrote the assignment; a retry after a commit changes nothing."""
        async with self.settings.pool.acquire() as db, db.transaction():
            wrote = await insert_assignment(db, record.assignment)
            await insert_log_entry(db, record.log)
            await write_queue_entry(db, record.queue)
        self.settings.faults.maybe_fail("record_escalation")
        return wrote
