"""The one place the service's processes connect to Temporal and open their PostgreSQL pool.

The worker, the web app, the CLI, the demo and the benchmark all come here, so a Temporal
connection always carries the project's data converter and the TLS / API-key settings of the
environment, and a connection that cannot be made is one line naming the variable to check:

    TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY  client certificate and key (PEM files) for mTLS
    TEMPORAL_TLS_CA                      CA (PEM file) the server's certificate is checked against
    TEMPORAL_TLS_SERVER_NAME             name the server's certificate must carry (and SNI)
    TEMPORAL_API_KEY                     API key (Temporal Cloud); TLS is then on by default

Addresses themselves come from `escalation.config` (`Endpoints`, `derive_addresses`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from escalation.config import MISCONFIGURED, ConfigError, Unreachable, redact_url

__all__ = [
    "MISCONFIGURED",
    "ConfigError",
    "Unreachable",
    "connect_temporal",
    "open_pool",
    "temporal_api_key",
    "temporal_tls",
]

TLS_FILE_VARS = ("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA")


def _read_pem(name: str, environ: Mapping[str, str]) -> bytes | None:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{name}={raw}: no such file") from None
    except OSError as error:
        raise ConfigError(f"{name}={raw}: cannot be read ({error.strerror})") from None
    if b"-----BEGIN" not in data:
        raise ConfigError(f"{name}={raw}: not a PEM file")
    return data


def temporal_tls(environ: Mapping[str, str] | None = None) -> TLSConfig | None:
    """TLS from TEMPORAL_TLS_CERT / _KEY / _CA / _SERVER_NAME; None when none is set (then the
    SDK turns TLS on by itself only for an API key)."""
    env = os.environ if environ is None else environ
    cert, key = _read_pem("TEMPORAL_TLS_CERT", env), _read_pem("TEMPORAL_TLS_KEY", env)
    ca = _read_pem("TEMPORAL_TLS_CA", env)
    server_name = (env.get("TEMPORAL_TLS_SERVER_NAME") or "").strip() or None
    if (cert is None) != (key is None):
        given, missing = (
            ("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY")
            if cert is not None
            else ("TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CERT")
        )
        raise ConfigError(f"{given} is set but {missing} is not: mTLS needs both")
    if cert is None and ca is None and server_name is None:
        return None
    return TLSConfig(
        server_root_ca_cert=ca, domain=server_name, client_cert=cert, client_private_key=key
    )


def temporal_api_key(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return (env.get("TEMPORAL_API_KEY") or "").strip() or None


# What the SDK's (Rust) transport errors mean, in a few words; anything else: its first line.
_TRANSPORT_REASONS = (
    ("connection refused", "connection refused"),
    ("connect call failed", "connection refused"),  # asyncpg's OSError
    ("dns error", "host not found"),
    ("failed to lookup", "host not found"),
    ("timed out", "timed out"),
    ("certificate", "TLS certificate rejected"),
    ("invalidcontenttype", "not a gRPC endpoint (TLS mismatch?)"),
)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    lowered = text.lower()
    for needle, reason in _TRANSPORT_REASONS:
        if needle in lowered:
            return reason
    lines = text.splitlines()
    line = lines[0] if lines else type(error).__name__
    return line if len(line) <= 200 else line[:197] + "..."


async def connect_temporal(
    address: str,
    namespace: str = "default",
    *,
    lazy: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Client:
    """A client with the project's data converter and the environment's TLS and API key.

    `environ={}` connects in plain text whatever the environment says (the embedded stack's
    own dev servers). A server that does not answer is a `ConfigError` naming
    TEMPORAL_ADDRESS, `Unreachable` (a lazy client connects on its first call instead); a
    bad TLS setting a `ConfigError`."""
    env = os.environ if environ is None else environ
    tls = temporal_tls(env)
    api_key = temporal_api_key(env)
    try:
        return await Client.connect(
            address,
            namespace=namespace,
            data_converter=pydantic_data_converter,
            tls=tls if tls is not None else (True if api_key else False),
            api_key=api_key,
            lazy=lazy,
        )
    except RuntimeError as error:
        raise Unreachable(
            f"TEMPORAL_ADDRESS={address}: cannot connect to Temporal ({_first_line(error)})"
        ) from None


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


class TimedPool(asyncpg.Pool):  # type: ignore[misc]
    """An asyncpg pool whose `acquire` (and so `fetch`, `execute`... on the pool) waits at most
    `acquire_timeout` seconds for a connection, then raises TimeoutError: a request never waits
    for good on an exhausted pool or an unreachable server."""

    def __init__(self, *args: Any, acquire_timeout: float | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def open_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    acquire_timeout: float | None = None,
    statement_timeout: float | None = None,
    lazy: bool = False,
) -> asyncpg.Pool:
    """An asyncpg pool decoding jsonb (the log's events) to Python values.

    The web app adds its request limits: `acquire_timeout` bounds the wait for a pooled
    connection and the connect itself (a black-holed server), `statement_timeout` is set on
    the server for every pooled connection, and `lazy` opens no connection yet (the app starts
    while PostgreSQL is down and `/readyz` says so). All in seconds; None: no limit.

    A database that does not answer or refuses us is `Unreachable`, naming DATABASE_URL (the
    password left out); a DSN asyncpg cannot parse a `ConfigError`. Migrations are the
    worker's (activities/db.py), not done here."""
    shown = redact_url(database_url)
    settings = (
        {}
        if statement_timeout is None
        else {"statement_timeout": str(int(statement_timeout * 1000))}
    )
    pool = TimedPool(
        database_url,
        acquire_timeout=acquire_timeout,
        min_size=0 if lazy else min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=_init_connection,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        timeout=60.0 if acquire_timeout is None else acquire_timeout,
        server_settings=settings,
    )
    try:
        await pool
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise Unreachable(
            f"DATABASE_URL={shown}: cannot connect to PostgreSQL ({_first_line(error)})"
        ) from None
    except ValueError as error:  # asyncpg's verdict on a DSN it cannot parse
        raise ConfigError(f"DATABASE_URL={shown}: {_first_line(error)}") from None
    return pool
