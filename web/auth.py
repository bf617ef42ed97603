"""Who may talk to the web side: helpdesks signing webhooks, agents holding bearer tokens.

Webhooks are authenticated the way the trusted helpdesks sign them, the Standard Webhooks
scheme: HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{raw body}", sent as
`webhook-signature: v1,<base64>`. Several secrets are accepted at once so a secret can be
rotated without downtime; timestamps outside a 5-minute window are refused so a captured
request cannot be replayed later. A delivery's first answer is kept in PostgreSQL with its id:
the sender's retry (same webhook id) gets that answer again, and the effects are idempotent on
the id as well (web/deps.py).

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
        must be timezone-aware. A delivery sent again inside the tolerance window is NOT caught
        here: see `first_answer`.
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
# Deliveries and their first answers (PostgreSQL table webhook_deliveries, migrations 002, 008)
# ---------------------------------------------------------------------------------------------

# A sender retries a delivery (same webhook id, fresh timestamp and signature) for up to a few
# days (Svix about a day, Stripe three): its first answer is kept that long.
ANSWER_RETENTION = timedelta(days=3)


@dataclass(frozen=True)
class FirstAnswer:
    """What a delivery was first answered, and the request it answered."""

    request_path: str
    body_sha256: str
    status: int
    answer: str

    def answers(self, request_path: str, body: bytes) -> bool:
        """The same request again (the sender's retry), not the id reused for another one."""
        digest = hashlib.sha256(body).hexdigest()
        return self.request_path == request_path and hmac.compare_digest(self.body_sha256, digest)


def _first(row: asyncpg.Record | None) -> FirstAnswer | None:
    if row is None:
        return None
    return FirstAnswer(row["request_path"], row["body_sha256"], row["status"], row["answer"])


async def first_answer(
    db: asyncpg.Pool | asyncpg.Connection, webhook_id: str
) -> FirstAnswer | None:
    """The answer kept for this delivery id, or None when it has not been answered yet.

    Call it only AFTER `WebhookVerifier.verify` succeeded."""
    row = await db.fetchrow(
        "SELECT request_path, body_sha256, status, answer FROM webhook_deliveries"
        " WHERE webhook_id = $1 AND answer IS NOT NULL",
        webhook_id,
    )
    return _first(row)


async def keep_answer(
    db: asyncpg.Pool | asyncpg.Connection,
    webhook_id: str,
    request_path: str,
    body: bytes,
    status: int,
    answer: str,
) -> FirstAnswer | None:
    """Keep a delivery's (successful) answer; None when it is kept, or the answer another
    request for the same id kept first (two copies of a delivery acted on at once: the
    effects are idempotent on the id, and the first answer is the one both give)."""
    kept = await db.fetchval(
        """
        INSERT INTO webhook_deliveries (webhook_id, request_path, body_sha256, status, answer)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (webhook_id) DO UPDATE
           SET request_path = EXCLUDED.request_path, body_sha256 = EXCLUDED.body_sha256,
               status = EXCLUDED.status, answer = EXCLUDED.answer, received_at = now()
         WHERE webhook_deliveries.answer IS NULL
        RETURNING webhook_id
        """,
        webhook_id,
        request_path,
        hashlib.sha256(body).hexdigest(),
        status,
        answer,
    )
    if kept is not None:
        return None
    return await first_answer(db, webhook_id)


async def forget_deliveries(
    db: asyncpg.Pool | asyncpg.Connection, older_than: timedelta = ANSWER_RETENTION
) -> int:
    """Delete deliveries older than any retry of them; return how many. Keeps the table small.

    A delivery is retried by its sender for a few days at most; a retry after that (or the
    old id replayed by someone else, refused anyway outside the 5-minute signature window)
    would be acted on again, idempotently on the id inside the workflow."""
    status = await db.execute(
        "DELETE FROM webhook_deliveries WHERE received_at < now() - $1::interval", older_than
    )
    return int(status.rsplit(" ", 1)[-1])


# ---------------------------------------------------------------------------------------------
# Agents and bearer tokens
# ---------------------------------------------------------------------------------------------

AGENTS_ENV = "ESCALATION_AGENTS"
_AGENT_KEYS = ("team", "role", "teams", "token_sha256")
ROLES = ("agent", "manager", "admin")
# Legal requests are seen by the legal team's own members and by admins only: a manager of
# another team cannot list it among their teams.
RESTRICTED_TEAM = "legal"
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class AgentConfigError(ValueError):
    """The agents file is wrong; the message names the key, e.g. `agents.ana.team: ...`."""


@dataclass(frozen=True)
class Agent:
    """An authenticated support agent; the team decides which queue they work.

    `role` says which escalations they see and act on (web/permissions.py): an `agent` those
    their team holds, a `manager` those of their `teams` (their own team among them), an
    `admin` all."""

    name: str
    team: str
    role: str = "agent"
    teams: tuple[str, ...] = ()

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    @property
    def works_for(self) -> tuple[str, ...]:
        """The teams whose escalations this agent sees (an admin: every team)."""
        if self.admin:
            return TEAMS
        if self.role == "manager":
            return (self.team, *(team for team in self.teams if team != self.team))
        return (self.team,)


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

    def holding(self, name: str, token_sha256: str) -> Agent | None:
        """The agent called `name` if their token's hash is still `token_sha256` (a session
        opened before the token was rotated finds None)."""
        try:
            presented = bytes.fromhex(token_sha256)
        except ValueError:
            return None
        found: Agent | None = None
        for agent, digest in self._entries:
            if agent.name == name and hmac.compare_digest(presented, digest):
                found = agent
        return found

    def token_hashes(self) -> list[tuple[str, str]]:
        """(agent name, hex SHA-256 of their token) for every agent."""
        return [(agent.name, digest.hex()) for agent, digest in self._entries]

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
        role = fields.get("role", "agent")
        if role not in ROLES:
            raise AgentConfigError(
                f"{where}.role: unknown role {role!r} (one of {', '.join(ROLES)})"
            )
        teams = _parse_teams(where, role, team, fields.get("teams"))
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
        entries.append((Agent(name=name, team=team, role=role, teams=teams), digest))
    return entries


def _parse_teams(where: str, role: str, team: str, teams: object) -> tuple[str, ...]:
    """A manager's `teams` (their own team first, whether listed or not)."""
    if teams is None:
        return (team,) if role == "manager" else ()
    if role != "manager":
        raise AgentConfigError(
            f"{where}.teams: only a manager lists teams (an agent works their team's "
            "escalations, an admin everyone's)"
        )
    if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
        raise AgentConfigError(f"{where}.teams: must be a list of team names")
    for listed in teams:
        if listed not in TEAMS:
            raise AgentConfigError(
                f"{where}.teams: unknown team {listed!r} (one of {', '.join(TEAMS)})"
            )
        if listed == RESTRICTED_TEAM and team != RESTRICTED_TEAM:
            raise AgentConfigError(
                f"{where}.teams: {RESTRICTED_TEAM} tickets are for the {RESTRICTED_TEAM} "
                "team's members and admins only"
            )
    return tuple(dict.fromkeys([team, *teams]))


def _toml_key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


def write_agents_file(
    path: str | Path, agents: Mapping[str, tuple[str, str] | tuple[str, str, str, Sequence[str]]]
) -> Path:
    """Write an agents file from {name: (team, token)} or {name: (team, token, role, teams)},
    storing only the tokens' hashes (no role: `agent`; `teams` only for a manager).

    For `make demo` and tests, which mint tokens at run time and hand them out themselves.
    The result is validated by loading it back before returning.
    """
    path = Path(path)
    lines = ["# Written by web.auth.write_agents_file: token hashes only, never tokens.", ""]
    for name, entry in agents.items():
        team, token = entry[0], entry[1]
        role, teams = (entry[2], list(entry[3])) if len(entry) == 4 else ("agent", [])
        if not token:
            raise ValueError(f"agent {name!r}: empty token")
        lines += [
            f"[agents.{_toml_key(name)}]",
            f"team = {json.dumps(team)}",
            f"role = {json.dumps(role)}",
        ]
        if teams:
            lines.append(f"teams = {json.dumps(teams)}")
        lines += [f'token_sha256 = "{hash_token(token)}"', ""]
    _parse_agents(tomllib.loads("\n".join(lines)))  # refuse a bad team before writing
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
