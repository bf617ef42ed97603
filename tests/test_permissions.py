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
from web.permissions import may_see, visible_teams

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
