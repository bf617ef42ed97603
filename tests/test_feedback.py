"""CSAT after resolution (issue 5, "De-escalation"): the customer's satisfaction answer reaches
the escalation even though its workflow has completed — through the signed satisfaction webhook
and through `starter.py satisfaction` — on the real Temporal dev server, worker and PostgreSQL.

While the escalation is open the score is the workflow's `set_satisfaction` update (its status
comes back); once it is resolved, the answer is one `csat` event in escalation_log against the
ticket's latest escalation episode (key `<ticket>:<episode>:csat`, the latest answer wins),
which is what the CSAT-after-escalation metric counts, and what the ticket's status shows.
A ticket that triage kept with auto-response was never escalated: 404 / exit 2.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client, WorkflowHandle

from escalation.messages import EscalationOutcome, EscalationStateName, ResolveInput
from localstack.postgres import EmbeddedPostgres
from tests.conftest import load_example
from tests.test_cli import run_cli
from tests.test_escalation_workflow import (
    kept_with_auto_response,
    new_id,
    start,
    wait_for_state,
)
from tests.test_web_api import escalated, post_signed, post_ticket
from tests.web_support import WebSetup, assignment_on_record, new_ticket_id, web_setup
from web.metrics import CsatAfterEscalation, compute_metrics


@pytest.fixture
def setup(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, task_queue: str, tmp_path: Path
) -> WebSetup:
    return web_setup(client, postgres.url, task_queue, tmp_path)


async def auto_responded(client: Client, task_queue: str) -> str:
    ticket_id = new_id("AR")
    handle = await start(client, task_queue, kept_with_auto_response(ticket_id))
    outcome = await handle.result()
    assert outcome.outcome == "auto-response"
    return ticket_id


async def csat_rows(pool: asyncpg.Pool, ticket_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT idempotency_key, episode_id, action, event, logged_at FROM escalation_log"
        " WHERE ticket_id = $1 AND action = 'csat'",
        ticket_id,
    )


async def csat_figure(pool: asyncpg.Pool, since: datetime) -> CsatAfterEscalation:
    """The metric over a window that holds only this test's answers (tests run one at a time,
    and only a CSAT answer after resolution makes a `csat` event)."""
    until = datetime.now(UTC) + timedelta(seconds=1)
    return (await compute_metrics(pool, since, until)).csat_after_escalation


def assert_one_csat(rows: list[asyncpg.Record], ticket_id: str, score: int) -> dict[str, Any]:
    assert len(rows) == 1, rows
    episode = rows[0]["episode_id"]
    assert episode and rows[0]["idempotency_key"] == f"{ticket_id}:{episode}:csat"
    event = rows[0]["event"]
    assert event["episodeId"] == episode
    assert (event["ticketId"], event["action"], event["score"]) == (ticket_id, "csat", score)
    assert event["afterResolution"] is True
    assert (event["team"], event["priority"]) == ("engineering", "P1")  # from the assignment
    return event


# --- the signed satisfaction webhook -------------------------------------------------------


async def test_webhook_csat_goes_to_the_open_escalation_then_is_recorded_after_resolution(
    http: httpx.AsyncClient, setup: WebSetup, client: Client, pool: asyncpg.Pool, task_queue: str
) -> None:
    ticket_id = new_ticket_id("CSAT")
    assert (await post_ticket(http, ticket_id)).status_code == 202
    never_escalated = asyncio.create_task(auto_responded(client, task_queue))
    await escalated(http, setup, ticket_id)
    path = f"/api/tickets/{ticket_id}/satisfaction"

    # Open: the workflow's update answers with its status.
    open_answer = await post_signed(
        http, path, {"ticketId": ticket_id, "score": 2, "comment": "still waiting"}
    )
    assert open_answer.status_code == 200, open_answer.text
    status = open_answer.json()
    assert (status["ticketId"], status["state"], status["satisfaction"]) == (
        ticket_id,
        "escalated",
        2,
    )
    assert await csat_rows(pool, ticket_id) == []  # not a CSAT after resolution

    resolved = await http.post(
        f"/api/tickets/{ticket_id}/resolve",
        json={"resolution": "Restored the 87 photos from backup", "escalationNecessary": True},
        headers=setup.bearer(),
    )
    assert resolved.status_code == 200, resolved.text
    since = datetime.now(UTC)

    # Resolved (the run finishing or finished): the answer is recorded against the escalation.
    first = await post_signed(http, path, {"ticketId": ticket_id, "score": 3})
    assert first.status_code == 200, first.text
    record = first.json()
    assert record["ticketId"] == ticket_id and record["score"] == 3
    assert record["afterResolution"] is True and record["comment"] is None
    assert datetime.fromisoformat(record["recordedAt"]) >= since
    assert "state" not in record  # a CsatRecorded, not a status
    first_row = assert_one_csat(await csat_rows(pool, ticket_id), ticket_id, 3)
    handle = client.get_workflow_handle(f"escalation-{ticket_id}", result_type=EscalationOutcome)
    assert (await handle.result()).outcome == "resolved"

    # A second answer replaces the first: still one row, the latest score.
    second = await post_signed(
        http, path, {"ticketId": ticket_id, "score": 5, "comment": "Photos are back, thanks!"}
    )
    assert second.status_code == 200, second.text
    assert (second.json()["score"], second.json()["comment"]) == (5, "Photos are back, thanks!")
    event = assert_one_csat(await csat_rows(pool, ticket_id), ticket_id, 5)
    assert event["comment"] == "Photos are back, thanks!"
    assert event["timestamp"] >= first_row["timestamp"]
    assert event["episodeId"] == (await handle.result()).episode_id
    # The ticket's status shows the answer in place of the score the run last saw.
    shown = (await http.get(f"/api/tickets/{ticket_id}", headers=setup.bearer())).json()
    assert (shown["state"], shown["satisfaction"]) == ("resolved", 5)
    assert shown["csatAfterResolution"]["comment"] == "Photos are back, thanks!"

    # Out of range: refused before anything is recorded (the body's schema says 1-5).
    bad = await post_signed(http, path, {"ticketId": ticket_id, "score": 7})
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"][0]["loc"] == ["body", "score"]
    assert_one_csat(await csat_rows(pool, ticket_id), ticket_id, 5)

    figure = await csat_figure(pool, since)
    assert (figure.rated, figure.satisfied, figure.value, figure.met) == (1, 1, 1.0, True)

    # Never escalated (kept with auto-response): nothing to rate after escalation.
    kept = await never_escalated
    answer = await post_signed(
        http, f"/api/tickets/{kept}/satisfaction", {"ticketId": kept, "score": 4}
    )
    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"].startswith(f"ticket {kept} was not escalated")
    assert await csat_rows(pool, kept) == []


async def test_a_terminated_escalation_takes_no_csat_after_resolution(
    http: httpx.AsyncClient, setup: WebSetup, client: Client, pool: asyncpg.Pool
) -> None:
    ticket_id = new_ticket_id("TERM")
    assert (await post_ticket(http, ticket_id)).status_code == 202
    await escalated(http, setup, ticket_id)
    handle = client.get_workflow_handle(f"escalation-{ticket_id}")
    await handle.terminate("ops: duplicate ticket")
    answer = await post_signed(
        http, f"/api/tickets/{ticket_id}/satisfaction", {"ticketId": ticket_id, "score": 1}
    )
    assert answer.status_code == 409, answer.text
    assert answer.json()["detail"] == (
        f"ticket {ticket_id} is closed without a resolution: no CSAT after resolution"
    )
    assert await csat_rows(pool, ticket_id) == []


async def test_csat_for_a_resolved_ticket_whose_run_is_gone_is_still_recorded(
    http: httpx.AsyncClient, client: Client, pool: asyncpg.Pool
) -> None:
    # History retention deletes closed runs; the resolution on record still takes the answer.
    ticket_id = await assignment_on_record(pool, new_ticket_id("GONE"))
    await pool.execute(
        """
        INSERT INTO resolutions (ticket_id, episode_id, team, priority, resolved_by,
            resolution, escalation_necessary, escalated_at, resolved_at,
            response_target_seconds, resolution_seconds, quick)
        VALUES ($1, 'episode-' || $1, 'billing', 'P2', 'ana', 'Refunded', true,
                now() - interval '40 days',
                now() - interval '39 days', 14400, 3600, false)
        """,
        ticket_id,
    )
    answer = await post_signed(
        http, f"/api/tickets/{ticket_id}/satisfaction", {"ticketId": ticket_id, "score": 4}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["afterResolution"] is True
    [row] = await csat_rows(pool, ticket_id)
    assert (row["event"]["score"], row["event"]["team"]) == (4, "billing")
    assert row["idempotency_key"] == f"{ticket_id}:episode-{ticket_id}:csat"
    nobody = new_ticket_id("NONE")
    unknown = await post_signed(
        http, f"/api/tickets/{nobody}/satisfaction", {"ticketId": nobody, "score": 4}
    )
    assert unknown.status_code == 404, unknown.text


# --- starter.py satisfaction ---------------------------------------------------------------


async def test_cli_csat_goes_to_the_open_escalation_then_is_recorded_after_resolution(
    client: Client, task_queue: str, postgres: EmbeddedPostgres, pool: asyncpg.Pool
) -> None:
    env = {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "ESCALATION_TASK_QUEUE": task_queue,
        "DATABASE_URL": postgres.url,
    }

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(run_cli, *args, env=env)

    ticket_id = new_id("CSAT")
    handle: WorkflowHandle = await start(client, task_queue, load_example(id=ticket_id))
    never_escalated = asyncio.create_task(auto_responded(client, task_queue))
    await wait_for_state(handle, EscalationStateName.ESCALATED)

    opened = await cli("satisfaction", "--json", ticket_id, "4")
    assert opened.returncode == 0, opened.stderr
    status = json.loads(opened.stdout)
    assert (status["state"], status["satisfaction"]) == ("escalated", 4)
    assert await csat_rows(pool, ticket_id) == []

    await handle.execute_update(
        "resolve", ResolveInput(agent="lee", resolution="Relinked the upload batch")
    )
    await handle.result()
    since = datetime.now(UTC)

    first = await cli("satisfaction", "--json", ticket_id, "5")
    assert first.returncode == 0, first.stderr
    record = json.loads(first.stdout)
    assert (record["ticketId"], record["score"], record["afterResolution"]) == (ticket_id, 5, True)
    assert_one_csat(await csat_rows(pool, ticket_id), ticket_id, 5)

    # The latest answer wins, and it is what the metric counts (3 is not satisfied).
    second = await cli("satisfaction", "--json", ticket_id, "3", "--comment", "took two days")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["score"] == 3
    event = assert_one_csat(await csat_rows(pool, ticket_id), ticket_id, 3)
    assert event["comment"] == "took two days"

    bad, kept = await asyncio.gather(cli("satisfaction", ticket_id, "7"), never_escalated)
    assert bad.returncode == 2, (bad.stdout, bad.stderr)
    assert "score must be 1-5, got 7" in bad.stderr and bad.stdout == ""
    assert_one_csat(await csat_rows(pool, ticket_id), ticket_id, 3)

    figure = await csat_figure(pool, since)
    assert (figure.rated, figure.satisfied, figure.value, figure.met) == (1, 0, 0.0, False)

    refused = await cli("satisfaction", "--json", kept, "5")
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert f"ticket {kept} was not escalated" in refused.stderr
    assert refused.stdout == ""
    assert await csat_rows(pool, kept) == []
