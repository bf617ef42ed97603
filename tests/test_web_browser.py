"""The dashboard in a real browser (Debian's chromium, headless, driven by Playwright): a
signed ticket appears on the open queue without a reload, with its indicators; its HTML stays
inert on both pages; Respond and Resolve complete the workflow.

Screenshots land in test-artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import expect
from temporalio.client import Client

from escalation.messages import EscalationOutcome, workflow_id_for
from localstack.postgres import EmbeddedPostgres
from tests.web_support import (
    CHROMIUM,
    SCREENSHOTS,
    LiveServer,
    chromium_page,
    live_server,
    new_ticket_id,
    signed_headers,
    ticket_body,
)

XSS_SUBJECT = "Photos gone <script>window.__xss=1</script>"
XSS_DESCRIPTION = (
    "I uploaded 87 wedding photos yesterday and they have disappeared from my gallery "
    '<img src=x onerror="window.__xss=2"> - I need them for our anniversary this weekend!'
)

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing (apt-get install chromium)"
)


@pytest.fixture
async def overdue_id(pool: asyncpg.Pool) -> AsyncIterator[str]:
    """A P2 queue row whose SLA passed 5 minutes ago, as Step 9 would have written it."""
    ticket_id = new_ticket_id("LATE")
    await pool.execute(
        """
        INSERT INTO support_assignments (ticket_id, episode_id, assigned_to_team, priority,
            escalated_at, escalation_reason, expected_response_time, workflow_id, state,
            subject, customer_name, sla_due_at)
        VALUES ($1, 'episode-' || $1, 'billing', 'P2', now() - interval '5 hours',
            'Invoice error',
            interval '4 hours', 'escalation-' || $1, 'breached', 'Charged twice', 'Ada',
            now() - interval '5 minutes')
        """,
        ticket_id,
    )
    yield ticket_id
    await pool.execute("DELETE FROM support_assignments WHERE ticket_id = $1", ticket_id)


@pytest.fixture
async def server(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, task_queue: str, tmp_path: Path
) -> AsyncIterator[LiveServer]:
    with live_server(client, postgres.url, task_queue, tmp_path) as running:
        yield running


async def test_agent_sees_a_signed_ticket_arrive_opens_it_responds_and_resolves(
    server: LiveServer, client: Client, overdue_id: str
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ticket_id = new_ticket_id("UI")
    async with chromium_page() as (page, problems):
        # Sign in, land on the queue, and mark this document to prove it is never reloaded.
        await page.goto(f"{server.url}/")
        await expect(page).to_have_url(f"{server.url}/login?next=/")
        # cy manages engineering (the signed ticket's team) and billing (the overdue row's): a
        # plain agent's queue shows their own team's escalations only.
        await page.get_by_label("Agent name").fill("cy")
        await page.get_by_label("Agent token").fill(server.setup.tokens["cy"])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Open escalations")).to_be_visible()
        await page.evaluate("window.__sameDocument = true")

        # The helpdesk hands the ticket over (signed), while the agent watches the queue.
        body = ticket_body(ticket_id, subject=XSS_SUBJECT, description=XSS_DESCRIPTION)
        async with httpx.AsyncClient(base_url=server.url) as helpdesk:
            answer = await helpdesk.post("/api/tickets", content=body, headers=signed_headers(body))
        assert answer.status_code == 202, answer.text

        row = page.locator(f'tr[data-ticket-id="{ticket_id}"]')
        await expect(row).to_be_visible(timeout=30_000)
        assert await page.evaluate("window.__sameDocument") is True, "the queue reloaded"
        for text, label in (
            ("P1", "Priority P1, high"),
            ("Premium", "Premium customer"),
            ("Time-sensitive", "Time-sensitive"),
        ):
            await expect(row.get_by_role("img", name=label, exact=True)).to_have_text(text)
        await expect(row.locator(".subject")).to_have_text(XSS_SUBJECT)
        await expect(row.locator("time.countdown")).to_have_text(re.compile(r"^due in \d+m \d\ds$"))
        assert await page.evaluate("typeof window.__xss") == "undefined"
        # A deadline already past counts up in red; P1 sorts above P2.
        overdue = page.locator(f'tr[data-ticket-id="{overdue_id}"]')
        await expect(overdue.locator("time.countdown")).to_have_class(re.compile(r"\bbreached\b"))
        await expect(overdue.locator("time.countdown")).to_have_text(re.compile("^overdue by"))
        await expect(overdue.get_by_role("img", name="Priority P2, medium")).to_have_text("P2")
        order = await page.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.ticketId)"
        )
        assert order.index(ticket_id) < order.index(overdue_id), order
        await page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True)
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.screenshot(path=str(SCREENSHOTS / "queue-phone.png"), full_page=True)
        await page.set_viewport_size({"width": 1280, "height": 900})

        # The ticket page: the customer's HTML is text, the summary and timeline are there.
        await row.get_by_role("link").click()
        await expect(page).to_have_url(f"{server.url}/tickets/{ticket_id}")
        await expect(page.get_by_role("heading", level=1)).to_contain_text(XSS_SUBJECT)
        summary = page.locator("article.summary")
        await expect(summary).to_contain_text('<img src=x onerror="window.__xss=2">')
        await expect(page.locator("ol.timeline")).to_contain_text("Escalated")
        await expect(page.locator("pre.email")).to_contain_text("Mike")
        assert await page.locator("article.summary img").count() == 0
        assert await page.evaluate("typeof window.__xss") == "undefined"

        await page.get_by_label("Note (what you told the customer or did)").fill(
            "Found the batch in cold storage; restoring now."
        )
        await page.get_by_role("button", name="Respond", exact=True).click()
        await expect(page.get_by_role("status").first).to_contain_text(
            "Respond: the workflow accepted it; the escalation is now responded."
        )
        await page.get_by_label("Resolution").fill("Restored all 87 photos from backup.")
        # The question is asked: unanswered, the browser keeps the form (radio `required`).
        necessary = page.get_by_role("radio", name="Yes, it needed a human")
        assert not await necessary.is_checked()
        await page.get_by_role("button", name="Resolve", exact=True).click()
        assert await page.locator("form[action$='/actions/resolve']").count() == 1
        await necessary.check()
        await page.get_by_role("button", name="Resolve", exact=True).click()
        accepted = page.get_by_text("Resolve: the workflow accepted the resolution")
        await expect(accepted).to_be_visible()
        # The resolved page: the resolution and its time, no deadline, no action form.
        await expect(page.locator("#resolution")).to_have_text(
            "Restored all 87 photos from backup."
        )
        await expect(page.locator("#resolved-at time")).to_have_text(re.compile(r" UTC$"))
        assert await page.locator("form[action*='/actions/']").count() == 0
        assert await page.locator("time.countdown").count() == 0
        assert await page.evaluate("typeof window.__xss") == "undefined"
        await page.screenshot(path=str(SCREENSHOTS / "ticket.png"), full_page=True)
        assert not problems, problems

    handle = client.get_workflow_handle(workflow_id_for(ticket_id), result_type=EscalationOutcome)
    outcome = await handle.result()
    assert (outcome.outcome, outcome.resolved_by) == ("resolved", "cy")
    description = await handle.describe()
    assert description.status is not None and description.status.name == "COMPLETED"
