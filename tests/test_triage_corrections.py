"""Agents' corrections of triage as labelled examples (issue 11): a reassign to another team and
a priority change, on the real time-skipping test server, land once in `triage_corrections`
even when the write is retried; `starter.py triage corrections --export` writes them as cases
that `starter.py triage eval` scores."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.log import LogActivities
from activities.settings import FaultInjection, Settings
from cli.triage import export_corrections
from escalation.messages import (
    EscalationStatus,
    LogEntry,
    Reassign,
    ResolveInput,
    TriageCorrection,
    workflow_id_for,
)
from escalation.models import Priority, TicketPayload
from escalation.run_state import EscalationInput
from localstack.postgres import EmbeddedPostgres
from localstack.smtp import SmtpSink
from localstack.temporal import assert_clock_skips, start_time_skipping_env
from tests.conftest import eventually, load_example
from tests.test_cli import run_cli
from tests.test_replay import record_and_replay
from worker import create_worker
from workflows.escalation import EscalationWorkflow


@pytest.fixture(scope="module")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping_env()
    yield env
    await env.shutdown()


@pytest.fixture(autouse=True)
async def clock_left_skipping(skipping_env: WorkflowEnvironment) -> AsyncIterator[None]:
    """The module shares one server clock: the test that leaves it locked fails, not the next."""
    yield
    await assert_clock_skips(skipping_env)


@pytest.fixture
async def queue(
    skipping_env: WorkflowEnvironment,
    pool: asyncpg.Pool,
    smtp_sink: SmtpSink,
    faults: FaultInjection,
) -> AsyncIterator[str]:
    name = f"corrections-{uuid.uuid4().hex[:8]}"
    settings = Settings(pool=pool, smtp_url=smtp_sink.url, faults=faults)
    async with create_worker(skipping_env.client, settings, name):
        yield name


async def start(env: WorkflowEnvironment, queue: str, payload: TicketPayload) -> WorkflowHandle:
    handle = await env.client.start_workflow(
        EscalationWorkflow.run,
        EscalationInput(payload=payload, received_at=datetime.now(UTC)),
        id=workflow_id_for(payload.ticket.id),
        task_queue=queue,
    )
    await eventually(lambda: status_of(handle, lambda s: s.sla_due_at is not None))
    return handle


async def status_of(handle: WorkflowHandle, predicate) -> EscalationStatus | None:  # type: ignore[no-untyped-def]
    status = await handle.query(EscalationWorkflow.status)
    return status if predicate(status) else None


async def corrections(pool: asyncpg.Pool, ticket_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM triage_corrections WHERE ticket_id = $1 ORDER BY sequence", ticket_id
    )


async def at_least(pool: asyncpg.Pool, ticket_id: str, count: int) -> list[asyncpg.Record]:
    rows = await corrections(pool, ticket_id)
    return rows if len(rows) >= count else []


COLUMNS = (
    "idempotency_key",
    "sequence",
    "previous_team",
    "previous_priority",
    "agent_team",
    "agent_priority",
    "agent",
    "reason",
)


async def test_reassign_and_priority_change_are_recorded_once_each_despite_a_retry(
    skipping_env: WorkflowEnvironment, queue: str, pool: asyncpg.Pool, faults: FaultInjection
) -> None:
    # Mike's vanished wedding photos: triage says engineering P1 (data loss, single user); the
    # payload has only the ticket, Step 1 gathers his premium account from PostgreSQL.
    ticket_id = f"T-{uuid.uuid4().hex[:10]}"
    handle = await start(skipping_env, queue, load_example(id=ticket_id))
    before = await handle.query(EscalationWorkflow.status)
    assert (before.team, before.priority) == ("engineering", "P1")
    # The log write (and the correction in its transaction) fails once after committing.
    faults.fail_once_after_effect.add("log_escalation")

    moved = await handle.execute_update(
        EscalationWorkflow.reassign,
        Reassign(team="billing", priority=Priority.P2, reason="a refund question", agent="ana"),
    )
    assert (moved.team, moved.priority) == ("billing", "P2")
    [first] = await eventually(lambda: corrections(pool, ticket_id))
    moved_at = first["corrected_at"]
    # A new team restarts the response clock, at the new priority's target (P2: 4 h).
    assert moved.response_due_at == moved_at + timedelta(hours=4)
    await eventually(lambda: faults._failed == {"log_escalation"})

    # Same team, another priority: the clock keeps its start, the target becomes P3's 24 h.
    lowered = await handle.execute_update(
        EscalationWorkflow.reassign, Reassign(priority=Priority.P3, agent="bo")
    )
    assert (lowered.team, lowered.priority) == ("billing", "P3")
    assert lowered.response_due_at == moved_at + timedelta(hours=24)

    for wrong, reason in [
        (Reassign(agent="bo"), "reassign needs a team or a priority"),
        (Reassign(team="billing", priority=Priority.P3), "already with billing as P3"),
        (Reassign(team="billing"), "already with billing"),
        (Reassign(team="marketing", priority=Priority.P1), "unknown team 'marketing'"),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await handle.execute_update(EscalationWorkflow.reassign, wrong)
        assert reason in str(rejected.value.cause), rejected.value.cause

    rows = await eventually(lambda: at_least(pool, ticket_id, 2))
    run = handle.result_run_id
    common = {
        "ticket_id": ticket_id,
        "workflow_id": handle.id,
        "episode_id": run,
        "run_id": run,
        "triage_team": "engineering",
        "triage_priority": "P1",
        "triage_scenario": "data_loss_single_user",
    }
    # Each correction is keyed by the sequence number of its log event in the episode (the
    # customer's acknowledgement, logged alongside, may take a number before them).
    first_seq, second_seq = rows[0]["sequence"], rows[1]["sequence"]
    assert 1 <= first_seq < second_seq
    assert [{k: r[k] for k in (*COLUMNS, *common)} for r in rows] == [
        common
        | {
            "idempotency_key": f"{handle.id}:{run}:correction:{first_seq}",
            "sequence": first_seq,
            "previous_team": "engineering",
            "previous_priority": "P1",
            "agent_team": "billing",
            "agent_priority": "P2",
            "agent": "ana",
            "reason": "a refund question",
        },
        common
        | {
            "idempotency_key": f"{handle.id}:{run}:correction:{second_seq}",
            "sequence": second_seq,
            "previous_team": "billing",
            "previous_priority": "P2",
            "agent_team": "billing",
            "agent_priority": "P3",
            "agent": "bo",
            "reason": None,
        },
    ]
    # What triage saw: the ticket as received, with the account Step 1 gathered.
    payload = TicketPayload.model_validate(rows[0]["payload"])
    assert payload.ticket.id == ticket_id
    assert payload.customer and payload.customer.account_status == "premium"
    # One reassigned log event per correction, the first one despite its retry.
    events = await pool.fetch(
        "SELECT event FROM escalation_log WHERE ticket_id = $1 AND action = 'reassigned'"
        " ORDER BY id",
        ticket_id,
    )
    assert [(e["event"]["to"], e["event"]["toPriority"]) for e in events] == [
        ("billing", "P2"),
        ("billing", "P3"),
    ]
    # Only the team change alerted the new team.
    status = await handle.query(EscalationWorkflow.status)
    assert [a.team for a in status.alerts if a.kind == "reassigned"] == ["billing"]

    await handle.execute_update(
        EscalationWorkflow.resolve, ResolveInput(agent="bo", resolution="Refunded the charge")
    )
    assert (await handle.result()).outcome == "resolved"
    await record_and_replay(skipping_env.client, handle.id, "reassigned_and_reprioritised")


def correction(ticket_id: str, sequence: int, team: str, priority: Priority) -> TriageCorrection:
    workflow_id = workflow_id_for(ticket_id)
    return TriageCorrection(
        key=f"{workflow_id}:run-1:correction:{sequence}",
        ticket_id=ticket_id,
        workflow_id=workflow_id,
        episode_id="run-1",
        run_id="run-1",
        sequence=sequence,
        payload=load_example(id=ticket_id),
        triage_team="engineering",
        triage_priority=Priority.P1,
        triage_scenario="data_loss_single_user",
        previous_team="engineering",
        previous_priority=Priority.P1,
        team=team,
        priority=priority,
        agent="ana",
        reason="not data loss after all",
        corrected_at=datetime.now(UTC),
    )


def reassigned_entry(fix: TriageCorrection) -> LogEntry:
    return LogEntry(
        key=f"{fix.ticket_id}:reassigned:{fix.sequence}",
        ticket_id=fix.ticket_id,
        action="reassigned",
        event={"ticketId": fix.ticket_id, "from": fix.previous_team, "to": fix.team},
        correction=fix,
    )


async def test_log_escalation_writes_the_event_and_its_correction_once(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    ticket_id = f"T-{uuid.uuid4().hex[:10]}"
    entry = reassigned_entry(correction(ticket_id, 1, "billing", Priority.P2))
    log = LogActivities(settings).log_escalation
    assert await ActivityEnvironment().run(log, entry) is True
    assert await ActivityEnvironment().run(log, entry) is False  # a retry after the commit
    assert len(await corrections(pool, ticket_id)) == 1
    assert (
        await pool.fetchval("SELECT count(*) FROM escalation_log WHERE ticket_id = $1", ticket_id)
        == 1
    )


async def test_exported_corrections_are_cases_triage_eval_scores(
    pool: asyncpg.Pool, settings: Settings, postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    """Two corrections of one episode export as one case, labelled by the latest; the file
    reads back through `starter.py triage eval` (its accuracy is triage's business)."""
    ticket_id = f"T-{uuid.uuid4().hex[:10]}"
    log = LogActivities(settings).log_escalation
    for fix in (
        correction(ticket_id, 1, "billing", Priority.P2),
        correction(ticket_id, 2, "legal", Priority.P1),
    ):
        await ActivityEnvironment().run(log, reassigned_entry(fix))
    target = tmp_path / "corrections.jsonl"

    code, text = await export_corrections(postgres.url, str(target), as_json=False)
    assert code == 0, text
    lines = target.read_text().splitlines()
    assert text == f"wrote {len(lines)} correction(s) to {target}"
    [mine] = [
        case for case in map(json.loads, lines) if case["payload"]["ticket"]["id"] == ticket_id
    ]
    [row_id] = [r["id"] for r in await corrections(pool, ticket_id) if r["sequence"] == 2]
    assert mine["id"] == f"correction-{ticket_id}-{row_id}"
    assert mine["expected"] == {"escalate": True, "team": "legal", "priority": "P1"}
    assert mine["tags"] == ["agent_correction", "data_loss_single_user", "team_changed"]
    assert mine["why"].startswith("Agent ana corrected triage: engineering/P1 → legal/P1")
    assert mine["why"].endswith("Latest of 2 corrections.")

    scored = await asyncio.to_thread(run_cli, "triage", "eval", str(target), "--json")
    assert scored.returncode == 0, scored.stderr
    report = json.loads(scored.stdout)
    assert report["cases"] == len(lines)
    assert report["perTag"]["agent_correction"]["cases"] == len(lines)


async def test_export_to_an_unwritable_path_exits_2(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    for target, problem in [
        (tmp_path / "missing" / "out.jsonl", "no such folder"),
        (tmp_path, "is a directory"),
    ]:
        result = await asyncio.to_thread(
            run_cli,
            "triage",
            "corrections",
            "--export",
            str(target),
            env={"DATABASE_URL": postgres.url},
        )
        assert result.returncode == 2, result
        assert problem in result.stderr and result.stdout == ""
