"""Figures 1 and 2: time to escalate one ticket at a time, and throughput at N at once, each
beside the floor workflow on the same server and worker.

An escalation is *delivered* when the SMTP sink has accepted the customer's acknowledgement
and the assignment row is committed (Steps 5 and 6: the customer knows, the team has it).
The clock starts at the intake call, `web.temporal_ops.start_escalation`, which both
`POST /api/tickets` and `starter.py start` use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from temporalio.client import WorkflowHandle

from bench import timeline
from bench.floor import FloorWorkflow
from bench.stack import BenchStack, BenchTemporal, BenchWorker, settle
from bench.stats import ms, percentile, summary_ms
from bench.tickets import service_payload
from escalation.config import Endpoints
from escalation.messages import workflow_id_for
from web.temporal_ops import start_escalation

WARMUP = 2  # first tickets pay for imports, template compilation and connections: not counted
GAP = 0.05  # seconds between one-at-a-time tickets: one at a time, not back to back

# Waiting on a run's result is a long poll (GetWorkflowExecutionHistory until the close event),
# and the frontend caps a namespace's concurrent long polls (`frontend.namespaceCount`, 1200 on
# the dev server, the workers' own task polls included). Awaiting 2,000 floor runs at once
# answered "namespace concurrent poller limit exceeded" wherever the runs were not finished
# before the waits arrived: on a slower machine. So at most this many waits are in flight, the
# rest queued in start order; a wait on a run already finished answers at once, and the clock
# still stops when the last run is seen complete.
RESULT_WAITS = 200


class Runner:
    """Starts escalations and floor runs on one task queue, and times their delivery."""

    def __init__(self, stack: BenchStack, endpoints: Endpoints, prefix: str) -> None:
        self.stack, self.endpoints, self.prefix = stack, endpoints, prefix
        self.timed: list[tuple[float, str]] = []  # (seconds, ticket) of escalate_one
        self._n = 0

    def next_id(self, kind: str) -> str:
        self._n += 1
        return f"{self.prefix}-{kind}{self._n}"

    async def intake(self, ticket_id: str) -> None:
        assert self.stack.client
        await start_escalation(
            self.stack.client, self.endpoints, service_payload(ticket_id, self._n)
        )
        self.stack.escalations.append(ticket_id)

    async def delivered(self, ticket_ids: Sequence[str], within: float) -> float:
        """perf_counter time when the last of them was delivered (mail and row)."""
        assert self.stack.mail and self.stack.commits
        mail, row = await asyncio.gather(
            self.stack.mail.wait_all(ticket_ids, within, "acknowledgements"),
            self.stack.commits.wait_all(ticket_ids, within, "assignment rows"),
        )
        return max(mail, row)

    async def escalate_one(self) -> float:
        ticket_id = self.next_id("t")
        started = time.perf_counter()
        await self.intake(ticket_id)
        took = await self.delivered([ticket_id], 60) - started
        self.timed.append((took, ticket_id))
        return took

    async def floor_one(self) -> float:
        assert self.stack.client
        started = time.perf_counter()
        await self.stack.client.execute_workflow(
            FloorWorkflow.run,
            "floor",
            id=self.next_id("floor"),
            task_queue=self.endpoints.task_queue,
        )
        return time.perf_counter() - started

    async def escalate_many(self, count: int) -> float:
        """Seconds from the first intake call to the last delivery of `count` at once."""
        ids = [self.next_id("x") for _ in range(count)]
        started = time.perf_counter()
        await asyncio.gather(*(self.intake(ticket_id) for ticket_id in ids))
        return await self.delivered(ids, within=60 + count) - started

    async def floor_many(self, count: int) -> float:
        """Seconds from the first start to the last completion of `count` floor runs."""
        client = self.stack.client
        assert client
        started = time.perf_counter()
        handles = await asyncio.gather(
            *(
                client.start_workflow(
                    FloorWorkflow.run,
                    "floor",
                    id=self.next_id("f"),
                    task_queue=self.endpoints.task_queue,
                )
                for _ in range(count)
            )
        )
        await wait_results(handles)
        return time.perf_counter() - started


def result_waits() -> int:
    """How many result waits at once: RESULT_WAITS, or a quarter of a lowered poller limit
    (`--server-config '{"frontend.namespaceCount": N}'`), so the workers' polls fit beside."""
    limit = BenchTemporal.dynamic_config.get("frontend.namespaceCount")
    return RESULT_WAITS if limit is None else max(1, min(RESULT_WAITS, int(limit) // 4))


async def wait_results(handles: Iterable[WorkflowHandle[Any, Any]]) -> list[Any]:
    """Every run's result, with at most `result_waits()` waits in flight."""
    gate = asyncio.Semaphore(result_waits())

    async def one(handle: WorkflowHandle[Any, Any]) -> Any:
        async with gate:
            return await handle.result()

    return await asyncio.gather(*(one(handle) for handle in handles))


async def _timed(one: Callable[[], Awaitable[float]], count: int) -> list[float]:
    for _ in range(WARMUP):
        await one()
    took = []
    for _ in range(count):
        await asyncio.sleep(GAP)
        took.append(await one())
    return took


async def time_to_escalate(runner: Runner, count: int) -> dict[str, Any]:
    escalations = await _timed(runner.escalate_one, count)
    floors = await _timed(runner.floor_one, count)
    assert runner.stack.client
    median = sorted(runner.timed[WARMUP:])[len(escalations) // 2][1]
    breakdown = await timeline.steps(
        runner.stack.client.get_workflow_handle(workflow_id_for(median))
    )
    return {
        **summary_ms(escalations),
        "floorP50Ms": ms(percentile(floors, 50)),
        "floorP99Ms": ms(percentile(floors, 99)),
        "tickets": count,
        "gapMs": GAP * 1000,
        "medianTicket": {"ticket": median, **breakdown},
    }


async def _burst(
    runner: Runner, worker: BenchWorker, count: int, many: Callable[[int], Awaitable[float]]
) -> tuple[float, dict[str, float]]:
    """Seconds `many(count)` took, and the CPU milliseconds each process spent per ticket
    until the worker was idle again (the escalation's later steps included)."""
    meter = runner.stack.cpu_meter(worker)
    seconds = await many(count)
    await settle(worker)
    return seconds, {name: round(cpu * 1000 / count, 1) for name, cpu in meter.read().items()}


async def throughput(
    runner: Runner, counts: Sequence[int], progress: Callable[[str], None], worker: BenchWorker
) -> dict[str, Any]:
    """Each burst starts on an idle worker: what the previous one left is finished first."""
    out: dict[str, Any] = {}
    for count in counts:
        floor, floor_cpu = await _burst(runner, worker, count, runner.floor_many)
        escalation, escalation_cpu = await _burst(runner, worker, count, runner.escalate_many)
        esc_rate, floor_rate = count / escalation, count / floor
        out[str(count)] = {
            "escalationsPerSec": round(esc_rate, 1),
            "floorPerSec": round(floor_rate, 1),
            "ratio": round(esc_rate / floor_rate, 3),
            # What the ratio tends to when both are CPU-bound: steadier than the wall-clock
            # ratio on a machine shared with other work.
            "cpuRatio": round(sum(floor_cpu.values()) / sum(escalation_cpu.values()), 3),
            "escalationSec": round(escalation, 2),
            "floorSec": round(floor, 2),
            "cpuMsPerEscalation": escalation_cpu,
            "cpuMsPerFloor": floor_cpu,
        }
        progress(f"throughput {count}: {out[str(count)]}")
    return out
