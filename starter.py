"""`python starter.py` — the CLI for the ticketing system, agents and ops (Contract 3).

It talks to Temporal through the same module as the web app (web/temporal_ops.py), so both
start, signal and update runs by the same rules and report failures the same way.

  decide FILE|-         print the triage decision (Contract 2); starts nothing
  start FILE|-          start the ticket's escalation and print its Temporal UI link: finds the
                        run while it runs; a ticket whose escalation has finished starts a new
                        episode ("reopened": true)
  status TICKET_ID      the latest episode's status query as JSON, with "earlierEpisodes"
  reply TICKET_ID TEXT  forward a customer reply (signal); within the policy's reopen_within of
                        the resolution it reopens the ticket as a new episode, after it exits 2
  satisfaction TICKET_ID SCORE [--comment C]
  respond TICKET_ID --agent A [--note N]          first human response
  wait-customer TICKET_ID [--agent A] [--question Q]  pause until the customer replies
  reassign TICKET_ID [TEAM] [--priority P] [--reason R] [--agent A]
                        another team and/or priority (recorded as a correction of triage)
  resolve TICKET_ID --agent A --resolution TEXT [--unnecessary]
  metrics [--since 30d] [--json]   the seed's escalation metrics, each with its target
  kb list [--status S] [--json] | kb show ID | kb approve ID | kb reject ID
  kb edit ID [--title T] [--article-file F|-] [--answer-file F|-] | kb revoke ID [--reason R]
                        learned patterns: KB drafts and auto-response candidates to approve
                        (each kb verb takes --agent A: the patterns of A's teams only)
  triage eval FILE.jsonl [--json]   score triage on labelled cases (triage-dev format)
  triage corrections --export FILE.jsonl   agents' corrections of triage, as labelled cases

Agent actions are workflow updates: the workflow's answer (its status) is printed, and a
request it rejects (already resolved, unknown team, score outside 1-5) exits 2 with the reason.

The CLI acts as a configured agent: `respond`, `wait-customer`, `reassign`, `resolve` and
every `kb` verb need the agents file (ESCALATION_AGENTS, as the web app reads it) and an
agent of it, named by --agent (or $ESCALATION_AGENT) or proven by their token in
$ESCALATION_AGENT_TOKEN (then --agent, if given, must be that agent). The agent's role and
team apply as on the web (web/permissions.py): another team's ticket exits 2.
A satisfaction score for a resolved escalation is recorded as its CSAT after resolution.

`triage eval` exits 0 whatever the accuracy, 2 for a missing file or a bad line.

Exit codes: 0 success, 2 invalid input (the reason on stderr), 1 anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError

from connections import MISCONFIGURED, Unreachable, connect_temporal
from escalation.config import Endpoints
from escalation.evaluation import CorpusError, evaluate, parse_cases, render_text
from escalation.messages import (
    AgentResponse,
    CustomerReply,
    Reassign,
    ResolveInput,
    SatisfactionInput,
    WaitOnCustomer,
)
from escalation.models import (
    EscalationPackage,
    InvalidPayload,
    Model,
    Priority,
    TicketPayload,
    parse_payload,
)
from escalation.policy import PolicyError, load_policy
from escalation.triage import triage
from web import permissions, temporal_ops
from web.auth import AGENTS_ENV, Agent, AgentConfigError, AgentDirectory

DEFAULT_POLICY = Path(__file__).resolve().parent / "config" / "policy.toml"


class UsageError(Exception):
    """Bad input from the caller: exit 2 with the message."""


def read_payload(source: str) -> TicketPayload:
    if source == "-":
        raw = sys.stdin.buffer.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{source}: no such file")
        raw = path.read_bytes()
    try:
        return parse_payload(raw)
    except InvalidPayload as error:
        raise UsageError(f"invalid payload: {error}") from None


def policy_path() -> Path:
    return Path(os.environ.get("ESCALATION_POLICY") or DEFAULT_POLICY)


def decide(source: str) -> dict[str, object]:
    payload = read_payload(source)
    try:
        policy = load_policy(policy_path())
    except PolicyError as error:
        raise UsageError(str(error)) from None
    return triage(EscalationPackage.from_payload(payload), policy).to_json_dict()


def triage_eval(source: str, as_json: bool) -> tuple[int, str]:
    """(exit code, text): the report of triage on a labelled corpus, with the policy `decide`
    uses; 2 with the reason for a missing file, a bad line or a bad policy."""
    path = Path(source)
    if not path.is_file():
        return 2, f"error: {source}: no such file"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return 2, f"error: {source}: cannot read: {error}"
    try:
        policy = load_policy(policy_path())
        cases = parse_cases(text, source, policy.teams)
    except (PolicyError, CorpusError) as error:
        return 2, f"error: {error}"
    report = evaluate(cases, lambda package: triage(package, policy))
    if as_json:
        answer = {"source": source, "policy": str(policy_path()), **report.to_json_dict()}
        return 0, json.dumps(answer, indent=2, ensure_ascii=False)
    return 0, render_text(report, source, str(policy_path()))


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


DATABASE_TIMEOUT_SECONDS = 10.0


async def status(ticket_id: str, endpoints: Endpoints) -> dict[str, object]:
    """The latest episode's status with `earlierEpisodes` from the database (null, with a
    warning, when the database does not answer; from the database alone when Temporal no
    longer has the run)."""
    from web.episodes import ticket_status
    from web.services import connect_pool

    client = await connect(endpoints)
    opened: list[asyncpg.Pool] = []

    async def database() -> asyncpg.Pool:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            opened.append(await connect_pool(endpoints.database_url))
        return opened[-1]

    try:
        answer = await ticket_status(client, database, ticket_id)
    finally:
        for pool in opened:
            await pool.close()
    if answer.earlier_episodes is None:
        print("warning: the database did not answer: no earlier episodes", file=sys.stderr)
    return answer.to_json_dict()


AGENT_ENV = "ESCALATION_AGENT"
AGENT_TOKEN_ENV = "ESCALATION_AGENT_TOKEN"
AGENT_VERBS = ("respond", "wait-customer", "reassign", "resolve")


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
                agent=agent, resolution=args.resolution, escalation_necessary=not args.unnecessary
            )
    raise UsageError(f"unknown verb {args.verb}")


async def send(args: argparse.Namespace, endpoints: Endpoints) -> dict[str, object]:
    """Send an agent action as an update (the workflow answers) or a reply as a signal."""
    agent = acting_agent(args.agent) if args.verb in AGENT_VERBS else None
    name, message = message_for(args, agent.name if agent else "")
    client = await connect(endpoints)
    if name == "set_satisfaction":
        from web.feedback import rate
        from web.services import connect_pool

        assert isinstance(message, SatisfactionInput)
        opened: list[asyncpg.Pool] = []

        async def database() -> asyncpg.Pool:
            opened.append(await connect_pool(endpoints.database_url))
            return opened[-1]

        try:
            return (await rate(client, database, args.ticket_id, message)).to_json_dict()
        finally:
            for pool in opened:
                await pool.close()
    if name == "customer_replied":
        assert isinstance(message, CustomerReply)
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


AGENT_HELP = (
    "an agent of the agents file ($ESCALATION_AGENTS); default: $ESCALATION_AGENT, or the "
    "holder of $ESCALATION_AGENT_TOKEN"
)


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="starter.py", description=__doc__.splitlines()[0])
    verbs = cli.add_subparsers(dest="verb", required=True)
    verbs.add_parser("decide", help="print the triage decision").add_argument("file")
    verbs.add_parser("start", help="start the ticket's escalation").add_argument("file")
    verbs.add_parser("status", help="the escalation's status").add_argument("ticket_id")
    reply = verbs.add_parser("reply", help="forward a customer reply")
    reply.add_argument("ticket_id")
    reply.add_argument("text")
    satisfaction = verbs.add_parser("satisfaction", help="record a CSAT score 1-5")
    satisfaction.add_argument("ticket_id")
    satisfaction.add_argument("score", type=int)
    satisfaction.add_argument("--comment")
    respond = verbs.add_parser("respond", help="the first human response")
    respond.add_argument("ticket_id")
    respond.add_argument("--agent", help=AGENT_HELP)
    respond.add_argument("--note")
    wait = verbs.add_parser("wait-customer", help="pause the clock until the customer replies")
    wait.add_argument("ticket_id")
    wait.add_argument("--agent", help=AGENT_HELP)
    wait.add_argument("--question")
    reassign = verbs.add_parser(
        "reassign", help="hand the ticket to another team and/or change its priority"
    )
    reassign.add_argument("ticket_id")
    reassign.add_argument("team", nargs="?", help="default: keep the team")
    reassign.add_argument(
        "--priority", choices=[p.value for p in Priority], help="default: keep the priority"
    )
    reassign.add_argument("--reason")
    reassign.add_argument("--agent", help=AGENT_HELP)
    resolve_cli = verbs.add_parser("resolve", help="resolve the escalation")
    resolve_cli.add_argument("ticket_id")
    resolve_cli.add_argument("--agent", help=AGENT_HELP)
    resolve_cli.add_argument("--resolution", required=True)
    resolve_cli.add_argument(
        "--unnecessary", action="store_true", help="the escalation was not necessary"
    )
    metrics = verbs.add_parser("metrics", help="escalation metrics with targets")
    metrics.add_argument("--since", default="30d", help="window, e.g. 7d, 24h (default 30d)")
    metrics.add_argument("--json", action="store_true", help="print JSON instead of a table")
    kb = verbs.add_parser("kb", help="learned patterns: KB drafts to approve")
    kb_verbs = kb.add_subparsers(dest="kb_action", required=True)
    kb_list = kb_verbs.add_parser("list", help="every learned pattern, drafts first")
    kb_list.add_argument("--status", choices=["collecting", "draft", "approved", "rejected"])
    kb_list.add_argument("--json", action="store_true")
    kb_list.add_argument("--agent", help=AGENT_HELP)
    kb_show = kb_verbs.add_parser("show", help="a pattern's KB article and auto-response")
    kb_show.add_argument("pattern_id", type=int)
    kb_show.add_argument("--json", action="store_true")
    kb_show.add_argument("--agent", help=AGENT_HELP)
    kb_edit = kb_verbs.add_parser("edit", help="change a draft's text before it is approved")
    kb_edit.add_argument("pattern_id", type=int)
    kb_edit.add_argument("--title")
    kb_edit.add_argument("--article-file", help="the KB article (Markdown); - reads stdin")
    kb_edit.add_argument("--answer-file", help="the auto-response; - reads stdin")
    kb_edit.add_argument("--agent", help=AGENT_HELP)
    kb_revoke = kb_verbs.add_parser("revoke", help="withdraw an approval: a draft again")
    kb_revoke.add_argument("pattern_id", type=int)
    kb_revoke.add_argument("--reason")
    kb_revoke.add_argument("--agent", help=AGENT_HELP)
    for action, text in (("approve", "let triage answer matching tickets with it"),
                         ("reject", "never use this draft")):  # fmt: skip
        decide = kb_verbs.add_parser(action, help=text)
        decide.add_argument("pattern_id", type=int)
        decide.add_argument("--agent", help=AGENT_HELP)
    triage_cli = verbs.add_parser("triage", help="measure triage on labelled cases")
    triage_verbs = triage_cli.add_subparsers(dest="triage_action", required=True)
    evaluate_cli = triage_verbs.add_parser(
        "eval", help="score triage on a JSONL corpus (the triage-dev case format)"
    )
    evaluate_cli.add_argument("file")
    evaluate_cli.add_argument("--json", action="store_true", help="print one JSON object")
    corrections = triage_verbs.add_parser(
        "corrections", help="agents' corrections of triage, as labelled cases"
    )
    corrections.add_argument(
        "--export", required=True, metavar="FILE", help="write them as JSONL cases to FILE"
    )
    return cli


async def run(args: argparse.Namespace) -> dict[str, object]:
    if args.verb == "decide":
        return decide(args.file)
    endpoints = Endpoints.from_env()
    if args.verb == "start":
        return await start(args.file, endpoints)
    if args.verb == "status":
        return await status(args.ticket_id, endpoints)
    return await send(args, endpoints)


def main(argv: list[str] | None = None) -> int:
    """A misconfiguration (a bad port or URL, an address that does not answer, a missing TLS
    file) is one line naming the variable, exit 2."""
    try:
        return _main(argv)
    except MISCONFIGURED as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.verb == "metrics":
        from web.metrics_cli import metrics_command

        endpoints = Endpoints.from_env()
        code, text = asyncio.run(metrics_command(endpoints.database_url, args.since, args.json))
        print(text, file=sys.stdout if code == 0 else sys.stderr)
        return code
    if args.verb == "triage":
        if args.triage_action == "eval":
            code, text = triage_eval(args.file, args.json)
        else:
            from web.corrections import export_command

            endpoints = Endpoints.from_env()
            code, text = asyncio.run(export_command(endpoints.database_url, args.export))
        print(text, file=sys.stdout if code == 0 else sys.stderr)
        return code
    if args.verb == "kb":
        from web.knowledge_cli import TextFileError, kb_command, read_text_file

        endpoints = Endpoints.from_env()
        try:
            acting = acting_agent(args.agent)
            if getattr(args, "article_file", None) == "-" == getattr(args, "answer_file", None):
                raise UsageError("--article-file and --answer-file cannot both read stdin (-)")
            article = read_text_file("--article-file", getattr(args, "article_file", None))
            answer = read_text_file("--answer-file", getattr(args, "answer_file", None))
        except (UsageError, TextFileError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        code, text = asyncio.run(
            kb_command(
                endpoints.database_url,
                args.kb_action,
                agent=acting,
                pattern_id=getattr(args, "pattern_id", None),
                status=getattr(args, "status", None),
                as_json=getattr(args, "json", False),
                title=getattr(args, "title", None),
                article_markdown=article,
                auto_response=answer,
                reason=getattr(args, "reason", None),
            )
        )
        print(text, file=sys.stdout if code == 0 else sys.stderr)
        return code
    try:
        result = asyncio.run(run(args))
    except (UsageError, permissions.Forbidden) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except temporal_ops.Refused as error:
        print(f"error: rejected: {error.message}", file=sys.stderr)
        return 2
    except (temporal_ops.TicketNotFound, temporal_ops.TicketClosed) as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    except temporal_ops.TicketError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    except Unreachable:
        raise  # one line naming the variable, exit 2 (`main`)
    except (RPCError, OSError, RuntimeError, asyncpg.PostgresError) as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.verb == "start":
        print(f"Temporal UI: {result['temporalUi']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # A reader that stops early (`starter.py triage eval FILE | head`) ends the output quietly,
    # as a Unix tool does, instead of with a BrokenPipeError traceback.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without interpreter finalisation: the Temporal client's runtime threads may still
    # call into Python while it shuts down ("PyGILState_Release ... finalizing"), which turned a
    # successful command into a crash now and then. Everything is flushed; nothing is pending.
    os._exit(code)
