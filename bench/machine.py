"""What the figures came from: the machine, the versions and the server's persistence mode."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.stack import BenchStack, BenchTemporal
from localstack.temporal import find_binary


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return 0.0


def temporal_versions() -> dict[str, str]:
    """From `temporal --version`: 'temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)'."""
    out = subprocess.run(
        [find_binary("temporal"), "--version"], capture_output=True, text=True, check=False
    ).stdout
    cli = re.search(r"version (\S+)", out)
    server = re.search(r"Server (\S+?)[,)]", out)
    return {
        "temporalCliVersion": cli.group(1) if cli else "unknown",
        "temporalServerVersion": server.group(1) if server else "unknown",
    }


async def describe(stack: BenchStack) -> dict[str, Any]:
    assert stack.pool
    pg_version = await stack.pool.fetchval("SHOW server_version")
    fsync = await stack.pool.fetchval("SHOW fsync")
    return {
        "cores": os.cpu_count(),
        "coresUsable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpuModel": _cpu_model(),
        "memoryGb": _memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "temporalioSdk": version("temporalio"),
        **temporal_versions(),
        "devServerPersistence": "in-memory",
        "devServerDynamicConfig": BenchTemporal.dynamic_config,
        "postgresVersion": pg_version,
        "postgresFsync": fsync,
    }
