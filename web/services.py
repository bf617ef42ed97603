"""What the web app is configured with and what it holds open while it runs.

`WebConfig` is plain data so tests can build the app against their own Temporal dev server,
PostgreSQL and task queue; `Services` is what the lifespan connects (one asyncpg pool, one
Temporal client) and every request reaches through `request.app.state`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import asyncpg
from fastapi import Request
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from escalation.config import Endpoints
from web.auth import AgentDirectory, WebhookVerifier
from web.limits import BodyLimits

PUBLIC_URL_ENV = "ESCALATION_PUBLIC_URL"
DEFAULT_PUBLIC_URL = "http://localhost:8000"


def origin_of(url: str) -> str:
    """The URL's "scheme://host[:port]", lower-cased: what a browser puts in `Origin`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass(frozen=True)
class WebConfig:
    """Everything the app needs from outside; `from_env` reads the documented variables."""

    endpoints: Endpoints
    verifier: WebhookVerifier
    agents: AgentDirectory
    public_url: str = DEFAULT_PUBLIC_URL
    # How long an agent's browser session lasts before the token must be entered again.
    session_seconds: int = 12 * 3600
    extra_origins: tuple[str, ...] = field(default=())
    body_limits: BodyLimits = field(default_factory=BodyLimits)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_url", self.public_url.rstrip("/"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebConfig:
        """TEMPORAL_ADDRESS, DATABASE_URL, TEMPORAL_UI_URL, ESCALATION_TASK_QUEUE (Endpoints),
        ESCALATION_WEBHOOK_SECRETS, ESCALATION_AGENTS, ESCALATION_PUBLIC_URL and the body
        limits (web/limits.py)."""
        env = os.environ if environ is None else environ
        return cls(
            endpoints=Endpoints.from_env(dict(env)),
            verifier=WebhookVerifier.from_env(env),
            agents=AgentDirectory.from_env(env),
            public_url=env.get(PUBLIC_URL_ENV) or DEFAULT_PUBLIC_URL,
            body_limits=BodyLimits.from_env(env),
        )

    @property
    def secure_cookies(self) -> bool:
        """Cookies marked Secure when the agents reach us over HTTPS."""
        return self.public_url.startswith("https://")

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.public_url}/tickets/{ticket_id}"

    def trusted_origins(self, request: Request) -> set[str]:
        """Origins a form post may come from: ours as the browser sees it, and as configured."""
        return {
            origin_of(str(request.base_url)),
            origin_of(self.public_url),
            *(origin_of(o) for o in self.extra_origins),
        }


@dataclass
class Services:
    """Connections shared by every request for the app's lifetime."""

    config: WebConfig
    pool: asyncpg.Pool
    temporal: Client


async def connect_pool(database_url: str) -> asyncpg.Pool:
    """An asyncpg pool decoding jsonb (the log's events) to Python values.

    Written here rather than imported from activities/: web/ talks to PostgreSQL itself and
    never imports the worker's code (STYLE.md)."""

    async def init(connection: asyncpg.Connection) -> None:
        await connection.set_type_codec(
            "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10, init=init)
    assert pool is not None
    return pool


async def connect_temporal(endpoints: Endpoints) -> Client:
    """A lazy client: the app starts (and /healthz answers) while Temporal is still coming up;
    calls made while it is down fail with UNAVAILABLE, which the app answers with 503."""
    return await Client.connect(
        endpoints.temporal_address,
        namespace=endpoints.namespace,
        data_converter=pydantic_data_converter,
        lazy=True,
    )


def services(request: Request) -> Services:
    """The app's connections (a FastAPI dependency)."""
    found: Services | None = getattr(request.app.state, "services", None)
    if found is None:
        raise RuntimeError("the web app's lifespan has not run: no connections")
    return found
