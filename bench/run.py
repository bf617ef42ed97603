"""The whole bench: which figure runs on which worker, in which order, within the budget.

Order and workers:
1. triage, alone, before anything starts (one core, nothing competing);
2. time to escalate and throughput on worker A (queue E), whose sticky cache is sized to the
   largest burst so runs in flight are never evicted;
3. alert lateness on worker B (queue L, the second-scale policy), left running: its
   escalations stay open;
4. scale: worker A stopped, worker C (SDK defaults) takes queue E over, tops the open
   escalations up to the target with paced intake, then answers updates to random ones.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench import escalate, lateness, machine, scale, triage_speed, web_scale
from bench.policies import second_scale_policy
from bench.stack import BenchStack, BenchWorker, settle

PHASES = ("triage", "escalate", "lateness", "scale", "web")
CACHE_HEADROOM = 500  # cached runs beyond a burst's size
TEARDOWN_RESERVE = 35.0  # seconds left for draining, settling, updates, stopping (measured ~25)
T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    escalate: int = 50
    throughput: tuple[int, ...] = (100, 500, 2000)
    lateness: int = 1000
    scale: int = 10_000
    signals: int = 100
    triage: int = 10_000
    web_log: int = 1_000_000  # escalation_log rows for the web figures (bench/web_scale.py)
    web_open: int = 10_000
    web_samples: int = 100


SMOKE = Sizes(
    escalate=3, throughput=(5,), lateness=3, scale=20, signals=5, triage=50,
    web_log=3000, web_open=50, web_samples=5,
)  # fmt: skip


async def _phase(
    stack: BenchStack, worker: BenchWorker, what: Awaitable[dict[str, Any]]
) -> dict[str, Any]:
    """One figure, with the wall time and the CPU seconds each process spent on it."""
    meter = stack.cpu_meter(worker)
    started = time.perf_counter()
    figure = await what
    return {**figure, "wallSec": round(time.perf_counter() - started, 1), "cpuSec": meter.read()}


def _profiled(figure: dict[str, Any], worker: BenchWorker) -> dict[str, Any]:
    return {**figure, "workerProfile": worker.profile} if worker.profile else figure


async def run(
    sizes: Sizes,
    phases: set[str],
    progress: Callable[[str], None],
    *,
    smoke: bool = False,
    budget: float = 870.0,
    profile_dir: Path | None = None,
    tuning: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every figure asked for, as the report's dict. `budget` (seconds from now) bounds the
    scale phase's intake, the only open-ended one."""
    stop_at = time.perf_counter() + budget - TEARDOWN_RESERVE
    tuning = tuning or {}
    run_id = f"b{int(time.time()) % 10**6:06d}{secrets.token_hex(2)}"
    report: dict[str, Any] = {"run": run_id, "smoke": smoke, "sizes": asdict(sizes)}
    if "triage" in phases:
        progress(f"triage: {sizes.triage} tickets on one core")
        report["triage"] = triage_speed.measure(sizes.triage)
        progress(f"triage: {report['triage']['decisionsPerSec']}/s")
    if not phases - {"triage"}:
        return report
    progress("starting PostgreSQL and the Temporal dev server")
    stack = BenchStack(run_id, profile_dir=profile_dir)
    try:
        await stack.start()
        assert stack.receiver
        report["machine"] = await machine.describe(stack)
        queue_e = f"{run_id}-escalations"
        ingest_rate = 15.0  # escalations/s, until the throughput figure says better
        if "escalate" in phases:
            knobs = {"max_cached_workflows": max(sizes.throughput) + CACHE_HEADROOM, **tuning}
            worker = await stack.start_worker(queue_e, stack.policy, knobs)
            runner = escalate.Runner(stack, stack.endpoints(queue_e), f"{run_id}-e")
            progress(f"time to escalate: {sizes.escalate} tickets one at a time, then the floor")
            report["timeToEscalate"] = await _phase(
                stack, worker, escalate.time_to_escalate(runner, sizes.escalate)
            )
            progress(f"time to escalate: p50 {report['timeToEscalate']['p50Ms']} ms")
            await settle(worker)
            figure = await _phase(
                stack, worker, escalate.throughput(runner, sizes.throughput, progress, worker)
            )
            ingest_rate = figure[str(sizes.throughput[-1])]["escalationsPerSec"]
            await worker.stop()
            report["throughput"] = _profiled({**figure, "workerTuning": knobs}, worker)
        if "lateness" in phases:
            target = lateness.target_for(sizes.lateness, ingest_rate)
            policy = second_scale_policy(
                stack.policy, stack.receiver.url, target, lateness.WARNING_FRACTION
            )
            queue_l = f"{run_id}-lateness"
            knobs = {"max_cached_workflows": sizes.lateness + CACHE_HEADROOM, **tuning}
            worker = await stack.start_worker(queue_l, policy, knobs)
            runner = escalate.Runner(stack, stack.endpoints(queue_l), f"{run_id}-l")
            progress(f"alert lateness: {sizes.lateness} P1 escalations, {target}s target")
            report["alertLateness"] = await _phase(
                stack, worker, lateness.measure(stack, runner, sizes.lateness, target, progress)
            )
            progress(
                f"alert lateness: p50 {report['alertLateness']['p50Ms']} ms,"
                f" p99 {report['alertLateness']['p99Ms']} ms"
            )
        if "scale" in phases:
            worker = await stack.start_worker(queue_e, stack.policy, tuning)
            runner = escalate.Runner(stack, stack.endpoints(queue_e), f"{run_id}-s")
            progress(f"scale: {sizes.scale} open escalations, then {sizes.signals} updates")
            figure = await _phase(
                stack,
                worker,
                scale.measure(
                    stack,
                    runner,
                    [worker, *(w for w in stack.workers if w is not worker and w.running)],
                    sizes.scale,
                    sizes.signals,
                    progress,
                    stop_at,
                ),
            )
            await worker.stop()
            report["scale"] = _profiled({**figure, "workerTuning": tuning}, worker)
        if "web" in phases:  # last: a million rows in the log would weigh on every other figure
            assert stack.postgres and stack.pool
            progress(f"web: {sizes.web_log} log rows, {sizes.web_open} open escalations")
            report["web"] = await web_scale.measure(
                stack.postgres.url, stack.pool, sizes.web_log, sizes.web_open,
                sizes.web_samples, progress,
            )  # fmt: skip
    finally:
        progress("stopping the stack")
        await stack.stop()
    return report
