"""The agents' pages over HTTP (no browser): login and its cookie, same-origin form posts,
escaping of customer text, the flash answer after an action."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from escalation.messages import EscalationOutcome, workflow_id_for
from localstack.postgres import EmbeddedPostgres
from tests.conftest import eventually
from tests.web_support import (
    ORIGIN,
    WebSetup,
    login,
    new_ticket_id,
    signed_headers,
    ticket_body,
    web_setup,
)

XSS_SUBJECT = "Photos gone <script>window.__xss=1</script>"
XSS_DESCRIPTION = (
    'All 87 wedding photos vanished after upload <img src=x onerror="window.__xss=2"> and I '
    "need them for our anniversary this weekend. [click](javascript:alert(1))"
)


@pytest.fixture
def setup(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, task_queue: str, tmp_path: Path
) -> WebSetup:
    return web_setup(client, postgres.url, task_queue, tmp_path)


async def test_pages_send_a_stranger_to_login_and_keep_where_they_were_going(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.get("/tickets/T-12345")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/tickets/T-12345"
    form = await http.get("/login?next=/tickets/T-12345")
    assert form.status_code == 200
    assert 'name="next" value="/tickets/T-12345"' in form.text
    assert "Content-Security-Policy" in form.headers or "content-security-policy" in form.headers


async def test_login_sets_an_httponly_strict_cookie_and_refuses_wrong_tokens(
    http: httpx.AsyncClient, setup: WebSetup
) -> None:
    wrong = await http.post("/login", data={"token": "guess"}, headers=ORIGIN)
    assert wrong.status_code == 401 and "not valid" in wrong.text
    cross_site = await http.post(
        "/login", data={"token": setup.tokens["ana"]}, headers={"origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    answer = await http.post(
        "/login",
        data={"token": setup.tokens["ana"], "next": "//evil.example/"},
        headers=ORIGIN,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"  # no open redirect
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    queue = await http.get("/")
    assert queue.status_code == 200 and "Signed in as <strong>ana</strong>" in queue.text
    out = await http.post("/logout", headers=ORIGIN)
    assert out.status_code == 303
    assert (await http.get("/")).status_code == 303


async def test_customer_html_is_shown_as_text_on_the_queue_and_the_ticket_page(
    http: httpx.AsyncClient, setup: WebSetup, client: Client
) -> None:
    ticket_id = new_ticket_id("XSS")
    body = ticket_body(ticket_id, subject=XSS_SUBJECT, description=XSS_DESCRIPTION)
    started = await http.post("/api/tickets", content=body, headers=signed_headers(body))
    assert started.status_code == 202, started.text
    await login(http, setup)

    async def listed() -> str | None:  # the row, once Step 9 has written its columns
        page = (await http.get("/")).text
        return page if ticket_id in page and "window.__xss=1" in page else None

    queue = await eventually(listed, within=30)
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in queue
    assert "<script>window.__xss" not in queue

    async def summarised() -> str | None:
        page = (await http.get(f"/tickets/{ticket_id}")).text
        return page if "Escalation summary" in page and "Customer notified" in page else None

    ticket = await eventually(summarised, within=30)
    assert "<script>window.__xss" not in ticket
    assert "<img src=x" not in ticket and "&lt;img src=x" in ticket
    assert 'href="javascript:' not in ticket
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in ticket
    assert '<pre class="email">' in ticket  # the acknowledgement the customer received
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


async def test_forms_post_the_action_and_show_the_workflows_answer(
    http: httpx.AsyncClient, setup: WebSetup, client: Client
) -> None:
    ticket_id = new_ticket_id()
    body = ticket_body(ticket_id)
    assert (
        await http.post("/api/tickets", content=body, headers=signed_headers(body))
    ).status_code == 202
    await login(http, setup, "bo")

    async def monitoring() -> bool:
        answer = await http.get(f"/api/tickets/{ticket_id}")
        return answer.status_code == 200 and answer.json()["state"] == "escalated"

    await eventually(monitoring, within=30)
    action = f"/tickets/{ticket_id}/actions"
    forged = await http.post(f"{action}/respond", data={"note": "hi"})
    assert forged.status_code == 403  # no Origin, no Referer: refused
    cookie_api = await http.post(f"/api/tickets/{ticket_id}/respond", json={})
    assert cookie_api.status_code == 403  # cookie-authenticated API change needs our origin

    done = await http.post(f"{action}/reassign", data={"team": "marketing"}, headers=ORIGIN)
    assert done.status_code == 303 and done.headers["location"] == f"/tickets/{ticket_id}"
    page = (await http.get(f"/tickets/{ticket_id}")).text
    assert "Reassign refused: unknown team &#39;marketing&#39;" in page

    form = {"team": "", "priority": "P2", "reason": "a bug, not data loss"}
    done = await http.post(f"{action}/reassign", data=form, headers=ORIGIN)
    page = (await http.get(done.headers["location"])).text
    assert "Reassign: the workflow moved the ticket to engineering (P2)" in page

    async def logged() -> str | None:
        page = (await http.get(f"/tickets/{ticket_id}")).text
        return page if "Priority P1 → P2: a bug, not data loss" in page else None

    await eventually(logged)

    done = await http.post(f"{action}/respond", data={"note": "On it"}, headers=ORIGIN)
    page = (await http.get(done.headers["location"])).text
    assert "Respond: the workflow accepted it; the escalation is now responded." in page
    assert "Respond:" not in (await http.get(f"/tickets/{ticket_id}")).text  # shown once

    done = await http.post(
        f"{action}/resolve", data={"resolution": "Restored from backup"}, headers=ORIGIN
    )
    page = (await http.get(done.headers["location"])).text
    assert "Resolve: the workflow accepted the resolution" in page
    handle = client.get_workflow_handle(workflow_id_for(ticket_id), result_type=EscalationOutcome)
    outcome = await handle.result()
    assert outcome.resolved_by == "bo"
    again = await http.post(f"{action}/resolve", data={"resolution": "x"}, headers=ORIGIN)
    page = (await http.get(again.headers["location"])).text
    assert "Resolve refused:" in page
