"""Figure 5: the pure triage function over varied tickets, on one core."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from activities.settings import DEFAULT_POLICY
from bench.tickets import multilingual_packages, varied_packages
from escalation.policy import load_policy
from escalation.triage import triage


@contextmanager
def one_core() -> Iterator[int | None]:
    """Pin this thread to one CPU for the measurement (no-op where affinity is unsupported)."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpu = min(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


ROUNDS = 3  # the best of three passes, as timeit does: a pass that shared its core is slower


def measure(count: int, rounds: int = ROUNDS) -> dict[str, Any]:
    policy = load_policy(DEFAULT_POLICY)
    packages = varied_packages(count)
    triage(packages[0], policy)  # compiles the policy's patterns once, as the worker would
    passes = []
    with one_core() as cpu:
        for _ in range(rounds):
            started = time.perf_counter()
            decisions = [triage(package, policy) for package in packages]
            passes.append(time.perf_counter() - started)
        # The same on a mix where one ticket in four is in another language.
        mixed = multilingual_packages(count)
        for package in mixed[:8]:
            triage(package, policy)  # builds the languages' indexes, as the first tickets would
        mixed_passes = []
        for _ in range(rounds):
            started = time.perf_counter()
            mixed_decisions = [triage(package, policy) for package in mixed]
            mixed_passes.append(time.perf_counter() - started)
    elapsed = min(passes)
    priorities = Counter(d.priority.value if d.priority else "none" for d in decisions)
    languages = Counter(d.language for d in mixed_decisions)
    return {
        "tickets": count,
        "decisionsPerSec": round(count / elapsed, 1),
        "passesPerSec": [round(count / seconds, 1) for seconds in passes],
        "meanUs": round(elapsed / count * 1e6, 1),
        "escalated": sum(d.escalate for d in decisions),
        "scenarios": len({d.scenario for d in decisions}),
        "byPriority": dict(sorted(priorities.items())),
        "cpu": cpu,
        "multilingual": {
            "decisionsPerSec": round(count / min(mixed_passes), 1),
            "passesPerSec": [round(count / seconds, 1) for seconds in mixed_passes],
            "byLanguage": dict(sorted(languages.items())),
        },
    }
