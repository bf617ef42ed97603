"""Helpers for the web tests: signing webhooks like a helpdesk, agent tokens, building the app
against the session's Temporal dev server and PostgreSQL, serving it for real, signing in, and
a page in Debian's chromium (headless, driven by Playwright).

Not a conftest: only the test_web_* modules use these, and they say so by importing them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI
from playwright.async_api import Page, async_playwright
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from activities.db import connect
from activities.settings import Settings
from escalation.config import Endpoints
from escalation.messages import workflow_id_for
from localstack.ports import free_port
from tests.conftest import EXAMPLES, ROOT
from web.app import create_app
from web.auth import (
    AgentDirectory,
    WebhookVerifier,
    new_token,
    parse_secret,
    sign,
    write_agents_file,
)
from web.services import WebConfig
from worker import create_worker


def make_secret(seed: bytes) -> tuple[str, bytes]:
    """A "whsec_..." secret as the helpdesk is given it, and its key bytes."""
    text = "whsec_" + base64.b64encode(seed.ljust(32, b".")).decode()
    return text, parse_secret(text)


OLD_SECRET_TEXT, OLD_SECRET = make_secret(b"old rotation secret")
SECRET_TEXT, SECRET = make_secret(b"current helpdesk secret")
UNKNOWN_SECRET_TEXT, UNKNOWN_SECRET = make_secret(b"someone else's secret")

AGENTS = {
    "ana": "engineering",
    "bo": "billing",
    "cy": "engineering",
    "lea": "legal",
    "root": "product",
}
# Roles other than `agent` (web/permissions.py): cy manages engineering and billing, root is an
# admin; ana, bo and lea see their own team's escalations only.
ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "cy": ("manager", ("engineering", "billing")),
    "root": ("admin", ()),
}
METRICS_TOKEN = "test-scrape-token"  # /metrics' bearer token in every test app
# A form posted from our own pages (asgi_client). The app is reached as https://testserver so
# that httpx, like a browser, sends back the Secure `__Host-` session cookie.
ORIGIN = {"origin": "https://testserver"}

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"  # git-ignored


def new_ticket_id(prefix: str = "W") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ticket_body(ticket_id: str, **ticket: Any) -> bytes:
    """The seed ticket (Mike's vanished wedding photos: premium, P1, time-sensitive) as the
    helpdesk would send it, under a fresh id."""
    data = json.loads((EXAMPLES / "T-12345.json").read_text())
    data["ticket"].update(id=ticket_id, **ticket)
    return json.dumps(data).encode()


async def p0_ticket_body(pool: asyncpg.Pool, ticket_id: str) -> bytes:
    """The seed ticket as a P0 (three other customers reported the same error code in the
    last half hour: widespread data loss), so its escalation alerts the team at once."""
    error_code = f"ERR_{uuid.uuid4().hex[:6].upper()}"
    now = datetime.now(UTC)
    for n in range(3):
        await pool.execute(
            "INSERT INTO tickets (ticket_id, customer_email, subject, error_code, created_at)"
            " VALUES ($1, $2, 'photos gone', $3, $4)",
            new_ticket_id("OTHER"),
            f"user{n}-{error_code.lower()}@example.net",
            error_code,
            now - timedelta(minutes=10 * n),
        )
    data = json.loads(ticket_body(ticket_id, createdAt=now.isoformat()))
    data["technicalContext"] = {"errorCode": error_code, "uploadStatus": "failed"}
    return json.dumps(data).encode()


async def assignment_on_record(pool: asyncpg.Pool, ticket_id: str) -> str:
    """A billing P2 ticket resolved 40 days ago, as its assignment row records it (Temporal
    keeps no run for it): CSAT answers for it go to the database."""
    await pool.execute(
        """
        INSERT INTO support_assignments (ticket_id, episode_id, assigned_to_team, priority,
            escalated_at, escalation_reason, expected_response_time, workflow_id, state)
        VALUES ($1, 'episode-' || $1, 'billing', 'P2', now() - interval '40 days',
                'Refund request', interval '4 hours', 'escalation-' || $1, 'resolved')
        """,
        ticket_id,
    )
    return ticket_id


async def delete_run(client: Client, ticket_id: str, run_id: str, within: float = 90) -> None:
    """Delete a closed run as retention or `temporal workflow delete` does, and wait until
    Temporal no longer describes it. The server deletes in the background (a task of its own
    that may wait behind others on a busy machine), so the request is repeated now and then."""
    request = DeleteWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=workflow_id_for(ticket_id), run_id=run_id),
    )
    deadline = time.monotonic() + within
    while True:
        try:
            await client.workflow_service.delete_workflow_execution(request)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        asked = time.monotonic()
        while time.monotonic() - asked < 10:
            if not await workflow_exists(client, ticket_id):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the run of {ticket_id} was not deleted in {within:.0f} s")
            await asyncio.sleep(0.2)


def signed_headers(
    body: bytes,
    secret: bytes = SECRET,
    *,
    webhook_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Standard-Webhooks headers for `body`, as a helpdesk holding `secret` sends them."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }


@dataclass(frozen=True)
class WebSetup:
    config: WebConfig
    tokens: dict[str, str]  # agent name -> token

    def bearer(self, agent: str = "ana") -> dict[str, str]:
        return {"authorization": f"Bearer {self.tokens[agent]}"}


def agent_entries(tokens: dict[str, str]) -> dict[str, tuple[str, str, str, tuple[str, ...]]]:
    """What write_agents_file takes for these agents' tokens: (team, token, role, teams)."""
    return {
        name: (AGENTS[name], token, *ROLES.get(name, ("agent", ())))
        for name, token in tokens.items()
    }


def web_setup(
    client: Client,
    database_url: str,
    task_queue: str,
    tmp_path: Path,
    *,
    secrets: tuple[bytes, ...] = (SECRET,),
    public_url: str = "http://testserver",
) -> WebSetup:
    """A WebConfig for this test's Temporal server, database and task queue, with freshly
    minted agent tokens stored (hashed) in a temporary agents file."""
    tokens = {name: new_token() for name in AGENTS}
    path = tmp_path / "agents.toml"
    write_agents_file(path, agent_entries(tokens))
    endpoints = dataclasses.replace(
        Endpoints.from_env(),
        temporal_address=client.service_client.config.target_host,
        namespace=client.namespace,
        database_url=database_url,
        task_queue=task_queue,
    )
    config = WebConfig(
        endpoints=endpoints,
        verifier=WebhookVerifier(list(secrets)),
        agents=AgentDirectory.from_file(path),
        public_url=public_url,
        metrics_token=METRICS_TOKEN,
    )
    return WebSetup(config=config, tokens=tokens)


@contextlib.asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to the app in-process, its lifespan (pool, Temporal client)
    run in the test's own event loop."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            yield http


async def login(
    http: httpx.AsyncClient, setup: WebSetup, agent: str = "ana", next: str = "/"
) -> None:
    """Sign `agent` in through the login form: `http` keeps the session cookie."""
    answer = await http.post(
        "/login",
        data={"agent": agent, "token": setup.tokens[agent], "next": next},
        headers=ORIGIN,
    )
    assert answer.status_code == 303, answer.text


@contextlib.asynccontextmanager
async def chromium_page(
    width: int = 1280, height: int = 900, env: dict[str, str | float | bool] | None = None
) -> AsyncIterator[tuple[Page, list[str]]]:
    """A fresh page in headless chromium, and the problems seen on it so far: script errors,
    console errors and warnings (but a missing resource's 404), and answers of 400 or more
    (but a missing favicon). The browser is closed on the way out. `env` is the browser's
    environment (e.g. FONTCONFIG_FILE), this process's by default."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=env
        )
        try:
            context = await browser.new_context(viewport={"width": width, "height": height})
            page = await context.new_page()
            page.set_default_timeout(30_000)
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on(
                "console",
                lambda message: (
                    problems.append(message.text)
                    if message.type in ("error", "warning") and "404" not in message.text
                    else None
                ),
            )
            page.on(
                "response",
                lambda response: (
                    problems.append(f"{response.status} {response.url}")
                    if response.status >= 400 and not response.url.endswith("/favicon.ico")
                    else None
                ),
            )
            yield page, problems
        finally:
            await browser.close()


async def workflow_exists(client: Client, ticket_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id_for(ticket_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


class LiveServer:
    """The app under uvicorn on a free port, in a thread with its own event loop: what a
    browser or schemathesis talks to over real HTTP."""

    def __init__(self, setup: WebSetup, port: int) -> None:
        self.setup = setup
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            create_app(setup.config),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self, timeout: float = 30) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn exited during startup (see the log above)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"uvicorn did not start on {self.url}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


class ThreadedWorker:
    """The escalation worker in a thread with its own event loop and connections, for tests
    whose own loop is blocked (a synchronous schemathesis test waiting on HTTP answers)."""

    def __init__(self, target_host: str, database_url: str, smtp_url: str, task_queue: str) -> None:
        self.target_host = target_host
        self.database_url = database_url
        self.smtp_url = smtp_url
        self.task_queue = task_queue
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, name="worker", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:
            self.failure = error
            self.ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        client = await Client.connect(self.target_host, data_converter=pydantic_data_converter)
        pool = await connect(self.database_url)
        try:
            settings = Settings(pool=pool, smtp_url=self.smtp_url)
            async with create_worker(client, settings, self.task_queue):
                self.ready.set()
                await self._stop.wait()
        finally:
            await pool.close()

    def start(self, timeout: float = 30) -> None:
        self.thread.start()
        if not self.ready.wait(timeout):
            raise TimeoutError("the worker thread did not start")
        if self.failure is not None:
            raise RuntimeError("the worker thread failed to start") from self.failure

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout=30)


@contextlib.contextmanager
def live_server(
    client: Client, database_url: str, task_queue: str, tmp_path: Path, **kwargs: Any
) -> Iterator[LiveServer]:
    port = free_port()
    setup = web_setup(
        client, database_url, task_queue, tmp_path, public_url=f"http://127.0.0.1:{port}", **kwargs
    )
    server = LiveServer(setup, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
