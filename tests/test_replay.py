"""Replay guards: recorded histories must replay with the current workflow code, so a
non-deterministic change to workflows/ fails the suite instead of stuck runs in production.

Record new histories with `RECORD_HISTORIES=1 make test` after an intended, versioned change.
Histories recorded before a change stay as they are: they prove that runs in flight at the
change still replay. `escalated_then_resolved.json` is from before de-escalation closed tickets,
the `*_step_by_step.json` ones from before Steps 6, 7 and 9 shared one transaction;
`reassigned_and_reprioritised.json` (tests/test_triage_corrections.py) has a reassign with a
priority, a priority-only reassign and a retried correction write.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from escalation.messages import EscalationStateName, ResolveInput
from escalation.models import parse_payload
from tests.conftest import load_example
from tests.test_escalation_workflow import new_id, start, wait_for_state
from worker import WORKFLOWS, workflow_runner
from workflows.escalation import EscalationWorkflow

HISTORIES = Path(__file__).resolve().parent / "histories"


def replayer() -> Replayer:
    return Replayer(
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        data_converter=pydantic_data_converter,
    )


def recorded() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


def test_there_are_recorded_histories_to_replay() -> None:
    assert recorded(), f"no histories in {HISTORIES}: record them with RECORD_HISTORIES=1"


@pytest.mark.parametrize("path", recorded(), ids=lambda path: path.stem)
async def test_recorded_history_replays_with_current_workflow_code(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_bytes().decode())  # noqa: ASYNC240
    await replayer().replay_workflow(history)


async def record_and_replay(client: Client, handle_id: str, name: str) -> None:
    """Replay a fresh history now; with RECORD_HISTORIES=1 also keep it for the guard."""
    history = await client.get_workflow_handle(handle_id).fetch_history()
    await replayer().replay_workflow(history)  # fresh histories replay too
    if os.environ.get("RECORD_HISTORIES"):
        (HISTORIES / f"{name}.json").write_text(history.to_json())


async def test_escalated_then_resolved_run_replays(client: Client, task_queue: str) -> None:
    handle = await start(client, task_queue, load_example(id=new_id()))
    await wait_for_state(handle, EscalationStateName.ESCALATED)
    await handle.execute_update(
        EscalationWorkflow.resolve, ResolveInput(agent="ana", resolution="Done")
    )
    await handle.result()
    await record_and_replay(client, handle.id, "resolved_and_closed")


async def test_auto_response_run_replays(client: Client, task_queue: str) -> None:
    payload = load_example(
        id=new_id(),
        subject="Where do I find the slideshow button?",
        description="Hi there, where is the slideshow button? Thanks a lot!",
        urgency="low",
        autoResponseEligible=True,
        kbMatched=True,
    )
    handle = await start(client, task_queue, payload)
    assert (await handle.result()).outcome == "auto-response"
    await record_and_replay(client, handle.id, "auto_response")


async def test_known_solution_answer_run_replays(
    client: Client, task_queue: str, pool: asyncpg.Pool
) -> None:
    code = f"ERR_REPLAY_{uuid.uuid4().hex[:8].upper()}"
    await pool.execute(
        """
        INSERT INTO kb_patterns (pattern_key, scenario, error_code, normalised_resolution,
                                 status, title, auto_response, occurrences)
        VALUES ($1, 'feature_broken', $2, 'clear session', 'approved', 'Publish stuck',
                'Clear the publish session and publish again.', 3)
        """,
        f"replay:{code}",
        code,
    )
    payload = parse_payload(
        {
            "ticket": {
                "id": new_id(),
                "subject": "Lightroom publish stuck at 0%",
                "description": "The Lightroom plugin stops at 0% when I publish a collection.",
                "urgency": "medium",
                "createdAt": "2026-01-05T10:00:00Z",
                "customerEmail": "replay@studio.example",
            },
            "technicalContext": {"errorCode": code},
        }
    )
    handle = await start(client, task_queue, payload)
    assert (await handle.result()).outcome == "auto-response"
    await record_and_replay(client, handle.id, "known_solution_answer")
