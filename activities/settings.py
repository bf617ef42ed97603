"""What every activity needs from the outside world, built once by the worker."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from escalation.policy import Policy, load_policy
from escalation.signing import SECRETS_ENV, parse_secret, split_secrets

WEBHOOK_TIMEOUT_SECONDS = 10.0
DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "config" / "policy.toml"


@dataclass
class FaultInjection:
    """Test hook: make named activities fail once *after* their side effect, so tests can prove
    that a retried activity writes and sends exactly once. Empty in production."""

    fail_once_after_effect: set[str] = field(default_factory=set)
    # Kill the process (os._exit: no cleanup, no finally) after a channel accepted a delivery
    # and before its `sent` record: the crash window of activities.delivery, for real.
    exit_after_send: bool = False
    _failed: set[str] = field(default_factory=set)

    def maybe_fail(self, activity_name: str) -> None:
        if activity_name in self.fail_once_after_effect and activity_name not in self._failed:
            self._failed.add(activity_name)
            raise RuntimeError(f"injected failure after the side effect of {activity_name}")

    def maybe_exit_after_send(self) -> None:
        if self.exit_after_send:
            os._exit(1)


TICKET_STATUS_URL_ENV = "TICKET_STATUS_WEBHOOK_URL"
TICKET_STATUS_SECRET_ENV = "TICKET_STATUS_WEBHOOK_SECRET"


@dataclass(frozen=True)
class TicketStatusWebhook:
    """Where de-escalation tells the ticketing system a ticket is resolved, and the secret it
    signs with (Standard Webhooks, as the helpdesk signs its intake webhooks)."""

    url: str
    secret: bytes

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TicketStatusWebhook | None:
        """None without TICKET_STATUS_WEBHOOK_URL. The secret is TICKET_STATUS_WEBHOOK_SECRET,
        else the first (newest) of ESCALATION_WEBHOOK_SECRETS; a URL without any is an error."""
        env = os.environ if environ is None else environ
        url = env.get(TICKET_STATUS_URL_ENV, "").strip()
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{TICKET_STATUS_URL_ENV} must be an http(s) URL")
        text = env.get(TICKET_STATUS_SECRET_ENV, "").strip() or next(
            iter(split_secrets(env.get(SECRETS_ENV, ""))), ""
        )
        if not text:
            raise ValueError(
                f"{TICKET_STATUS_URL_ENV} is set but there is no secret to sign with: set "
                f"{TICKET_STATUS_SECRET_ENV} or {SECRETS_ENV}"
            )
        try:
            secret = parse_secret(text)
        except ValueError as error:
            raise ValueError(f"{TICKET_STATUS_SECRET_ENV}: {error}") from None
        return cls(url=url, secret=secret)


@dataclass
class Settings:
    pool: asyncpg.Pool
    smtp_url: str
    policy_path: Path = DEFAULT_POLICY
    sender: str = "PhotoVault Support <support@photovault.example>"
    temporal_ui_url: str = "http://localhost:8233"
    namespace: str = "default"
    faults: FaultInjection = field(default_factory=FaultInjection)
    ticket_status_webhook: TicketStatusWebhook | None = None
    _policy: Policy | None = None
    _http: httpx.AsyncClient | None = None
    _policy_mtime: tuple[float, ...] = ()

    def http(self) -> httpx.AsyncClient:
        """One HTTP client for every webhook: a client per POST built a new TLS context each
        time, which dominated the worker's CPU when many alerts fell due at once."""
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(
                timeout=WEBHOOK_TIMEOUT_SECONDS,
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    def policy(self) -> Policy:
        """The policy, re-read when its file or one of its lexicons changes so ops can re-route
        or teach a language without a restart."""
        files = self._policy.files if self._policy is not None else (self.policy_path,)
        stamp = tuple(path.stat().st_mtime for path in files)
        if self._policy is None or stamp != self._policy_mtime:
            self._policy = load_policy(self.policy_path)
            self._policy_mtime = tuple(path.stat().st_mtime for path in self._policy.files)
        return self._policy


def policy_path_from_env() -> Path:
    return Path(os.environ.get("ESCALATION_POLICY") or DEFAULT_POLICY)
