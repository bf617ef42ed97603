"""Errors of the local stack.

Expected failures (a port in use, a previous run still alive, a server that would not start)
are `StackError`s with a one-line message, so entry points can print them without a traceback.
"""

from __future__ import annotations


class StackError(RuntimeError):
    """An expected failure of the local stack; `str(err)` is a one-line, actionable message."""


class PortInUse(StackError):
    """A port we must bind is held by another process."""

    def __init__(self, host: str, port: int, what: str, env_var: str) -> None:
        self.host, self.port, self.what, self.env_var = host, port, what, env_var
        super().__init__(
            f"port {port} ({what}) on {host} is in use: stop what holds it or set {env_var}"
        )


class AlreadyRunning(StackError):
    """A previous run that owns the state directory is still alive."""

    def __init__(self, pid: int, what: str = "make demo", message: str | None = None) -> None:
        self.pid, self.what = pid, what
        super().__init__(
            message
            or f"a previous `{what}` (pid {pid}) is still running: "
            f"stop it with Ctrl-C or kill {pid}"
        )
