"""Server-side sessions for the dashboard, on a live uvicorn (issue 13): the cookie holds a
random session id, never the token; logout and a rotated token make the old cookie useless;
sign-in is throttled per client address and per agent.

httpx, unlike a browser, does not send a Secure cookie back over http://127.0.0.1, so these
tests send the session cookie themselves (chromium does it on its own: test_web_browser.py)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from localstack.postgres import EmbeddedPostgres
from tests.web_support import LiveServer, agent_entries, live_server
from web.auth import AgentDirectory, new_token, write_agents_file
from web.sessions import SESSION_COOKIE


@pytest.fixture
def server(
    client: Client, postgres: EmbeddedPostgres, pool: asyncpg.Pool, task_queue: str, tmp_path: Path
) -> Iterator[LiveServer]:
    with live_server(client, postgres.url, task_queue, tmp_path) as running:
        yield running


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    origin = {"origin": server.url}
    async with httpx.AsyncClient(base_url=server.url, headers=origin, timeout=30) as http:
        yield http


async def sign_in(http: httpx.AsyncClient, agent: str, token: str) -> str:
    """The session id the sign-in set in its cookie."""
    answer = await http.post("/login", data={"agent": agent, "token": token, "next": "/"})
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"]
    name, _, rest = cookie.partition("=")
    assert name == SESSION_COOKIE
    return rest.split(";")[0]


def with_session(session_id: str) -> dict[str, str]:
    return {"cookie": f"{SESSION_COOKIE}={session_id}"}


async def signed_in(http: httpx.AsyncClient, session_id: str) -> bool:
    """The queue page and the API both take the cookie (False: sent to /login, or 401)."""
    page = await http.get("/", headers=with_session(session_id))
    api = await http.get("/api/queue", headers=with_session(session_id))
    assert (page.status_code == 200) == (api.status_code == 200), (page, api)
    if page.status_code != 200:
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/"
        assert api.status_code == 401
    return page.status_code == 200


async def test_logout_makes_the_old_cookie_useless(
    server: LiveServer, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    token = server.setup.tokens["ana"]
    session_id = await sign_in(http, "ana", token)
    assert session_id != token
    stored = await pool.fetchrow(
        "SELECT agent, token_sha256, expires_at - created_at AS lifetime FROM agent_sessions"
        " WHERE id_sha256 = $1",
        hashlib.sha256(session_id.encode()).hexdigest(),
    )
    assert stored is not None and stored["agent"] == "ana"
    assert stored["lifetime"] == timedelta(hours=12)
    assert await signed_in(http, session_id)
    # A second browser of the same agent has a session of its own.
    other = await sign_in(http, "ana", token)

    out = await http.post("/logout", headers=with_session(session_id))
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert f"{SESSION_COOKIE}=" in out.headers["set-cookie"]
    assert not await signed_in(http, session_id)  # the cookie kept by an attacker: nothing
    assert await signed_in(http, other)
    # Logout is a form like the others: refused from another origin, the session kept.
    refused = await http.post(
        "/logout", headers={**with_session(other), "origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert await signed_in(http, other)


async def test_a_rotated_token_revokes_the_sessions_opened_with_the_old_one(
    server: LiveServer, http: httpx.AsyncClient, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    session_id = await sign_in(http, "ana", server.setup.tokens["ana"])
    bo_session = await sign_in(http, "bo", server.setup.tokens["bo"])
    assert await signed_in(http, session_id)
    # The agents file gives ana a new token; the app is restarted with it.
    rotated = {**server.setup.tokens, "ana": new_token()}
    path = tmp_path / "rotated.toml"
    write_agents_file(path, agent_entries(rotated))
    config = dataclasses.replace(server.setup.config, agents=AgentDirectory.from_file(path))
    server.stop()
    restarted = LiveServer(dataclasses.replace(server.setup, config=config), server.port)
    restarted.start()
    try:
        assert not await signed_in(http, session_id)
        assert await signed_in(http, bo_session)  # bo's token did not change
        gone = await pool.fetchval(
            "SELECT count(*) FROM agent_sessions WHERE id_sha256 = $1",
            hashlib.sha256(session_id.encode()).hexdigest(),
        )
        assert gone == 0
        assert await signed_in(http, await sign_in(http, "ana", rotated["ana"]))
    finally:
        restarted.stop()


async def test_fifty_wrong_sign_ins_are_throttled(
    server: LiveServer, http: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    statuses = []
    for n in range(50):
        answer = await http.post("/login", data={"agent": "ana", "token": f"guess-{n}"})
        statuses.append(answer.status_code)
    throttle = server.setup.config.sign_in_throttle
    assert statuses[: throttle.per_address] == [401] * throttle.per_address
    assert set(statuses[throttle.per_address :]) == {429}
    last = await http.post("/login", data={"agent": "ana", "token": "guess"})
    assert last.status_code == 429
    assert 0 < int(last.headers["retry-after"]) <= throttle.window.total_seconds()
    assert "Too many failed sign-ins" in last.text
    # Throttled means the right token is refused too: a guess cannot be told right meanwhile.
    right = await http.post("/login", data={"agent": "ana", "token": server.setup.tokens["ana"]})
    assert right.status_code == 429

    # Per agent as well: ana's name failing from many addresses locks ana's sign-in, not bo's.
    await pool.execute("DELETE FROM sign_in_failures")
    await pool.executemany(
        "INSERT INTO sign_in_failures (scope, key) VALUES ('address', $1), ('agent', 'ana')",
        [(f"198.51.100.{n}",) for n in range(throttle.per_agent)],
    )
    right = await http.post("/login", data={"agent": "ana", "token": server.setup.tokens["ana"]})
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    assert (await sign_in(http, "bo", server.setup.tokens["bo"])) != ""
    await pool.execute("DELETE FROM sign_in_failures")
