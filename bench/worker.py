"""`python -m bench.worker`: the service's worker plus the floor workflow, in its own process.

Its own process, as in production, so the figures include the worker's real CPU and so its
resident memory can be read from /proc. Prints READY on stdout once it polls; logs go to
stderr. The addresses come from the environment (TEMPORAL_ADDRESS, DATABASE_URL, SMTP_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from temporalio.worker import PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum

from activities.db import connect
from activities.settings import Settings
from bench.floor import FloorWorkflow, noop
from escalation.config import Endpoints
from worker import connect_client, create_worker, run_until_signalled

POLLER_KNOBS = {
    "workflow_pollers": "workflow_task_poller_behavior",
    "activity_pollers": "activity_task_poller_behavior",
}


def worker_tuning(knobs: dict[str, Any]) -> dict[str, Any]:
    """JSON-friendly knobs → `Worker` keyword arguments (poller counts become behaviours)."""
    out = dict(knobs)
    for short, name in POLLER_KNOBS.items():
        if short in out:
            value = out.pop(short)
            out[name] = (
                PollerBehaviorAutoscaling()
                if value == "autoscale"
                else PollerBehaviorSimpleMaximum(maximum=int(value))
            )
    out.pop("db_pool", None)
    return out


async def run(task_queue: str, policy: Path, knobs: dict[str, Any]) -> None:
    endpoints = Endpoints.from_env()
    pool = await connect(endpoints.database_url, max_size=int(knobs.get("db_pool", 10)))
    settings = Settings(
        pool=pool,
        smtp_url=endpoints.smtp_url,
        policy_path=policy,
        temporal_ui_url=endpoints.temporal_ui_url,
        namespace=endpoints.namespace,
    )
    settings.policy()  # load (0.4 s) before the first ticket, not during it
    client = await connect_client(endpoints)
    worker = create_worker(
        client,
        settings,
        task_queue,
        extra_workflows=[FloorWorkflow],
        extra_activities=[noop],
        **worker_tuning(knobs),
    )
    await run_until_signalled(worker, lambda: print("READY", flush=True))
    await settings.aclose()
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--policy", type=Path, required=True)
    parser.add_argument("--tuning", default="{}", help="JSON: Worker knobs, db_pool, pollers")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(run(args.task_queue, args.policy, json.loads(args.tuning)))


if __name__ == "__main__":
    main()
