"""Webhook semantics senders expect, on a live uvicorn (issue 13): a duplicate delivery (same
`webhook-id`, the sender's retry) answers 200 with the first answer and is acted on once; the
ticket id is in what is signed, so a delivery posted to another ticket's path is refused; and
the effects are idempotent on the delivery id, so a failure after the Temporal call (the answer
not kept) cannot make the retry apply a reply or a CSAT score twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from escalation.messages import workflow_id_for
from localstack.postgres import EmbeddedPostgres
from tests.conftest import eventually
from tests.web_support import LiveServer, live_server, new_ticket_id, signed_headers, ticket_body
from web import auth, deps


@pytest.fixture
def server(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, task_queue: str, tmp_path: Path
) -> Iterator[LiveServer]:
    with live_server(client, postgres.url, task_queue, tmp_path) as running:
        yield running


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        yield http


async def escalate(http: httpx.AsyncClient, server: LiveServer, ticket_id: str) -> None:
    body = ticket_body(ticket_id)
    answer = await http.post("/api/tickets", content=body, headers=signed_headers(body))
    assert answer.status_code == 202, answer.text

    async def monitored() -> bool:
        status = await http.get(f"/api/tickets/{ticket_id}", headers=server.setup.bearer())
        return status.status_code == 200 and status.json()["state"] == "escalated"

    await eventually(monitored, within=30)


async def status_of(http: httpx.AsyncClient, server: LiveServer, ticket_id: str) -> Any:
    answer = await http.get(f"/api/tickets/{ticket_id}", headers=server.setup.bearer())
    assert answer.status_code == 200, answer.text
    return answer.json()


async def log_rows(pool: asyncpg.Pool, ticket_id: str, action: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM escalation_log WHERE ticket_id = $1 AND action = $2",
        ticket_id,
        action,
    )
    return count


async def settled(check: Any, expected: int) -> None:
    """`check()` reaches `expected` and is still there a moment later (nothing applied late)."""
    await eventually(lambda: _equals(check, expected), within=30)
    await asyncio.sleep(1.0)
    assert await check() == expected


async def _equals(check: Any, expected: int) -> bool:
    return bool(await check() == expected)


def reply_body(ticket_id: str, text: str = "Any news? The anniversary is on Saturday.") -> bytes:
    return json.dumps({"ticketId": ticket_id, "text": text}).encode()


async def test_a_duplicate_reply_delivery_answers_200_with_the_first_answer_and_counts_once(
    server: LiveServer, http: httpx.AsyncClient, client: Client, pool: asyncpg.Pool
) -> None:
    ticket_id = new_ticket_id("DUP")
    await escalate(http, server, ticket_id)
    body = reply_body(ticket_id)
    headers = signed_headers(body)
    path = f"/api/tickets/{ticket_id}/replies"
    first = await http.post(path, content=body, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json()["signalled"] == "customer_replied"

    # The sender's retries: the same request (and a re-signed one: same id, fresh timestamp).
    for retry in (headers, signed_headers(body, webhook_id=headers["webhook-id"])):
        again = await http.post(path, content=body, headers=retry)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["webhook-first-status"] == "202"

    async def replies() -> int:
        return int((await status_of(http, server, ticket_id))["customerReplies"])

    await settled(replies, 1)
    assert await log_rows(pool, ticket_id, "customer_replied") == 1
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


async def test_a_signed_reply_posted_to_another_tickets_path_is_refused(
    server: LiveServer, http: httpx.AsyncClient, client: Client, pool: asyncpg.Pool
) -> None:
    mine, theirs = new_ticket_id("MINE"), new_ticket_id("THEIRS")
    await escalate(http, server, mine)
    await escalate(http, server, theirs)
    body = reply_body(mine, "Please delete everything in my account.")
    headers = signed_headers(body)

    # Posted to another ticket's path before its own: refused, naming the mismatch.
    moved = await http.post(f"/api/tickets/{theirs}/replies", content=body, headers=headers)
    assert moved.status_code == 400, moved.text
    assert mine in moved.json()["detail"] and theirs in moved.json()["detail"]
    # Its own path: accepted (a refused request keeps nothing: the id is still unused).
    own = await http.post(f"/api/tickets/{mine}/replies", content=body, headers=headers)
    assert own.status_code == 202, own.text
    # Captured after delivery and re-posted against the other ticket: refused as well.
    again = await http.post(f"/api/tickets/{theirs}/replies", content=body, headers=headers)
    assert again.status_code == 409, again.text
    assert f"/api/tickets/{mine}/replies" in again.json()["detail"]

    # The same for a CSAT score.
    rating = json.dumps({"ticketId": mine, "score": 1}).encode()
    csat = await http.post(
        f"/api/tickets/{theirs}/satisfaction", content=rating, headers=signed_headers(rating)
    )
    assert csat.status_code == 400, csat.text

    async def replies_of_mine() -> int:
        return int((await status_of(http, server, mine))["customerReplies"])

    await settled(replies_of_mine, 1)
    other = await status_of(http, server, theirs)
    assert (other["customerReplies"], other["satisfaction"]) == (0, None)
    assert await log_rows(pool, theirs, "customer_replied") == 0
    for ticket_id in (mine, theirs):
        await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


async def test_a_retry_after_the_answer_was_lost_applies_a_reply_and_a_csat_score_once(
    server: LiveServer,
    http: httpx.AsyncClient,
    client: Client,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Temporal call succeeded, keeping the answer failed (PostgreSQL blinked): the sender
    gets 503 and retries the same delivery, which must not reply or alert twice."""
    ticket_id = new_ticket_id("LOST")
    await escalate(http, server, ticket_id)
    failures: list[str] = []
    keep = auth.keep_answer

    async def flaky_keep(db: Any, webhook_id: str, *args: Any) -> Any:
        if webhook_id not in failures:
            failures.append(webhook_id)
            raise ConnectionError("the database went away")
        return await keep(db, webhook_id, *args)

    monkeypatch.setattr(deps, "keep_answer", flaky_keep)
    deliveries = [
        (f"/api/tickets/{ticket_id}/replies", reply_body(ticket_id), 202),
        (
            f"/api/tickets/{ticket_id}/satisfaction",
            json.dumps({"ticketId": ticket_id, "score": 2, "comment": "slow"}).encode(),
            200,
        ),
    ]
    for path, body, status in deliveries:
        headers = signed_headers(body)
        lost = await http.post(path, content=body, headers=headers)
        assert lost.status_code == 503, lost.text
        retry = signed_headers(body, webhook_id=headers["webhook-id"])
        answer = await http.post(path, content=body, headers=retry)
        assert answer.status_code == status, answer.text
        assert "idempotent-replayed" not in answer.headers  # acted on (idempotently) again
        replayed = await http.post(path, content=body, headers=retry)
        assert replayed.status_code == 200 and replayed.json() == answer.json()
    assert len(failures) == 2

    async def replies() -> int:
        return int((await status_of(http, server, ticket_id))["customerReplies"])

    await settled(replies, 1)
    assert await log_rows(pool, ticket_id, "customer_replied") == 1
    assert await log_rows(pool, ticket_id, "satisfaction_changed") == 1
    status = await status_of(http, server, ticket_id)
    assert status["satisfaction"] == 2
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")
