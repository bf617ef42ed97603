"""The agents' pages over HTTP (no browser): login and its cookie, same-origin form posts,
escaping of customer text, the flash answer after an action."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from escalation.messages import EscalationOutcome, workflow_id_for
from localstack.postgres import EmbeddedPostgres
from localstack.smtp import SmtpSink
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


async def test_login_opens_a_host_only_secure_session_and_refuses_wrong_tokens(
    http: httpx.AsyncClient, setup: WebSetup
) -> None:
    wrong = await http.post("/login", data={"agent": "ana", "token": "guess"}, headers=ORIGIN)
    assert wrong.status_code == 401 and "do not match" in wrong.text
    # Another agent's token under this name is no sign-in either.
    theirs = await http.post(
        "/login", data={"agent": "ana", "token": setup.tokens["bo"]}, headers=ORIGIN
    )
    assert theirs.status_code == 401
    cross_site = await http.post(
        "/login",
        data={"agent": "ana", "token": setup.tokens["ana"]},
        headers={"origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    answer = await http.post(
        "/login",
        data={"agent": "ana", "token": setup.tokens["ana"], "next": "//evil.example/"},
        headers=ORIGIN,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"  # no open redirect
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-escalation_session=")
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert session_id != setup.tokens["ana"] and len(session_id) >= 43  # not the token
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= attributes
    assert not any(part.startswith("domain") for part in attributes)
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
    http: httpx.AsyncClient, setup: WebSetup, client: Client, pool: asyncpg.Pool
) -> None:
    ticket_id = new_ticket_id()
    body = ticket_body(ticket_id)
    assert (
        await http.post("/api/tickets", content=body, headers=signed_headers(body))
    ).status_code == 202
    await login(http, setup, "cy")  # a manager of engineering (and billing)

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

    # "Was this escalation necessary?" is asked: unchecked radios, and no answer is refused.
    page = (await http.get(f"/tickets/{ticket_id}")).text
    question = page[page.index("Was this escalation necessary?") :].split("</fieldset>")[0]
    assert question.count('type="radio"') == 2 and "checked" not in question
    unanswered = await http.post(
        f"{action}/resolve", data={"resolution": "Restored from backup"}, headers=ORIGIN
    )
    page = (await http.get(unanswered.headers["location"])).text
    assert "Resolve: say whether this escalation was necessary (yes or no)" in page
    assert (await http.get(f"/api/tickets/{ticket_id}")).json()["state"] == "responded"

    done = await http.post(
        f"{action}/resolve",
        data={"resolution": "Restored from backup", "escalation_necessary": "no"},
        headers=ORIGIN,
    )
    page = (await http.get(done.headers["location"])).text
    assert "Resolve: the workflow accepted the resolution" in page
    handle = client.get_workflow_handle(workflow_id_for(ticket_id), result_type=EscalationOutcome)
    outcome = await handle.result()
    assert outcome.resolved_by == "cy"
    necessary = "SELECT escalation_necessary FROM resolutions WHERE ticket_id = $1"
    row = await eventually(lambda: pool.fetchrow(necessary, ticket_id))
    assert row["escalation_necessary"] is False
    again = await http.post(
        f"{action}/resolve", data={"resolution": "x", "escalation_necessary": "yes"}, headers=ORIGIN
    )
    page = (await http.get(again.headers["location"])).text
    assert "Resolve refused:" in page


async def test_the_page_tells_the_true_record_paused_resolved_rated_and_reopened(
    http: httpx.AsyncClient, setup: WebSetup, client: Client
) -> None:
    """Waiting on the customer reads "paused", not a countdown; the resolved page shows the
    resolution and its time, no deadline and no action form; the CSAT after resolution shows
    in the status and the timeline with its comment; the ticket sent again is episode 2 on top
    of the page and on the queue, with episode 1 below it."""
    ticket_id = new_ticket_id("TRUE")
    body = ticket_body(ticket_id)
    first = await http.post("/api/tickets", content=body, headers=signed_headers(body))
    assert first.status_code == 202, first.text
    await login(http, setup)
    url, action = f"/tickets/{ticket_id}", f"/tickets/{ticket_id}/actions"

    async def state_is(state: str) -> bool:
        answer = await http.get(f"/api/tickets/{ticket_id}")
        return answer.status_code == 200 and answer.json()["state"] == state

    await eventually(lambda: state_is("escalated"), within=30)
    page = (await http.get(url)).text
    assert "data-due=" in page and f'action="{action}/resolve"' in page

    done = await http.post(f"{action}/wait", data={"question": "Which album?"}, headers=ORIGIN)
    page = (await http.get(done.headers["location"])).text
    assert "the escalation is now waiting on customer" in page
    assert '<span class="paused">paused</span>' in page and "data-due=" not in page
    assert "(clock paused: waiting on the customer)" in page

    async def paused_on_queue() -> str | None:  # once Step 9 has written the row
        queue = (await http.get("/")).text
        row = queue[queue.index(f'data-ticket-id="{ticket_id}"') :].split("</tr>")[0]
        return row if '<span class="paused">paused</span>' in row else None

    assert "data-due" not in await eventually(paused_on_queue)

    words = "The wedding album, from last Saturday"
    reply = json.dumps({"ticketId": ticket_id, "text": words}).encode()
    answer = await http.post(
        f"/api/tickets/{ticket_id}/replies", content=reply, headers=signed_headers(reply)
    )
    assert answer.status_code == 202, answer.text
    await eventually(lambda: state_is("responded"))

    done = await http.post(
        f"{action}/resolve",
        data={"resolution": "Restored the album from backup", "escalation_necessary": "yes"},
        headers=ORIGIN,
    )
    page = (await http.get(done.headers["location"])).text
    assert "Resolve: the workflow accepted the resolution" in page
    await client.get_workflow_handle(workflow_id_for(ticket_id)).result()
    page = (await http.get(url)).text
    assert "This escalation is resolved" in page and 'id="resolved-at"' in page
    assert '<dd id="resolution">Restored the album from backup</dd>' in page
    assert "data-due=" not in page and "Next deadline" not in page
    assert f'action="{action}/' not in page  # no agent action form
    assert "No agent action: this escalation is resolved." in page

    rating = json.dumps(
        {"ticketId": ticket_id, "score": 4, "comment": "Thanks, all photos are back"}
    ).encode()
    answer = await http.post(
        f"/api/tickets/{ticket_id}/satisfaction", content=rating, headers=signed_headers(rating)
    )
    assert answer.status_code == 200 and answer.json()["afterResolution"] is True, answer.text
    page = (await http.get(url)).text
    assert "4/5 after the resolution: “Thanks, all photos are back”" in page
    assert "Satisfaction after resolution" in page
    assert "4/5: Thanks, all photos are back" in page  # the timeline
    status = (await http.get(f"/api/tickets/{ticket_id}")).json()
    assert status["satisfaction"] == 4
    assert status["csatAfterResolution"]["comment"] == "Thanks, all photos are back"

    again = await http.post("/api/tickets", content=body, headers=signed_headers(body))
    assert again.status_code == 202 and again.json()["reopened"] is True, again.text
    await eventually(lambda: state_is("escalated"), within=30)

    async def second() -> str | None:
        page = (await http.get(url)).text
        return page if 'id="episode-1"' in page and "data-due=" in page else None

    page = await eventually(second)
    assert "Episode 2 of this ticket: reopened because the helpdesk sent the ticket again" in page
    assert '<a href="#episode-1">episode 1</a>' in page
    assert f'action="{action}/resolve"' in page  # the new episode takes actions again
    earlier = page[page.index('id="episode-1"') :]
    assert "Episode 1 · resolved" in earlier and "Restored the album from backup" in earlier
    assert "4/5 after the resolution" in earlier
    current = page[: page.index('id="earlier-heading"')]
    assert "This escalation is resolved" not in current and "Satisfaction" not in current

    async def reopened_on_queue() -> bool:
        return "reopened · episode 2" in (await http.get("/")).text

    await eventually(reopened_on_queue)
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")


async def test_a_refused_acknowledgement_shows_why_on_the_page(
    http: httpx.AsyncClient, setup: WebSetup, client: Client, smtp_sink: SmtpSink
) -> None:
    """The relay refuses the customer's address (550): the ticket is with its team, and the
    page says the customer was not notified and why, and what the relay answered."""
    ticket_id = new_ticket_id("BOUNCE")
    address = f"{ticket_id.lower()}@bounce.example.org"
    smtp_sink.refuse(address)
    try:
        body = ticket_body(ticket_id, customerEmail=address)
        assert (
            await http.post("/api/tickets", content=body, headers=signed_headers(body))
        ).status_code == 202
        await login(http, setup)

        async def refused() -> dict[str, Any] | None:
            answer = await http.get(f"/api/tickets/{ticket_id}")
            found = answer.json() if answer.status_code == 200 else {}
            return found if found.get("acknowledgement") == "refused" else None

        status = await eventually(refused, within=30)
        assert status["customerNotified"] is False and "550" in status["customerNotice"]
        page = (await http.get(f"/tickets/{ticket_id}")).text
        notice = html.escape(status["customerNotice"], quote=True)
        assert f'<dd id="customer-notified"><strong>No</strong>: {notice}</dd>' in page
        assert "Refused by the mail relay: " in page and "5.1.1" in page
        assert "Customer not notified" in page  # the timeline
        assert "Alert: the customer could not be notified" in page or "could not be" in page
    finally:
        smtp_sink.accept(address)
    await client.get_workflow_handle(workflow_id_for(ticket_id)).terminate("test done")
