"""`make demo`: the embedded stack, the worker, and the seed's ticket T-12345 through the whole
escalation; prints the summary, the acknowledgement as the SMTP sink received it, and the links,
then keeps everything running until Ctrl-C."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
import shlex
import sys
import time
from datetime import datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import quote

import asyncpg

from activities.db import apply_migrations
from connections import MISCONFIGURED, open_pool
from escalation.config import Endpoints, parse_port
from escalation.messages import EscalationStateName, EscalationStatus, workflow_id_for
from localstack.errors import StackError
from localstack.ports import ensure_port_free, wait_for_port
from localstack.stack import PROJECT_ROOT, LocalStack

EXAMPLES = PROJECT_ROOT / "examples"
TICKET_FILE = EXAMPLES / "T-12345.json"
RULE = "─" * 78


async def seed_database(database_url: str) -> None:
    """Migrations and Mike's account, so Step 1 reproduces the seed's package."""
    pool: asyncpg.Pool = await open_pool(database_url, max_size=2)
    try:
        await apply_migrations(pool)
        await pool.execute((EXAMPLES / "demo_seed.sql").read_text())
    finally:
        await pool.close()


async def run_ticket(endpoints: Endpoints) -> EscalationStatus:
    from cli import tickets

    started = await tickets.start(str(TICKET_FILE), endpoints)
    print(f"{'Started' if started['started'] else 'Found'} {started['workflowId']}")
    client = await tickets.connect(endpoints)
    handle = client.get_workflow_handle(workflow_id_for("T-12345"))
    deadline = time.monotonic() + 120
    acknowledged_by = time.monotonic() + 20  # Step 5 runs alongside: give it a moment
    while True:
        try:
            status = await handle.query("status", result_type=EscalationStatus)
            finished = status.state in (
                EscalationStateName.AUTO_RESPONSE,
                EscalationStateName.RESOLVED,
            )
            if finished or (status.sla_due_at is not None and status.acknowledgement != "pending"):
                return status
            if status.sla_due_at is not None and time.monotonic() > acknowledged_by:
                return status  # escalated; Step 5 is still retrying (the relay is down)
        except Exception:  # the worker may still be starting: keep asking until the deadline
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise StackError("T-12345 did not escalate within 2 minutes: see .state/worker.log")
        await asyncio.sleep(0.3)


DEMO_AGENT = "demo-agent"


def demo_agents(token: str) -> dict[str, tuple[str, str, str, tuple[str, ...]]]:
    """The demo's one agent: of the engineering team (the team T-12345 goes to) with the role
    `agent`, not an admin, so the permissions are what a newcomer sees first: their own team's
    queue, another team's ticket refused."""
    return {DEMO_AGENT: ("engineering", token, "agent", ())}


def start_web(stack: LocalStack) -> tuple[str, str]:
    """The web app (queue, ticket pages, intake API) with a demo agent whose token is made now
    and stored only as a hash; the ticketing system's webhook secret is kept in the state dir."""
    from web.auth import new_token, write_agents_file

    port = parse_port("WEB_PORT", os.environ.get("WEB_PORT") or "8000")
    ensure_port_free("127.0.0.1", port, "web app", "WEB_PORT")
    token = new_token()
    agents = stack.state_dir / "agents.toml"
    write_agents_file(agents, demo_agents(token))
    secret_file = stack.state_dir / "webhook-secret"
    if not secret_file.exists():
        secret_file.write_text("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
        secret_file.chmod(0o600)
    url = f"http://127.0.0.1:{port}"
    stack.spawn(
        "web",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "web.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={
            "ESCALATION_AGENTS": str(agents),
            "ESCALATION_WEBHOOK_SECRETS": secret_file.read_text().strip(),
            "ESCALATION_PUBLIC_URL": url,
        },
    )
    if not wait_for_port("127.0.0.1", port, timeout=30):
        raise StackError(f"the web app did not start: see {stack.state_dir / 'web.log'}")
    return url, token


def _utc(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "-"


def _readable(message: EmailMessage) -> str:
    headers = "\n".join(
        f"{name}: {message[name]}" for name in ("From", "To", "Subject", "Date", "Message-ID")
    )
    return f"{headers}\n\n{message.get_content()}"


def acknowledgement_as_received(mail_dir: Path | None, stack: LocalStack) -> str:
    """The acknowledgement as the sink stored it (also from an earlier run: sent only once)."""
    if stack.sink is not None:
        for received in reversed(stack.sink.messages()):
            if received.message["X-Escalation-Ticket"] == "T-12345":
                return _readable(received.message)
    if mail_dir and mail_dir.is_dir():
        for path in sorted(mail_dir.glob("*.eml"), reverse=True):
            message = BytesParser(policy=email_policy.default).parsebytes(path.read_bytes())
            if message["X-Escalation-Ticket"] == "T-12345":
                assert isinstance(message, EmailMessage)
                return _readable(message) + (
                    f"\n(received by an earlier `make demo`, kept in {path}; "
                    "idempotency kept it from being sent twice)"
                )
    return "(no acknowledgement received: SMTP_URL points at an external server)"


def starter_command(stack: LocalStack) -> str:
    """How to run the CLI against this stack from another shell: with the moved ports (or the
    external addresses) in front, so it never talks to another stack on the default ports."""
    prefix = " ".join(f"{name}={shlex.quote(value)}" for name, value in stack.client_env().items())
    return f"{prefix} .venv/bin/python starter.py".strip()


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stack = LocalStack()
    try:
        with stack:
            print("Starting the embedded stack …")
            print(stack.summary())
            asyncio.run(seed_database(stack.database_url))
            stack.spawn("worker", [sys.executable, str(PROJECT_ROOT / "worker.py")])
            web_url, agent_token = start_web(stack)
            endpoints = Endpoints.from_env(stack.env_vars())
            status = asyncio.run(run_ticket(endpoints))
            mail_dir = stack.sink.mail_dir if stack.sink else None
            print(
                f"\n{RULE}\nEscalation summary (Step 4) — state {status.state}, "
                f"{status.team} {status.priority}\n{RULE}"
            )
            print(status.summary_markdown)
            print(
                f"{RULE}\nAcknowledgement email (Step 5, alongside): {status.acknowledgement}"
                + (f" — {status.customer_notice}" if status.customer_notice else "")
            )
            if status.acknowledgement == "sent":
                print(f"{RULE}\n{acknowledgement_as_received(mail_dir, stack)}")
            print(f"{RULE}\nQuality checks: " + json.dumps(status.quality_checks))
            print(
                "SLA clock (Step 8): 75% warning at "
                f"{_utc(status.response_warning_at)}, response due {_utc(status.response_due_at)}"
                f", manager escalation at {_utc(status.manager_escalation_at)}\n{RULE}"
            )
            workflow_id = workflow_id_for("T-12345")
            p1 = quote('EscalationPriority="P1"')
            ui = endpoints.temporal_ui_url
            print(f"Temporal UI, this run:  {endpoints.workflow_url(workflow_id)}")
            p1_list = f"{ui}/namespaces/{endpoints.namespace}/workflows?query={p1}"
            print(f"Temporal UI, P1 filter: {p1_list}")
            print(
                f"Dashboard (Step 9):     {web_url}/  (agent {DEMO_AGENT} of engineering, "
                f"role agent; token: {agent_token})"
            )
            print(f"This ticket:            {web_url}/tickets/T-12345")
            cli = starter_command(stack)
            print(f"Status:  {cli} status T-12345")
            print(
                f"Resolve: ESCALATION_AGENTS={stack.state_dir / 'agents.toml'} {cli} resolve "
                f"T-12345 --agent {DEMO_AGENT} --resolution 'Relinked the upload' --necessary"
            )
            print("\nRunning until Ctrl-C …", flush=True)
            exited = stack.wait()
            if exited:
                print(f"{exited} stopped unexpectedly: see {stack.state_dir / (exited + '.log')}")
                return 1
            print("\nStopping …")
    except (StackError, *MISCONFIGURED) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the ticket escalated: the stack is already stopped
        print("\nStopped.")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
