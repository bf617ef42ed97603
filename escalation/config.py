"""Addresses from the environment (Contract 3), read by the processes, never by workflow code.

Every client (worker, web app, CLI, `make demo`) derives its addresses with `derive_addresses`,
so the embedded stack's port variables (TEMPORAL_PORT, POSTGRES_PORT, SMTP_PORT) and the
address variables (TEMPORAL_ADDRESS, DATABASE_URL, SMTP_URL) mean the same to all of them:

- a port variable alone moves the embedded server and every client follows it there;
- an address variable alone names an external service (the demo starts none for it);
- both together must agree: an address on this machine (127.0.0.1, localhost, ::1) with the
  port variable's port is the embedded server moved there; another local port is a conflict;
  an address on another host wins (the port variable only moves a server not started).

A bad value is a `ConfigError` whose one-line message names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

TASK_QUEUE = "escalations"

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
LOCAL_HOST = "127.0.0.1"

DEFAULT_TEMPORAL_PORT = 7233
DEFAULT_TEMPORAL_UI_PORT = 8233
DEFAULT_POSTGRES_PORT = 5433
DEFAULT_SMTP_PORT = 1025
POSTGRES_USER = "postgres"
POSTGRES_DATABASE = "escalation"
POSTGRES_SCHEMES = ("postgresql", "postgres")
SMTP_SCHEMES = ("smtp", "smtp+starttls", "smtps")


class ConfigError(ValueError):
    """A misconfiguration; `str(err)` is one line naming the variable to fix."""


class Unreachable(ConnectionError):
    """Nothing answers (or it refuses us) at a configured address; `str(err)` is one line naming
    the variable. An `OSError`, so callers that degrade when a service is down still do. Raised
    by connections.py; here so an entry point catches it without importing the clients."""


# What an entry point reports in one line (exit 2) instead of a traceback.
MISCONFIGURED: tuple[type[Exception], ...] = (ConfigError, Unreachable)


@dataclass(frozen=True)
class Address:
    """Where one service is, and whether it is the embedded stack's to start."""

    value: str  # TEMPORAL_ADDRESS-style host:port, or the URL
    host: str
    port: int
    local: bool  # the embedded stack runs it (on `port` of this machine)


@dataclass(frozen=True)
class Addresses:
    temporal: Address
    postgres: Address
    smtp: Address


def parse_port(name: str, raw: str) -> int:
    try:
        port = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a port number (1-65535)") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{name}={raw!r} is not a port number (1-65535)")
    return port


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***` (for messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


def _host_port(name: str, value: str) -> tuple[str, int]:
    """host and port of a `host:port` TEMPORAL_ADDRESS."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port:
        raise ConfigError(f"{name}={value!r} must look like host:port (e.g. 127.0.0.1:7233)")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(
            f"{name}={value!r} must look like host:port (e.g. 127.0.0.1:7233)"
        ) from None
    if not 0 < number < 65536:
        raise ConfigError(f"{name}={value!r}: {port} is not a port number (1-65535)")
    return host, number


def _url_host_port(
    name: str, url: str, schemes: tuple[str, ...], default_port: int
) -> tuple[str, int]:
    shown = redact_url(url)
    example = f"{schemes[0]}://host:port"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ConfigError(f"{name}={shown!r} is not a valid URL (e.g. {example})") from None
    if parts.scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ConfigError(f"{name}={shown!r} must start with {allowed}")
    if not parts.hostname:
        raise ConfigError(f"{name}={shown!r} names no host (e.g. {example})")
    return parts.hostname, port if port is not None else default_port


def _resolve(
    address_var: str,
    port_var: str,
    environ: Mapping[str, str],
    default_port: int,
    local_value: str,
    parse: tuple[str, int] | None,
) -> Address:
    raw_port = (environ.get(port_var) or "").strip()
    port = parse_port(port_var, raw_port) if raw_port else None
    value = (environ.get(address_var) or "").strip()
    if not value:
        chosen = port if port is not None else default_port
        return Address(local_value.format(port=chosen), LOCAL_HOST, chosen, local=True)
    assert parse is not None
    host, address_port = parse
    if port is None:
        return Address(value, host, address_port, local=False)
    if host.lower() not in LOCAL_HOSTS:
        return Address(value, host, address_port, local=False)
    if address_port != port:
        shown = redact_url(value)
        raise ConfigError(
            f"{address_var}={shown} and {port_var}={port} disagree: unset one, or give both "
            "the same port"
        )
    return Address(value, host, port, local=True)


def derive_addresses(environ: Mapping[str, str]) -> Addresses:
    """The three services' addresses from the environment (pure: no I/O); see the module doc."""

    def given(name: str) -> str:
        return (environ.get(name) or "").strip()

    temporal_raw, database_raw, smtp_raw = (
        given("TEMPORAL_ADDRESS"),
        given("DATABASE_URL"),
        given("SMTP_URL"),
    )
    temporal = _resolve(
        "TEMPORAL_ADDRESS",
        "TEMPORAL_PORT",
        environ,
        DEFAULT_TEMPORAL_PORT,
        LOCAL_HOST + ":{port}",
        _host_port("TEMPORAL_ADDRESS", temporal_raw) if temporal_raw else None,
    )
    postgres = _resolve(
        "DATABASE_URL",
        "POSTGRES_PORT",
        environ,
        DEFAULT_POSTGRES_PORT,
        f"postgresql://{POSTGRES_USER}@{LOCAL_HOST}:{{port}}/{POSTGRES_DATABASE}",
        _url_host_port("DATABASE_URL", database_raw, POSTGRES_SCHEMES, 5432)
        if database_raw
        else None,
    )
    smtp = _resolve(
        "SMTP_URL",
        "SMTP_PORT",
        environ,
        DEFAULT_SMTP_PORT,
        f"smtp://{LOCAL_HOST}:{{port}}",
        _url_host_port("SMTP_URL", smtp_raw, SMTP_SCHEMES, 25) if smtp_raw else None,
    )
    return Addresses(temporal=temporal, postgres=postgres, smtp=smtp)


@dataclass(frozen=True)
class Endpoints:
    temporal_address: str
    namespace: str
    database_url: str
    smtp_url: str
    temporal_ui_url: str
    task_queue: str

    @classmethod
    def from_env(cls, overrides: Mapping[str, str] | None = None) -> Endpoints:
        """Raises `ConfigError` (one line, naming the variable) on a bad value."""
        env = {**os.environ, **(overrides or {})}
        addresses = derive_addresses(env)
        raw_ui = (env.get("TEMPORAL_UI_PORT") or "").strip()
        ui_port = parse_port("TEMPORAL_UI_PORT", raw_ui) if raw_ui else DEFAULT_TEMPORAL_UI_PORT
        return cls(
            temporal_address=addresses.temporal.value,
            namespace=(env.get("TEMPORAL_NAMESPACE") or "").strip() or "default",
            database_url=addresses.postgres.value,
            smtp_url=addresses.smtp.value,
            temporal_ui_url=env.get("TEMPORAL_UI_URL") or f"http://localhost:{ui_port}",
            task_queue=env.get("ESCALATION_TASK_QUEUE", TASK_QUEUE),
        )

    def workflow_url(self, workflow_id: str) -> str:
        return f"{self.temporal_ui_url}/namespaces/{self.namespace}/workflows/{workflow_id}"
