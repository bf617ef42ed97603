"""Who the CLI acts as: a configured agent of the agents file, never whoever runs it."""

from __future__ import annotations

import os

from cli.errors import UsageError
from web.auth import AGENTS_ENV, Agent, AgentConfigError, AgentDirectory

AGENT_ENV = "ESCALATION_AGENT"
AGENT_TOKEN_ENV = "ESCALATION_AGENT_TOKEN"


def acting_agent(named: str | None, environ: dict[str, str] | None = None) -> Agent:
    """The configured agent the CLI acts as: the holder of $ESCALATION_AGENT_TOKEN, or the
    agent --agent (or $ESCALATION_AGENT) names in the agents file. UsageError otherwise: no
    agents file, no agent named, a name the file does not have, a token nobody holds."""
    environ = dict(os.environ) if environ is None else environ
    try:
        directory = AgentDirectory.from_env(environ)
    except AgentConfigError as error:
        raise UsageError(str(error)) from None
    if not len(directory):
        raise UsageError(
            f"the CLI acts as a configured agent: set {AGENTS_ENV} to the agents file "
            "(format: config/agents.example.toml)"
        )
    name = (named or environ.get(AGENT_ENV, "")).strip() or None
    token = environ.get(AGENT_TOKEN_ENV, "").strip()
    if token:
        holder = directory.authenticate(token)
        if holder is None:
            raise UsageError(f"{AGENT_TOKEN_ENV}: no agent of {environ[AGENTS_ENV]} holds it")
        if name is not None and name != holder.name:
            raise UsageError(f"--agent {name!r} is not the agent of {AGENT_TOKEN_ENV}")
        return holder
    if name is None:
        raise UsageError(f"name the agent: --agent NAME (or ${AGENT_ENV}) from {AGENTS_ENV}")
    found = next((agent for agent in directory.agents if agent.name == name), None)
    if found is None:
        raise UsageError(f"unknown agent {name!r}: not in the agents file {environ[AGENTS_ENV]}")
    return found
