"""Figure 3: alert lateness. Open P1 escalations with a response target of seconds and no
human response; each fires a 75% warning and a breach alert, delivered by webhook to a local
HTTP server. Lateness = webhook received − the deadline the SLA clock set (both wall clock
on this machine; the deadlines are read back from the assignment rows).

The target is sized so that the first warning falls after the last ticket is in, and the
first breach after the last warning: what is measured is how late timers fire and alerts go
out, not how long intake keeps the worker busy, nor a pile-up the bench made by squeezing two
alerts per ticket into the same seconds (with the shipped 75% warning they overlapped at ~40
alerts/s and the p99 moved between 0.9 and 1.35 s from run to run). Hence the bench policy's
warning at half the target: each kind comes at the intake's own pace, ~20 alerts/s.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

from bench.escalate import Runner
from bench.stack import BenchStack
from bench.stats import summary_ms

WARNING_FRACTION = 0.5  # the bench policy's [monitoring] warning_at (the shipped one: 0.75)
MARGIN = 1.15  # the intake's length as estimated from the throughput figure, plus 15%
POLLER_INTERVALS = {"poller5min": 300.0, "poller60min": 3600.0}
KINDS = ("response_warning", "response_breach")


def target_for(count: int, ingest_per_sec: float, minimum: int = 5) -> int:
    """Seconds of response target such that the first warning comes after the expected intake
    of `count` tickets, and the first breach after the last warning, with a margin."""
    intake = count / max(ingest_per_sec, 1.0) * MARGIN
    return max(
        minimum,
        math.ceil((intake + 3) / WARNING_FRACTION),
        math.ceil(intake / (1 - WARNING_FRACTION)),
    )


def poller_figures() -> dict[str, float]:
    """A job polling every T seconds finds a deadline, on average, T/2 after it (at most T),
    whatever the deadlines: the helpdesks' baseline, computed."""
    out: dict[str, float] = {}
    for name, interval in POLLER_INTERVALS.items():
        out[f"{name}MeanMs"] = interval / 2 * 1000
        out[f"{name}MaxMs"] = interval * 1000
    return out


async def measure(
    stack: BenchStack,
    runner: Runner,
    count: int,
    target: int,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    assert stack.hooks and stack.pool
    ids = [runner.next_id("late") for _ in range(count)]
    started = time.perf_counter()
    await asyncio.gather(*(runner.intake(ticket_id) for ticket_id in ids))
    delivered = await runner.delivered(ids, within=60 + count)
    progress(f"lateness: {count} escalated in {delivered - started:.1f}s; waiting for alerts")
    # Alert keys name the escalation episode (its first run id): read from the rows, which
    # exist once delivered.
    rows = await stack.pool.fetch(
        "SELECT ticket_id, episode_id, extract(epoch FROM escalated_at) AS at,"
        " extract(epoch FROM expected_response_time) AS target"
        " FROM support_assignments WHERE ticket_id = ANY($1)",
        ids,
    )
    prefix = {row["ticket_id"]: f"{row['ticket_id']}:{row['episode_id']}" for row in rows}
    keys = [f"{prefix.get(t, t)}:{kind}:g0" for t in ids for kind in KINDS]
    try:
        await stack.hooks.wait_all(keys, within=target + count + 60, what="alerts")
    except TimeoutError as error:  # report what came, and say how much did not
        progress(f"lateness: {error}")
    late: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for row in rows:
        at, seconds = float(row["at"]), float(row["target"])
        deadlines = {
            "response_warning": at + seconds * WARNING_FRACTION,
            "response_breach": at + seconds,
        }
        for kind, deadline in deadlines.items():
            key = f"{prefix[row['ticket_id']]}:{kind}:g0"
            if (arrival := stack.hooks.at.get(key)) is not None:
                late[kind].append(arrival[1] - deadline)
    every = [value for values in late.values() for value in values]
    return {
        **summary_ms(every),
        "minMs": round(min(every, default=0.0) * 1000, 1),
        **poller_figures(),
        "alerts": len(every),
        "alertsMissing": len(keys) - len(every),
        "openEscalations": count,
        "responseTargetSec": target,
        "ingestSec": round(delivered - started, 2),
        "byKind": {kind: summary_ms(values) for kind, values in late.items()},
    }
