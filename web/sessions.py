"""The dashboard's sessions, held by the server (PostgreSQL tables agent_sessions and
sign_in_failures, migration 008_sessions.sql), and the throttling of sign-in attempts.

Signing in names the agent and gives their token; the browser then holds a random session id
(32 bytes) in a `__Host-` cookie (HttpOnly, Secure, SameSite=Strict, Path=/), never the token.
Only the id's SHA-256 is stored, with the agent, the hash of the token signed in with and an
expiry. A session ends when it expires, on logout (its row is deleted), and when the agents file
gives the agent another token (rotation): a session whose token hash is no longer the agent's
is deleted when the app starts and when it is presented.

Failed sign-ins are counted per client address and per agent name over a window; past either
limit the sign-in is answered 429 with Retry-After, the right token included (an attacker must
not learn whether a guess was right while throttled). The per-agent limit is higher than the
per-address one: anyone can make an agent wait by failing in their name, for one window.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from web.auth import Agent, AgentDirectory, hash_token

SESSION_COOKIE = "__Host-escalation_session"
# Before issue 13 the cookie held the agent's token itself: removed wherever it is still seen.
LEGACY_SESSION_COOKIE = "escalation_session"
MAX_SESSION_ID_LENGTH = 128


async def open_session(
    db: asyncpg.Pool | asyncpg.Connection, agent: Agent, token: str, lifetime: timedelta
) -> str:
    """A new session for `agent`, signed in with `token`: the id for the cookie."""
    session_id = secrets.token_urlsafe(32)
    await db.execute(
        "INSERT INTO agent_sessions (id_sha256, agent, token_sha256, expires_at)"
        " VALUES ($1, $2, $3, now() + $4::interval)",
        hash_token(session_id),
        agent.name,
        hash_token(token),
        lifetime,
    )
    return session_id


async def session_agent(
    db: asyncpg.Pool | asyncpg.Connection, directory: AgentDirectory, session_id: str | None
) -> Agent | None:
    """The agent of a live session, or None: unknown, expired, logged out, or opened with a
    token the agent no longer has (that session is deleted)."""
    if not session_id or len(session_id) > MAX_SESSION_ID_LENGTH:
        return None
    key = hash_token(session_id)
    row = await db.fetchrow(
        "SELECT agent, token_sha256 FROM agent_sessions"
        " WHERE id_sha256 = $1 AND expires_at > now()",
        key,
    )
    if row is None:
        return None
    agent = directory.holding(row["agent"], row["token_sha256"])
    if agent is None:
        await db.execute("DELETE FROM agent_sessions WHERE id_sha256 = $1", key)
    return agent


async def close_session(db: asyncpg.Pool | asyncpg.Connection, session_id: str | None) -> None:
    """Logout: the session's row is deleted, so its cookie is worth nothing any more."""
    if session_id and len(session_id) <= MAX_SESSION_ID_LENGTH:
        await db.execute("DELETE FROM agent_sessions WHERE id_sha256 = $1", hash_token(session_id))


async def revoke_rotated(db: asyncpg.Pool | asyncpg.Connection, directory: AgentDirectory) -> int:
    """Delete the sessions of agents no longer configured or opened with a token the agent no
    longer has, and the expired ones; return how many."""
    pairs = directory.token_hashes()
    names, digests = [name for name, _ in pairs], [digest for _, digest in pairs]
    status = await db.execute(
        """
        DELETE FROM agent_sessions
         WHERE expires_at <= now()
            OR (agent, token_sha256) NOT IN (SELECT * FROM unnest($1::text[], $2::text[]))
        """,
        names,
        digests,
    )
    return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True)
class SignInThrottle:
    """How many failed sign-ins a client address and an agent name may have in `window`."""

    per_address: int = 10
    per_agent: int = 20
    window: timedelta = timedelta(minutes=15)

    async def retry_after(
        self, db: asyncpg.Pool | asyncpg.Connection, address: str, agent_name: str
    ) -> int | None:
        """Seconds until a sign-in may be tried again, or None when it may be tried now."""
        rows = await db.fetch(
            """
            SELECT scope, count(*) AS failures, min(failed_at) AS oldest, now() AS now
              FROM sign_in_failures
             WHERE failed_at > now() - $3::interval
               AND ((scope = 'address' AND key = $1) OR (scope = 'agent' AND key = $2))
             GROUP BY scope
            """,
            address,
            agent_name,
            self.window,
        )
        waits = [
            (row["oldest"] + self.window - row["now"]).total_seconds()
            for row in rows
            if row["failures"]
            >= (self.per_address if row["scope"] == "address" else self.per_agent)
        ]
        return max(1, math.ceil(max(waits))) if waits else None

    async def failed(
        self, db: asyncpg.Pool | asyncpg.Connection, address: str, agent_name: str
    ) -> None:
        await db.execute(
            "INSERT INTO sign_in_failures (scope, key) VALUES ('address', $1), ('agent', $2)",
            address,
            agent_name,
        )

    async def succeeded(
        self, db: asyncpg.Pool | asyncpg.Connection, address: str, agent_name: str
    ) -> None:
        """A right token clears the agent's and the address's failures."""
        await db.execute(
            "DELETE FROM sign_in_failures"
            " WHERE (scope = 'address' AND key = $1) OR (scope = 'agent' AND key = $2)",
            address,
            agent_name,
        )

    async def forget_old(self, db: asyncpg.Pool | asyncpg.Connection) -> int:
        status = await db.execute(
            "DELETE FROM sign_in_failures WHERE failed_at <= now() - $1::interval", self.window
        )
        return int(status.rsplit(" ", 1)[-1])


def describe_wait(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}" if seconds > 60 else f"{seconds} s"
