"""Issue 13, item 9/10: every client derives its addresses the same way, one module connects to
Temporal (TLS, API key, the project's converter) and opens the pool, and a misconfiguration is
one line naming the variable, never a traceback."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import asyncpg
import pytest
from temporalio.service import TLSConfig

import connections
from escalation.config import ConfigError, Endpoints, derive_addresses, redact_url
from localstack.ports import free_port, wait_for_port
from localstack.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent
ADDRESS_VARS = (
    "TEMPORAL_ADDRESS",
    "DATABASE_URL",
    "SMTP_URL",
    "TEMPORAL_PORT",
    "POSTGRES_PORT",
    "SMTP_PORT",
    "TEMPORAL_UI_PORT",
    "TEMPORAL_UI_URL",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_TLS_CERT",
    "TEMPORAL_TLS_KEY",
    "TEMPORAL_TLS_CA",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_API_KEY",
)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any address, port or TLS variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ADDRESS_VARS}
    return {**env, **extra}


# --- the derivation, a pure function ------------------------------------------------------------


def test_defaults_are_the_embedded_stacks() -> None:
    found = derive_addresses({})
    assert found.temporal.value == "127.0.0.1:7233" and found.temporal.local
    assert found.postgres.value == "postgresql://postgres@127.0.0.1:5433/escalation"
    assert found.smtp.value == "smtp://127.0.0.1:1025"
    assert found.postgres.local and found.smtp.local


def test_ports_alone_move_every_client() -> None:
    env = {"TEMPORAL_PORT": "17233", "POSTGRES_PORT": "15433", "SMTP_PORT": "11025"}
    found = derive_addresses(env)
    assert (found.temporal.value, found.temporal.port) == ("127.0.0.1:17233", 17233)
    assert found.postgres.value == "postgresql://postgres@127.0.0.1:15433/escalation"
    assert found.smtp.value == "smtp://127.0.0.1:11025"
    assert found.temporal.local and found.postgres.local and found.smtp.local
    endpoints = Endpoints.from_env(clean_env(**env))
    assert endpoints.temporal_address == "127.0.0.1:17233"
    assert endpoints.database_url.endswith(":15433/escalation")
    assert endpoints.smtp_url == "smtp://127.0.0.1:11025"


def test_addresses_alone_are_external() -> None:
    env = {
        "TEMPORAL_ADDRESS": "temporal:7233",
        "DATABASE_URL": "postgresql://app:pw@db:5432/escalation",
        "SMTP_URL": "smtps://user:pw@relay.example.com:465",
    }
    found = derive_addresses(env)
    assert found.temporal.value == "temporal:7233" and not found.temporal.local
    assert found.postgres.value == env["DATABASE_URL"] and not found.postgres.local
    assert (found.smtp.host, found.smtp.port, found.smtp.local) == ("relay.example.com", 465, False)
    # A local address alone is external too: something else runs there (another stack).
    assert not derive_addresses({"TEMPORAL_ADDRESS": "127.0.0.1:7233"}).temporal.local


def test_both_together_when_they_agree_name_the_moved_embedded_server() -> None:
    env = {
        "TEMPORAL_PORT": "17233",
        "TEMPORAL_ADDRESS": "localhost:17233",
        "POSTGRES_PORT": "15433",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:15433/escalation",
        "SMTP_PORT": "11025",
        "SMTP_URL": "smtp://[::1]:11025",
    }
    found = derive_addresses(env)
    assert found.temporal.local and found.temporal.port == 17233
    assert found.temporal.value == "localhost:17233"  # the address as given
    assert found.postgres.local and found.postgres.port == 15433
    assert found.smtp.local and found.smtp.port == 11025
    # The demo starts them there (not "external, and nothing listens": the old traceback).
    stack = LocalStack(env=env, state_dir=Path("/nonexistent"), handle_signals=False)
    wanted = stack.addresses()
    assert (wanted.temporal.local, wanted.postgres.local, wanted.smtp.local) == (True,) * 3


def test_an_address_on_another_host_wins_over_a_port_variable() -> None:
    found = derive_addresses({"TEMPORAL_PORT": "17233", "TEMPORAL_ADDRESS": "temporal:7233"})
    assert found.temporal.value == "temporal:7233" and not found.temporal.local


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TEMPORAL_PORT": "17233", "TEMPORAL_ADDRESS": "127.0.0.1:7233"},
            "TEMPORAL_ADDRESS=127.0.0.1:7233 and TEMPORAL_PORT=17233 disagree",
        ),
        (
            {"POSTGRES_PORT": "15433", "DATABASE_URL": "postgresql://u:secret@localhost:5433/e"},
            "DATABASE_URL=postgresql://u:***@localhost:5433/e and POSTGRES_PORT=15433 disagree",
        ),
        (
            {"SMTP_PORT": "2525", "SMTP_URL": "smtp://127.0.0.1"},  # smtp:// means port 25
            "SMTP_URL=smtp://127.0.0.1 and SMTP_PORT=2525 disagree",
        ),
        ({"TEMPORAL_PORT": "seven"}, "TEMPORAL_PORT='seven' is not a port number"),
        ({"POSTGRES_PORT": "70000"}, "POSTGRES_PORT='70000' is not a port number"),
        ({"SMTP_PORT": "0"}, "SMTP_PORT='0' is not a port number"),
        ({"TEMPORAL_ADDRESS": "temporal"}, "TEMPORAL_ADDRESS='temporal' must look like host:port"),
        ({"TEMPORAL_ADDRESS": "temporal:x"}, "TEMPORAL_ADDRESS='temporal:x' must look like"),
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL='mysql://db/x' must start with"),
        ({"DATABASE_URL": "postgresql://db:port/x"}, "DATABASE_URL='postgresql://db:port/x' is"),
        ({"SMTP_URL": "mailpit:1025"}, "SMTP_URL='mailpit:1025' must start with smtp://"),
        ({"SMTP_URL": "smtp://"}, "SMTP_URL='smtp://' names no host"),
    ],
)
def test_a_misconfiguration_is_one_line_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        derive_addresses(env)
    text = str(raised.value)
    assert text.startswith(message), text
    assert "\n" not in text and "secret" not in text


def test_passwords_never_reach_messages() -> None:
    assert redact_url("postgresql://app:s3cr3t@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redact_url("smtp://relay:25") == "smtp://relay:25"


# --- TLS and API key from the environment --------------------------------------------------------


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate and key (the `cryptography` package is not installed
    here; the openssl CLI is)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "client.pem", folder / "client.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=temporal.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_tls_config_is_built_from_the_files(pem_files: tuple[Path, Path]) -> None:
    cert, key = pem_files
    env = {
        "TEMPORAL_TLS_CERT": str(cert),
        "TEMPORAL_TLS_KEY": str(key),
        "TEMPORAL_TLS_CA": str(cert),
        "TEMPORAL_TLS_SERVER_NAME": "temporal.test",
        "TEMPORAL_API_KEY": " key-123 ",
    }
    tls = connections.temporal_tls(env)
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == cert.read_bytes() and tls.client_private_key == key.read_bytes()
    assert tls.server_root_ca_cert == cert.read_bytes()
    assert tls.domain == "temporal.test"
    assert connections.temporal_api_key(env) == "key-123"
    only_ca = connections.temporal_tls({"TEMPORAL_TLS_CA": str(cert)})
    assert only_ca is not None and only_ca.client_cert is None
    assert connections.temporal_tls({}) is None and connections.temporal_api_key({}) is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TEMPORAL_TLS_CA": "/nonexistent/ca.pem"},
            "TEMPORAL_TLS_CA=/nonexistent/ca.pem: no such",
        ),
        ({"TEMPORAL_TLS_CERT": "{cert}"}, "TEMPORAL_TLS_CERT is set but TEMPORAL_TLS_KEY is not"),
        ({"TEMPORAL_TLS_KEY": "{key}"}, "TEMPORAL_TLS_KEY is set but TEMPORAL_TLS_CERT is not"),
        ({"TEMPORAL_TLS_CA": "{folder}/notes.txt"}, "TEMPORAL_TLS_CA={folder}/notes.txt: not a"),
    ],
)
def test_a_bad_tls_setting_is_one_line(
    pem_files: tuple[Path, Path], env: dict[str, str], message: str
) -> None:
    cert, key = pem_files
    (cert.parent / "notes.txt").write_text("not a certificate")
    names = {"cert": cert, "key": key, "folder": cert.parent}
    resolved = {k: v.format(**names) for k, v in env.items()}
    with pytest.raises(ConfigError, match="^" + message.format(**names).replace(".", r"\.")):
        connections.temporal_tls(resolved)


async def test_an_unreachable_server_is_one_line_naming_the_variable() -> None:
    port = free_port()
    with pytest.raises(connections.Unreachable) as temporal:
        await connections.connect_temporal(f"127.0.0.1:{port}", environ={})
    assert str(temporal.value) == (
        f"TEMPORAL_ADDRESS=127.0.0.1:{port}: cannot connect to Temporal (connection refused)"
    )
    with pytest.raises(connections.Unreachable) as database:
        await connections.open_pool(f"postgresql://app:s3cr3t@127.0.0.1:{port}/x")
    text = str(database.value)
    assert text == (
        f"DATABASE_URL=postgresql://app:***@127.0.0.1:{port}/x: cannot connect to PostgreSQL"
        " (connection refused)"
    )
    assert "s3cr3t" not in text and "\n" not in text
    assert isinstance(database.value, OSError)  # callers that degrade on an outage still do


# --- the processes: one line, exit 2, no traceback ----------------------------------------------


def run(
    argv: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout, check=False
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TEMPORAL_PORT": "nope"}, "error: TEMPORAL_PORT='nope' is not a port number (1-65535)"),
        (
            {"TEMPORAL_PORT": "17233", "TEMPORAL_ADDRESS": "localhost:7233"},
            "error: TEMPORAL_ADDRESS=localhost:7233 and TEMPORAL_PORT=17233 disagree",
        ),
        (
            {"TEMPORAL_TLS_CA": "/nonexistent/ca.pem"},
            "error: TEMPORAL_TLS_CA=/nonexistent/ca.pem: no such file",
        ),
        (
            {"TEMPORAL_ADDRESS": "127.0.0.1:1"},
            "error: TEMPORAL_ADDRESS=127.0.0.1:1: cannot connect",
        ),
        ({"DATABASE_URL": "mysql://db/x"}, "error: DATABASE_URL='mysql://db/x' must start with"),
    ],
)
def test_the_cli_says_what_is_misconfigured_in_one_line(env: dict[str, str], message: str) -> None:
    result = run([sys.executable, "starter.py", "status", "T-1"], clean_env(**env))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_the_worker_and_the_web_app_say_it_in_one_line_too() -> None:
    env = clean_env(POSTGRES_PORT="15433x")
    worker = run([sys.executable, "worker.py"], env)
    assert worker.returncode == 2
    assert (
        worker.stderr.strip()
        == "worker: error: POSTGRES_PORT='15433x' is not a port number (1-65535)"
    )
    # The web app, too, for a setting it cannot use. (A database that is only down is not a
    # misconfiguration for it: it starts, and /readyz answers 503 until PostgreSQL is back.)
    web = run(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "web.app:app",
            "--port",
            str(free_port()),
            "--log-level",
            "warning",
        ],
        env,
    )
    assert web.returncode == 2, web.stderr
    lines = web.stderr.strip().splitlines()
    assert lines[-1] == "web: error: POSTGRES_PORT='15433x' is not a port number (1-65535)"
    assert "Traceback" not in web.stderr


# --- the embedded stack on moved ports: every client follows the port variables -----------------


def test_every_client_follows_the_stack_to_its_moved_ports(tmp_path: Path) -> None:
    ports = {k: str(free_port()) for k in ("TEMPORAL_PORT", "POSTGRES_PORT", "SMTP_PORT")}
    env = {**ports, "TEMPORAL_UI_PORT": str(free_port())}
    stack = LocalStack(
        state_dir=tmp_path, env=env, fast_postgres=True, temporal_ui=False, handle_signals=False
    )
    children: list[subprocess.Popen[bytes]] = []
    with stack:
        assert stack.temporal_address == f"127.0.0.1:{ports['TEMPORAL_PORT']}"
        # What the demo prints before `starter.py`: the moved ports, nothing else.
        assert stack.client_env() == {
            "TEMPORAL_PORT": ports["TEMPORAL_PORT"],
            "POSTGRES_PORT": ports["POSTGRES_PORT"],
        }
        endpoints = Endpoints.from_env(clean_env(**ports))
        assert endpoints.temporal_address == stack.temporal_address
        assert endpoints.database_url == stack.database_url
        assert endpoints.smtp_url == stack.smtp_url
        client_env = clean_env(**ports)  # the port variables alone, as a user's shell has them
        try:
            log = (tmp_path / "worker.out").open("wb")
            worker = subprocess.Popen(
                [sys.executable, "worker.py"], cwd=ROOT, env=client_env, stdout=log, stderr=log
            )
            children.append(worker)
            deadline = time.monotonic() + 60
            polling = f"worker polling escalations on {stack.temporal_address}"
            while polling not in (tmp_path / "worker.out").read_text():
                assert worker.poll() is None, (tmp_path / "worker.out").read_text()
                assert time.monotonic() < deadline, (tmp_path / "worker.out").read_text()
                time.sleep(0.2)

            web_port = free_port()
            web = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "web.app:app", "--port", str(web_port)],
                cwd=ROOT,
                env=client_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            children.append(web)
            assert wait_for_port("127.0.0.1", web_port, timeout=60), "the web app did not start"
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz", timeout=10) as r:
                assert r.status == 200

            async def connected_clients() -> int:
                connection = await asyncpg.connect(stack.database_url)
                try:
                    count: int = await connection.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'escalation'"
                        " AND pid <> pg_backend_pid()"
                    )
                    migrated = await connection.fetchval("SELECT to_regclass('escalation_log')")
                    assert migrated is not None  # the worker migrated the moved database
                    return count
                finally:
                    await connection.close()

            assert asyncio.run(connected_clients()) >= 2  # the worker's pool and the web app's

            cli = run([sys.executable, "starter.py", "status", "T-not-here"], client_env)
            assert cli.returncode == 2, cli.stderr
            assert "cannot connect" not in cli.stderr and "T-not-here" in cli.stderr
        finally:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(20)
                except subprocess.TimeoutExpired:
                    child.kill()
