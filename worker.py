"""`python worker.py` — one worker for the escalation workflow and all its activities.

Applies the SQL migrations first, so a fresh database is ready before the first ticket.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.db import apply_migrations
from activities.registry import all_activities
from activities.settings import Settings, TicketStatusWebhook, policy_path_from_env
from connections import MISCONFIGURED, connect_temporal, open_pool
from escalation.config import Endpoints
from workflows.escalation import EscalationWorkflow
from workflows.ticket_status import TicketStatusWorkflow

log = logging.getLogger("worker")

# Pure, deterministic modules shared with activities: imported once, not per workflow run.
PASSTHROUGH = ("escalation", "activities", "pydantic", "pydantic_core", "annotated_types")


WORKFLOWS = [EscalationWorkflow, TicketStatusWorkflow]


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox the worker and the replay tests share."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


def create_worker(
    client: Client,
    settings: Settings,
    task_queue: str,
    *,
    extra_workflows: Sequence[type] = (),
    extra_activities: Sequence[Callable[..., Any]] = (),
    **tuning: Any,
) -> Worker:
    """The service's worker. The benchmark adds its floor workflow and passes tuning knobs
    (`max_cached_workflows`, `max_concurrent_activities`, poller behaviours, ...) straight to
    `Worker`; without them the SDK's defaults apply."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=[*all_activities(settings), *extra_activities],
        workflow_runner=workflow_runner(),
        **tuning,
    )


async def connect_client(endpoints: Endpoints) -> Client:
    return await connect_temporal(endpoints.temporal_address, endpoints.namespace)


async def run_until_signalled(worker: Worker, ready: Callable[[], None] = lambda: None) -> None:
    """Poll until SIGINT or SIGTERM, then let the worker finish the tasks it holds; `ready`
    runs once it polls."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        ready()
        await stop.wait()


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    endpoints = Endpoints.from_env()
    policy_path = policy_path_from_env()
    status_webhook = TicketStatusWebhook.from_env()  # and so does a bad status-webhook setting
    pool = await open_pool(endpoints.database_url)
    applied = await apply_migrations(pool)
    log.info("migrations applied: %s", ", ".join(applied) or "none needed")
    settings = Settings(
        pool=pool,
        smtp_url=endpoints.smtp_url,
        policy_path=policy_path,
        temporal_ui_url=endpoints.temporal_ui_url,
        namespace=endpoints.namespace,
        ticket_status_webhook=status_webhook,
    )
    # Loaded and compiled before polling: a broken policy stops the worker with the key named,
    # and the first ticket does not pay for building it.
    settings.policy().compiled  # noqa: B018
    client = await connect_client(endpoints)
    worker = create_worker(client, settings, endpoints.task_queue)
    log.info("worker polling %s on %s", endpoints.task_queue, endpoints.temporal_address)
    await run_until_signalled(worker)
    await settings.aclose()
    await pool.close()


def run() -> int:
    """Exit 2 with one line naming the variable when the configuration is wrong."""
    try:
        asyncio.run(main())
    except MISCONFIGURED as error:
        print(f"worker: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run())
