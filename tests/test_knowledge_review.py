"""Learned auto-responses under four eyes (issue 13, item 5): approval by a second person who
resolved none of the pattern's tickets, the reviewed text's hash kept with the approval, edits
before approval, revocation after. The API and the page (web/knowledge.py behind both)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from activities.package import APPROVED_TEXT_INTACT
from cli.main import main as cli_main
from localstack.postgres import EmbeddedPostgres
from tests.test_knowledge_web import UNUSED_QUEUE, Patterns
from tests.web_support import ORIGIN, WebSetup, asgi_client, login, web_setup
from web.app import create_app
from web.knowledge import reviewed_text


@pytest.fixture
def setup(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, tmp_path: Path
) -> WebSetup:
    return web_setup(client, postgres.url, UNUSED_QUEUE, tmp_path)


@pytest.fixture
async def resolved(pool: asyncpg.Pool) -> AsyncIterator[list[str]]:
    """Three tickets of a pattern, resolved by ana, ana and cy (rows far in the past, out of
    every metrics window); deleted afterwards."""
    tickets = [f"KBR-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    await pool.executemany(
        """
        INSERT INTO resolutions (episode_id, ticket_id, team, priority, resolved_by, resolution,
            escalation_necessary, escalated_at, resolved_at, response_target_seconds,
            resolution_seconds, quick)
        VALUES ($1, $2, 'engineering', 'P3', $3, 'Cleared the session', false,
                '2001-01-01T00:00Z', '2001-01-01T00:10Z', 3600, 600, true)
        """,
        [(f"test:{t}", t, agent) for t, agent in zip(tickets, ["ana", "ana", "cy"], strict=True)],
    )
    yield tickets
    await pool.execute("DELETE FROM resolutions WHERE ticket_id = ANY($1::text[])", tickets)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def test_a_resolver_cannot_approve_a_second_person_can_and_the_hash_is_kept(
    http: httpx.AsyncClient, setup: WebSetup, patterns: Patterns, resolved: list[str]
) -> None:
    draft = await patterns.add("draft", ticket_ids=resolved, auto_response="Retry the upload, é.")
    read = (await http.get(f"/api/knowledge/{draft}", headers=setup.bearer("root"))).json()
    text = reviewed_text(read["title"], read["articleMarkdown"], read["autoResponse"])
    assert read["textSha256"] == sha256(text) and read["approvedSha256"] is None
    for resolver, tickets, plural in (("ana", resolved[:2], "s"), ("cy", resolved[2:], "")):
        refused = await http.post(
            f"/api/knowledge/{draft}/approve",
            json={"reviewedSha256": read["textSha256"]},
            headers=setup.bearer(resolver),
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == (
            f"{resolver} cannot approve pattern {draft}: they resolved its ticket{plural} "
            f"{', '.join(sorted(tickets))}. A second person who resolved none of its tickets "
            "must review and approve it."
        )
    assert (await patterns.row(draft))["status"] == "draft"
    approved = await http.post(
        f"/api/knowledge/{draft}/approve",
        json={"reviewedSha256": read["textSha256"]},
        headers=setup.bearer("root"),
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["status"], body["decidedBy"]) == ("approved", "root")
    assert body["approvedSha256"] == sha256(text)
    row = await patterns.row(draft)
    assert (row["status"], row["approved_sha256"]) == ("approved", sha256(text))


async def test_a_draft_is_edited_before_approval_and_the_approver_must_have_read_that_text(
    http: httpx.AsyncClient, setup: WebSetup, patterns: Patterns, pool: asyncpg.Pool
) -> None:
    draft = await patterns.add("draft")
    before = (await http.get(f"/api/knowledge/{draft}", headers=setup.bearer())).json()
    edited = await http.post(
        f"/api/knowledge/{draft}/edit",
        json={"autoResponse": "Hello,\n\nplease retry the upload: it works again."},
        headers=setup.bearer("cy"),
    )
    assert edited.status_code == 200, edited.text
    after = edited.json()
    assert after["autoResponse"] == "Hello,\n\nplease retry the upload: it works again."
    assert after["editedBy"] == "cy" and after["title"] == before["title"]
    assert after["textSha256"] != before["textSha256"]

    own_text = await http.post(f"/api/knowledge/{draft}/approve", headers=setup.bearer("cy"))
    assert own_text.status_code == 409
    assert "cy cannot approve pattern" in own_text.json()["detail"]
    assert "they wrote its current text" in own_text.json()["detail"]
    stale = await http.post(
        f"/api/knowledge/{draft}/approve",
        json={"reviewedSha256": before["textSha256"]},
        headers=setup.bearer("ana"),
    )
    assert stale.status_code == 409
    assert "text changed since it was read" in stale.json()["detail"]
    approved = await http.post(
        f"/api/knowledge/{draft}/approve",
        json={"reviewedSha256": after["textSha256"]},
        headers=setup.bearer("ana"),
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["approvedSha256"] == after["textSha256"]
    late = await http.post(
        f"/api/knowledge/{draft}/edit", json={"title": "Other"}, headers=setup.bearer("cy")
    )
    assert late.status_code == 409
    assert late.json()["detail"] == (
        f"pattern {draft} is approved: only a draft is edited (revoke the approval first)"
    )
    # Triage reads approved patterns only while their text is the one approved.
    intact = (
        "SELECT id FROM kb_patterns WHERE id = $1 AND status = 'approved' AND "
        + APPROVED_TEXT_INTACT
    )
    assert await pool.fetchval(intact, draft) == draft
    await pool.execute(
        "UPDATE kb_patterns SET auto_response = auto_response || ' (changed)' WHERE id = $1", draft
    )
    assert await pool.fetchval(intact, draft) is None


async def test_an_approval_is_revoked_and_the_pattern_waits_for_review_again(
    http: httpx.AsyncClient, setup: WebSetup, patterns: Patterns
) -> None:
    draft = await patterns.add("draft")
    assert (
        await http.post(f"/api/knowledge/{draft}/approve", headers=setup.bearer())
    ).status_code == 200
    revoked = await http.post(
        f"/api/knowledge/{draft}/revoke",
        json={"reason": "quotes a customer's order number"},
        headers=setup.bearer("root"),
    )
    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert (body["status"], body["approvedSha256"], body["decidedBy"]) == ("draft", None, None)
    assert (body["revokedBy"], body["revokeReason"]) == ("root", "quotes a customer's order number")
    again = await http.post(f"/api/knowledge/{draft}/revoke", headers=setup.bearer("root"))
    assert again.status_code == 409
    assert again.json()["detail"] == f"pattern {draft} is draft, not approved: nothing to revoke"
    # A draft again: it can be edited, and approved once more.
    assert (
        await http.post(
            f"/api/knowledge/{draft}/edit",
            json={"autoResponse": "Retry."},
            headers=setup.bearer("root"),
        )
    ).status_code == 200
    assert (await http.post(f"/api/knowledge/{draft}/approve", headers=setup.bearer("cy"))).json()[
        "status"
    ] == "approved"


async def test_the_page_edits_approves_with_the_hash_read_and_revokes(
    setup: WebSetup, patterns: Patterns, resolved: list[str]
) -> None:
    draft = await patterns.add("draft", ticket_ids=resolved)
    async with asgi_client(create_app(setup.config)) as http:
        await login(http, setup, "ana", next="/knowledge")
        page = (await http.get("/knowledge")).text
        assert f'action="/knowledge/{draft}/edit"' in page
        refused = await http.post(f"/knowledge/{draft}/approve", headers=ORIGIN)
        assert refused.status_code == 409
        assert f"ana cannot approve pattern {draft}: they resolved" in refused.text
        edited = await http.post(
            f"/knowledge/{draft}/edit", data={"auto_response": "Please retry."}, headers=ORIGIN
        )
        assert edited.status_code == 303
        assert f"Pattern {draft} is edited." in (await http.get(edited.headers["location"])).text
    row = await patterns.row(draft)
    digest = sha256(reviewed_text(row["title"], row["article_markdown"], "Please retry."))
    async with asgi_client(create_app(setup.config)) as http:
        await login(http, setup, "root", next="/knowledge")
        page = (await http.get("/knowledge")).text
        assert f'name="reviewed_sha256" value="{digest}"' in page
        stale = await http.post(
            f"/knowledge/{draft}/approve", data={"reviewed_sha256": "0" * 64}, headers=ORIGIN
        )
        assert stale.status_code == 409 and "text changed since it was read" in stale.text
        done = await http.post(
            f"/knowledge/{draft}/approve", data={"reviewed_sha256": digest}, headers=ORIGIN
        )
        assert done.status_code == 303
        assert (await patterns.row(draft))["approved_sha256"] == digest
        page = (await http.get(done.headers["location"])).text
        assert f'action="/knowledge/{draft}/revoke"' in page
        gone = await http.post(f"/knowledge/{draft}/revoke", headers=ORIGIN)
        assert gone.status_code == 303
        page = (await http.get(gone.headers["location"])).text
        assert f"Pattern {draft} is revoked. It waits for review again" in page
        assert "Approval revoked by root" in page
    assert (await patterns.row(draft))["status"] == "draft"


async def test_approval_is_refused_while_the_text_quotes_the_patterns_customers(
    http: httpx.AsyncClient, setup: WebSetup, patterns: Patterns, pool: asyncpg.Pool
) -> None:
    """An edit put back what the draft had redacted: the customer's email address (from the
    tickets table) and the phone number an agent wrote in a resolution. The approval names
    them; once edited out, it goes through."""
    tickets = [f"KBC-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    email = f"jane.{uuid.uuid4().hex[:6]}@studio.example"
    await pool.execute(
        """
        INSERT INTO tickets (ticket_id, customer_email, subject, created_at)
        VALUES ($1, $2, 'Upload stuck', '2001-01-01T00:00Z')
        """,
        tickets[0],
        email,
    )
    draft = await patterns.add(
        "draft",
        ticket_ids=tickets,
        resolution="Cleared the session and called (555) 123-4567 to retry.",
        title="Upload stuck: cleared the session",
        auto_response="Cleared the session and called [number] to retry.",
        article_markdown="# Upload stuck\n\n1. Cleared the session and called [number].\n",
    )
    try:
        edited = await http.post(
            f"/api/knowledge/{draft}/edit",
            json={"autoResponse": f"Hello {email.upper()}: we called 555.123.4567, retry."},
            headers=setup.bearer("cy"),
        )
        assert edited.status_code == 200, edited.text
        refused = await http.post(f"/api/knowledge/{draft}/approve", headers=setup.bearer("ana"))
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == (
            f"pattern {draft} cannot be approved: its text still quotes data of the customers "
            f"whose tickets it came from ({email}, (555) 123-4567). Edit it out (e.g. [email], "
            "[number], [link]) before approving: the answer is sent to other customers."
        )
        assert (await patterns.row(draft))["status"] == "draft"
        fixed = await http.post(
            f"/api/knowledge/{draft}/edit",
            json={"autoResponse": "Hello: we called you, please retry."},
            headers=setup.bearer("cy"),
        )
        assert fixed.status_code == 200
        approved = await http.post(f"/api/knowledge/{draft}/approve", headers=setup.bearer("ana"))
        assert approved.status_code == 200, approved.text
    finally:
        await pool.execute("DELETE FROM tickets WHERE ticket_id = $1", tickets[0])


# --- the CLI: `starter.py kb edit|revoke`, and the teams on `kb list|show` -----------------------


@pytest.fixture
def kb_cli(
    setup: WebSetup, postgres: EmbeddedPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Awaitable[tuple[int, str, str]]]:
    """`cli.main.main(["kb", ...])` in a thread (it runs its own event loop) as a configured
    agent of the web tests' agents file: (exit code, stdout, stderr)."""
    monkeypatch.setenv("DATABASE_URL", postgres.url)
    monkeypatch.setenv("ESCALATION_AGENTS", str(tmp_path / "agents.toml"))
    monkeypatch.delenv("ESCALATION_AGENT", raising=False)
    monkeypatch.delenv("ESCALATION_AGENT_TOKEN", raising=False)
    lock = asyncio.Lock()  # one at a time: they share this process's stdin and stdout

    async def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        async with lock:
            out, err = io.StringIO(), io.StringIO()
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = await asyncio.to_thread(cli_main, ["kb", *args])
            return code, out.getvalue(), err.getvalue()

    return run


async def test_kb_edit_and_revoke_do_what_the_api_does_for_the_agent_s_teams_only(
    http: httpx.AsyncClient,
    setup: WebSetup,
    patterns: Patterns,
    kb_cli: Callable[..., Awaitable[tuple[int, str, str]]],
    tmp_path: Path,
) -> None:
    draft = await patterns.add("draft")  # engineering's
    billing = await patterns.add("draft", team="billing")
    article = tmp_path / "article.md"
    article.write_text("# Upload stuck\n\n1. Clear the session.\n2. Retry — é.\n", encoding="utf-8")

    code, out, err = await kb_cli(
        "edit", str(draft), "--title", "Upload stuck: clear the session",
        "--article-file", str(article), "--answer-file", "-", "--agent", "cy", "--json",
        stdin="Hello,\n\nplease clear the session and retry.\n",
    )  # fmt: skip
    assert code == 0, err
    edited = json.loads(out)
    assert edited["title"] == "Upload stuck: clear the session"
    assert edited["articleMarkdown"] == article.read_text(encoding="utf-8").strip()
    assert edited["autoResponse"] == "Hello,\n\nplease clear the session and retry."
    assert edited["editedBy"] == "cy"
    api = (await http.get(f"/api/knowledge/{draft}", headers=setup.bearer("root"))).json()
    assert edited == api  # the API's answer, field for field
    # The editor cannot approve their own text; another engineer can.
    code, _, err = await kb_cli("approve", str(draft), "--agent", "cy")
    assert code == 2 and "cy cannot approve pattern" in err
    code, out, err = await kb_cli("approve", str(draft), "--agent", "ana")
    assert code == 0, err
    assert out == f"Pattern {draft} is approved by ana: Upload stuck: clear the session\n"

    code, out, err = await kb_cli(
        "revoke", str(draft), "--agent", "ana", "--reason", "outdated", "--json"
    )
    assert code == 0, err
    revoked = json.loads(out)
    assert (revoked["status"], revoked["revokedBy"], revoked["revokeReason"]) == (
        "draft",
        "ana",
        "outdated",
    )
    assert revoked == (await http.get(f"/api/knowledge/{draft}", headers=setup.bearer())).json()
    code, out, err = await kb_cli("revoke", str(draft), "--agent", "ana")
    assert (code, out) == (2, "")
    assert err == f"error: pattern {draft} is draft, not approved: nothing to revoke\n"

    # Another team's pattern: not listed, not shown, not edited, exit 2 with the reason.
    code, out, err = await kb_cli("list", "--json", "--agent", "ana")
    assert code == 0, err
    listed = {p["id"] for p in json.loads(out)}
    assert draft in listed and billing not in listed
    forbidden = f"error: pattern {billing} was learned from tickets of teams you do not work for\n"
    for args in (
        ("show", str(billing)),
        ("edit", str(billing), "--title", "Mine"),
        ("revoke", str(billing)),
        ("approve", str(billing)),
    ):
        code, out, err = await kb_cli(*args, "--agent", "ana")
        assert (code, out, err) == (2, "", forbidden), args
    assert (await patterns.row(billing))["title"] != "Mine"
    code, out, err = await kb_cli("show", str(billing), "--agent", "bo")
    assert code == 0 and out.startswith(f"Pattern {billing} — draft"), err


async def test_kb_edit_says_what_is_wrong_with_its_input(
    patterns: Patterns,
    kb_cli: Callable[..., Awaitable[tuple[int, str, str]]],
    tmp_path: Path,
) -> None:
    draft = await patterns.add("draft")
    binary = tmp_path / "answer.bin"
    binary.write_bytes(b"\xff\xfe\x00bad")
    missing = tmp_path / "nowhere.md"
    for args, message in (
        ((), "error: kb edit needs --title, --article-file or --answer-file\n"),
        (("--title", "  "), "error: title cannot be empty\n"),
        (("--article-file", str(missing)), f"error: --article-file {missing}: No such file"),
        (("--answer-file", str(binary)), f"error: --answer-file {binary}: not UTF-8 text\n"),
        (
            ("--article-file", "-", "--answer-file", "-"),
            "error: --article-file and --answer-file cannot both read stdin (-)\n",
        ),
        (("--title", "x" * 301), "error: title is longer than 300 characters\n"),
    ):
        code, out, err = await kb_cli("edit", str(draft), *args, "--agent", "ana")
        assert (code, out) == (2, ""), (args, err)
        assert err.startswith(message), (args, err)
    code, _, err = await kb_cli("edit", str(draft), "--title", "New")  # nobody named
    assert code == 2 and "error: name the agent: --agent NAME" in err
    code, _, err = await kb_cli("revoke", str(draft), "--agent", "nobody")
    assert code == 2 and "error: unknown agent 'nobody'" in err
    row = await patterns.row(draft)
    assert (row["edited_by"], row["status"]) == (None, "draft")
