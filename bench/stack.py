"""The embedded stack the bench measures, fresh for every run: PostgreSQL in a temp dir, the
in-memory Temporal dev server, the SMTP sink and webhook receiver, and worker processes.

Nothing is shared with `make demo` or a previous run (fresh ports, database and server), so
runs never collide and every figure starts from the same empty state.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
from temporalio.client import Client

from activities.db import apply_migrations
from activities.settings import DEFAULT_POLICY
from bench.probes import Arrivals, CommitProbe, HookReceiver, MailProbe
from bench.procstat import CpuMeter, cpu_seconds, rss_mb
from bench.profile import attach, summarize
from connections import connect_temporal, open_pool
from escalation.config import Endpoints
from escalation.policy import anchored
from localstack.postgres import EmbeddedPostgres
from localstack.stack import PROJECT_ROOT
from localstack.temporal import TemporalDevServer

BENCH_CUSTOMERS = 100
SEED_CUSTOMERS = f"""
INSERT INTO customers (user_id, email, name, account_status, account_created,
                       total_galleries, total_photos, last_login)
SELECT 'bench_' || i, 'customer' || i || '@bench.example', 'Customer ' || i,
       CASE WHEN i % 4 = 0 THEN 'premium' ELSE 'free' END,
       now() - make_interval(days => 30 + i * 7), i % 40, i * 37, now() - interval '1 day'
  FROM generate_series(0, {BENCH_CUSTOMERS - 1}) AS i;
INSERT INTO upload_events (user_id, attempted_at, status, browser_info, file_size_bytes,
                           file_count)
SELECT 'bench_' || i, now() - interval '2 hours', 'succeeded', 'Firefox 132, macOS 14',
       52428800, 30
  FROM generate_series(0, {BENCH_CUSTOMERS - 1}) AS i;
"""


# The dev server runs one history shard, and each shard reads its task queues at most 20 times
# a second by default: past a burst of ~8 runs, every workflow and activity task then waits up
# to 50 ms for the transfer queue's next read (sequential floor runs: 22 ms → 100 ms). A real
# cluster spreads that over hundreds of shards; these lift the per-shard limit instead.
SERVER_CONFIG: dict[str, Any] = {
    "history.transferProcessorMaxPollRPS": 1000,
    "history.timerProcessorMaxPollRPS": 1000,
    "history.visibilityProcessorMaxPollRPS": 1000,
}


class BenchTemporal(TemporalDevServer):
    """The dev server with dynamic config for the bench (`--dynamic-config-value K=V`)."""

    dynamic_config: ClassVar[dict[str, Any]] = dict(SERVER_CONFIG)

    def argv(self) -> list[str]:
        args = super().argv()
        for key, value in self.dynamic_config.items():
            args += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        return args


@dataclass
class BenchWorker:
    """A `python -m bench.worker` process on one task queue."""

    task_queue: str
    proc: asyncio.subprocess.Process
    log_path: Path
    profiler: asyncio.subprocess.Process | None = None
    profile_path: Path | None = None
    profile: dict[str, Any] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def peak_rss_mb(self) -> float:
        return rss_mb(self.pid, "VmHWM")

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.profiler is not None and self.profile_path is not None:
            await self.profiler.wait()  # py-spy writes its file when the worker is gone
            self.profiler = None
            if self.profile_path.exists():
                self.profile = summarize(self.profile_path)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class BenchStack:
    run_id: str
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="escalation-bench-")))
    postgres: EmbeddedPostgres | None = None
    temporal: TemporalDevServer | None = None
    pool: asyncpg.Pool | None = None
    client: Client | None = None
    mail: Arrivals | None = None
    commits: Arrivals | None = None
    hooks: Arrivals | None = None
    sink: MailProbe | None = None
    receiver: HookReceiver | None = None
    commit_probe: CommitProbe | None = None
    workers: list[BenchWorker] = field(default_factory=list)
    profile_dir: Path | None = None  # py-spy every worker into this folder
    escalations: list[str] = field(default_factory=list)  # every ticket the bench started

    async def start(self) -> BenchStack:
        loop = asyncio.get_running_loop()
        self.postgres = EmbeddedPostgres.temporary(fast=True)
        self.temporal = BenchTemporal.temporary(ui=False)
        await asyncio.gather(asyncio.to_thread(self.postgres.start), self.temporal.start_async())
        # A copy: the policy is re-read when its file changes, and an edit of
        # config/policy.toml during a run must neither cost a reload nor change the figures.
        self.policy.write_text(
            anchored(DEFAULT_POLICY.read_text(encoding="utf-8"), DEFAULT_POLICY.parent),
            encoding="utf-8",
        )
        self.mail, self.commits, self.hooks = Arrivals(loop), Arrivals(loop), Arrivals(loop)
        self.sink = MailProbe(self.mail).start()
        self.receiver = HookReceiver(self.hooks)
        await self.receiver.start()
        self.pool = await open_pool(self.postgres.url, max_size=4)
        await apply_migrations(self.pool)
        await self.pool.execute(SEED_CUSTOMERS)
        self.commit_probe = CommitProbe(self.commits)
        await self.commit_probe.start(self.postgres.url)
        self.client = await connect_temporal(self.temporal.address, environ={})
        return self

    async def stop(self) -> None:
        for worker in self.workers:
            await worker.stop()
        if self.commit_probe is not None:
            await self.commit_probe.stop()
        if self.pool is not None:
            await self.pool.close()
        if self.receiver is not None:
            await self.receiver.stop()
        if self.sink is not None:
            self.sink.stop()
        if self.temporal is not None:
            await asyncio.to_thread(self.temporal.stop)
        if self.postgres is not None:
            await asyncio.to_thread(self.postgres.stop)
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def policy(self) -> Path:
        """The run's copy of config/policy.toml."""
        return self.tmp / "policy.toml"

    # --- addresses and workers ---------------------------------------------------------------

    def endpoints(self, task_queue: str) -> Endpoints:
        assert self.temporal and self.postgres and self.sink
        return Endpoints(
            temporal_address=self.temporal.address,
            namespace="default",
            database_url=self.postgres.url,
            smtp_url=self.sink.url,
            temporal_ui_url="http://localhost:8233",
            task_queue=task_queue,
        )

    async def start_worker(
        self, task_queue: str, policy: Path, tuning: dict[str, Any] | None = None
    ) -> BenchWorker:
        """A worker process; returns once it polls (or raises with its log)."""
        endpoints = self.endpoints(task_queue)
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            # The sandbox re-imports the workflow module for every new run: without bytecode
            # it compiles workflows/escalation.py from source each time (13% of the worker's
            # CPU in a burst). Cached in the run's temp dir, never in the work tree.
            "PYTHONPYCACHEPREFIX": str(self.tmp / "pycache"),
            "TEMPORAL_ADDRESS": endpoints.temporal_address,
            "DATABASE_URL": endpoints.database_url,
            "SMTP_URL": endpoints.smtp_url,
            "PYTHONPATH": str(PROJECT_ROOT),
        }
        log_path = self.tmp / f"worker-{task_queue}.log"
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.worker", "--task-queue", task_queue,
                "--policy", str(policy), "--tuning", json.dumps(tuning or {}),
                cwd=PROJECT_ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        worker = BenchWorker(task_queue, proc, log_path)
        self.workers.append(worker)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
        except TimeoutError:
            line = b""
        if line.strip() != b"READY":
            await worker.stop()
            raise RuntimeError(f"bench worker did not start:\n{worker.log_tail()}")
        if self.profile_dir is not None:
            self.profile_dir.mkdir(parents=True, exist_ok=True)
            worker.profile_path = self.profile_dir / f"worker-{task_queue}.txt"
            worker.profiler = await attach(worker.pid, worker.profile_path)
        return worker

    def cpu_meter(self, worker: BenchWorker | None = None) -> CpuMeter:
        assert self.temporal and self.postgres
        pids: dict[str, tuple[int, bool]] = {
            "temporalServer": (self.temporal.pid or 0, False),
            "postgres": (self.postgres.pid or 0, True),
            "bench": (os.getpid(), False),
        }
        if worker is not None:
            pids["worker"] = (worker.pid, False)
        return CpuMeter(pids).start()


async def settle(worker: BenchWorker, *, idle_cpu: float = 0.1, within: float = 120) -> float:
    """Wait until the worker has finished what earlier work left (its CPU use falls under
    `idle_cpu` of a core over half a second); returns the seconds waited."""
    started = time.perf_counter()
    before = cpu_seconds(worker.pid)
    while time.perf_counter() - started < within:
        await asyncio.sleep(0.5)
        now = cpu_seconds(worker.pid)
        if now - before < idle_cpu * 0.5:
            break
        before = now
    return time.perf_counter() - started
