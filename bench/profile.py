"""Optional sampling profile of the worker process with py-spy (`--profile DIR`).

py-spy attaches from outside (no code change, ~1% overhead at 100 Hz) and writes collapsed
stacks ("frame;frame;frame count"); `summarize` turns them into the functions that own the
most samples, which is what the report quotes. Only Python frames are seen: time in the
SDK's Rust core shows as the worker's CPU (procstat) without samples here.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")
# Frames on nearly every stack, which say nothing about where the time goes.
PLUMBING = ("(asyncio/", "(<frozen runpy>)", "(bench/worker.py)", "(threading.py)", "(concurrent/")
# Leaves where a thread waits rather than works (the event loop's poll, an idle executor).
IDLE = ("EpollSelector.select (", "_worker (concurrent/futures/thread.py)", "wait (threading.py)")


def py_spy() -> str | None:
    """py-spy on PATH or beside this interpreter (a venv's bin without activation)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


async def attach(pid: int, output: Path, rate: int = 100) -> asyncio.subprocess.Process:
    """Start `py-spy record` on `pid`; it stops (and writes) when the process exits."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    return await asyncio.create_subprocess_exec(
        binary, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
        "--nonblocking", "--output", str(output),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def _short(frame: str) -> str:
    """'run (temporalio/worker/_workflow.py:123)' → 'run (temporalio/worker/_workflow.py)'."""
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match.group("file")
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match.group('func')} ({path})"


def summarize(raw: Path, top: int = 12) -> dict[str, Any]:
    """Busy samples per function: `self` (on top of the stack) and `inclusive` (anywhere in
    it), idle waits left out."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_short(frame) for frame in stack.split(";")]
        if frames[-1].startswith(IDLE):
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            if not any(marker in frame for marker in PLUMBING):
                inclusive[frame] += int(count)

    def share(counter: Counter[str]) -> list[str]:
        return [f"{n / total:6.1%} {name}" for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "self": share(own) if total else [],
        "inclusive": share(inclusive) if total else [],
    }
