"""The HTTP API against the real Temporal dev server, a real worker and PostgreSQL: signed
intake, every 401, secret rotation, agent tokens, agent actions to completion, 404/409/422."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from activities.settings import DEFAULT_POLICY, Settings
from escalation import models
from escalation.messages import CustomerReply, EscalationOutcome, workflow_id_for
from escalation.policy import anchored
from escalation.run_state import EscalationInput
from escalation.segments import split_message
from localstack.postgres import EmbeddedPostgres
from localstack.smtp import SmtpSink
from tests.conftest import EXAMPLES, eventually
from tests.test_escalation_workflow import kept_with_auto_response
from tests.web_support import (
    METRICS_TOKEN,
    OLD_SECRET,
    SECRET,
    UNKNOWN_SECRET,
    WebSetup,
    asgi_client,
    delete_run,
    new_ticket_id,
    p0_ticket_body,
    signed_headers,
    ticket_body,
    web_setup,
    workflow_exists,
)
from web import temporal_ops
from web.app import CONTENT_SECURITY_POLICY, create_app
from worker import create_worker


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


async def test_a_duplicate_delivery_gets_its_first_answer_and_an_id_reused_is_refused(
    http: httpx.AsyncClient, client: Client
) -> None:
    first_id = new_ticket_id()
    body = ticket_body(first_id)
    headers = signed_headers(body)
    first = await http.post("/api/tickets", content=body, headers=headers)
    assert first.status_code == 202, first.text

    # The sender's retry (its answer timed out): 200, the first answer, nothing started again.
    again = await http.post("/api/tickets", content=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json() == first.json() and again.json()["started"] is True
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["webhook-first-status"] == "202"

    # A genuinely signed delivery reusing a delivered id for another request is refused.
    other_id = new_ticket_id()
    other = ticket_body(other_id)
    reused = signed_headers(other, webhook_id=headers["webhook-id"])
    answer = await http.post("/api/tickets", content=other, headers=reused)
    assert answer.status_code == 409, answer.text
    assert headers["webhook-id"] in answer.json()["detail"]
    assert not await workflow_exists(client, other_id)
    await client.get_workflow_handle(workflow_id_for(first_id)).terminate("test done")


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
    reply = await post_signed(
        http, f"/api/tickets/{ticket_id}/replies", {"ticketId": ticket_id, "text": "hello?"}
    )
    assert reply.status_code == 404 and ticket_id in reply.json()["detail"]
    score = await post_signed(
        http, f"/api/tickets/{ticket_id}/satisfaction", {"ticketId": ticket_id, "score": 4}
    )
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
    answer = await post_signed(http, path, {"ticketId": ticket_id, "score": 2, "comment": "slow"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["satisfaction"] == 2
    out_of_range = await post_signed(http, path, {"ticketId": ticket_id, "score": 9})
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
    assert [(i["symbol"], i["label"], i["kind"], i["text"]) for i in item["indicators"]] == [
        ("🔴", "Priority P1, high", "p1", "P1"),
        ("⭐", "Premium customer", "premium", "Premium"),
        ("🔥", "Time-sensitive", "time-sensitive", "Time-sensitive"),
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
    first_response = responded.json()["respondedAt"]
    assert lowered.json()["respondedAt"] == first_response
    moved = await http.post(
        f"{base}/reassign", json={"team": "billing", "reason": "a refund"}, headers=setup.bearer()
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["team"], moved.json()["respondedAt"]) == ("billing", first_response)

    # Billing holds it now: ana (engineering) no longer acts on it, bo (billing) does.
    resolution = {"resolution": "Relinked the upload batch", "escalationNecessary": True}
    not_hers = await http.post(f"{base}/resolve", json=resolution, headers=setup.bearer())
    assert not_hers.status_code == 403, not_hers.text
    resolved = await http.post(f"{base}/resolve", json=resolution, headers=setup.bearer("bo"))
    assert resolved.status_code == 200, resolved.text
    done = resolved.json()
    assert (done["state"], done["resolution"]) == ("resolved", "Relinked the upload batch")
    assert done["resolvedAt"] and done["slaDueAt"] is None and done["responseDueAt"] is None
    assert done["actions"] == ["set_satisfaction"] and done["respondedAt"] == first_response

    handle = client.get_workflow_handle(workflow_id_for(ticket_id), result_type=EscalationOutcome)
    outcome = await handle.result()
    assert (outcome.outcome, outcome.resolved_by) == ("resolved", "bo")

    again = await http.post(
        f"{base}/resolve",
        json={"resolution": "Again", "escalationNecessary": True},
        headers=setup.bearer("bo"),
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
    # The episode's first response survived both reassignments: the SLA was met.
    row = await pool.fetchrow(
        "SELECT team, responded_at FROM resolutions WHERE episode_id = $1", outcome.episode_id
    )
    assert row["team"] == "billing"
    assert row["responded_at"] == datetime.fromisoformat(first_response)
    status = (await http.get(base, headers=setup.bearer("bo"))).json()
    assert (status["state"], status["resolution"], status["actions"]) == (
        "resolved",
        "Relinked the upload batch",
        ["set_satisfaction"],
    )


async def test_agent_body_and_path_are_validated(http: httpx.AsyncClient, setup: WebSetup) -> None:
    no_resolution = await http.post(
        "/api/tickets/T-1/resolve", json={"escalationNecessary": False}, headers=setup.bearer()
    )
    assert no_resolution.status_code == 422
    assert no_resolution.json()["detail"][0]["loc"] == ["body", "resolution"]
    # "Was this escalation necessary?" is the agent's answer, never a default.
    unanswered = await http.post(
        "/api/tickets/T-1/resolve", json={"resolution": "Relinked"}, headers=setup.bearer()
    )
    assert unanswered.status_code == 422
    assert unanswered.json()["detail"][0]["loc"] == ["body", "escalationNecessary"]
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


async def test_the_spec_is_served_under_the_csp_and_no_docs_page_needs_a_cdn(
    http: httpx.AsyncClient,
) -> None:
    """Swagger UI and ReDoc would load from a CDN with an inline script: they are off, and no
    answer goes without the strict CSP."""
    spec = await http.get("/openapi.json")
    assert spec.status_code == 200
    assert spec.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        answer = await http.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert "cdn" not in answer.text.lower(), path


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
    scraper = {"authorization": f"Bearer {METRICS_TOKEN}"}
    assert (await http.get("/metrics")).status_code == 401  # a scrape token is required
    before = scrape((await http.get("/metrics", headers=scraper)).text)
    ticket_id = new_ticket_id()
    assert (await post_ticket(http, ticket_id)).status_code == 202
    await escalated(http, setup, ticket_id)
    answer = await http.get("/metrics", headers=scraper)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    after = scrape(answer.text)

    p1 = ("escalations_total", (("priority", "P1"), ("team", "engineering")))
    assert after[p1] == before.get(p1, 0) + 1
    count = ("time_to_escalate_seconds_count", ())
    assert after[count] == before.get(count, 0) + 1
    assert after[("time_to_escalate_seconds_bucket", (("le", "+Inf"),))] == after[count]
    assert ("sla_breaches_total", ()) in after and ("auto_responses_total", ()) in after
    held = ("escalations_open", (("priority", "P1"), ("team", "engineering")))
    assert after[held] == before.get(held, 0) + 1  # the open gauge, by the team holding it
    families = {family.name for family in text_string_to_metric_families(answer.text)}
    assert {"escalations_resolved", "escalations_open"} <= families
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


# --- escalation episodes ---------------------------------------------------------------------


async def resolve_over_api(
    http: httpx.AsyncClient, setup: WebSetup, client: Client, ticket_id: str, resolution: str
) -> EscalationOutcome:
    """Respond, then resolve the open episode; the answer shows the resolution and its time
    and no live deadline; returns the run's outcome once it has completed."""
    base = f"/api/tickets/{ticket_id}"
    responded = await http.post(f"{base}/respond", json={"note": "on it"}, headers=setup.bearer())
    assert responded.status_code == 200, responded.text
    answer = await http.post(
        f"{base}/resolve",
        json={"resolution": resolution, "escalationNecessary": True},
        headers=setup.bearer(),
    )
    assert answer.status_code == 200, answer.text
    done = answer.json()
    assert (done["state"], done["resolution"]) == ("resolved", resolution)
    assert done["resolvedAt"] and done["actions"] == ["set_satisfaction"]
    assert done["slaDueAt"] is None and done["responseDueAt"] is None
    handle = client.get_workflow_handle(workflow_id_for(ticket_id), result_type=EscalationOutcome)
    outcome = await handle.result()
    assert outcome.outcome == "resolved" and outcome.resolved_at and outcome.reopen_until
    return outcome


async def acknowledged_and_alerted(pool: asyncpg.Pool, ticket_id: str, episode_id: str) -> None:
    """The episode's own acknowledgement was sent and its own immediate (P0) alert logged."""

    async def done() -> bool:
        sent = await pool.fetchval(
            "SELECT status FROM notifications WHERE idempotency_key = $1",
            f"{ticket_id}:{episode_id}:acknowledgement",
        )
        alerted = await pool.fetchval(
            "SELECT count(*) FROM escalation_log WHERE idempotency_key = $1",
            f"alert:{ticket_id}:{episode_id}:immediate:g0",
        )
        return sent == "sent" and alerted == 1

    await eventually(done, within=30)


async def second_episode(
    http: httpx.AsyncClient,
    setup: WebSetup,
    pool: asyncpg.Pool,
    ticket_id: str,
    first: EscalationOutcome,
    because: str,
) -> dict[str, Any]:
    """The ticket's second episode is escalated (status, queue, log, acknowledgement, alert)
    and the first stays resolved, listed under `earlierEpisodes`."""
    status = await escalated(http, setup, ticket_id)
    assert (status["episode"], status["previousEpisodeId"]) == (2, first.episode_id)
    assert status["episodeId"] != first.episode_id and status["reopenedBecause"] == because
    assert status["priority"] == "P0" and status["source"] == "workflow"
    assert "resolve" in status["actions"] and status["resolution"] is None
    [earlier] = status["earlierEpisodes"]
    assert earlier == {
        "episode": 1,
        "episodeId": first.episode_id,
        "escalatedAt": earlier["escalatedAt"],
        "resolvedAt": earlier["resolvedAt"],
        "team": "engineering",
        "priority": "P0",
        "state": "resolved",
        "resolution": first.resolution,
        "reopenedBecause": None,
        "url": f"/tickets/{ticket_id}#episode-1",
    }
    assert earlier["resolvedAt"] is not None and first.resolved_at is not None
    assert abs(datetime.fromisoformat(earlier["resolvedAt"]) - first.resolved_at) < timedelta(
        seconds=1
    )

    async def queued() -> dict[str, Any] | None:
        queue = (await http.get("/api/queue", headers=setup.bearer())).json()["items"]
        return next((item for item in queue if item["ticketId"] == ticket_id), None)

    item = await eventually(queued)
    assert (item["episode"], item["reopened"], item["episodeId"]) == (2, True, status["episodeId"])
    queue = (await http.get("/api/queue", headers=setup.bearer())).json()["items"]
    assert [i["ticketId"] for i in queue].count(ticket_id) == 1  # the latest episode only

    rows = await pool.fetch(
        "SELECT episode_id, episode_number, previous_episode_id, state, resolution"
        " FROM support_assignments WHERE ticket_id = $1 ORDER BY escalated_at",
        ticket_id,
    )
    assert [(r["episode_id"], r["episode_number"], r["state"]) for r in rows] == [
        (first.episode_id, 1, "resolved"),
        (status["episodeId"], 2, "escalated"),
    ]
    assert rows[0]["resolution"] == first.resolution
    assert rows[1]["previous_episode_id"] == first.episode_id
    await acknowledged_and_alerted(pool, ticket_id, status["episodeId"])
    events = await pool.fetch(
        "SELECT episode_id, event FROM escalation_log WHERE ticket_id = $1 AND action = 'escalated'"
        " ORDER BY id",
        ticket_id,
    )
    assert [(e["episode_id"], e["event"]["episode"]) for e in events] == [
        (first.episode_id, 1),
        (status["episodeId"], 2),
    ]
    assert events[1]["event"]["reopenedBecause"] == because
    return status


async def test_a_resolved_ticket_sent_again_is_escalated_as_a_second_episode(
    http: httpx.AsyncClient, setup: WebSetup, client: Client, pool: asyncpg.Pool
) -> None:
    ticket_id = new_ticket_id("AGAIN")
    body = await p0_ticket_body(pool, ticket_id)
    first = await http.post("/api/tickets", content=body, headers=signed_headers(body))
    assert first.status_code == 202, first.text
    assert (first.json()["reopened"], first.json()["previousRunId"]) == (False, None)
    assert first.json()["episodeId"] == first.json()["runId"]
    await escalated(http, setup, ticket_id)
    await acknowledged_and_alerted(pool, ticket_id, first.json()["episodeId"])
    outcome = await resolve_over_api(http, setup, client, ticket_id, "Restored from backup")
    assert outcome.episode_id == first.json()["runId"]
    assert outcome.reopen_until == outcome.resolved_at + timedelta(days=7)

    again = await http.post("/api/tickets", content=body, headers=signed_headers(body))
    assert again.status_code == 202, again.text
    started = again.json()
    assert (started["started"], started["reopened"]) == (True, True)
    assert started["previousRunId"] == first.json()["runId"] != started["runId"]
    assert started["episodeId"] == started["runId"]
    assert started["reopenedBecause"] == temporal_ops.REOPENED_BY_HELPDESK
    status = await second_episode(
        http, setup, pool, ticket_id, outcome, temporal_ops.REOPENED_BY_HELPDESK
    )

    # A delivery while the second episode runs finds it, as before.
    third = await http.post("/api/tickets", content=body, headers=signed_headers(body))
    assert third.status_code == 200, third.text
    assert (third.json()["started"], third.json()["runId"]) == (False, started["runId"])
    assert third.json()["episodeId"] == status["episodeId"]
    # Two deliveries racing past the describe: the second start finds the run the first one
    # started (USE_EXISTING) and says so.
    raced = await temporal_ops.start_episode(
        client,
        setup.config.endpoints,
        models.parse_payload(body),
        reopened_because=temporal_ops.REOPENED_BY_HELPDESK,
        previous_run_id=first.json()["runId"],
    )
    assert (raced.started, raced.reopened, raced.run_id) == (False, False, started["runId"])
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


async def test_a_ticket_sent_again_after_its_run_was_deleted_is_a_second_episode(
    http: httpx.AsyncClient, setup: WebSetup, client: Client, pool: asyncpg.Pool
) -> None:
    """Temporal no longer has the first run (retention, `temporal workflow delete`): the new
    run is numbered from the database, and every key of it is its own (acknowledged, alerted,
    logged), so nothing collides with the first episode's rows."""
    ticket_id = new_ticket_id("GONE")
    body = await p0_ticket_body(pool, ticket_id)
    first = await http.post("/api/tickets", content=body, headers=signed_headers(body))
    assert first.status_code == 202, first.text
    await escalated(http, setup, ticket_id)
    await acknowledged_and_alerted(pool, ticket_id, first.json()["episodeId"])
    outcome = await resolve_over_api(http, setup, client, ticket_id, "Relinked the batch")
    await delete_run(client, ticket_id, first.json()["runId"])

    # Without the run, the status is the database's record of the resolved episode.
    gone = await http.get(f"/api/tickets/{ticket_id}", headers=setup.bearer())
    assert gone.status_code == 200, gone.text
    record = gone.json()
    assert (record["source"], record["state"], record["episode"]) == ("database", "resolved", 1)
    assert (record["resolution"], record["actions"]) == ("Relinked the batch", ["set_satisfaction"])
    assert record["slaDueAt"] is None and record["respondedAt"] is not None

    again = await http.post("/api/tickets", content=body, headers=signed_headers(body))
    assert again.status_code == 202, again.text
    started = again.json()
    assert (started["started"], started["reopened"], started["previousRunId"]) == (
        True,
        False,
        None,
    )
    await second_episode(
        http,
        setup,
        pool,
        ticket_id,
        outcome,
        "the ticket came in again after its escalation ended",  # the workflow's own words
    )
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


async def first_input(client: Client, ticket_id: str) -> EscalationInput:
    """The latest run's input, from its first history event."""
    handle = client.get_workflow_handle(workflow_id_for(ticket_id))
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [found] = await client.data_converter.decode(payloads, [EscalationInput])
        return found
    raise AssertionError("no history")


REPLY = "The photos are gone AGAIN since this morning, please restore them urgently!"


async def test_a_customer_reply_within_reopen_within_reopens_the_resolved_ticket(
    http: httpx.AsyncClient, setup: WebSetup, client: Client, pool: asyncpg.Pool
) -> None:
    ticket_id = new_ticket_id("REPLY")
    assert (await post_ticket(http, ticket_id)).status_code == 202
    await escalated(http, setup, ticket_id)
    original = (await first_input(client, ticket_id)).payload.ticket
    outcome = await resolve_over_api(http, setup, client, ticket_id, "Restored the album")

    path = f"/api/tickets/{ticket_id}/replies"
    answer = await post_signed(http, path, {"ticketId": ticket_id, "text": REPLY})
    assert answer.status_code == 202, answer.text
    reopened = answer.json()
    assert (reopened["reopened"], reopened["signalled"]) == (True, None)
    assert reopened["previousRunId"] == outcome.episode_id != reopened["runId"]
    assert reopened["reopenedBecause"] == temporal_ops.REOPENED_BY_REPLY

    status = await escalated(http, setup, ticket_id)
    assert (status["episode"], status["previousEpisodeId"]) == (2, outcome.episode_id)
    assert status["reopenedBecause"] == temporal_ops.REOPENED_BY_REPLY
    assert [e["state"] for e in status["earlierEpisodes"]] == ["resolved"]
    assert REPLY in status["summaryMarkdown"]

    # The new episode's ticket: the reply on top, the earlier description quoted as a mail
    # client quotes it, which triage's segmenter reads as context.
    sent = await first_input(client, ticket_id)
    assert sent.reopened_because == temporal_ops.REOPENED_BY_REPLY
    description = sent.payload.ticket.description
    assert description.startswith(REPLY + "\n\nOn ")
    header = description.splitlines()[2]
    assert header.endswith(f"{original.customer_name} <{original.customer_email}> wrote:")
    quoted = "\n".join(f"> {line}" if line else ">" for line in original.description.splitlines())
    assert description.endswith(quoted)
    message = split_message(description)
    assert REPLY in message.new and original.description.splitlines()[0] not in message.new
    assert sent.payload.ticket.subject == original.subject

    # While the new episode runs, a further reply is a signal to it.
    more = await post_signed(http, path, {"ticketId": ticket_id, "text": "Any news?"})
    assert more.status_code == 202, more.text
    assert (more.json()["signalled"], more.json()["reopened"]) == ("customer_replied", False)

    async def replies() -> bool:
        answer = await http.get(f"/api/tickets/{ticket_id}", headers=setup.bearer())
        return answer.json()["customerReplies"] == 1

    await eventually(replies)
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


@pytest.fixture
async def short_reopen(
    client: Client,
    postgres: EmbeddedPostgres,
    pool: asyncpg.Pool,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> AsyncIterator[WebSetup]:
    """A worker whose policy lets a reply reopen a ticket for 2 seconds only."""
    text = anchored(DEFAULT_POLICY.read_text(encoding="utf-8"), DEFAULT_POLICY.parent)
    text, count = re.subn(r'^reopen_within = "7d"', 'reopen_within = "2s"', text, flags=re.M)
    assert count == 1, 'config/policy.toml has no reopen_within = "7d"'
    policy = tmp_path / "policy.toml"
    policy.write_text(text, encoding="utf-8")
    queue = f"reopen-{uuid.uuid4().hex[:8]}"
    settings = Settings(pool=pool, smtp_url=smtp_sink.url, policy_path=policy)
    async with create_worker(client, settings, queue):
        yield web_setup(client, postgres.url, queue, tmp_path)


async def test_a_reply_after_reopen_within_is_refused_with_the_date_and_starts_nothing(
    short_reopen: WebSetup, client: Client
) -> None:
    setup = short_reopen
    async with asgi_client(create_app(setup.config)) as http:
        ticket_id = new_ticket_id("LATE")
        assert (await post_ticket(http, ticket_id)).status_code == 202
        await escalated(http, setup, ticket_id)
        outcome = await resolve_over_api(http, setup, client, ticket_id, "Refunded")
        assert outcome.reopen_until == outcome.resolved_at + timedelta(seconds=2)
        assert outcome.reopen_until is not None and outcome.resolved_at is not None
        wait = (outcome.reopen_until - datetime.now(UTC)).total_seconds() + 0.5
        await asyncio.sleep(max(0.0, wait))

        answer = await post_signed(
            http, f"/api/tickets/{ticket_id}/replies", {"ticketId": ticket_id, "text": REPLY}
        )
        assert answer.status_code == 409, answer.text
        detail = answer.json()["detail"]
        assert f"resolved on {outcome.resolved_at:%Y-%m-%d %H:%M} UTC" in detail
        assert f"only until {outcome.reopen_until:%Y-%m-%d %H:%M} UTC" in detail
        assert "the helpdesk must send a new ticket" in detail
        description = await client.get_workflow_handle(workflow_id_for(ticket_id)).describe()
        assert description.run_id == outcome.episode_id  # no new run

        # A ticket triage kept with auto-response has no resolution to reopen.
        kept = kept_with_auto_response(new_ticket_id("KEPT"))
        body = json.dumps(kept.to_json_dict()).encode()
        assert (
            await http.post("/api/tickets", content=body, headers=signed_headers(body))
        ).status_code == 202
        handle = client.get_workflow_handle(
            workflow_id_for(kept.ticket.id), result_type=EscalationOutcome
        )
        assert (await handle.result()).outcome == "auto-response"
        refused = await post_signed(
            http,
            f"/api/tickets/{kept.ticket.id}/replies",
            {"ticketId": kept.ticket.id, "text": "?"},
        )
        assert refused.status_code == 409, refused.text
        assert "auto-response" in refused.json()["detail"]


def test_a_reopening_reply_quotes_the_earlier_description_within_the_cap() -> None:
    """Pure: the reply on top, "On <date>, <name> <email> wrote:" and the earlier text as
    "> " lines (the segmenter's quoted part); a reopened episode reopened again quotes the
    whole earlier thread; a quote that would pass the description cap is cut by whole lines,
    and a reply at the cap leaves no room for a quote at all."""
    payload = models.parse_payload((EXAMPLES / "T-12345.json").read_text())
    received = datetime(2024, 11, 7, 15, 0, tzinfo=UTC)
    earlier = EscalationInput(payload=payload, received_at=received)
    now = datetime(2024, 11, 9, 8, 30, tzinfo=UTC)
    reply = CustomerReply(text="Still missing!\nPlease call me.", at=now)

    first = temporal_ops.reopened_payload(earlier, reply, now)
    ticket = payload.ticket
    text = first.ticket.description
    created = ticket.created_at.astimezone(UTC)
    who = f"{ticket.customer_name} <{ticket.customer_email}>"
    header = f"On {created:%a, %d %b %Y at %H:%M} UTC, {who} wrote:"
    assert text.startswith(f"Still missing!\nPlease call me.\n\n{header}\n> ")
    message = split_message(text)
    assert "Still missing!" in message.new and ticket.description.splitlines()[0] not in message.new
    assert ticket.description.splitlines()[0] in message.quoted
    assert first.ticket.model_dump(exclude={"description"}) == ticket.model_dump(
        exclude={"description"}
    )

    again = EscalationInput(
        payload=first, received_at=now, reopened_because=temporal_ops.REOPENED_BY_REPLY
    )
    later = temporal_ops.reopened_payload(again, CustomerReply(text="Hello?"), now)
    assert later.ticket.description.startswith(
        f"Hello?\n\nOn {now:%a, %d %b %Y at %H:%M} UTC, {ticket.customer_name}"
    )
    assert "\n> Still missing!\n> Please call me.\n>\n> On " in later.ticket.description
    assert "\n> > " in later.ticket.description  # the first quote, quoted again

    long_earlier = EscalationInput(
        payload=models.parse_payload(
            {**payload.to_json_dict(), "ticket": {**payload.to_json_dict()["ticket"],
             "description": "\n".join(f"line {n} " + "x" * 90 for n in range(180))}}
        ),
        received_at=received,
    )  # fmt: skip
    cut = temporal_ops.reopened_payload(long_earlier, CustomerReply(text="y" * 5000), now)
    assert len(cut.ticket.description) <= models.MAX_DESCRIPTION_CHARS
    assert cut.ticket.description.endswith("\n" + temporal_ops.QUOTE_CUT)
    assert "\n> line 0 " in cut.ticket.description
    at_cap = "z" * models.MAX_DESCRIPTION_CHARS
    alone = temporal_ops.reopened_payload(long_earlier, CustomerReply(text=at_cap), now)
    assert alone.ticket.description == at_cap


async def test_a_repeated_team_filter_is_refused_not_read_as_its_last_value(
    http: httpx.AsyncClient, setup: WebSetup
) -> None:
    answer = await http.get("/api/queue?team=engineering&team=legal", headers=setup.bearer())
    assert answer.status_code == 422, answer.text
    assert "one team" in answer.text
