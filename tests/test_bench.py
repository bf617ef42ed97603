"""The benchmarks at tiny size (`python -m bench --smoke`), so they cannot rot: the JSON has
every figure other tools read, with sane types. No timing is asserted: benchmarks are not
tests, and this machine's speed is not the suite's business."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from numbers import Real
from pathlib import Path

from bench.escalate import RESULT_WAITS, result_waits, wait_results
from bench.lateness import WARNING_FRACTION, poller_figures, target_for
from bench.policies import second_scale_policy
from bench.run import SMOKE
from bench.stack import BenchTemporal
from bench.stats import percentile
from escalation.policy import anchored, load_policy
from tests.conftest import ROOT

KEYS = {
    "timeToEscalate": ("p50Ms", "p99Ms", "floorP50Ms"),
    "alertLateness": ("p50Ms", "p99Ms", "maxMs", "poller5minMeanMs", "poller5minMaxMs"),
    "scale": ("open", "ingestPerSec", "workerRssMb", "signalP99Ms"),
    "triage": ("decisionsPerSec",),
}
WEB = ("queueApi", "queuePage", "metricsScrape", "metricsPage30d", "metricsPage3660d")
MACHINE = ("cores", "python", "temporalServerVersion", "devServerPersistence")


def number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and value >= 0


def test_every_benchmark_runs_at_tiny_size_and_reports_every_figure() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout)  # one JSON document, nothing else on stdout

    for figure, keys in KEYS.items():
        for key in keys:
            assert number(report[figure][key]), f"{figure}.{key} = {report[figure].get(key)!r}"
    for count in SMOKE.throughput:
        row = report["throughput"][str(count)]
        for key in ("escalationsPerSec", "floorPerSec", "ratio"):
            assert number(row[key]) and row[key] > 0, f"throughput.{count}.{key} = {row[key]!r}"
    assert report["scale"]["open"] >= SMOKE.scale
    assert report["alertLateness"]["alerts"] == 2 * SMOKE.lateness  # warning and breach each
    assert report["triage"]["tickets"] == SMOKE.triage
    assert report["web"]["rows"]["escalation_log"] == SMOKE.web_log
    for key in WEB:
        assert number(report["web"][key]["p99Ms"]), key
    for key in (
        "queueApi",
        "queuePage",
        "metricsScrape",
        "queueApi500",
        "metricsScrapeCounted",
        "metricsPage30dSql",
        "metricsPage3660dSql",
        "metricsPage30dPython",
    ):
        assert number(report["web"]["baselineWithout007"][key]["p99Ms"]), key
    for key in MACHINE:
        assert report["machine"][key], key
    assert report["machine"]["devServerPersistence"] == "in-memory"
    assert "[bench" in proc.stderr  # progress goes to stderr, never into the JSON


def test_bench_policy_is_a_valid_policy_with_second_targets_and_the_webhook(
    tmp_path: Path,
) -> None:
    base = tmp_path / "policy.toml"
    base.write_text(anchored((ROOT / "config" / "policy.toml").read_text(), ROOT / "config"))
    policy = load_policy(second_scale_policy(base, "http://127.0.0.1:9/hook", 7, 0.5))
    assert policy.sla_rules().response_targets["P1"] == 7
    assert policy.sla_rules().warning_fraction == 0.5
    assert all(policy.team(t).channels == ["webhook"] for t in ("engineering", "billing"))


def test_figures_helpers() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 99) == 1.99
    assert poller_figures()["poller5minMeanMs"] == 150_000
    target, intake = target_for(1000, 20.0), 1000 / 20.0
    assert target * WARNING_FRACTION > intake  # the first warning after the last intake
    assert target * (1 - WARNING_FRACTION) > intake  # the first breach after the last warning


def test_the_floor_burst_waits_on_a_bounded_number_of_results_at_once() -> None:
    """Each result wait is a long poll the dev server counts against the namespace's poller
    limit (`frontend.namespaceCount`): 2,000 at once failed on a slower machine."""

    class Handle:
        in_flight = peak = 0

        def __init__(self, n: int) -> None:
            self.n = n

        async def result(self) -> int:
            Handle.in_flight += 1
            Handle.peak = max(Handle.peak, Handle.in_flight)
            await asyncio.sleep(0)
            Handle.in_flight -= 1
            return self.n

    handles = [Handle(n) for n in range(2000)]
    assert asyncio.run(wait_results(handles)) == list(range(2000))  # type: ignore[arg-type]
    assert Handle.peak == RESULT_WAITS < 1200 // 4
    saved = BenchTemporal.dynamic_config
    try:
        BenchTemporal.dynamic_config = {**saved, "frontend.namespaceCount": 60}
        assert result_waits() == 15
    finally:
        BenchTemporal.dynamic_config = saved
