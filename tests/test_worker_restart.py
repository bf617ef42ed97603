"""Durability with real processes: the worker is killed with SIGKILL while an escalation waits on
a short SLA timer; a new worker picks the run up and the alert still fires, once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from escalation.messages import EscalationStateName
from localstack.postgres import EmbeddedPostgres
from localstack.smtp import SmtpSink
from tests.conftest import (
    ROOT,
    WebhookReceiver,
    eventually,
    load_example,
    policy_with_webhooks,
)
from tests.test_escalation_workflow import start, wait_for_state

RESPONSE_SECONDS = 6


def second_scale_policy(tmp_path: Path, webhook_url: str) -> Path:
    """The default policy with every response target cut to a few seconds."""
    path = policy_with_webhooks(tmp_path, webhook_url)
    text = re.sub(
        r'^response = ".*"$', f'response = "{RESPONSE_SECONDS}s"', path.read_text(), flags=re.M
    )
    path.write_text(text)
    return path


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def worker_process(
    client: Client,
    postgres: EmbeddedPostgres,
    smtp_sink: SmtpSink,
    webhook: WebhookReceiver,
    tmp_path: Path,
) -> Iterator[tuple[WorkerProcess, str]]:
    queue = f"restart-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "DATABASE_URL": postgres.url,
        "SMTP_URL": smtp_sink.url,
        "ESCALATION_POLICY": str(second_scale_policy(tmp_path, webhook.url)),
        "ESCALATION_TASK_QUEUE": queue,
    }
    worker = WorkerProcess(env, tmp_path / "worker.log")
    yield worker, queue
    worker.stop()


async def test_killed_worker_loses_no_timer_and_the_alert_fires_once(
    client: Client,
    worker_process: tuple[WorkerProcess, str],
    webhook: WebhookReceiver,
    smtp_sink: SmtpSink,
) -> None:
    worker, queue = worker_process
    worker.start()
    ticket_id = f"T-{uuid.uuid4().hex[:10]}"
    handle = await start(client, queue, load_example(id=ticket_id))
    status = await wait_for_state(handle, EscalationStateName.ESCALATED, within=60)
    assert status.response_due_at is not None

    worker.kill()  # SIGKILL while the run sleeps on its 6-second response timer
    await asyncio.sleep(RESPONSE_SECONDS + 2)
    assert not [
        r for r in webhook.for_ticket(ticket_id) if "No human response within" in r.body.decode()
    ]

    worker.start()
    await eventually(
        lambda: [
            r
            for r in webhook.for_ticket(ticket_id)
            if "No human response within" in r.body.decode()
        ],
        within=60,
    )
    await asyncio.sleep(2)  # time for a duplicate to show up, if there were one

    breaches = [
        r for r in webhook.for_ticket(ticket_id) if "No human response within" in r.body.decode()
    ]
    assert len(breaches) == 1
    mails = [
        m
        for m in smtp_sink.messages()
        if m.message["X-Escalation-Ticket"] == ticket_id
        and "no human response within" in m.message["Subject"].lower()
    ]
    assert len(mails) == 1
    acknowledgements = [
        m
        for m in smtp_sink.messages()
        if m.message["X-Escalation-Ticket"] == ticket_id
        and m.message["Subject"].startswith("Your PhotoVault support ticket")
    ]
    assert len(acknowledgements) == 1

    # Ops find it in the Temporal UI's list with EscalationState="breached".
    query = f'EscalationState="breached" AND WorkflowId="{handle.id}"'

    async def breached() -> list[str]:
        return [wf.id async for wf in client.list_workflows(query)]

    assert await eventually(breached, within=20) == [handle.id]
    await handle.terminate("test done")
