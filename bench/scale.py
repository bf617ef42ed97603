"""Figure 4: many open escalations waiting on their SLA timers: the rate they come in at, the
worker's resident memory with its bounded sticky cache, what PostgreSQL holds, and how fast
any one of them answers an agent.

The earlier figures' escalations stay open (hour-scale targets, or past their alerts), so this
phase tops the count up to the target. Intake is paced — at most WINDOW tickets between the
intake call and delivery — because starting thousands at once would leave more runs in flight
than the worker's cache holds, and evicted runs in flight are replayed on every step (measured:
2.5x the worker's CPU per escalation). The sustainable rate is what a ticketing system sees.

"Answered" is the `respond` update (the agents' API's call): it returns once the workflow has
applied it, usually after the run was evicted from the cache and is replayed from history.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

from bench.escalate import Runner
from bench.stack import BenchStack, BenchWorker, settle
from bench.stats import summary_ms
from escalation.messages import AgentResponse
from web.temporal_ops import update

WINDOW = 300  # tickets between intake and delivery at any time
TABLES = ("tickets", "support_assignments", "escalation_log", "notifications")
OPEN_QUERY = "WorkflowType = 'EscalationWorkflow' AND ExecutionStatus = 'Running'"


async def ingest(
    runner: Runner, count: int, progress: Callable[[str], None], stop_at: float
) -> tuple[int, float]:
    """Start up to `count` escalations, paced; stop early at `stop_at` (perf_counter).
    Returns how many were delivered and the seconds it took."""
    gate = asyncio.Semaphore(WINDOW)
    delivered = 0

    async def one(ticket_id: str) -> None:
        nonlocal delivered
        try:
            await runner.intake(ticket_id)
            await runner.delivered([ticket_id], within=600)
            delivered += 1
        finally:
            gate.release()

    started = last_report = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    for _ in range(count):
        await gate.acquire()
        now = time.perf_counter()
        if now > stop_at:
            gate.release()
            progress(f"scale: time budget reached after {len(tasks)} of {count}")
            break
        tasks.append(asyncio.create_task(one(runner.next_id("s"))))
        if now - last_report > 15:
            last_report = now
            progress(f"scale: {delivered}/{count} escalated after {now - started:.0f}s")
    await asyncio.gather(*tasks)
    return len(tasks), time.perf_counter() - started


async def answer_times(stack: BenchStack, ticket_ids: list[str], count: int) -> list[float]:
    """`respond` to `count` random open escalations, one after the other."""
    assert stack.client
    took = []
    for ticket_id in random.Random(4).sample(ticket_ids, min(count, len(ticket_ids))):
        started = time.perf_counter()
        await update(stack.client, ticket_id, "respond", AgentResponse(agent="bench-agent"))
        took.append(time.perf_counter() - started)
    return took


async def measure(
    stack: BenchStack,
    runner: Runner,
    workers: list[BenchWorker],
    target_open: int,
    signal_count: int,
    progress: Callable[[str], None],
    stop_at: float,
) -> dict[str, Any]:
    assert stack.pool and stack.client
    already = (await stack.client.count_workflows(OPEN_QUERY)).count
    progress(f"scale: {already} open already; topping up to {target_open}")
    ingested, seconds = await ingest(runner, max(0, target_open - already), progress, stop_at)
    settled = await settle(workers[0])
    open_now = (await stack.client.count_workflows(OPEN_QUERY)).count
    rows = {table: await stack.pool.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}
    answered = await answer_times(stack, stack.escalations, signal_count)
    return {
        "open": open_now,
        "openTarget": target_open,
        "ingested": ingested,
        "ingestPerSec": round(ingested / seconds, 1) if seconds else 0.0,
        "ingestSec": round(seconds, 1),
        "ingestWindow": WINDOW,
        "settleSec": round(settled, 1),
        "workerRssMb": round(sum(worker.rss_mb() for worker in workers), 1),
        "workerRssMbEach": {worker.task_queue: round(worker.rss_mb(), 1) for worker in workers},
        "workerPeakRssMb": round(workers[0].peak_rss_mb(), 1),
        "postgresRows": rows,
        "signalP99Ms": summary_ms(answered)["p99Ms"],
        "signal": {**summary_ms(answered), "count": len(answered), "kind": "update respond"},
    }
