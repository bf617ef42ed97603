"""Roles and teams (issue 13, item 5): who sees and acts on which escalation, decided in one
place (web/permissions.py) for the dashboard's pages and the agents' API alike."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from localstack.postgres import EmbeddedPostgres
from tests.conftest import eventually
from tests.test_knowledge_web import UNKNOWN_ID, UNUSED_QUEUE, Patterns
from tests.web_support import (
    ORIGIN,
    WebSetup,
    asgi_client,
    login,
    new_ticket_id,
    signed_headers,
    ticket_body,
    web_setup,
)
from web.app import create_app
from web.auth import Agent, AgentConfigError, AgentDirectory
from web.permissions import may_see, may_see_pattern, visible_teams

HASH = "ab" * 32


def directory(tmp_path: Path, text: str) -> AgentDirectory:
    path = tmp_path / "agents.toml"
    path.write_text(text, encoding="utf-8")
    return AgentDirectory.from_file(path)


def test_roles_and_teams_are_read_from_the_agents_file(tmp_path: Path) -> None:
    found = directory(
        tmp_path,
        f"""
        [agents.ana]
        team = "engineering"
        token_sha256 = "{HASH}"
        [agents.max]
        team = "billing"
        role = "manager"
        teams = ["engineering", "billing"]
        token_sha256 = "{"cd" * 32}"
        [agents.root]
        team = "product"
        role = "admin"
        token_sha256 = "{"ef" * 32}"
        """,
    )
    ana, max_, root = found.agents
    assert (ana.role, ana.works_for) == ("agent", ("engineering",))
    assert (max_.role, max_.works_for) == ("manager", ("billing", "engineering"))
    assert root.admin and visible_teams(root) is None
    assert visible_teams(max_) == ["billing", "engineering"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ('role = "owner"', "agents.x.role: unknown role 'owner' (one of agent, manager, admin)"),
        ('teams = ["billing"]', "agents.x.teams: only a manager lists teams"),
        ('role = "manager"\nteams = ["sales"]', "agents.x.teams: unknown team 'sales'"),
        ('role = "manager"\nteams = "billing"', "agents.x.teams: must be a list of team names"),
        (
            'role = "manager"\nteams = ["legal"]',
            "agents.x.teams: legal tickets are for the legal team's members and admins only",
        ),
    ],
)
def test_a_bad_role_or_team_list_names_the_key(tmp_path: Path, fields: str, message: str) -> None:
    text = f'[agents.x]\nteam = "engineering"\n{fields}\ntoken_sha256 = "{HASH}"\n'
    with pytest.raises(AgentConfigError) as refused:
        directory(tmp_path, text)
    assert message in str(refused.value)


def test_who_sees_which_team() -> None:
    ana = Agent("ana", "engineering")
    lea = Agent("lea", "legal")
    boss = Agent("boss", "engineering", "manager", ("engineering", "billing"))
    legal_boss = Agent("lb", "legal", "manager", ("legal", "product"))
    root = Agent("root", "product", "admin")
    assert may_see(ana, "engineering") and not may_see(ana, "billing")
    assert not may_see(ana, "legal") and not may_see(boss, "legal")
    assert may_see(boss, "billing") and not may_see(boss, "product")
    assert may_see(lea, "legal") and may_see(legal_boss, "product")
    assert all(may_see(root, team) for team in ("legal", "billing", None))
    assert not may_see(ana, None)  # not triaged yet: it may be a legal request


@pytest.fixture
def setup(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, task_queue: str, tmp_path: Path
) -> WebSetup:
    return web_setup(client, postgres.url, task_queue, tmp_path)


async def queue_ids(http: httpx.AsyncClient, setup: WebSetup, agent: str) -> list[str]:
    answer = await http.get("/api/queue", headers=setup.bearer(agent))
    assert answer.status_code == 200, answer.text
    return [item["ticketId"] for item in answer.json()["items"]]


async def test_an_engineering_agent_cannot_see_a_legal_ticket_an_admin_can(
    http: httpx.AsyncClient, setup: WebSetup, client: Client
) -> None:
    ticket_id = new_ticket_id()
    body = ticket_body(ticket_id)
    created = await http.post("/api/tickets", content=body, headers=signed_headers(body))
    assert created.status_code == 202, created.text
    api = f"/api/tickets/{ticket_id}"

    async def escalated() -> bool:
        answer = await http.get(api, headers=setup.bearer("ana"))
        return answer.status_code == 200 and answer.json()["state"] == "escalated"

    await eventually(escalated, within=30)
    assert (await http.get(api, headers=setup.bearer("bo"))).status_code == 403  # billing
    # An admin hands it to legal: from now on only legal's members and admins see it.
    moved = await http.post(
        f"{api}/reassign",
        json={"team": "legal", "reason": "the customer's lawyer wrote"},
        headers=setup.bearer("root"),
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["team"] == "legal"

    async def on_legal_queue() -> bool:
        return ticket_id in await queue_ids(http, setup, "lea")

    await eventually(on_legal_queue)
    assert ticket_id in await queue_ids(http, setup, "root")
    for outsider in ("ana", "cy"):  # engineering's agent, and its manager
        refused = await http.get(api, headers=setup.bearer(outsider))
        assert refused.status_code == 403, refused.text
        assert refused.json() == {
            "detail": f"ticket {ticket_id} is not held by a team you work for"
        }
        assert ticket_id not in await queue_ids(http, setup, outsider)
        acted = await http.post(f"{api}/respond", json={}, headers=setup.bearer(outsider))
        assert acted.status_code == 403
    assert (await http.get(api, headers=setup.bearer("lea"))).status_code == 200
    assert (await http.get(api, headers=setup.bearer("root"))).status_code == 200

    # The pages ask the same question: a 403 page, a queue without it, no form accepted.
    async with asgi_client(create_app(setup.config)) as browser:
        await login(browser, setup, "ana")
        page = await browser.get(f"/tickets/{ticket_id}")
        assert page.status_code == 403 and "Not your team&#39;s ticket" in page.text
        assert "Mike" not in page.text  # nothing of the ticket itself
        queue = await browser.get("/")
        assert queue.status_code == 200 and ticket_id not in queue.text
        form = await browser.post(
            f"/tickets/{ticket_id}/actions/respond", data={"note": "hi"}, headers=ORIGIN
        )
        assert form.status_code == 403
    async with asgi_client(create_app(setup.config)) as browser:
        await login(browser, setup, "root")
        page = await browser.get(f"/tickets/{ticket_id}")
        assert page.status_code == 200 and ticket_id in page.text
        assert ticket_id in (await browser.get("/")).text
    status = (await http.get(api, headers=setup.bearer("root"))).json()
    assert status["team"] == "legal"
    await client.get_workflow_handle(status["workflowId"]).terminate("test done")


def test_the_demo_signs_in_an_engineering_agent_not_an_admin(tmp_path: Path) -> None:
    """`make demo`'s agents file: one agent of engineering with the role `agent`, who sees the
    demo ticket T-12345 (triaged to engineering) and not another team's or a legal one."""
    from localstack.demo import DEMO_AGENT, demo_agents
    from web.auth import new_token, write_agents_file

    token = new_token()
    path = write_agents_file(tmp_path / "agents.toml", demo_agents(token))
    assert 'role = "agent"' in path.read_text()
    agent = AgentDirectory.from_file(path).authenticate(token)
    assert agent is not None and agent.name == DEMO_AGENT
    assert (agent.team, agent.role, agent.admin) == ("engineering", "agent", False)
    assert may_see(agent, "engineering")
    assert not may_see(agent, "billing") and not may_see(agent, "legal")


# --- learned patterns: the teams their tickets were resolved by --------------------------------


def test_who_sees_which_learned_pattern() -> None:
    ana = Agent("ana", "engineering")
    lea = Agent("lea", "legal")
    boss = Agent("boss", "engineering", "manager", ("engineering", "billing"))
    root = Agent("root", "product", "admin")
    assert may_see_pattern(ana, ["engineering"]) and not may_see_pattern(ana, ["billing"])
    assert may_see_pattern(ana, ["billing", "engineering"])  # one of its tickets was ours
    assert may_see_pattern(boss, ["billing"]) and not may_see_pattern(boss, ["product"])
    # A legal ticket among them: the legal team's members and admins only.
    assert not may_see_pattern(boss, ["engineering", "legal"])
    assert may_see_pattern(lea, ["engineering", "legal"]) and not may_see_pattern(lea, ["billing"])
    # No resolution recorded: nobody knows whose it is, admins only.
    assert not may_see_pattern(ana, []) and may_see_pattern(root, [])
    assert all(may_see_pattern(root, [team]) for team in ("legal", "billing"))


@pytest.fixture
def kb_setup(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, tmp_path: Path
) -> WebSetup:
    return web_setup(client, postgres.url, UNUSED_QUEUE, tmp_path)


async def test_an_agent_sees_and_acts_on_the_learned_patterns_of_their_teams_only(
    kb_setup: WebSetup, patterns: Patterns
) -> None:
    """The API and the page; the CLI's `kb` verbs in tests/test_cli.py."""
    setup = kb_setup
    ours = await patterns.add("draft", team="engineering")
    billing = await patterns.add("draft", team="billing")
    legal = await patterns.add("approved", team="legal")
    nobodys = await patterns.add("draft", team=None)

    async with asgi_client(create_app(setup.config)) as http:

        async def listed(agent: str) -> set[int]:
            answer = await http.get("/api/knowledge", headers=setup.bearer(agent))
            assert answer.status_code == 200, answer.text
            return {item["id"] for item in answer.json()} & {ours, billing, legal, nobodys}

        assert await listed("ana") == {ours}
        assert await listed("bo") == {billing}
        assert await listed("cy") == {ours, billing}  # engineering's manager, billing too
        assert await listed("lea") == {legal}
        assert await listed("root") == {ours, billing, legal, nobodys}
        one = await http.get(f"/api/knowledge/{ours}", headers=setup.bearer("ana"))
        assert one.status_code == 200 and one.json()["teams"] == ["engineering"]

        refusal = {
            "detail": f"pattern {billing} was learned from tickets of teams you do not work for"
        }
        for method, path, body in (
            ("GET", f"/api/knowledge/{billing}", None),
            ("POST", f"/api/knowledge/{billing}/approve", None),
            ("POST", f"/api/knowledge/{billing}/reject", None),
            ("POST", f"/api/knowledge/{billing}/edit", {"title": "Mine now"}),
        ):
            refused = await http.request(method, path, json=body, headers=setup.bearer("ana"))
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json() == refusal
        for outsider in ("cy", "ana"):
            revoke = await http.post(
                f"/api/knowledge/{legal}/revoke", headers=setup.bearer(outsider)
            )
            assert revoke.status_code == 403, revoke.text
        row = await patterns.row(billing)
        assert (row["status"], row["edited_by"]) == ("draft", None) and row["title"] != "Mine now"
        assert (await patterns.row(legal))["status"] == "approved"
        # The unknown is still 404, whoever asks.
        unknown = await http.get(f"/api/knowledge/{UNKNOWN_ID}", headers=setup.bearer("ana"))
        assert unknown.status_code == 404

    # The page asks the same question: other teams' cards are not shown, their forms refused.
    async with asgi_client(create_app(setup.config)) as browser:
        await login(browser, setup, "ana", next="/knowledge")
        page = (await browser.get("/knowledge")).text
        assert f'id="pattern-{ours}"' in page
        assert all(f'id="pattern-{p}"' not in page for p in (billing, legal, nobodys))
        form = await browser.post(f"/knowledge/{billing}/approve", headers=ORIGIN)
        assert form.status_code == 403
        assert f"pattern {billing} was learned from tickets of teams you do not work for" in (
            form.text
        )
        edit = await browser.post(
            f"/knowledge/{billing}/edit", data={"title": "Mine now"}, headers=ORIGIN
        )
        assert edit.status_code == 403
    assert (await patterns.row(billing))["status"] == "draft"
    assert (await patterns.row(billing))["edited_by"] is None
    # Someone who may: billing's agent approves billing's pattern.
    async with asgi_client(create_app(setup.config)) as http:
        approved = await http.post(f"/api/knowledge/{billing}/approve", headers=setup.bearer("bo"))
    assert approved.status_code == 200 and approved.json()["decidedBy"] == "bo"
