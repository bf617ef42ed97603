"""TCP port helpers: fail early with a clear message instead of a server's cryptic bind error."""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable

from localstack.errors import PortInUse, StackError

__all__ = ["PortInUse", "StackError", "ensure_port_free", "free_port", "port_open", "wait_for_port"]


def port_open(host: str, port: int, timeout: float = 0.25) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_port_free(host: str, port: int, what: str, env_var: str) -> None:
    """Raise `PortInUse` when host:port cannot be bound by a server.

    SO_REUSEADDR mirrors what servers do, so a port lingering in TIME_WAIT after a clean restart
    is not reported, while any listener (also one on 0.0.0.0) is.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortInUse(host, port, what, env_var) from None
            raise StackError(
                f"cannot bind {host}:{port} ({what}): {err.strerror}: set {env_var}"
            ) from None
    if port_open(host, port):  # e.g. a listener in another network namespace forwarding here
        raise PortInUse(host, port, what, env_var)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free right now (for tests; another process may take it before we bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    host: str,
    port: int,
    timeout: float,
    *,
    interval: float = 0.05,
    abort_if: Callable[[], bool] | None = None,
) -> bool:
    """Poll until host:port accepts connections; False on timeout or when `abort_if()` is true.

    `abort_if` lets a caller stop waiting as soon as the child that should listen has exited.
    """
    deadline = time.monotonic() + timeout
    while True:
        if port_open(host, port):
            return True
        if (abort_if is not None and abort_if()) or time.monotonic() >= deadline:
            return False
        time.sleep(interval)
