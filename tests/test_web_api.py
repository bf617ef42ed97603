"""The HTTP API against the real Temporal dev server, a real worker and PostgreSQL: signed
intake, every 401, secret rotation, agent tokens, agent actions to completion, 404/409/422."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from escalation import models
from escalation.messages import EscalationOutcome, workflow_id_for
from localstack.postgres import EmbeddedPostgres
from tests.conftest import eventually
from tests.web_support import (
    OLD_SECRET,
    SECRET,
    UNKNOWN_SECRET,
    WebSetup,
    new_ticket_id,
    signed_headers,
    ticket_body,
    web_setup,
    workflow_exists,
)
from web.app import create_app


@pytest.fixture
def setup(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, task_queue: str, tmp_path: Path
) -> WebSetup:
    # `pool` applies the migrations (webhook_deliveries included) before the app connects.
    return web_setup(client, postgres.url, task_queue, tmp_path, secrets=(OLD_SECRET, SECRET))


async def post_ticket(
    http: httpx.AsyncClient, ticket_id: str, secret: bytes = SECRET, **ticket: Any
) -> httpx.Response:
    body = ticket_body(ticket_id, **ticket)
    return await http.post("/api/tickets", content=body, headers=signed_headers(body, secret))


async def post_signed(
    http: httpx.AsyncClient, path: str, payload: dict[str, Any], **sign_kwargs: Any
) -> httpx.Response:
    body = json.dumps(payload).encode()
    return await http.post(path, content=body, headers=signed_headers(body, **sign_kwargs))


async def escalated(http: httpx.AsyncClient, setup: WebSetup, ticket_id: str) -> dict[str, Any]:
    """Wait until the run is monitoring its SLA (agent actions are accepted from then on)."""

    async def check() -> dict[str, Any] | None:
        answer = await http.get(f"/api/tickets/{ticket_id}", headers=setup.bearer())
        if answer.status_code == 200 and answer.json()["state"] == "escalated":
            return answer.json()
        return None

    return await eventually(check, within=30)


# --- intake ----------------------------------------------------------------------------------


async def test_signed_ticket_starts_its_escalation_and_the_same_ticket_again_finds_it(
    http: httpx.AsyncClient, setup: WebSetup, client: Client
) -> None:
    ticket_id = new_ticket_id()
    first = await post_ticket(http, ticket_id)
    assert first.status_code == 202, first.text
    started = first.json()
    assert started["ticketId"] == ticket_id
    assert started["workflowId"] == workflow_id_for(ticket_id)
    assert started["started"] is True and started["runId"]
    assert started["dashboardUrl"] == f"http://testserver/tickets/{ticket_id}"
    assert started["temporalUiUrl"].endswith(f"/workflows/{workflow_id_for(ticket_id)}")

    again = await post_ticket(http, ticket_id)  # a new delivery (new webhook id), same ticket
    assert again.status_code == 200, again.text
    assert again.json()["started"] is False
    assert again.json()["workflowId"] == started["workflowId"]
    assert again.json()["runId"] == started["runId"]

    description = await client.get_workflow_handle(started["workflowId"]).describe()
    assert description.run_id == started["runId"]
    status = await escalated(http, setup, ticket_id)
    assert (status["team"], status["priority"]) == ("engineering", "P1")
    await client.get_workflow_handle(started["workflowId"]).terminate("test done")


def _tamper(body: bytes, headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "webhook-signature": headers["webhook-signature"][:-4] + "AAA="}


UNAUTHENTIC = {
    "unsigned": (lambda body: {"content-type": "application/json"}, "missing webhook-id"),
    "wrong secret": (lambda body: signed_headers(body, UNKNOWN_SECRET), "no signature matches"),
    "forged signature": (lambda body: _tamper(body, signed_headers(body)), "no signature matches"),
    "stale timestamp": (
        lambda body: signed_headers(body, timestamp=int(time.time()) - 6 * 60),
        "tolerance",
    ),
    "future timestamp": (
        lambda body: signed_headers(body, timestamp=int(time.time()) + 6 * 60),
        "tolerance",
    ),
}


@pytest.mark.parametrize("case", list(UNAUTHENTIC), ids=list(UNAUTHENTIC))
async def test_unauthentic_webhook_gets_401_and_starts_nothing(
    http: httpx.AsyncClient, client: Client, case: str
) -> None:
    make_headers, reason = UNAUTHENTIC[case]
    ticket_id = new_ticket_id()
    body = ticket_body(ticket_id)
    answer = await http.post("/api/tickets", content=body, headers=make_headers(body))
    assert answer.status_code == 401, answer.text
    assert reason in answer.json()["detail"]
    assert not await workflow_exists(client, ticket_id)


async def test_invalid_payload_that_is_unsigned_gets_401_before_any_validation(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.post(
        "/api/tickets", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 401


async def test_replayed_webhook_id_gets_401_and_starts_nothing(
    http: httpx.AsyncClient, client: Client
) -> None:
    first_id = new_ticket_id()
    body = ticket_body(first_id)
    headers = signed_headers(body)
    assert (await http.post("/api/tickets", content=body, headers=headers)).status_code == 202

    replay = await http.post("/api/tickets", content=body, headers=headers)
    assert replay.status_code == 401
    assert replay.json()["detail"] == "webhook id already delivered"

    # A genuinely signed delivery reusing a delivered id is dropped too: nothing starts.
    other_id = new_ticket_id()
    other = ticket_body(other_id)
    reused = signed_headers(other, webhook_id=headers["webhook-id"])
    answer = await http.post("/api/tickets", content=other, headers=reused)
    assert answer.status_code == 401
    assert not await workflow_exists(client, other_id)
    await client.get_workflow_handle(workflow_id_for(first_id)).terminate("test done")


async def test_replayed_customer_reply_is_not_counted_twice(
    http: httpx.AsyncClient, setup: WebSetup, client: Client
) -> None:
    ticket_id = new_ticket_id()
    assert (await post_ticket(http, ticket_id)).status_code == 202
    await escalated(http, setup, ticket_id)
    body = b'{"text": "Any news? The anniversary is on Saturday."}'
    headers = signed_headers(body)
    path = f"/api/tickets/{ticket_id}/replies"
    reply = await http.post(path, content=body, headers=headers)
    assert reply.status_code == 202, reply.text
    assert reply.json()["signalled"] == "customer_replied"
    assert (await http.post(path, content=body, headers=headers)).status_code == 401

    async def replies() -> int:
        status = (await http.get(f"/api/tickets/{ticket_id}", headers=setup.bearer())).json()
        return status["customerReplies"]

    assert await eventually(replies) == 1
    await asyncio.sleep(0.5)
    assert await replies() == 1
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


async def test_rotation_accepts_the_old_and_the_new_secret_but_no_other(
    http: httpx.AsyncClient, client: Client
) -> None:
    old, new, unknown = new_ticket_id(), new_ticket_id(), new_ticket_id()
    assert (await post_ticket(http, old, OLD_SECRET)).status_code == 202
    assert (await post_ticket(http, new, SECRET)).status_code == 202
    assert (await post_ticket(http, unknown, UNKNOWN_SECRET)).status_code == 401
    assert await workflow_exists(client, old) and await workflow_exists(client, new)
    assert not await workflow_exists(client, unknown)
    for ticket_id in (old, new):
        await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


async def test_invalid_payload_gets_422_naming_the_field_and_starts_nothing(
    http: httpx.AsyncClient, client: Client
) -> None:
    ticket_id = new_ticket_id()
    answer = await post_ticket(http, ticket_id, urgency="whenever")
    assert answer.status_code == 422, answer.text
    problems = answer.json()["detail"]
    assert ["body", "ticket", "urgency"] in [problem["loc"] for problem in problems]
    assert not await workflow_exists(client, ticket_id)

    bad_email = await post_ticket(http, new_ticket_id(), customerEmail="not-an-address")
    assert bad_email.status_code == 422
    assert bad_email.json()["detail"][0]["loc"] == ["body", "ticket", "customerEmail"]


async def test_a_nul_in_the_ticket_is_replaced_so_the_run_can_store_it(
    http: httpx.AsyncClient, setup: WebSetup, client: Client
) -> None:
    ticket_id = new_ticket_id()
    answer = await post_ticket(http, ticket_id, description="Lost\x00 all 87 wedding photos")
    assert answer.status_code == 202, answer.text
    status = await escalated(http, setup, ticket_id)  # PostgreSQL took every write
    assert "Lost\ufffd all 87 wedding photos" in status["summaryMarkdown"]
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


async def test_a_422_delivery_is_not_remembered_so_the_fixed_retry_goes_through(
    http: httpx.AsyncClient, client: Client
) -> None:
    """Standard Webhooks retries keep the webhook id: a delivery we refused must not block it."""
    ticket_id = new_ticket_id()
    bad = ticket_body(ticket_id, urgency="whenever")
    headers = signed_headers(bad)
    assert (await http.post("/api/tickets", content=bad, headers=headers)).status_code == 422
    good = ticket_body(ticket_id)
    retry = signed_headers(good, webhook_id=headers["webhook-id"])
    assert (await http.post("/api/tickets", content=good, headers=retry)).status_code == 202
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


async def test_replies_and_satisfaction_for_an_unknown_ticket_get_404(
    http: httpx.AsyncClient, setup: WebSetup
) -> None:
    ticket_id = new_ticket_id("NOPE")
    reply = await post_signed(http, f"/api/tickets/{ticket_id}/replies", {"text": "hello?"})
    assert reply.status_code == 404 and ticket_id in reply.json()["detail"]
    score = await post_signed(http, f"/api/tickets/{ticket_id}/satisfaction", {"score": 4})
    assert score.status_code == 404
    respond = await http.post(f"/api/tickets/{ticket_id}/respond", json={}, headers=setup.bearer())
    assert respond.status_code == 404


async def test_satisfaction_answers_with_the_status_and_bad_scores_are_refused(
    http: httpx.AsyncClient, setup: WebSetup, client: Client
) -> None:
    ticket_id = new_ticket_id()
    assert (await post_ticket(http, ticket_id)).status_code == 202
    await escalated(http, setup, ticket_id)
    path = f"/api/tickets/{ticket_id}/satisfaction"
    answer = await post_signed(http, path, {"score": 2, "comment": "slow"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["satisfaction"] == 2
    out_of_range = await post_signed(http, path, {"score": 9})
    assert out_of_range.status_code == 422
    assert out_of_range.json()["detail"][0]["loc"] == ["body", "score"]
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


# --- agents ----------------------------------------------------------------------------------


async def test_agent_token_missing_or_wrong_gets_401_and_a_valid_one_200(
    http: httpx.AsyncClient, setup: WebSetup
) -> None:
    missing = await http.get("/api/queue")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await http.get("/api/queue", headers={"authorization": "Bearer not-a-token"})
    assert wrong.status_code == 401
    not_bearer = await http.get("/api/queue", headers={"authorization": "Basic YW5hOmFuYQ=="})
    assert not_bearer.status_code == 401
    valid = await http.get("/api/queue", headers=setup.bearer())
    assert valid.status_code == 200
    assert isinstance(valid.json()["items"], list)
    refused = await http.post(
        "/api/tickets/T-1/respond", json={}, headers={"authorization": "Bearer nope"}
    )
    assert refused.status_code == 401


async def test_queue_lists_the_escalation_with_its_indicators_most_urgent_first(
    http: httpx.AsyncClient, setup: WebSetup, client: Client
) -> None:
    ticket_id = new_ticket_id()
    assert (await post_ticket(http, ticket_id)).status_code == 202
    await escalated(http, setup, ticket_id)

    async def listed() -> dict[str, Any] | None:
        queue = (await http.get("/api/queue?team=engineering", headers=setup.bearer())).json()
        return next((i for i in queue["items"] if i["ticketId"] == ticket_id), None)

    item = await eventually(listed)
    assert item["priority"] == "P1" and item["premium"] and item["timeSensitive"]
    assert [(i["symbol"], i["label"]) for i in item["indicators"]] == [
        ("🔴", "Priority P1, high"),
        ("⭐", "Premium customer"),
        ("🔥", "Time-sensitive"),
    ]
    assert item["url"] == f"/tickets/{ticket_id}" and item["slaDueAt"]
    queue = (await http.get("/api/queue", headers=setup.bearer())).json()["items"]
    keys = [(i["priority"], i["slaDueAt"] or "~") for i in queue]
    assert keys == sorted(keys)
    billing = (await http.get("/api/queue?team=billing", headers=setup.bearer())).json()
    assert ticket_id not in [i["ticketId"] for i in billing["items"]]
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


async def test_agent_responds_and_resolves_and_the_workflow_completes(
    http: httpx.AsyncClient, setup: WebSetup, client: Client, pool: asyncpg.Pool
) -> None:
    ticket_id = new_ticket_id()
    assert (await post_ticket(http, ticket_id)).status_code == 202
    await escalated(http, setup, ticket_id)
    base = f"/api/tickets/{ticket_id}"

    responded = await http.post(
        f"{base}/respond", json={"note": "Looking at the upload logs"}, headers=setup.bearer()
    )
    assert responded.status_code == 200, responded.text
    assert responded.json()["state"] == "responded"
    assert responded.json()["respondedBy"] == "ana"  # the name comes from the token

    unknown_team = await http.post(
        f"{base}/reassign", json={"team": "marketing"}, headers=setup.bearer()
    )
    assert unknown_team.status_code == 409
    assert "unknown team 'marketing'" in unknown_team.json()["detail"]
    nothing = await http.post(f"{base}/reassign", json={}, headers=setup.bearer())
    assert nothing.status_code == 409
    assert "reassign needs a team or a priority" in nothing.json()["detail"]
    lowered = await http.post(
        f"{base}/reassign", json={"priority": "P2", "reason": "not lost"}, headers=setup.bearer()
    )
    assert lowered.status_code == 200, lowered.text
    assert (lowered.json()["team"], lowered.json()["priority"]) == ("engineering", "P2")

    resolved = await http.post(
        f"{base}/resolve",
        json={"resolution": "Relinked the upload batch", "escalationNecessary": True},
        headers=setup.bearer(),
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"

    handle = client.get_workflow_handle(workflow_id_for(ticket_id), result_type=EscalationOutcome)
    outcome = await handle.result()
    assert (outcome.outcome, outcome.resolved_by) == ("resolved", "ana")

    again = await http.post(
        f"{base}/resolve", json={"resolution": "Again"}, headers=setup.bearer("bo")
    )
    assert again.status_code == 409
    assert ticket_id in again.json()["detail"]
    assert "closed" in again.json()["detail"] or "already resolved" in again.json()["detail"]

    state = await eventually(
        lambda: pool.fetchval(
            "SELECT state FROM support_assignments WHERE ticket_id = $1 AND state = 'resolved'",
            ticket_id,
        )
    )
    assert state == "resolved"
    queue = (await http.get("/api/queue", headers=setup.bearer())).json()["items"]
    assert ticket_id not in [i["ticketId"] for i in queue]


async def test_agent_body_and_path_are_validated(http: httpx.AsyncClient, setup: WebSetup) -> None:
    no_resolution = await http.post(
        "/api/tickets/T-1/resolve", json={"escalationNecessary": False}, headers=setup.bearer()
    )
    assert no_resolution.status_code == 422
    assert no_resolution.json()["detail"][0]["loc"] == ["body", "resolution"]
    bad_id = await http.post("/api/tickets/-bad/respond", json={}, headers=setup.bearer())
    assert bad_id.status_code == 422


async def test_openapi_declares_the_security_schemes_and_the_webhook_headers(
    http: httpx.AsyncClient,
) -> None:
    spec = (await http.get("/openapi.json")).json()
    assert set(spec["components"]["securitySchemes"]) == {"agentToken", "agentSession"}
    intake = spec["paths"]["/api/tickets"]["post"]
    headers = {p["name"] for p in intake["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert {"200", "202", "401", "422"} <= set(intake["responses"])
    resolve = spec["paths"]["/api/tickets/{ticket_id}/resolve"]["post"]
    assert {"200", "401", "404", "409", "422"} <= set(resolve["responses"])
    assert not any(path.startswith("/tickets") or path == "/" for path in spec["paths"])


def test_the_spec_publishes_the_intake_rules_the_server_applies() -> None:
    """The ticket id, email and subject rules are regexes both Python and JSON Schema (ECMA-262)
    read alike: the spec carries them, so a payload valid by the spec is not refused."""
    ticket = create_app().openapi()["components"]["schemas"]["Ticket"]["properties"]
    assert ticket["id"]["pattern"] == models.TICKET_ID_PATTERN
    assert ticket["customerEmail"]["pattern"] == models.EMAIL_PATTERN
    assert ticket["subject"]["pattern"] == models.ONE_LINE_PATTERN
    for email in ("mike@email.com", "a\x1cb@c.d", "a@b", "a b@c.d", "a@b.c\u3000", "m@e.c\x7f"):
        published = bool(re.fullmatch(models.EMAIL_PATTERN, email))
        assert published == (email == "mike@email.com"), email


# --- Prometheus ------------------------------------------------------------------------------


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples by (name, labels), parsed by prometheus_client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_prometheus_metrics_count_the_escalation_and_its_time_to_escalate(
    http: httpx.AsyncClient, setup: WebSetup, client: Client
) -> None:
    before = scrape((await http.get("/metrics")).text)
    ticket_id = new_ticket_id()
    assert (await post_ticket(http, ticket_id)).status_code == 202
    await escalated(http, setup, ticket_id)
    answer = await http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    after = scrape(answer.text)

    p1 = ("escalations_total", (("priority", "P1"), ("team", "engineering")))
    assert after[p1] == before.get(p1, 0) + 1
    count = ("time_to_escalate_seconds_count", ())
    assert after[count] == before.get(count, 0) + 1
    assert after[("time_to_escalate_seconds_bucket", (("le", "+Inf"),))] == after[count]
    assert ("sla_breaches_total", ()) in after and ("auto_responses_total", ()) in after
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")
