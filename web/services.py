"""What the web app is configured with and what it holds open while it runs.

`WebConfig` is plain data so tests can build the app against their own Temporal dev server,
PostgreSQL and task queue; `Services` is what the lifespan connects (one asyncpg pool, one
Temporal client) and every request reaches through `request.app.state`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import asyncpg
from fastapi import Request
from temporalio.client import Client

import connections
from escalation.config import Endpoints
from web.auth import AgentDirectory, WebhookVerifier
from web.limits import BodyLimits
from web.sessions import SignInThrottle

PUBLIC_URL_ENV = "ESCALATION_PUBLIC_URL"
DEFAULT_PUBLIC_URL = "http://localhost:8000"
# `/metrics` answers a scraper sending `Authorization: Bearer <this token>`; without one it is
# refused unless the operator opts out for a private bind (METRICS_PUBLIC_ENV=1).
METRICS_TOKEN_ENV = "ESCALATION_METRICS_TOKEN"
METRICS_PUBLIC_ENV = "ESCALATION_METRICS_PUBLIC"


def origin_of(url: str) -> str:
    """The URL's "scheme://host[:port]", lower-cased: what a browser puts in `Origin`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


ACQUIRE_TIMEOUT_ENV = "ESCALATION_DB_ACQUIRE_TIMEOUT"
STATEMENT_TIMEOUT_ENV = "ESCALATION_DB_STATEMENT_TIMEOUT"
POOL_SIZE_ENV = "ESCALATION_DB_POOL_SIZE"
READINESS_TIMEOUT_ENV = "ESCALATION_READINESS_TIMEOUT"


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 86_400:
        raise ValueError(f"{name} must be a positive number of seconds, got {text!r}")
    return value


@dataclass(frozen=True)
class DatabaseLimits:
    """How long a request waits for a pooled connection (`acquire_timeout`, also the connect
    timeout), how long PostgreSQL lets one statement run (`statement_timeout`, set on the
    server for every pooled connection), the pool's size, and how long `/readyz` waits for
    each dependency. All in seconds."""

    acquire_timeout: float = 5.0
    statement_timeout: float = 15.0
    pool_size: int = 10
    readiness_timeout: float = 2.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DatabaseLimits:
        env = os.environ if environ is None else environ
        size = env.get(POOL_SIZE_ENV, "").strip()
        if size and (not size.isdigit() or not 1 <= int(size) <= 1000):
            raise ValueError(f"{POOL_SIZE_ENV} must be a number of connections, got {size!r}")
        return cls(
            acquire_timeout=_seconds(env, ACQUIRE_TIMEOUT_ENV, cls.acquire_timeout),
            statement_timeout=_seconds(env, STATEMENT_TIMEOUT_ENV, cls.statement_timeout),
            pool_size=int(size) if size else cls.pool_size,
            readiness_timeout=_seconds(env, READINESS_TIMEOUT_ENV, cls.readiness_timeout),
        )


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
    metrics_token: str | None = None  # the Prometheus scraper's bearer token
    metrics_public: bool = False  # the operator's explicit opt-out: /metrics without a token
    sign_in_throttle: SignInThrottle = field(default_factory=SignInThrottle)
    body_limits: BodyLimits = field(default_factory=BodyLimits)
    database: DatabaseLimits = field(default_factory=DatabaseLimits)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_url", self.public_url.rstrip("/"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebConfig:
        """TEMPORAL_ADDRESS, DATABASE_URL, TEMPORAL_UI_URL, ESCALATION_TASK_QUEUE (Endpoints),
        ESCALATION_WEBHOOK_SECRETS, ESCALATION_AGENTS, ESCALATION_PUBLIC_URL,
        ESCALATION_METRICS_TOKEN, ESCALATION_METRICS_PUBLIC, the body limits (web/limits.py)
        and the database limits (DatabaseLimits)."""
        env = os.environ if environ is None else environ
        return cls(
            endpoints=Endpoints.from_env(dict(env)),
            verifier=WebhookVerifier.from_env(env),
            agents=AgentDirectory.from_env(env),
            public_url=env.get(PUBLIC_URL_ENV) or DEFAULT_PUBLIC_URL,
            metrics_token=env.get(METRICS_TOKEN_ENV, "").strip() or None,
            metrics_public=env.get(METRICS_PUBLIC_ENV, "").strip().lower() in ("1", "true", "yes"),
            body_limits=BodyLimits.from_env(env),
            database=DatabaseLimits.from_env(env),
        )

    @property
    def secure_cookies(self) -> bool:
        """The flash cookie is marked Secure when the agents reach us over HTTPS (the session
        cookie always is: a `__Host-` cookie must be, and browsers take it on https:// and on
        http://localhost or 127.0.0.1)."""
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


async def connect_pool(
    database_url: str, limits: DatabaseLimits | None = None, *, lazy: bool = False
) -> asyncpg.Pool:
    """The web app's pool: connections.open_pool with the request limits a server facing the
    internet needs (acquire and statement timeouts, size; `lazy`: no connection at start)."""
    limits = limits or DatabaseLimits()
    return await connections.open_pool(
        database_url,
        max_size=limits.pool_size,
        acquire_timeout=limits.acquire_timeout,
        statement_timeout=limits.statement_timeout,
        lazy=lazy,
    )


async def connect_temporal(endpoints: Endpoints) -> Client:
    """A lazy client: the app starts (and /healthz answers) while Temporal is still coming up;
    calls made while it is down fail with UNAVAILABLE, which the app answers with 503."""
    return await connections.connect_temporal(
        endpoints.temporal_address, endpoints.namespace, lazy=True
    )
