"""schemathesis against the app's own /openapi.json: no 5xx, and every answer (status code,
content type, headers, body) as the spec says. Nothing is mocked: the app runs under uvicorn
and talks to the session's Temporal dev server and PostgreSQL, with a real worker.

- Agent routes get a valid bearer token (schemathesis itself probes them without one and
  expects 401). Ticket "0", the id schemathesis tries first, is a real escalation, so agent
  actions get real answers (200, then 409 once resolved), not only 404s; a generated customer
  reply to it once resolved reopens it as a new episode (202).
- Webhook routes are signed for positive cases, so generated payloads reach the handlers and
  start real escalations (each under a fresh ticket id, so a generated ticket never becomes the
  target of a generated agent action); negative cases go unsigned and must get 401.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import unquote

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from requests import PreparedRequest
from temporalio.testing import WorkflowEnvironment

from localstack.postgres import EmbeddedPostgres
from localstack.smtp import SmtpSink
from tests.web_support import (
    SECRET,
    LiveServer,
    ThreadedWorker,
    live_server,
    signed_headers,
    ticket_body,
)
from web.app import app as web_app
from web.auth import sign

KNOWN_TICKET = "0"
WEBHOOK_OPERATIONS = {
    ("POST", "/api/tickets"),
    ("POST", "/api/tickets/{ticket_id}/replies"),
    ("POST", "/api/tickets/{ticket_id}/satisfaction"),
}
WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def escalate(server: LiveServer, ticket_id: str) -> None:
    """Hand the seed ticket over under `ticket_id` and wait until it is being monitored."""
    body = ticket_body(ticket_id)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        answer = http.post("/api/tickets", content=body, headers=signed_headers(body))
        assert answer.status_code in (200, 202), answer.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = http.get(f"/api/tickets/{ticket_id}", headers=server.setup.bearer())
            if status.status_code == 200 and status.json()["state"] == "escalated":
                return
            time.sleep(0.2)
    raise AssertionError(f"ticket {ticket_id} did not escalate")


@pytest.fixture(scope="module")
def web_server(
    temporal_env: WorkflowEnvironment,
    postgres: EmbeddedPostgres,
    pool: asyncpg.Pool,
    smtp_sink: SmtpSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """The app under uvicorn and a worker on its task queue, each in a thread of its own:
    this synchronous test blocks the session's event loop while it waits for answers."""
    client = temporal_env.client
    queue = f"schemathesis-{uuid.uuid4().hex[:8]}"
    target = client.service_client.config.target_host
    worker = ThreadedWorker(target, postgres.url, smtp_sink.url, queue)
    worker.start()
    try:
        with live_server(client, postgres.url, queue, tmp_path_factory.mktemp("web")) as server:
            escalate(server, KNOWN_TICKET)
            yield server
    finally:
        worker.stop()


# The spec is the app's own, generated without connecting anything. (Loading it lazily from
# the live server with schemathesis.pytest.from_fixture fails on pytest 9: schemathesis sets
# the removed `Function._nodeid`.)
schema = schemathesis.openapi.from_dict(web_app.openapi())


class SignWebhook:
    """requests auth hook: signs the body exactly as it goes on the wire, like a helpdesk."""

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        webhook_id = f"msg_{uuid.uuid4().hex}"
        timestamp = int(time.time())
        request.headers["webhook-id"] = webhook_id
        request.headers["webhook-timestamp"] = str(timestamp)
        request.headers["webhook-signature"] = sign(SECRET, webhook_id, timestamp, raw)
        return request


def fresh_ticket_id(case: schemathesis.Case) -> None:
    """A generated intake payload gets a ticket id of its own (still matching the pattern); a
    generated reply or CSAT names the path's ticket in its body, as a helpdesk does (otherwise
    nearly every one would be refused, 400, before reaching a workflow)."""
    if case.path == "/api/tickets" and isinstance(case.body, dict):
        ticket = case.body.get("ticket")
        if isinstance(ticket, dict) and "id" in ticket:
            ticket["id"] = f"ST-{uuid.uuid4().hex[:12]}"
    elif isinstance(case.body, dict) and "ticketId" in case.body and case.path_parameters:
        # The generated path parameter may come percent-encoded ("A%3AB"): the body names the
        # ticket id itself, as the server decodes it from the path.
        path_id = case.path_parameters.get("ticket_id")
        if isinstance(path_id, str):
            case.body["ticketId"] = unquote(path_id)


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_own_openapi_spec(
    case: schemathesis.Case, web_server: LiveServer
) -> None:
    if (case.method, case.path) in WEBHOOK_OPERATIONS:
        positive = case.meta is None or case.meta.generation.mode.is_positive
        present = all(name in (case.headers or {}) for name in WEBHOOK_HEADERS)
        if positive and present:
            fresh_ticket_id(case)
            case.call_and_validate(base_url=web_server.url, auth=SignWebhook())
        else:
            case.call_and_validate(base_url=web_server.url)
        return
    # "Authorization" spelled as the spec's scheme spells it, so the no-auth probe of the
    # ignored_auth check really removes it.
    # An admin: a generated reassign may hand ticket "0" to any team, and the spec is checked
    # against every answer of a ticket, not the 403 of another team's (tests/test_permissions).
    token = web_server.setup.tokens["root"]
    case.call_and_validate(base_url=web_server.url, headers={"Authorization": f"Bearer {token}"})


def test_the_known_ticket_was_exercised_for_real(web_server: LiveServer) -> None:
    """Runs after the schemathesis cases: generated actions reached ticket "0" for real."""
    with httpx.Client(base_url=web_server.url, timeout=30) as http:
        status = http.get(f"/api/tickets/{KNOWN_TICKET}", headers=web_server.setup.bearer("root"))
    assert status.status_code == 200, status.text
    # A generated reply to the resolved ticket may have reopened it as a new episode: then
    # the resolved one is among the earlier episodes.
    answer = status.json()
    resolved_before = [e for e in answer["earlierEpisodes"] or [] if e["state"] == "resolved"]
    assert answer["state"] != "escalated" or resolved_before, (
        "no generated agent action was accepted"
    )
