"""The ticket verbs: decide, start, status, reply, satisfaction and the agent actions. Each
returns the answer as data (what `--json` prints) and the CLI renders it (cli/readable.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
from temporalio.client import Client

from cli.agents import acting_agent
from cli.decide import read_payload
from cli.errors import UsageError
from connections import connect_temporal, open_pool
from escalation.config import Endpoints
from escalation.messages import (
    AgentResponse,
    CustomerReply,
    Reassign,
    ResolveInput,
    SatisfactionInput,
    WaitOnCustomer,
)
from escalation.models import Model
from web import permissions, temporal_ops
from web.episodes import ticket_status
from web.feedback import rate

DATABASE_TIMEOUT_SECONDS = 10.0
AGENT_VERBS = ("respond", "wait-customer", "reassign", "resolve")


async def connect(endpoints: Endpoints) -> Client:
    return await connect_temporal(endpoints.temporal_address, endpoints.namespace)


async def start(source: str, endpoints: Endpoints) -> dict[str, object]:
    """Start `escalation-<ticketId>`, find the run still running, or start a new episode of a
    ticket whose escalation has finished (the same rules as `POST /api/tickets`)."""
    payload = read_payload(source)
    client = await connect(endpoints)
    started = await temporal_ops.start_escalation(client, endpoints, payload)
    return {
        "ticketId": started.ticket_id,
        "workflowId": started.workflow_id,
        "runId": started.run_id,
        "started": started.started,
        "reopened": started.reopened,
        "episodeId": started.episode_id,
        "previousRunId": started.previous_run_id,
        "reopenedBecause": started.reopened_because,
        "temporalUi": endpoints.workflow_url(started.workflow_id),
    }


class _Pools:
    """PostgreSQL opened only if a verb needs it, and closed after it."""

    def __init__(self, database_url: str, timeout: float | None = None) -> None:
        self.database_url = database_url
        self.timeout = timeout
        self.opened: list[asyncpg.Pool] = []

    async def __call__(self) -> asyncpg.Pool:
        async with asyncio.timeout(self.timeout):
            self.opened.append(await open_pool(self.database_url))
        return self.opened[-1]

    async def close(self) -> None:
        for pool in self.opened:
            await pool.close()


async def status(ticket_id: str, endpoints: Endpoints) -> dict[str, object]:
    """The latest episode's status with `earlierEpisodes` from the database (null, with a
    warning, when the database does not answer; from the database alone when Temporal no
    longer has the run)."""
    client = await connect(endpoints)
    database = _Pools(endpoints.database_url, DATABASE_TIMEOUT_SECONDS)
    try:
        answer = await ticket_status(client, database, ticket_id)
    finally:
        await database.close()
    if answer.earlier_episodes is None:
        print("warning: the database did not answer: no earlier episodes", file=sys.stderr)
    return answer.to_json_dict()


def necessary_answer(args: argparse.Namespace, ask: Callable[[str], str] | None = None) -> bool:
    """ "Was this escalation necessary?": --necessary or --unnecessary, else asked on a
    terminal; never assumed (the accuracy metric counts the answer)."""
    if args.necessary is not None:
        return bool(args.necessary)
    if ask is None and not sys.stdin.isatty():
        raise UsageError("say whether the escalation was necessary: --necessary or --unnecessary")
    prompt = ask or input
    while True:
        reply = prompt("Was this escalation necessary? [y/n] ").strip().lower()
        if reply in ("y", "yes"):
            return True
        if reply in ("n", "no"):
            return False


def message_for(args: argparse.Namespace, agent: str = "") -> tuple[str, Model]:
    """The workflow message (update name, or signal name for `reply`) and its input; `agent`
    is the acting agent's name (agent verbs)."""
    match args.verb:
        case "reply":
            return "customer_replied", CustomerReply(text=args.text, at=datetime.now(UTC))
        case "satisfaction":
            return "set_satisfaction", SatisfactionInput(score=args.score, comment=args.comment)
        case "respond":
            return "respond", AgentResponse(agent=agent, note=args.note)
        case "wait-customer":
            return "wait_on_customer", WaitOnCustomer(agent=agent, question=args.question)
        case "reassign":
            if args.team is None and args.priority is None:
                raise UsageError("reassign needs a TEAM, a --priority, or both")
            return "reassign", Reassign(
                team=args.team, priority=args.priority, reason=args.reason, agent=agent
            )
        case "resolve":
            return "resolve", ResolveInput(
                agent=agent, resolution=args.resolution, escalation_necessary=necessary_answer(args)
            )
    raise UsageError(f"unknown verb {args.verb}")


async def send(args: argparse.Namespace, endpoints: Endpoints) -> dict[str, object]:
    """Send an agent action as an update (the workflow answers) or a reply as a signal."""
    agent = acting_agent(args.agent) if args.verb in AGENT_VERBS else None
    name, message = message_for(args, agent.name if agent else "")
    client = await connect(endpoints)
    if isinstance(message, SatisfactionInput):
        database = _Pools(endpoints.database_url)
        try:
            return (await rate(client, database, args.ticket_id, message)).to_json_dict()
        finally:
            await database.close()
    if isinstance(message, CustomerReply):
        replied = await temporal_ops.reply(client, endpoints, args.ticket_id, message)
        return {
            "ticketId": args.ticket_id,
            "signalled": name if replied.signalled else None,
            "reopened": replied.reopened,
            "runId": replied.run_id,
            "previousRunId": replied.previous_run_id,
        }
    if agent is not None and not agent.admin:  # the web's rule: the team holding it now
        held = await temporal_ops.status(client, args.ticket_id)
        permissions.check(agent, args.ticket_id, held.team)
    answer = await temporal_ops.update(client, args.ticket_id, name, message)
    return answer.to_json_dict()
