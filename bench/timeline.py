"""Where one escalation's time goes, read from its history: each workflow task and each
activity, in order, up to the assignment row (the end of "time to escalate")."""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

# The activity that commits the assignment row (the one before Steps 6, 7 and 9 shared one).
END_ACTIVITIES = {"record_escalation", "create_assignment"}


async def steps(handle: WorkflowHandle) -> dict[str, Any]:
    """{"steps": [[name, ms], ...], "workflowTasksMs", "workflowTaskPickupMs", "activitiesMs",
    "totalMs"}: a workflow task counts from scheduled to completed (pickup = scheduled to
    started, waiting for a poller); local activities run inside their workflow task."""
    history = await handle.fetch_history()
    events = list(history.events)
    t0 = events[0].event_time.ToMicroseconds()
    scheduled: dict[int, tuple[str, int]] = {}
    out: list[list[Any]] = []
    wft_scheduled = wft_started = 0
    totals = {"workflowTasksMs": 0.0, "workflowTaskPickupMs": 0.0, "activitiesMs": 0.0}
    for event in events:
        at = event.event_time.ToMicroseconds()
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            wft_scheduled = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            wft_started = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            took = (at - wft_scheduled) / 1000
            totals["workflowTasksMs"] += took
            totals["workflowTaskPickupMs"] += (wft_started - wft_scheduled) / 1000
            out.append(["workflow task", round(took, 1)])
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            out[-1][0] = "workflow task + local activity"
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name, at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            name, began = scheduled[attrs.scheduled_event_id]
            took = (at - began) / 1000
            totals["activitiesMs"] += took
            out.append([name, round(took, 1)])
            if name in END_ACTIVITIES:
                return {
                    "steps": out,
                    **{key: round(value, 1) for key, value in totals.items()},
                    "totalMs": round((at - t0) / 1000, 1),
                }
    return {"steps": out, **{key: round(value, 1) for key, value in totals.items()}}
