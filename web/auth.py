"""Who may talk to the web side: helpdesks signing webhooks, agents holding bearer tokens.

Webhooks are authenticated the way the trusted helpdesks sign them, the Standard Webhooks
scheme: HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{raw body}", sent as
`webhook-signature: v1,<base64>`. Several secrets are accepted at once so a secret can be
rotated without downtime; timestamps outside a 5-minute window are refused so a captured
request cannot be replayed later, and within the window the webhook id (remembered in
PostgreSQL) drops a second delivery of the same request.

Agents present `Authorization: Bearer <token>`; the repository and the config only ever hold
SHA-256 hashes of the tokens, so a leaked config file grants nothing.

No web framework here on purpose: web/app.py wraps these in FastAPI dependencies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets as _secrets
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from escalation.models import TEAMS
from escalation.signing import (  # noqa: F401 - re-exported for the web side
    MIN_SECRET_BYTES,
    SECRET_PREFIX,
    SECRETS_ENV,
    parse_secret,
    sign,
    split_secrets,
)
from escalation.signing import (
    digest as signature_digest,
)

# ---------------------------------------------------------------------------------------------
# Webhook signatures (Standard Webhooks)
# ---------------------------------------------------------------------------------------------

DEFAULT_TOLERANCE = timedelta(minutes=5)
# The id is stored for replay protection: bound it so a sender cannot bloat the table.
MAX_WEBHOOK_ID_LENGTH = 256

_TIMESTAMP = re.compile(r"[0-9]{1,15}")  # int() would also take "+1", "1_0", " 1", "١"


class WebhookAuthError(Exception):
    """The request is not a genuine, fresh helpdesk delivery: answer 401 and start nothing.

    `reason` is short and safe to log or return: it never contains a secret or a signature.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _presented_signatures(header: str) -> list[bytes]:
    """Decoded signatures of the space-separated "v1,<base64>" entries; others are ignored.

    Unknown versions and undecodable entries are skipped rather than raised, so a malformed
    header can only end in "no signature matches".
    """
    found: list[bytes] = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1" or not encoded:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


class WebhookVerifier:
    """Checks a request's Standard Webhooks headers against every configured secret.

    More than one secret is normal during rotation: the helpdesk signs with the new secret
    (or with both) while requests signed with the old one are still in flight.
    """

    def __init__(self, secrets: Sequence[bytes], tolerance: timedelta = DEFAULT_TOLERANCE) -> None:
        if any(not isinstance(secret, bytes) or not secret for secret in secrets):
            raise ValueError("webhook secrets must be non-empty bytes (see parse_secret)")
        if tolerance <= timedelta(0):
            raise ValueError("tolerance must be positive")
        self._secrets: tuple[bytes, ...] = tuple(secrets)
        self.tolerance = tolerance

    @property
    def configured(self) -> bool:
        """False when no secret is set: such a verifier refuses every request."""
        return bool(self._secrets)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, tolerance: timedelta = DEFAULT_TOLERANCE
    ) -> WebhookVerifier:
        """Secrets from ESCALATION_WEBHOOK_SECRETS, separated by commas or whitespace.

        Unset or empty gives a verifier that refuses everything: an unconfigured service must
        never fall back to accepting unsigned requests. A bad entry raises ValueError naming
        its position, not its value.
        """
        environ = os.environ if environ is None else environ
        entries = split_secrets(environ.get(SECRETS_ENV, ""))
        keys: list[bytes] = []
        for position, entry in enumerate(entries, start=1):
            try:
                keys.append(parse_secret(entry))
            except ValueError as error:
                raise ValueError(f"{SECRETS_ENV}, secret #{position}: {error}") from None
        return cls(keys, tolerance)

    def check_headers(self, headers: Mapping[str, str], now: datetime) -> tuple[str, str, str]:
        """The (webhook id, timestamp, signature header) of a request whose headers could be
        a genuine, fresh delivery; WebhookAuthError otherwise. Needs no body: the web app
        calls it before reading one, so an unsigned or stale request is refused without it."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime")
        if not self._secrets:
            raise WebhookAuthError("no webhook secrets configured")
        lowered = {name.lower(): value for name, value in headers.items()}
        webhook_id = lowered.get("webhook-id", "").strip()
        timestamp = lowered.get("webhook-timestamp", "").strip()
        signature = lowered.get("webhook-signature", "")
        if not webhook_id:
            raise WebhookAuthError("missing webhook-id header")
        if not timestamp:
            raise WebhookAuthError("missing webhook-timestamp header")
        if not signature.strip():
            raise WebhookAuthError("missing webhook-signature header")
        if len(webhook_id) > MAX_WEBHOOK_ID_LENGTH:
            raise WebhookAuthError("webhook-id header too long")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise WebhookAuthError("webhook-timestamp is not an integer")
        if abs(now.timestamp() - int(timestamp)) > self.tolerance.total_seconds():
            raise WebhookAuthError(f"timestamp outside the {_describe(self.tolerance)} tolerance")
        return webhook_id, timestamp, signature

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
        """The webhook id of a genuine, fresh request; WebhookAuthError otherwise.

        `body` must be the raw bytes as received (re-serialised JSON would not match). `now`
        must be timezone-aware. Replays inside the tolerance window are NOT caught here: see
        `remember_delivery`.
        """
        webhook_id, timestamp, signature = self.check_headers(headers, now)
        presented = _presented_signatures(signature)
        matched = False
        # Every secret against every entry, no early exit: timing says nothing about which.
        for secret in self._secrets:
            expected = signature_digest(secret, webhook_id, timestamp, body)
            for candidate in presented:
                matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            raise WebhookAuthError("no signature matches")
        return webhook_id


def _describe(tolerance: timedelta) -> str:
    """'5-minute' for the default; seconds otherwise."""
    seconds = int(tolerance.total_seconds())
    if seconds % 60 == 0:
        return f"{seconds // 60}-minute"
    return f"{seconds}-second"


# ---------------------------------------------------------------------------------------------
# Replay protection (PostgreSQL table webhook_deliveries, migration 002_web.sql)
# ---------------------------------------------------------------------------------------------

REPLAY_REASON = "webhook id already delivered"


async def remember_delivery(db: asyncpg.Pool | asyncpg.Connection, webhook_id: str) -> bool:
    """Record a delivery's webhook id: True the first time, False for a replay.

    Call it only AFTER `WebhookVerifier.verify` succeeded (otherwise anyone could burn ids a
    helpdesk will use) and only for requests that change state. Best called on the connection
    of the transaction that makes the change: if that change fails and rolls back, the id is
    forgotten too, and the helpdesk's retry (same webhook id) is accepted instead of dropped.
    """
    inserted = await db.fetchval(
        "INSERT INTO webhook_deliveries (webhook_id) VALUES ($1)"
        " ON CONFLICT (webhook_id) DO NOTHING RETURNING webhook_id",
        webhook_id,
    )
    return inserted is not None


async def require_new_delivery(db: asyncpg.Pool | asyncpg.Connection, webhook_id: str) -> None:
    """`remember_delivery` that raises WebhookAuthError("webhook id already delivered")."""
    if not await remember_delivery(db, webhook_id):
        raise WebhookAuthError(REPLAY_REASON)


async def forget_deliveries(
    db: asyncpg.Pool | asyncpg.Connection, older_than: timedelta = 2 * DEFAULT_TOLERANCE
) -> int:
    """Delete ids too old to matter; return how many. Keeps the table small.

    A request is accepted while |now - timestamp| <= tolerance, so one received at R can be
    replayed until at most R + 2 x tolerance; older rows protect against nothing.
    """
    status = await db.execute(
        "DELETE FROM webhook_deliveries WHERE received_at < now() - $1::interval", older_than
    )
    return int(status.rsplit(" ", 1)[-1])


# ---------------------------------------------------------------------------------------------
# Agents and bearer tokens
# ---------------------------------------------------------------------------------------------

AGENTS_ENV = "ESCALATION_AGENTS"
_AGENT_KEYS = ("team", "token_sha256")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class AgentConfigError(ValueError):
    """The agents file is wrong; the message names the key, e.g. `agents.ana.team: ...`."""


@dataclass(frozen=True)
class Agent:
    """An authenticated support agent; the team decides which queue they work."""

    name: str
    team: str


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token: what the config stores instead of the token itself.

    A plain hash (no salt, no KDF) is enough because tokens are 256 random bits, not
    passwords: there is nothing to brute-force.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh agent token: 32 random bytes, URL-safe base64 (43 characters)."""
    return _secrets.token_urlsafe(32)


def bearer_token(authorization_header: str | None) -> str | None:
    """The token of an "Authorization: Bearer <token>" header (scheme case-insensitive).

    None for a missing header, another scheme, an empty token or one with inner spaces.
    """
    if not authorization_header:
        return None
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        return None
    return token


class AgentDirectory:
    """The configured agents, authenticating bearer tokens against their hashes."""

    def __init__(self, entries: Sequence[tuple[Agent, str]] = ()) -> None:
        """`entries` are (agent, hex SHA-256 of the agent's token)."""
        self._entries: tuple[tuple[Agent, bytes], ...] = tuple(
            (agent, bytes.fromhex(digest)) for agent, digest in entries
        )

    @property
    def agents(self) -> list[Agent]:
        return [agent for agent, _ in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, token: str | None) -> Agent | None:
        """The agent whose token this is, or None.

        Compared against EVERY configured hash with compare_digest and no early exit, so the
        time taken does not reveal whether or where a token matched.
        """
        if not token:
            return None
        presented = hashlib.sha256(token.encode("utf-8")).digest()
        found: Agent | None = None
        for agent, digest in self._entries:
            if hmac.compare_digest(presented, digest):
                found = agent
        return found

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AgentDirectory:
        """The directory in the file named by ESCALATION_AGENTS; unset gives an empty one.

        Empty means nobody can sign in, the safe default. A set but missing or broken file
        raises AgentConfigError rather than silently locking everybody out.
        """
        environ = os.environ if environ is None else environ
        path = environ.get(AGENTS_ENV, "").strip()
        return cls.from_file(path) if path else cls()

    @classmethod
    def from_file(cls, path: str | Path) -> AgentDirectory:
        """Load and validate an agents file (format: config/agents.example.toml)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise AgentConfigError(f"{path}: cannot read: {error.strerror or error}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise AgentConfigError(f"{path}: not valid TOML: {error}") from None
        try:
            return cls(_parse_agents(data))
        except AgentConfigError as error:
            raise AgentConfigError(f"{path}: {error}") from None


def _parse_agents(data: Mapping[str, object]) -> list[tuple[Agent, str]]:
    """(agent, lower-case hex hash) pairs; AgentConfigError naming the first bad key."""
    for key in data:
        if key != "agents":
            raise AgentConfigError(f"{key}: unknown key (only [agents.<name>] tables)")
    agents = data.get("agents", {})
    if not isinstance(agents, dict):
        raise AgentConfigError("agents: must be a table of [agents.<name>] tables")
    entries: list[tuple[Agent, str]] = []
    owner_of: dict[str, str] = {}
    for name, fields in agents.items():
        where = f"agents.{name}"
        if not name.strip():
            raise AgentConfigError(f"{where}: agent name is empty")
        if not isinstance(fields, dict):
            raise AgentConfigError(f"{where}: must be a table with team and token_sha256")
        for key in fields:
            if key not in _AGENT_KEYS:
                raise AgentConfigError(
                    f"{where}.{key}: unknown key (expected {', '.join(_AGENT_KEYS)})"
                )
        team = fields.get("team")
        if team is None:
            raise AgentConfigError(f"{where}.team: missing")
        if team not in TEAMS:
            raise AgentConfigError(
                f"{where}.team: unknown team {team!r} (one of {', '.join(TEAMS)})"
            )
        digest = fields.get("token_sha256")
        if digest is None:
            raise AgentConfigError(f"{where}.token_sha256: missing")
        if not isinstance(digest, str) or not _HEX_SHA256.fullmatch(digest):
            raise AgentConfigError(
                f"{where}.token_sha256: not a SHA-256 hash (64 hex characters); "
                "store hash_token(token), never the token"
            )
        digest = digest.lower()
        if digest in owner_of:
            raise AgentConfigError(f"{where}.token_sha256: same token as agents.{owner_of[digest]}")
        owner_of[digest] = name
        entries.append((Agent(name=name, team=team), digest))
    return entries


def _toml_key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


def write_agents_file(path: str | Path, agents: Mapping[str, tuple[str, str]]) -> Path:
    """Write an agents file from {name: (team, token)}, storing only the tokens' hashes.

    For `make demo` and tests, which mint tokens at run time and hand them out themselves.
    The result is validated by loading it back before returning.
    """
    path = Path(path)
    lines = ["# Written by web.auth.write_agents_file: token hashes only, never tokens.", ""]
    for name, (team, token) in agents.items():
        if not token:
            raise ValueError(f"agent {name!r}: empty token")
        lines += [
            f"[agents.{_toml_key(name)}]",
            f"team = {json.dumps(team)}",
            f'token_sha256 = "{hash_token(token)}"',
            "",
        ]
    _parse_agents(tomllib.loads("\n".join(lines)))  # refuse a bad team before writing
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
