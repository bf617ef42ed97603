"""The floor: the least a workflow can do on the same server and worker — one no-op activity.

Escalations are compared with it, so the figures say what our workflow costs beyond Temporal's
own round trips on this machine, not just how fast the machine is.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench_noop")
async def noop(ticket_id: str) -> str:
    """Does nothing: its cost is Temporal's schedule/start/complete round trip alone."""
    return ticket_id


@workflow.defn(name="BenchFloorWorkflow")
class FloorWorkflow:
    @workflow.run
    async def run(self, ticket_id: str) -> str:
        return await workflow.execute_activity(
            noop, ticket_id, start_to_close_timeout=timedelta(seconds=30)
        )
