"""The CLI's parser and dispatch: every verb answers in readable lines by default and as JSON
with `--json`; errors are one line on stderr with the exit code of Contract 3."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg
from temporalio.service import RPCError

from cli import readable
from cli.errors import UsageError
from escalation.config import MISCONFIGURED, Endpoints, Unreachable
from escalation.models import Priority

# The verbs' modules are imported when their verb runs: `decide` needs none of Temporal, the
# database or the web app's modules, and starts in a fraction of the time.
AGENT_HELP = (
    "an agent of the agents file ($ESCALATION_AGENTS); default: $ESCALATION_AGENT, or the "
    "holder of $ESCALATION_AGENT_TOKEN"
)

DESCRIPTION = "The escalation service's CLI, for the ticketing system, agents and ops."
# How each Temporal verb's answer reads (the data itself is what --json prints).
RENDER: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "decide": readable.decision,
    "start": readable.started,
    "status": readable.status,
    "reply": readable.replied,
    "satisfaction": readable.rated,
    "respond": readable.status,
    "wait-customer": readable.status,
    "reassign": readable.status,
    "resolve": readable.status,
}


def parser() -> argparse.ArgumentParser:
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print the answer as JSON")
    cli = argparse.ArgumentParser(prog="starter.py", description=DESCRIPTION)
    verbs = cli.add_subparsers(dest="verb", required=True)

    def verb(name: str, text: str, into: Any = verbs) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = into.add_parser(name, help=text, parents=[output])
        return made

    verb("decide", "print the triage decision (Contract 2); starts nothing").add_argument("file")
    verb("start", "start the ticket's escalation").add_argument("file")
    verb("status", "the escalation's status").add_argument("ticket_id")
    reply = verb("reply", "forward a customer reply")
    reply.add_argument("ticket_id")
    reply.add_argument("text")
    satisfaction = verb("satisfaction", "record a CSAT score 1-5")
    satisfaction.add_argument("ticket_id")
    satisfaction.add_argument("score", type=int)
    satisfaction.add_argument("--comment")

    def agent_verb(name: str, text: str) -> argparse.ArgumentParser:
        """An agent's action on a ticket: TICKET_ID and who acts."""
        made = verb(name, text)
        made.add_argument("ticket_id")
        made.add_argument("--agent", help=AGENT_HELP)
        return made

    agent_verb("respond", "the first human response").add_argument("--note")
    agent_verb("wait-customer", "pause the clock until the customer replies").add_argument(
        "--question"
    )
    reassign = agent_verb("reassign", "hand the ticket to another team and/or change its priority")
    reassign.add_argument("team", nargs="?", help="default: keep the team")
    reassign.add_argument(
        "--priority", choices=[p.value for p in Priority], help="default: keep the priority"
    )
    reassign.add_argument("--reason")
    resolve = agent_verb("resolve", "resolve the escalation")
    resolve.add_argument("--resolution", required=True)
    necessary = resolve.add_mutually_exclusive_group()
    necessary.add_argument(
        "--necessary", dest="necessary", action="store_const", const=True,
        help="the escalation was necessary (else asked on a terminal)",
    )  # fmt: skip
    necessary.add_argument(
        "--unnecessary", dest="necessary", action="store_const", const=False,
        help="triage should not have escalated it",
    )  # fmt: skip
    metrics = verb("metrics", "escalation metrics with targets")
    metrics.add_argument("--since", default="30d", help="window, e.g. 7d, 24h (default 30d)")
    kb = verbs.add_parser("kb", help="learned patterns: KB drafts to approve")
    kb_verbs = kb.add_subparsers(dest="kb_action", required=True)
    kb_list = verb("list", "every learned pattern of your teams, drafts first", kb_verbs)
    kb_list.add_argument("--status", choices=["collecting", "draft", "approved", "rejected"])
    kb_list.add_argument("--agent", help=AGENT_HELP)

    def pattern_verb(name: str, text: str) -> argparse.ArgumentParser:
        """A verb on one learned pattern: its ID and who acts (their teams' patterns only)."""
        made = verb(name, text, kb_verbs)
        made.add_argument("pattern_id", type=int)
        made.add_argument("--agent", help=AGENT_HELP)
        return made

    pattern_verb("show", "a pattern's KB article and auto-response")
    kb_edit = pattern_verb("edit", "change a draft's text before it is approved")
    kb_edit.add_argument("--title")
    kb_edit.add_argument("--article-file", help="the KB article (Markdown); - reads stdin")
    kb_edit.add_argument("--answer-file", help="the auto-response; - reads stdin")
    pattern_verb("revoke", "withdraw an approval: a draft again").add_argument("--reason")
    pattern_verb("approve", "let triage answer matching tickets with it")
    pattern_verb("reject", "never use this draft")
    triage_cli = verbs.add_parser("triage", help="measure triage on labelled cases")
    triage_verbs = triage_cli.add_subparsers(dest="triage_action", required=True)
    verb("eval", "score triage on a JSONL corpus (the triage-dev case format)", triage_verbs)
    triage_verbs.choices["eval"].add_argument("file")
    corrections = verb("corrections", "agents' corrections of triage, as cases", triage_verbs)
    corrections.add_argument(
        "--export", required=True, metavar="FILE", help="write them as JSONL cases to FILE"
    )
    return cli


def _database_verb(args: argparse.Namespace) -> tuple[int, str]:
    """metrics, triage and kb: (exit code, text) from the database or a file."""
    from cli.triage import export_corrections, triage_eval

    if args.verb == "triage" and args.triage_action == "eval":
        return triage_eval(args.file, args.json)
    database_url = Endpoints.from_env().database_url
    if args.verb == "metrics":
        from cli.metrics import metrics_command

        return asyncio.run(metrics_command(database_url, args.since, args.json))
    if args.verb == "triage":
        return asyncio.run(export_corrections(database_url, args.export, args.json))
    from cli.agents import acting_agent
    from cli.knowledge import TextFileError, kb_command, read_text_file

    try:
        acting = acting_agent(args.agent)
        if getattr(args, "article_file", None) == "-" == getattr(args, "answer_file", None):
            raise UsageError("--article-file and --answer-file cannot both read stdin (-)")
        article = read_text_file("--article-file", getattr(args, "article_file", None))
        answer = read_text_file("--answer-file", getattr(args, "answer_file", None))
    except (UsageError, TextFileError) as error:
        return 2, f"error: {error}"
    return asyncio.run(
        kb_command(
            database_url,
            args.kb_action,
            agent=acting,
            pattern_id=getattr(args, "pattern_id", None),
            status=getattr(args, "status", None),
            as_json=args.json,
            title=getattr(args, "title", None),
            article_markdown=article,
            auto_response=answer,
            reason=getattr(args, "reason", None),
        )
    )


async def _ticket_verb(args: argparse.Namespace) -> dict[str, object]:
    if args.verb == "decide":
        from cli.decide import decide

        return decide(args.file)
    from cli.tickets import send, start, status

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
    if args.verb in ("metrics", "triage", "kb"):
        code, text = _database_verb(args)
        print(text, file=sys.stdout if code == 0 else sys.stderr)
        return code
    if args.verb == "decide":  # nothing but the payload and the policy
        try:
            result = asyncio.run(_ticket_verb(args))
        except UsageError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return _answer(args, result)
    from web import permissions, temporal_ops

    try:
        result = asyncio.run(_ticket_verb(args))
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
    return _answer(args, result)


def _answer(args: argparse.Namespace, result: dict[str, object]) -> int:
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        if args.verb == "start":
            print(f"Temporal UI: {result['temporalUi']}", file=sys.stderr)
    else:
        print(RENDER[args.verb](result))
    return 0


def run_as_script() -> None:
    """`python starter.py ...`: run and leave with the verb's exit code."""
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
