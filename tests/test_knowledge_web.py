"""Learned patterns in the web app (seed De-escalation 4–5, "close the loop"): the agents' API
(/api/knowledge), the dashboard page (/knowledge) over HTTP, and the page in Debian's chromium,
whose screenshot is docs/knowledge.png.

The loop that *makes* patterns runs for real in tests/test_learning.py; here the rows are
inserted into kb_patterns directly. Each pattern gets an error code of its own (an approved one
matches only tickets carrying that code, so it never changes another test's triage) and is
deleted when its test ends. The pages only read PostgreSQL: no worker runs.

`UPDATE_DOCS_SCREENSHOTS=1` makes the browser test also write docs/knowledge.png; otherwise the
screenshot lands in test-artifacts/screenshots/ (git-ignored), like the queue's.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import expect
from temporalio.client import Client

from activities.rendering import kb_article_markdown, known_solution_answer
from localstack.postgres import EmbeddedPostgres
from tests.conftest import ROOT, eventually
from tests.web_support import (
    CHROMIUM,
    ORIGIN,
    SCREENSHOTS,
    WebSetup,
    chromium_page,
    live_server,
    login,
    web_setup,
)

DOCS_SCREENSHOT = ROOT / "docs" / "knowledge.png"
UNUSED_QUEUE = "knowledge-no-worker"  # these pages and endpoints only read PostgreSQL
UNKNOWN_ID = 2**62  # the largest id the routes accept; never a bigserial value here
STATUS_ORDER = ["draft", "approved", "collecting", "rejected"]

XSS_TITLE = "Upload fails <script>window.__xss=1</script>"
XSS_ARTICLE = (
    "# Upload fails\n\n"
    "## Steps that resolved it\n"
    "1. Cleared the **stuck** upload session.\n"
    "2. Asked the customer to retry.\n\n"
    "<script>window.__xss=2</script>\n\n"
    'Customer wrote: <img src=x onerror="window.__xss=3"> [see](javascript:alert(1))\n'
)
XSS_ANSWER = "Hello! <script>window.__xss=4</script> Please retry the upload."


# --- data ----------------------------------------------------------------------------------


async def insert_pattern(
    pool: asyncpg.Pool,
    status: str = "draft",
    *,
    scenario: str = "feature_broken",
    error_code: str | None = "",
    resolution: str = "Cleared the stuck session and asked the customer to retry.",
    occurrences: int | None = None,
    ticket_ids: list[str] | None = None,
    symptom_terms: list[str] | None = None,
    title: str | None = None,
    article_markdown: str | None = None,
    auto_response: str | None = None,
    team: str | None = "engineering",
) -> int:
    """A kb_patterns row as the de-escalation activity leaves it. An empty `error_code` gets a
    code of its own (None: no code). A pattern past `collecting` gets a title, a KB article and
    an auto-response unless given; a collecting one has none. Its tickets are recorded as
    resolved by `team` (who may see the pattern, web/permissions.py; None: no resolution
    recorded) by a `kb-test` agent, in rows far in the past (out of every metrics window) that
    `remove_patterns` deletes; a ticket already resolved keeps its row."""
    if error_code == "":
        error_code = f"ERR_KBTEST_{uuid.uuid4().hex[:8].upper()}"
    drafted = status != "collecting"
    if occurrences is None:
        occurrences = 3 if drafted else 1
    if ticket_ids is None:
        ticket_ids = [f"KB-{uuid.uuid4().hex[:8]}" for _ in range(occurrences)]
    if drafted:
        label = f"Feature broken{f' ({error_code})' if error_code else ''}"
        title = title if title is not None else f"{label}: {resolution.rstrip('.')}"
        if article_markdown is None:
            article_markdown = (
                f"# {title}\n\n## Steps that resolved it\n1. {resolution}\n\n"
                f"## Tickets it came from\n" + "".join(f"- {t}\n" for t in ticket_ids)
            )
        if auto_response is None:
            auto_response = f"This looks like a known issue: {title}.\n\n1. {resolution}"
    if team is not None:
        await pool.executemany(
            """
            INSERT INTO resolutions (episode_id, ticket_id, team, priority, resolved_by,
                resolution, escalation_necessary, escalated_at, resolved_at,
                response_target_seconds, resolution_seconds, quick)
            VALUES ($1, $2, $3, 'P3', 'kb-test', $4, false, '2001-01-01T00:00Z',
                    '2001-01-01T00:10Z', 3600, 600, true)
            ON CONFLICT DO NOTHING
            """,
            [(f"kbtest:{t}", t, team, resolution) for t in ticket_ids],
        )
    return await pool.fetchval(
        """
        INSERT INTO kb_patterns (pattern_key, scenario, error_code, normalised_resolution,
            status, occurrences, ticket_ids, symptom_terms, title, article_markdown,
            auto_response, drafted_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                CASE WHEN $12 THEN now() - interval '2 hours' END)
        RETURNING id
        """,
        f"test:{uuid.uuid4().hex}",
        scenario,
        error_code,
        resolution.lower().rstrip("."),
        status,
        occurrences,
        ticket_ids,
        symptom_terms or [],
        title,
        article_markdown,
        auto_response,
        drafted,
    )


class Patterns:
    """Inserts patterns for one test and deletes them afterwards."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.ids: list[int] = []

    async def add(self, status: str = "draft", **fields: Any) -> int:
        pattern_id = await insert_pattern(self.pool, status, **fields)
        self.ids.append(pattern_id)
        return pattern_id

    async def row(self, pattern_id: int) -> asyncpg.Record:
        return await self.pool.fetchrow("SELECT * FROM kb_patterns WHERE id = $1", pattern_id)

    async def remove(self) -> None:
        await remove_patterns(self.pool, self.ids)


async def remove_patterns(pool: asyncpg.Pool, ids: list[int]) -> None:
    """Delete the patterns `insert_pattern` made, and the resolutions it recorded for them."""
    await pool.execute(
        """
        DELETE FROM resolutions
         WHERE episode_id LIKE 'kbtest:%'
           AND ticket_id IN (SELECT unnest(ticket_ids) FROM kb_patterns
                              WHERE id = ANY($1::bigint[]))
        """,
        ids,
    )
    await pool.execute("DELETE FROM kb_patterns WHERE id = ANY($1::bigint[])", ids)


@pytest.fixture
def setup(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, tmp_path: Path
) -> WebSetup:
    return web_setup(client, postgres.url, UNUSED_QUEUE, tmp_path)


# --- the API -------------------------------------------------------------------------------


async def test_api_needs_an_agent_token(
    http: httpx.AsyncClient, setup: WebSetup, patterns: Patterns
) -> None:
    draft = await patterns.add("draft")
    for method, path in (
        ("GET", "/api/knowledge"),
        ("GET", f"/api/knowledge/{draft}"),
        ("POST", f"/api/knowledge/{draft}/approve"),
        ("POST", f"/api/knowledge/{draft}/reject"),
    ):
        missing = await http.request(method, path)
        assert missing.status_code == 401, (method, path, missing.text)
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = await http.request(method, path, headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401, (method, path)
    assert (await patterns.row(draft))["status"] == "draft"  # nothing was decided


async def test_api_lists_drafts_first_filters_by_status_and_reads_one(
    http: httpx.AsyncClient, setup: WebSetup, patterns: Patterns
) -> None:
    collecting = await patterns.add("collecting", occurrences=2)
    draft = await patterns.add("draft", resolution="Relinked the upload batch.", occurrences=4)
    approved = await patterns.add("approved")
    rejected = await patterns.add("rejected")

    listed = await http.get("/api/knowledge", headers=setup.bearer())
    assert listed.status_code == 200, listed.text
    items = listed.json()
    ids = [item["id"] for item in items]
    assert {collecting, draft, approved, rejected} <= set(ids)
    ranks = [STATUS_ORDER.index(item["status"]) for item in items]
    assert ranks == sorted(ranks), [item["status"] for item in items]  # drafts first
    mine = {item["id"]: item for item in items}
    assert mine[draft]["status"] == "draft" and mine[draft]["occurrences"] == 4
    assert mine[draft]["title"].endswith(": Relinked the upload batch")
    assert mine[draft]["articleMarkdown"].startswith("# ")
    assert "Relinked the upload batch." in mine[draft]["autoResponse"]
    assert len(mine[draft]["ticketIds"]) == 4 and mine[draft]["errorCode"].startswith("ERR_")
    assert mine[draft]["decidedBy"] is None and mine[draft]["draftedAt"]
    assert mine[collecting]["title"] is None and mine[collecting]["articleMarkdown"] is None

    drafts = await http.get("/api/knowledge?status=draft", headers=setup.bearer())
    assert drafts.status_code == 200
    assert {item["status"] for item in drafts.json()} == {"draft"}
    assert draft in [item["id"] for item in drafts.json()]
    assert collecting not in [item["id"] for item in drafts.json()]
    collecting_only = await http.get("/api/knowledge?status=collecting", headers=setup.bearer())
    assert collecting in [item["id"] for item in collecting_only.json()]

    bad = await http.get("/api/knowledge?status=pending", headers=setup.bearer())
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"][0]["loc"] == ["query", "status"]

    one = await http.get(f"/api/knowledge/{draft}", headers=setup.bearer())
    assert one.status_code == 200
    assert one.json() == mine[draft]
    unknown = await http.get(f"/api/knowledge/{UNKNOWN_ID}", headers=setup.bearer())
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == f"no learned pattern with id {UNKNOWN_ID}"
    for bad_id in ("0", "-3", "abc", str(2**62 + 1)):
        answer = await http.get(f"/api/knowledge/{bad_id}", headers=setup.bearer())
        assert answer.status_code == 422, (bad_id, answer.text)


async def test_api_approves_and_rejects_drafts_once_and_says_why_it_refuses(
    http: httpx.AsyncClient, setup: WebSetup, patterns: Patterns
) -> None:
    draft = await patterns.add("draft")
    other = await patterns.add("draft")
    collecting = await patterns.add("collecting", occurrences=2)

    approved = await http.post(f"/api/knowledge/{draft}/approve", headers=setup.bearer("ana"))
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["id"], body["status"], body["decidedBy"]) == (draft, "approved", "ana")
    assert body["decidedAt"]
    row = await patterns.row(draft)
    assert (row["status"], row["decided_by"]) == ("approved", "ana")

    # Saying it again (even another agent) is harmless: 200, the first decision unchanged.
    again = await http.post(f"/api/knowledge/{draft}/approve", headers=setup.bearer("cy"))
    assert again.status_code == 200, again.text
    assert again.json() == body
    assert (await patterns.row(draft))["decided_by"] == "ana"

    # Changing a decision is refused with the reason.
    flip = await http.post(f"/api/knowledge/{draft}/reject", headers=setup.bearer("cy"))
    assert flip.status_code == 409
    assert flip.json()["detail"] == f"pattern {draft} is already approved"
    assert (await patterns.row(draft))["status"] == "approved"

    rejected = await http.post(f"/api/knowledge/{other}/reject", headers=setup.bearer("cy"))
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["decidedBy"]) == ("rejected", "cy")
    assert (await http.post(f"/api/knowledge/{other}/reject", headers=setup.bearer())).json()[
        "decidedBy"
    ] == "cy"
    late = await http.post(f"/api/knowledge/{other}/approve", headers=setup.bearer())
    assert late.status_code == 409
    assert late.json()["detail"] == f"pattern {other} is already rejected"

    # A pattern still collecting has nothing to approve yet.
    early = await http.post(f"/api/knowledge/{collecting}/approve", headers=setup.bearer())
    assert early.status_code == 409
    assert early.json()["detail"] == (
        f"pattern {collecting} has no draft yet: 2 quick resolution(s) so far"
    )
    assert (await patterns.row(collecting))["status"] == "collecting"

    unknown = await http.post(f"/api/knowledge/{UNKNOWN_ID}/approve", headers=setup.bearer())
    assert unknown.status_code == 404
    assert "no learned pattern" in unknown.json()["detail"]
    verb = await http.post(f"/api/knowledge/{draft}/publish", headers=setup.bearer())
    assert verb.status_code == 422


async def test_api_cookie_session_changes_need_our_origin(
    http: httpx.AsyncClient, setup: WebSetup, patterns: Patterns
) -> None:
    draft = await patterns.add("draft")
    await login(http, setup, next="/knowledge")
    assert (await http.get(f"/api/knowledge/{draft}")).status_code == 200  # reading is fine
    forged = await http.post(
        f"/api/knowledge/{draft}/approve", headers={"origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    assert (await patterns.row(draft))["status"] == "draft"


# --- the page over HTTP --------------------------------------------------------------------


async def test_knowledge_page_sends_a_stranger_to_login_and_decides_nothing(
    http: httpx.AsyncClient, patterns: Patterns
) -> None:
    draft = await patterns.add("draft")
    answer = await http.get("/knowledge")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/knowledge"
    post = await http.post(f"/knowledge/{draft}/approve", headers=ORIGIN)
    # after signing in, back to the page the button was on (the POST has no GET twin)
    assert post.status_code == 303 and post.headers["location"] == "/login?next=/knowledge"
    assert (await patterns.row(draft))["status"] == "draft"


async def test_knowledge_page_renders_the_article_and_shows_raw_html_as_text(
    http: httpx.AsyncClient, setup: WebSetup, patterns: Patterns
) -> None:
    draft = await patterns.add(
        "draft",
        title=XSS_TITLE,
        article_markdown=XSS_ARTICLE,
        auto_response=XSS_ANSWER,
        ticket_ids=["T-48213", "T-48377", "T-48502"],
    )
    collecting = await patterns.add("collecting", error_code=None)
    await login(http, setup, next="/knowledge")
    answer = await http.get("/knowledge")
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert "Signed in as <strong>ana</strong>" in page
    assert '<a href="/knowledge" aria-current="page">Knowledge</a>' in page

    section = page.split(f'id="pattern-{draft}"', 1)[1].split("</section>", 1)[0]
    # The Markdown is rendered (headings one level down, the page has its own <h1>; the
    # article's own `# title` is left out, the card's heading shows the title) ...
    assert "<h2>Upload fails</h2>" not in section
    assert "<h3>Steps that resolved it</h3>" in section
    assert "<strong>stuck</strong>" in section and "<ol>" in section
    # ... and every piece of raw HTML is text: title, article and answer.
    assert "<script" not in page.lower()[page.lower().index("</header>") :]
    assert "Upload fails &lt;script&gt;window.__xss=1&lt;/script&gt;" in section
    assert "&lt;script&gt;window.__xss=2&lt;/script&gt;" in section
    assert "&lt;img src=x onerror=&quot;window.__xss=3&quot;&gt;" in section
    assert "<img" not in section and 'href="javascript:' not in section
    assert "Hello! &lt;script&gt;window.__xss=4&lt;/script&gt; Please retry" in section
    assert '<span class="badge badge-draft">draft</span>' in section
    for ticket in ("T-48213", "T-48377", "T-48502"):
        assert f'<a href="/tickets/{ticket}">{ticket}</a>' in section
    assert f'action="/knowledge/{draft}/approve"' in section
    assert f'action="/knowledge/{draft}/reject"' in section

    # A pattern still collecting: no article, no buttons, and it comes after the drafts.
    assert page.index(f'id="pattern-{draft}"') < page.index(f'id="pattern-{collecting}"')
    later = page.split(f'id="pattern-{collecting}"', 1)[1].split("</section>", 1)[0]
    assert f"Pattern {collecting}" in later and "Collecting:" in later
    assert "<form" not in later and "KB article" not in later


async def test_knowledge_buttons_decide_from_our_own_pages_only(
    http: httpx.AsyncClient, setup: WebSetup, patterns: Patterns
) -> None:
    draft = await patterns.add("draft")
    collecting = await patterns.add("collecting", occurrences=2)
    await login(http, setup, "cy", next="/knowledge")

    for headers in ({"origin": "https://evil.example"}, {}, {"origin": "null"}):
        forged = await http.post(f"/knowledge/{draft}/approve", headers=headers)
        assert forged.status_code == 403, headers
        assert "not sent from this site" in forged.text
    referer = await http.post(
        f"/knowledge/{draft}/approve", headers={"referer": "https://evil.example/knowledge"}
    )
    assert referer.status_code == 403
    assert (await patterns.row(draft))["status"] == "draft"

    done = await http.post(f"/knowledge/{draft}/approve", headers=ORIGIN)
    assert done.status_code == 303
    assert done.headers["location"] == f"/knowledge?decided={draft}#pattern-{draft}"
    row = await patterns.row(draft)
    assert (row["status"], row["decided_by"]) == ("approved", "cy")
    page = (await http.get(done.headers["location"])).text
    assert f"Pattern {draft} is approved. Triage now answers matching tickets with it." in page
    section = page.split(f'id="pattern-{draft}"', 1)[1].split("</section>", 1)[0]
    assert "approved by cy" in section
    # What is left to do with an approval is to revoke it: its one form.
    assert section.count("<form") == 1 and f'action="/knowledge/{draft}/revoke"' in section

    refused = await http.post(f"/knowledge/{draft}/reject", headers=ORIGIN)
    assert refused.status_code == 409
    assert f"pattern {draft} is already approved" in refused.text
    early = await http.post(f"/knowledge/{collecting}/approve", headers=ORIGIN)
    assert early.status_code == 409
    assert f"pattern {collecting} has no draft yet: 2 quick resolution(s) so far" in early.text
    assert (await patterns.row(collecting))["status"] == "collecting"
    unknown = await http.post(f"/knowledge/{UNKNOWN_ID}/approve", headers=ORIGIN)
    assert unknown.status_code == 404 and "no learned pattern" in unknown.text
    verb = await http.post(f"/knowledge/{draft}/publish", headers=ORIGIN)
    assert verb.status_code == 404 and "No such pattern or decision." in verb.text


# --- the page in a browser -----------------------------------------------------------------

UPLOAD_STEPS = [
    "Cleared the stuck upload session and asked the customer to retry the upload.",
    "cleared stuck upload session, asked customer to retry upload",
]
UPLOAD_TICKETS = [
    {"ticket_id": "T-48213", "resolved_by": "ana", "minutes": 9.5},
    {"ticket_id": "T-48377", "resolved_by": "lee", "minutes": 14.0},
    {"ticket_id": "T-48502", "resolved_by": "ana", "minutes": 6.2},
]
PDF_STEPS = ["Re-enabled font embedding in the export settings and re-ran the PDF export."]
PDF_TICKETS = [
    {"ticket_id": "T-47990", "resolved_by": "bo", "minutes": 11.0},
    {"ticket_id": "T-48120", "resolved_by": "kim", "minutes": 7.4},
    {"ticket_id": "T-48415", "resolved_by": "bo", "minutes": 5.1},
    {"ticket_id": "T-48690", "resolved_by": "lee", "minutes": 12.8},
]


def realistic(
    code: str,
    steps: list[str],
    tickets: list[dict[str, Any]],
    subjects: list[str],
    symptoms: list[str],
) -> dict[str, Any]:
    """A draft as the de-escalation activity renders it (the same templates)."""
    title = f"Feature broken ({code}): {steps[0].rstrip('.')}"
    return {
        "error_code": code,
        "resolution": steps[0],
        "occurrences": len(tickets),
        "ticket_ids": [t["ticket_id"] for t in tickets],
        "symptom_terms": symptoms,
        "title": title,
        "article_markdown": kb_article_markdown(
            title=title,
            scenario_label="Feature broken",
            error_code=code,
            subjects=subjects,
            symptom_terms=symptoms,
            steps=steps,
            tickets=[{"team": "engineering", "priority": "P2", **t} for t in tickets],
        ),
        "auto_response": known_solution_answer(f"feature broken (error {code})", steps),
    }


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing")
async def test_knowledge_page_in_a_browser_approving_a_draft(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, patterns: Patterns,
    tmp_path: Path,
) -> None:  # fmt: skip
    upload = await patterns.add(
        "draft",
        **realistic(
            "ERR_UPLOAD_TIMEOUT",
            UPLOAD_STEPS,
            UPLOAD_TICKETS,
            [
                "Upload stuck at 99% with ERR_UPLOAD_TIMEOUT",
                "Gallery upload times out after a few minutes",
                "Can't upload my wedding album - timeout error",
            ],
            ["upload", "timeout", "stuck", "gallery"],
        ),
    )
    pdf = await patterns.add(
        "draft",
        **realistic(
            "ERR_PDF_FONT_EMBED",
            PDF_STEPS,
            PDF_TICKETS,
            ["PDF export shows empty boxes instead of text", "Exported proofing PDF has no text"],
            ["pdf", "export", "font", "text"],
        ),
    )
    collecting = await patterns.add(
        "collecting",
        scenario="account_access_blocked",
        error_code=None,
        resolution="Reset two-factor authentication after verifying the account owner.",
        occurrences=2,
        ticket_ids=["T-48555", "T-48601"],
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with live_server(client, postgres.url, UNUSED_QUEUE, tmp_path) as server:
        async with chromium_page() as (page, problems):
            await page.goto(f"{server.url}/knowledge")
            await expect(page).to_have_url(f"{server.url}/login?next=/knowledge")
            await page.get_by_label("Agent name").fill("ana")
            await page.get_by_label("Agent token").fill(server.setup.tokens["ana"])
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(f"{server.url}/knowledge")
            await expect(
                page.get_by_role("heading", name="Learned knowledge", level=1)
            ).to_be_visible()

            upload_card = page.locator(f"#pattern-{upload}")
            pdf_card = page.locator(f"#pattern-{pdf}")
            collecting_card = page.locator(f"#pattern-{collecting}")
            # Drafts first (the one seen more often on top), the collecting one after.
            order = await page.locator("section.pattern").evaluate_all(
                "cards => cards.map(c => c.id)"
            )
            mine = [i for i in order if i in {f"pattern-{n}" for n in patterns.ids}]
            assert mine == [f"pattern-{pdf}", f"pattern-{upload}", f"pattern-{collecting}"]
            await expect(upload_card.locator(".badge")).to_have_text("draft")
            await expect(upload_card.locator(".markdown h3").first).to_have_text("Problem")
            await expect(upload_card.locator(".markdown ol li").first).to_have_text(UPLOAD_STEPS[0])
            await expect(upload_card.locator("pre.answer")).to_contain_text(
                "Other customers had it too; this is what resolved it:"
            )
            await expect(upload_card.get_by_role("link", name="T-48377")).to_have_attribute(
                "href", "/tickets/T-48377"
            )
            await expect(collecting_card).to_contain_text("Collecting:")
            await expect(collecting_card.get_by_role("button")).to_have_count(0)

            await pdf_card.get_by_role("button", name="Approve").click()
            notice = page.get_by_role("status")
            await expect(notice).to_have_text(
                f"Pattern {pdf} is approved. Triage now answers matching tickets with it."
            )
            await expect(page).to_have_url(f"{server.url}/knowledge?decided={pdf}#pattern-{pdf}")
            await expect(pdf_card.locator(".badge")).to_have_text("approved")
            await expect(pdf_card).to_contain_text("approved by ana")
            await expect(pdf_card.get_by_role("button")).to_have_count(1)  # revoke, only
            await expect(pdf_card.get_by_role("button", name="Revoke approval")).to_be_visible()
            await expect(upload_card.get_by_role("button", name="Approve")).to_be_visible()

            row = await eventually(
                lambda: pool.fetchrow(
                    "SELECT status, decided_by FROM kb_patterns"
                    " WHERE id = $1 AND status <> 'draft'",
                    pdf,
                )
            )
            assert (row["status"], row["decided_by"]) == ("approved", "ana")
            assert (await patterns.row(upload))["status"] == "draft"

            await page.evaluate("window.scrollTo(0, 0)")
            await page.screenshot(path=str(SCREENSHOTS / "knowledge.png"), full_page=True)
            if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
                await page.screenshot(path=str(DOCS_SCREENSHOT), full_page=True)

            # A draft carrying HTML: shown as text, nothing of it runs or becomes a tag.
            evil = await patterns.add(
                "draft", title=XSS_TITLE, article_markdown=XSS_ARTICLE, auto_response=XSS_ANSWER
            )
            await page.goto(f"{server.url}/knowledge")
            evil_card = page.locator(f"#pattern-{evil}")
            await expect(evil_card.locator("h2").first).to_contain_text(
                "<script>window.__xss=1</script>"
            )
            await expect(evil_card.locator(".markdown")).to_contain_text(
                '<img src=x onerror="window.__xss=3">'
            )
            await expect(evil_card.locator("pre.answer")).to_contain_text(
                "<script>window.__xss=4</script>"
            )
            assert await evil_card.locator("script, img, a[href^='javascript']").count() == 0
            assert await page.evaluate("typeof window.__xss") == "undefined"
            assert not problems, problems  # no script errors, no CSP refusals
