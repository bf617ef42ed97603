"""CPU seconds and resident memory from /proc: which process a phase's time went to.

On two cores the question "what dominates" is first "which process": the Temporal dev server,
PostgreSQL, the worker or the bench itself. Linux only, like the embedded stack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from 3 (state) on


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """user + system CPU of `pid` (all threads); with `children`, plus its reaped children
    and its live children (PostgreSQL backends are children of the postmaster)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                child = _stat(int(entry.name))
                if child is not None and int(child[1]) == pid:
                    ticks += int(child[11]) + int(child[12])
    return ticks / TICKS


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory (VmRSS), or its peak (VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class CpuMeter:
    """CPU seconds per named process between `start()` and `read()`."""

    def __init__(self, pids: Mapping[str, tuple[int, bool]]) -> None:
        self.pids = dict(pids)  # name -> (pid, include children)
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: cpu_seconds(pid, children=kids) for name, (pid, kids) in self.pids.items()}

    def start(self) -> CpuMeter:
        self._start = self._now()
        return self

    def read(self) -> dict[str, float]:
        now = self._now()
        return {name: round(now[name] - self._start.get(name, 0.0), 2) for name in now}
