"""The whole local stack for `make demo`: PostgreSQL, Temporal dev server, SMTP sink.

Each piece is started only when its address is not given in the environment (TEMPORAL_ADDRESS,
DATABASE_URL, SMTP_URL), so the same entry point works against docker-compose or a shared
server; an address on this machine with the port variable's port (TEMPORAL_PORT,
POSTGRES_PORT, SMTP_PORT) names the embedded server moved there, as every client reads it
(`escalation.config.derive_addresses`). A pid file in the state dir stops two demos from
fighting over ports and data; one left by a crashed demo is recovered automatically.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from escalation.config import Addresses, ConfigError, derive_addresses
from localstack.errors import StackError
from localstack.postgres import EmbeddedPostgres
from localstack.processes import ChildSupervisor, PidFile
from localstack.smtp import SmtpSink
from localstack.temporal import TemporalDevServer

log = logging.getLogger("localstack")

__all__ = ["LocalStack"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class LocalStack:
    """Start what is missing, expose the addresses, stop everything in reverse order.

    Environment: TEMPORAL_ADDRESS / DATABASE_URL / SMTP_URL select external services;
    TEMPORAL_PORT, TEMPORAL_UI_PORT, POSTGRES_PORT, SMTP_PORT move the local ones;
    TEMPORAL_NAMESPACE (default "default"); TEMPORAL_DB_FILENAME keeps Temporal state on disk;
    LOCALSTACK_STATE_DIR moves the state dir (default `.state` in the project root).
    """

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        fast_postgres: bool = False,
        temporal_ui: bool = True,
        handle_signals: bool = True,
    ) -> None:
        default_state = self._env_or_os(env, "LOCALSTACK_STATE_DIR") or PROJECT_ROOT / ".state"
        self.state_dir = Path(state_dir or default_state).absolute()
        self.environ: Mapping[str, str] = os.environ if env is None else env
        self.fast_postgres = fast_postgres
        self.temporal_ui = temporal_ui
        self.handle_signals = handle_signals
        self.postgres: EmbeddedPostgres | None = None
        self.temporal: TemporalDevServer | None = None
        self.sink: SmtpSink | None = None
        self.supervisor = ChildSupervisor()
        self._pidfile = PidFile(self.state_dir / "demo.pid", "make demo")
        self._signals_installed = False

    # --- addresses ----------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self.environ.get("TEMPORAL_NAMESPACE") or "default"

    @property
    def temporal_address(self) -> str:
        """TEMPORAL_ADDRESS, or the dev server we started."""
        if self.temporal is not None:
            return self.temporal.address
        return self._require("TEMPORAL_ADDRESS")

    @property
    def temporal_ui_url(self) -> str | None:
        """Web UI of our dev server, else TEMPORAL_UI_URL if given."""
        if self.temporal is not None:
            return self.temporal.ui_url
        return self.environ.get("TEMPORAL_UI_URL") or None

    @property
    def database_url(self) -> str:
        """DATABASE_URL, or our embedded PostgreSQL's."""
        if self.postgres is not None:
            return self.postgres.url
        return self._require("DATABASE_URL")

    @property
    def smtp_url(self) -> str:
        """SMTP_URL, or our sink's."""
        if self.sink is not None:
            return self.sink.url
        return self._require("SMTP_URL")

    def env_vars(self) -> dict[str, str]:
        """What a worker / web process needs to find the stack."""
        out = {
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_NAMESPACE": self.namespace,
            "DATABASE_URL": self.database_url,
            "SMTP_URL": self.smtp_url,
        }
        if self.temporal_ui_url:
            out["TEMPORAL_UI_URL"] = self.temporal_ui_url
        return out

    def addresses(self) -> Addresses:
        """What the environment asks for: which servers are ours to start, and on which port
        (a misconfiguration is a `StackError` naming the variable)."""
        try:
            return derive_addresses(self.environ)
        except ConfigError as error:
            raise StackError(str(error)) from None

    def client_env(self) -> dict[str, str]:
        """The variables a client started by hand (the printed `starter.py` commands) needs to
        find this stack rather than the default ports: the port variable of each server we
        moved, the address of each external one; nothing when all is at the defaults."""
        defaults = derive_addresses({})
        out: dict[str, str] = {}
        pieces = (
            (self.temporal, self.temporal_address, defaults.temporal.value, "TEMPORAL"),
            (self.postgres, self.database_url, defaults.postgres.value, "DATABASE"),
        )
        for local, value, default, kind in pieces:
            if value == default:
                continue
            if local is not None:
                name = "TEMPORAL_PORT" if kind == "TEMPORAL" else "POSTGRES_PORT"
                out[name] = str(local.port)
            else:
                out["TEMPORAL_ADDRESS" if kind == "TEMPORAL" else "DATABASE_URL"] = value
        if self.namespace != "default":
            out["TEMPORAL_NAMESPACE"] = self.namespace
        return out

    def summary(self) -> str:
        """Human-readable addresses, one per line."""

        def origin(local: object) -> str:
            return "local" if local is not None else "external"

        lines = [
            f"Temporal    {self.temporal_address} ({origin(self.temporal)},"
            f" namespace {self.namespace})",
            f"Temporal UI {self.temporal_ui_url or '-'}",
            f"PostgreSQL  {self.database_url} ({origin(self.postgres)})",
            f"SMTP        {self.smtp_url} ({origin(self.sink)})",
        ]
        if self.sink is not None:
            lines.append(f"Mail files  {self.sink.mail_dir}")
        return "\n".join(lines)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start PostgreSQL, Temporal, the SMTP sink (those not given by env), in that order."""
        wanted = self.addresses()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._pidfile.acquire()
        try:
            if wanted.postgres.local:
                self.postgres = EmbeddedPostgres(
                    self.state_dir / "postgres",
                    port=wanted.postgres.port,
                    fast=self.fast_postgres,
                    log_file=self.state_dir / "postgres.log",
                )
                self.postgres.start()
            if wanted.temporal.local:
                db_file = self.environ.get("TEMPORAL_DB_FILENAME")
                self.temporal = TemporalDevServer(
                    port=wanted.temporal.port,
                    ui_port=self._port("TEMPORAL_UI_PORT", 8233),
                    namespace=self.namespace,
                    db_filename=Path(db_file) if db_file else None,
                    state_dir=self.state_dir,
                    ui=self.temporal_ui,
                )
                self.temporal.start()
            if wanted.smtp.local:
                self.sink = SmtpSink(port=wanted.smtp.port, mail_dir=self.state_dir / "mail")
                self.sink.start()
        except BaseException:
            self.stop()
            raise
        return self

    def spawn(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Run a child (worker, web app) with the stack's addresses in its environment.

        Output goes to `<state>/<name>.log`; it is stopped before the servers on `stop()`.
        """
        child_env = {**os.environ, **self.env_vars(), **(env or {})}
        return self.supervisor.spawn(
            name,
            argv,
            env=child_env,
            cwd=PROJECT_ROOT,
            log_path=self.state_dir / f"{name}.log",
            pidfile=self.state_dir / f"{name}.pid",
        )

    def wait(self, poll: float = 0.5) -> str | None:
        """Block until Ctrl-C/SIGTERM (returns None) or a spawned child exits (returns its name)."""
        try:
            while True:
                exited = self.supervisor.exited()
                if exited is not None:
                    log.error("%s exited: see %s", exited, self.state_dir / f"{exited}.log")
                    return exited
                time.sleep(poll)
        except KeyboardInterrupt:
            return None

    def stop(self) -> None:
        """Children first, then sink, Temporal, PostgreSQL; safe on a half-started stack."""
        self.supervisor.stopping = True  # a Ctrl-C now must not abort the shutdown
        steps = [
            ("children", self.supervisor.stop_all),
            ("SMTP sink", self.sink.stop if self.sink else None),
            ("Temporal", self.temporal.stop if self.temporal else None),
            ("PostgreSQL", self.postgres.stop if self.postgres else None),
        ]
        for what, step in steps:
            if step is None:
                continue
            try:
                step()
            except Exception as err:  # keep stopping the rest
                log.error("stopping %s failed: %s", what, err)
        self._pidfile.release()

    def __enter__(self) -> LocalStack:
        if (
            self.handle_signals
            and threading.current_thread() is threading.main_thread()
            and not self._signals_installed
        ):
            self.supervisor.install_signal_handlers()
            self._signals_installed = True
        try:
            return self.start()
        except BaseException:
            self._restore_signals()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self._restore_signals()

    # --- internals ----------------------------------------------------------------------------

    def _restore_signals(self) -> None:
        if self._signals_installed:
            self.supervisor.restore_signal_handlers()
            self._signals_installed = False

    @staticmethod
    def _env_or_os(env: Mapping[str, str] | None, name: str) -> str | None:
        return (os.environ if env is None else env).get(name) or None

    def _require(self, name: str) -> str:
        value = self.environ.get(name)
        if not value:
            raise StackError(f"{name} is not set and the local stack is not started")
        return value

    def _port(self, name: str, default: int) -> int:
        raw = self.environ.get(name)
        if not raw:
            return default
        try:
            port = int(raw)
        except ValueError:
            raise StackError(f"{name}={raw!r} is not a port number") from None
        if not 0 < port < 65536:
            raise StackError(f"{name}={port} is not a port number")
        return port


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m localstack [--fast]`: run the stack until Ctrl-C, printing its addresses."""
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter
    try:
        with LocalStack(fast_postgres="--fast" in args) as stack:
            print(stack.summary(), flush=True)
            for key, value in stack.env_vars().items():
                print(f"export {key}={value}", flush=True)
            print("Ctrl-C to stop.", flush=True)
            stack.wait()
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
