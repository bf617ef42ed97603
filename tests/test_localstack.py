"""The embedded local stack: PostgreSQL, Temporal dev server, SMTP sink, pid files, ports.

These start real servers (a few seconds in all) because what matters is how they behave on this
machine: as root, after a crash, with a port taken.
"""

from __future__ import annotations

import asyncio
import email
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import asyncpg
import pytest
from temporalio.client import Client

from localstack.errors import AlreadyRunning, PortInUse, StackError
from localstack.ports import ensure_port_free, free_port, port_open, wait_for_port
from localstack.postgres import EmbeddedPostgres
from localstack.processes import PidFile, pid_alive, reap_orphan, write_pidfile
from localstack.smtp import SmtpSink
from localstack.stack import LocalStack
from localstack.temporal import (
    SEARCH_ATTRIBUTES,
    TemporalDevServer,
    list_search_attributes,
    start_local_env,
    start_time_skipping_env,
)
from tests.conftest import eventually


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port with a listener on 127.0.0.1, as if another program held it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# --- ports --------------------------------------------------------------------------------------


def test_port_in_use_message_names_port_and_env_var(held_port: int) -> None:
    with pytest.raises(PortInUse) as info:
        ensure_port_free("127.0.0.1", held_port, "Temporal", "TEMPORAL_PORT")
    assert str(info.value) == (
        f"port {held_port} (Temporal) on 127.0.0.1 is in use: "
        "stop what holds it or set TEMPORAL_PORT"
    )
    assert isinstance(info.value, StackError)
    ensure_port_free("127.0.0.1", free_port(), "Temporal", "TEMPORAL_PORT")  # no error
    assert wait_for_port("127.0.0.1", held_port, timeout=1)
    assert not wait_for_port("127.0.0.1", free_port(), timeout=0.2)


def test_each_server_reports_its_own_env_var(held_port: int, tmp_path: Path) -> None:
    server = TemporalDevServer.temporary(port=held_port)
    with pytest.raises(PortInUse, match=rf"port {held_port} \(Temporal\).*TEMPORAL_PORT$"):
        server.start()
    assert not server.state_dir.exists()  # a failed temporary instance leaves nothing
    with pytest.raises(PortInUse, match=r"Temporal Web UI.*TEMPORAL_UI_PORT$"):
        TemporalDevServer.temporary(ui_port=held_port).start()
    sink = SmtpSink(port=held_port, mail_dir=tmp_path / "mail")
    with pytest.raises(PortInUse, match=rf"port {held_port} \(SMTP sink\).*SMTP_PORT$"):
        sink.start()
    pg = EmbeddedPostgres.temporary(port=held_port)
    with pytest.raises(PortInUse, match=rf"port {held_port} \(PostgreSQL\).*POSTGRES_PORT$"):
        pg.start()
    assert not pg.data_dir.parent.exists()  # a failed temporary instance leaves nothing


# --- PostgreSQL ---------------------------------------------------------------------------------


async def test_temporary_postgres_accepts_asyncpg() -> None:
    pg = EmbeddedPostgres.temporary()
    with pg:
        assert pg.url == f"postgresql://postgres@127.0.0.1:{pg.port}/escalation"
        conn = await asyncpg.connect(pg.url)
        try:
            assert await conn.fetchval("SELECT current_database()") == "escalation"
            assert await conn.fetchval("SHOW fsync") == "off"  # fast settings for tests
            assert await conn.fetchval("SHOW server_encoding") == "UTF8"
            assert await conn.fetchval("SELECT 'données 🔥'") == "données 🔥"
            assert int(await conn.fetchval("SHOW server_version_num")) >= 160000
        finally:
            await conn.close()
        if os.geteuid() == 0:  # PostgreSQL refuses root: the data dir belongs to the service user
            assert pg.data_dir.stat().st_uid != 0
    assert not port_open("127.0.0.1", pg.port)
    assert not pg.data_dir.parent.exists()


async def test_postgres_restarts_after_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="localstack")
    data_dir, port = tmp_path / "state" / "postgres", free_port()

    def instance() -> EmbeddedPostgres:  # the durable settings `make demo` uses
        return EmbeddedPostgres(data_dir, port=port, log_file=tmp_path / "pg.log")

    first = instance().start()
    try:
        conn = await asyncpg.connect(first.url)
        await conn.execute("CREATE TABLE t (note text); INSERT INTO t VALUES ('before crash')")
        await conn.close()

        # A second start on a live server of ours adopts it rather than failing on the port.
        again = instance().start()
        assert again.reused and again.pid == first.pid

        # kill -9 the postmaster: postmaster.pid stays behind, backends may linger a moment.
        postmaster = first.pid
        assert postmaster is not None
        os.kill(postmaster, signal.SIGKILL)
        # SIGKILL is delivered asynchronously: let it land before "the next start".
        await eventually(lambda: not pid_alive(postmaster), within=10, every=0.01)
        second = instance().start()
        assert second.pid not in (None, postmaster)
        assert "recovering after a crash" in caplog.text
        conn = await asyncpg.connect(second.url)
        assert await conn.fetchval("SELECT note FROM t") == "before crash"
        await conn.close()
        second.stop()
        assert not (data_dir / "postmaster.pid").exists()

        # A stale postmaster.pid whose pid now belongs to another live process (recycled pid).
        (data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{data_dir}\n0\n{port}\n\n\n\n")
        third = instance().start()
        assert third.pid not in (None, os.getpid())
        third.stop()
        assert not port_open("127.0.0.1", port)
    finally:
        instance().stop()


def test_temporary_postgres_of_a_killed_run_is_swept() -> None:
    """A test run killed with SIGKILL must not leave its PostgreSQL running forever."""
    script = (
        "from localstack.postgres import EmbeddedPostgres\n"
        "pg = EmbeddedPostgres.temporary().start()\n"
        "print(pg.port, pg.data_dir.parent, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    assert child.stdout is not None
    port_text, root_text = child.stdout.readline().split()
    child.kill()
    child.wait()
    assert port_open("127.0.0.1", int(port_text))  # orphaned server still up

    EmbeddedPostgres.temporary().stop()  # the next temporary() sweeps it
    assert not port_open("127.0.0.1", int(port_text))
    assert not Path(root_text).exists()


# --- SMTP sink ----------------------------------------------------------------------------------


async def test_smtp_sink_keeps_utf8_messages() -> None:
    sink = SmtpSink.temporary()
    with sink:
        assert sink.port != 0 and sink.url == f"smtp://127.0.0.1:{sink.port}"

        # 8BITMIME: ASCII addresses, UTF-8 subject and body.
        msg = EmailMessage()
        msg["From"] = "PhotoVault Support <support@photovault.example>"
        msg["To"] = "Zoë Müller <zoe@example.com>"
        msg["Subject"] = "🔴 P1 — Ihre Fotos: wir kümmern uns"
        msg.set_content("Grüße! Données perdues 🔥 — we are on it.\n")
        msg.add_alternative("<p>Grüße 🔥</p>", subtype="html")
        await aiosmtplib.send(msg, hostname=sink.host, port=sink.port)

        # SMTPUTF8: a non-ASCII envelope address.
        msg2 = EmailMessage()
        msg2["From"] = "support@photovault.example"
        msg2["To"] = "agent@équipe.example"
        msg2["Subject"] = "⭐ premium"
        msg2.set_content("ok")
        await aiosmtplib.send(msg2, hostname=sink.host, port=sink.port)

        got = await sink.wait_for_async(lambda m: "P1" in m.subject, timeout=5)
        assert got.subject == "🔴 P1 — Ihre Fotos: wir kümmern uns"
        assert got.text == "Grüße! Données perdues 🔥 — we are on it.\n"
        assert got.html is not None and "Grüße 🔥" in got.html
        assert got.mail_from == "support@photovault.example"
        assert got.rcpt_tos == ("zoe@example.com",)
        assert str(got.message["To"]) == "Zoë Müller <zoe@example.com>"

        second = sink.wait_for(lambda m: m.subject == "⭐ premium", timeout=5)  # sync variant
        assert second.rcpt_tos == ("agent@équipe.example",)
        assert len(sink.messages()) == 2

        assert got.path is not None and got.path.suffix == ".eml"
        on_disk = email.message_from_bytes(got.path.read_bytes(), policy=policy.default)
        assert on_disk["Subject"] == got.subject
        assert on_disk["X-Envelope-To"] == "<zoe@example.com>"
        assert sorted(p.name for p in sink.mail_dir.glob("*.eml")) == sorted(
            m.path.name for m in sink.messages() if m.path
        )
        with pytest.raises(TimeoutError):
            await sink.wait_for_async(lambda m: m.subject == "never", timeout=0.1)
    assert not port_open("127.0.0.1", sink.port)


# --- Temporal -----------------------------------------------------------------------------------


async def test_dev_server_registers_search_attributes() -> None:
    server = TemporalDevServer.temporary()
    async with server:
        assert server.address == f"127.0.0.1:{server.port}"
        assert server.ui_url == f"http://127.0.0.1:{server.ui_port}"
        assert port_open("127.0.0.1", server.ui_port)
        client = await Client.connect(server.address)
        assert await list_search_attributes(client) == SEARCH_ATTRIBUTES
        assert server.pidfile.exists()
        cli = await asyncio.create_subprocess_exec(
            *[server.argv()[0], "operator", "search-attribute", "list"],
            *["--address", server.address, "--output", "json"],
            stdout=asyncio.subprocess.PIPE,
        )
        stdout, _ = await asyncio.wait_for(cli.communicate(), 30)
        assert cli.returncode == 0
        assert all(name in stdout.decode() for name in SEARCH_ATTRIBUTES)
        pid = server.pid
    assert pid is not None and not port_open("127.0.0.1", server.port)
    assert not server.state_dir.exists()


async def test_sdk_test_environments_use_installed_binaries() -> None:
    env = await start_local_env()
    try:
        assert await list_search_attributes(env.client) == SEARCH_ATTRIBUTES
    finally:
        await env.shutdown()
    env = await start_time_skipping_env()
    try:
        assert env.supports_time_skipping
    finally:
        await env.shutdown()


# --- pid files and the whole stack --------------------------------------------------------------


def test_pidfile_stale_and_live(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "demo.pid"
    write_pidfile(path, dead_pid(), "make demo")
    with caplog.at_level(logging.WARNING, logger="localstack"), PidFile(path):
        assert "recovered stale pid file" in caplog.text
    assert not path.exists()

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_pidfile(path, other.pid, "make demo")
        with pytest.raises(AlreadyRunning) as info:
            PidFile(path).acquire()
        assert str(info.value) == (
            f"a previous `make demo` (pid {other.pid}) is still running: "
            f"stop it with Ctrl-C or kill {other.pid}"
        )
    finally:
        other.kill()
        other.wait()


def test_orphaned_child_is_stopped(tmp_path: Path) -> None:
    path = tmp_path / "temporal.pid"
    # The child of a live run (another process) is left alone, with a clear message.
    script = (
        "import subprocess, sys; from pathlib import Path\n"
        "from localstack.processes import write_pidfile\n"
        "child = subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
        "write_pidfile(Path(sys.argv[1]), child.pid, 'temporal dev server')\n"
        "print(child.pid, flush=True); sys.stdin.read()\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-c", script, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path.cwd(),
    )
    assert run.stdout is not None and run.stdin is not None
    orphan_pid = int(run.stdout.readline())
    try:
        with pytest.raises(AlreadyRunning, match=f"belongs to a running process .pid {run.pid}"):
            reap_orphan(path, "temporal dev server", timeout=5)
    finally:
        run.kill()  # the run dies like a SIGKILLed `make demo`: its child lives on
        run.wait()
    assert pid_alive(orphan_pid)

    t0 = time.monotonic()
    reap_orphan(path, "temporal dev server", timeout=5)
    assert not path.exists() and time.monotonic() - t0 < 5
    assert not pid_alive(orphan_pid)


def test_local_stack_starts_what_env_does_not_provide(tmp_path: Path) -> None:
    ports = {k: str(free_port()) for k in ("POSTGRES_PORT", "TEMPORAL_PORT", "SMTP_PORT")}
    env = {**ports, "TEMPORAL_UI_PORT": str(free_port())}
    stack = LocalStack(state_dir=tmp_path, env=env, fast_postgres=True, handle_signals=False)
    with stack:
        assert stack.temporal_address == f"127.0.0.1:{ports['TEMPORAL_PORT']}"
        assert stack.database_url.endswith(f":{ports['POSTGRES_PORT']}/escalation")
        assert stack.smtp_url == f"smtp://127.0.0.1:{ports['SMTP_PORT']}"
        assert stack.sink is not None and stack.temporal_ui_url
        assert (tmp_path / "demo.pid").exists()
        child = stack.spawn(
            "echo-env", [sys.executable, "-c", "import os; print(os.environ['DATABASE_URL'])"]
        )
        child.wait(10)
        assert stack.wait(poll=0.01) == "echo-env"
        assert stack.database_url in (tmp_path / "echo-env.log").read_text()
    assert not (tmp_path / "demo.pid").exists()
    assert not any(port_open("127.0.0.1", int(p)) for p in ports.values())

    external = {
        "TEMPORAL_ADDRESS": "temporal:7233",
        "DATABASE_URL": "postgresql://u@db/x",
        "SMTP_URL": "smtp://mailpit:1025",
    }
    with LocalStack(state_dir=tmp_path, env=external, handle_signals=False) as stack:
        assert (stack.postgres, stack.temporal, stack.sink) == (None, None, None)
        assert stack.env_vars()["DATABASE_URL"] == "postgresql://u@db/x"
        assert stack.temporal_ui_url is None
