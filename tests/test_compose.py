"""The production-like deployment: docker-compose.yml and its Temporal setup scripts.

No Docker engine runs on the development machines, so the compose file is checked by the compose
client itself (`docker compose config`, or `docker-compose config` from Debian's package), which
validates and resolves it; the tests then read the resolved YAML. The two one-shot setup scripts
in deploy/temporal/ run for real against stand-in `temporal`, `temporal-sql-tool` and `nc`
commands, so their logic (idempotence, retries, exact search attributes) is tested too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEPLOY_DIR = ROOT / "deploy" / "temporal"
SCHEMA_SCRIPT = DEPLOY_DIR / "setup-schema.sh"
SEARCH_ATTRIBUTE_SCRIPT = DEPLOY_DIR / "register-search-attributes.sh"

# DESIGN.md, Contract 4.
EXPECTED_SEARCH_ATTRIBUTES = {
    "EscalationPriority": "Keyword",
    "EscalationTeam": "Keyword",
    "EscalationState": "Keyword",
    "CustomerTier": "Keyword",
    "TimeSensitive": "Bool",
    "SlaDueAt": "Datetime",
}
SERVICES = {
    "postgres",
    "temporal-admin-tools",
    "temporal",
    "temporal-setup-namespace",
    "temporal-ui",
    "mailpit",
    "worker",
    "web",
}
APP_SERVICES = ("worker", "web")
INSTALL_HINT = (
    "no compose client found: install one to validate docker-compose.yml, e.g. "
    "`apt-get update && apt-get install -y docker-compose` (Debian's package, no Docker engine "
    "needed) or the Docker Compose v2 plugin (`docker compose`)"
)


# --------------------------------------------------------------------------- compose client


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


PASSWORDS = {
    "POSTGRES_PASSWORD": "superuser-pw",
    "TEMPORAL_DB_PASSWORD": "temporal-pw",
    "APP_DB_PASSWORD": "app-pw",
}


def _clean_env() -> dict[str, str]:
    """The environment without what would change the resolved file (its ${VARS}, COMPOSE_*)."""
    referenced = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()))
    return {
        k: v for k, v in os.environ.items() if k not in referenced and not k.startswith("COMPOSE_")
    }


def _compose_config(command: list[str], env_file: Path) -> subprocess.CompletedProcess[str]:
    """`compose config` of the file with `env_file` and a clean environment."""
    return subprocess.run(
        [*command, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict:
    command = _compose_command()
    if command is None:
        pytest.skip(INSTALL_HINT)
    # An env file of the required passwords only: a developer's .env beside the compose file
    # must not change the result.
    env_file = tmp_path_factory.mktemp("compose") / "passwords.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in PASSWORDS.items()))
    result = _compose_config(command, env_file)
    assert result.returncode == 0, f"`{' '.join(command)} config` failed:\n{result.stderr}"
    resolved = yaml.safe_load(result.stdout)
    assert isinstance(resolved, dict) and isinstance(resolved.get("services"), dict)
    return resolved


# Both clients resolve the file, but print some keys in different shapes (v1: strings and
# lists; v2: long-form mappings). These helpers read either.


def _service(config: dict, name: str) -> dict:
    assert name in config["services"], f"service {name!r} missing"
    return config["services"][name]


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _argv(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(part) for part in value]


def _mounts(service: dict) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            mounts.append((str(volume.get("source", "")), str(volume["target"])))
        else:
            parts = volume.split(":")
            mounts.append((parts[0], parts[1]) if len(parts) > 1 else ("", parts[0]))
    return mounts


def _published_targets(service: dict) -> set[int]:
    targets = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            if port.get("published") not in (None, ""):
                targets.add(int(port["target"]))
        else:
            spec = str(port).split("/", 1)[0]
            if spec.count(":") >= 1:
                targets.add(int(spec.rsplit(":", 1)[1]))
    return targets


def _has_healthcheck(service: dict) -> bool:
    check = service.get("healthcheck")
    if not check or check.get("disable"):
        return False
    test = _argv(check.get("test"))
    return bool(test) and test[0] != "NONE"


def _one_shot_jobs(config: dict) -> set[str]:
    return {
        dep
        for service in config["services"].values()
        for dep, condition in _depends_on(service).items()
        if condition == "service_completed_successfully"
    }


def _runs_script(service: dict, script: Path) -> bool:
    """The job runs `script` from a read-only bind mount of deploy/temporal."""
    argv = _argv(service.get("entrypoint")) + _argv(service.get("command"))
    mounted = [
        target
        for source, target in _mounts(service)
        if Path(source).resolve() == DEPLOY_DIR.resolve()
    ]
    return any(f"{target.rstrip('/')}/{script.name}" in argv for target in mounted)


def test_helpers_read_both_clients_output_shapes() -> None:
    """docker-compose v1 prints short forms; the v2 plugin prints long-form mappings."""
    v1 = {
        "environment": {"A": "1", "B": None},
        "depends_on": ["postgres"],
        "ports": ["127.0.0.1:8000:8000/tcp", "9000"],
        "volumes": ["/repo/deploy/temporal:/deploy/temporal:ro", "data:/var/lib/x:rw"],
        "command": "python worker.py",
        "healthcheck": {"test": ["CMD", "true"]},
    }
    v2 = {
        "environment": {"A": "1", "B": None},
        "depends_on": {"postgres": {"condition": "service_healthy", "required": True}},
        "ports": [
            {"mode": "ingress", "host_ip": "127.0.0.1", "target": 8000, "published": "8000"},
            {"mode": "ingress", "target": 9000, "protocol": "tcp"},
        ],
        "volumes": [
            {"type": "bind", "source": "/repo/deploy/temporal", "target": "/deploy/temporal"},
            {"type": "volume", "source": "data", "target": "/var/lib/x"},
        ],
        "command": ["python", "worker.py"],
        "healthcheck": {"test": ["NONE"]},
    }
    for shape in (v1, v2):
        assert _env(shape) == {"A": "1", "B": ""}
        assert _published_targets(shape) == {8000}
        assert _mounts(shape)[0] == ("/repo/deploy/temporal", "/deploy/temporal")
        assert _argv(shape["command"]) == ["python", "worker.py"]
    assert _depends_on(v1) == {"postgres": "service_started"}
    assert _depends_on(v2) == {"postgres": "service_healthy"}
    assert _has_healthcheck(v1) and not _has_healthcheck(v2)
    assert not _has_healthcheck({"healthcheck": {"test": ["CMD", "true"], "disable": True}})


# --------------------------------------------------------------------------- compose tests


def test_compose_file_is_valid_and_has_every_service(config: dict) -> None:
    missing = SERVICES - set(config["services"])
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


def test_images_are_current_temporal_ones_and_pinned(config: dict) -> None:
    images = {
        name: str(service["image"])
        for name, service in config["services"].items()
        if "image" in service and "build" not in service
    }
    for name, image in images.items():
        assert "auto-setup" not in image, f"{name} uses the deprecated auto-setup image"
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: image {image!r} is not pinned"
    server = images["temporal"]
    assert server.startswith("temporalio/server:")
    tag = server.split(":", 1)[1]
    for job in ("temporal-admin-tools", "temporal-setup-namespace"):
        assert images[job] == f"temporalio/admin-tools:{tag}", f"{job}: admin-tools {tag}"
    assert images["temporal-ui"].startswith("temporalio/ui:")
    assert images["mailpit"].startswith("axllent/mailpit:")
    assert re.fullmatch(r"postgres:1[78](\.\d+)?", images["postgres"])


def test_schema_job_runs_before_the_server(config: dict) -> None:
    job = _service(config, "temporal-admin-tools")
    assert _runs_script(job, SCHEMA_SCRIPT), "temporal-admin-tools must run setup-schema.sh"
    assert _depends_on(job).get("postgres") == "service_healthy"
    assert _depends_on(_service(config, "temporal"))["temporal-admin-tools"] == (
        "service_completed_successfully"
    )
    env = _env(job)
    assert env["POSTGRES_SEEDS"] == "postgres"
    assert env["DB"] == "postgres12"
    script = SCHEMA_SCRIPT.read_text()
    for needle in ("setup-schema", "update-schema", "postgres12", "temporal_visibility"):
        assert needle in script


def test_temporal_server_is_configured_for_postgres(config: dict) -> None:
    server = _service(config, "temporal")
    env = _env(server)
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgres"
    assert env["POSTGRES_USER"] and env["POSTGRES_PWD"]
    assert env["BIND_ON_IP"] == "0.0.0.0"
    # The same databases the schema job prepared.
    job_env = _env(_service(config, "temporal-admin-tools"))
    for key in ("DBNAME", "VISIBILITY_DBNAME", "POSTGRES_USER", "POSTGRES_PWD"):
        assert env.get(key) == job_env.get(key), key
    # The dynamic config file it reads is mounted from the repository.
    mounts = dict((target, source) for source, target in _mounts(server))
    source = mounts.get(env["DYNAMIC_CONFIG_FILE_PATH"])
    assert source, "DYNAMIC_CONFIG_FILE_PATH is not a mounted file"
    assert Path(source).resolve() == (DEPLOY_DIR / "dynamicconfig.yaml").resolve()
    assert isinstance(yaml.safe_load((DEPLOY_DIR / "dynamicconfig.yaml").read_text()), dict)
    assert 7233 in _published_targets(server)


def test_namespace_job_registers_the_contract_search_attributes(config: dict) -> None:
    job = _service(config, "temporal-setup-namespace")
    assert _runs_script(job, SEARCH_ATTRIBUTE_SCRIPT)
    assert _depends_on(job)["temporal"] == "service_healthy"
    assert _env(job)["TEMPORAL_ADDRESS"] == "temporal:7233"
    block = re.search(r"SEARCH_ATTRIBUTES='(.*?)'", SEARCH_ATTRIBUTE_SCRIPT.read_text(), re.S)
    assert block, "register-search-attributes.sh lost its SEARCH_ATTRIBUTES list"
    declared = dict(line.split() for line in block.group(1).strip().splitlines())
    assert declared == EXPECTED_SEARCH_ATTRIBUTES
    for name in APP_SERVICES:
        assert _depends_on(_service(config, name))["temporal-setup-namespace"] == (
            "service_completed_successfully"
        )
        # The namespace the job prepares is the one the app uses.
        assert _env(_service(config, name))["TEMPORAL_NAMESPACE"] == _env(job)["TEMPORAL_NAMESPACE"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_get_their_addresses(config: dict, name: str) -> None:
    env = _env(_service(config, name))
    services = set(config["services"])
    for key in (
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "DATABASE_URL",
        "SMTP_URL",
        "ESCALATION_POLICY",
        "TEMPORAL_UI_URL",
    ):
        assert env.get(key), f"{name} lacks {key}"
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    database = urlsplit(env["DATABASE_URL"])
    assert database.scheme == "postgresql" and database.hostname == "postgres"
    assert database.hostname in services and database.path.strip("/")
    smtp = urlsplit(env["SMTP_URL"])
    assert (smtp.scheme, smtp.hostname, smtp.port) == ("smtp", "mailpit", 1025)
    assert urlsplit(env["TEMPORAL_UI_URL"]).scheme in ("http", "https")
    assert "build" in _service(config, name), f"{name} must be built from this repository"


def test_app_commands_and_ports(config: dict) -> None:
    worker = _service(config, "worker")
    web = _service(config, "web")
    assert _argv(worker.get("command")) == ["python", "worker.py"]
    web_cmd = _argv(web.get("command"))
    assert web_cmd[:2] == ["uvicorn", "web.app:app"]
    assert web_cmd[web_cmd.index("--port") + 1] == "8000"
    assert web_cmd[web_cmd.index("--host") + 1] == "0.0.0.0"
    assert 8000 in _published_targets(web)
    assert 8080 in _published_targets(_service(config, "temporal-ui"))
    assert {1025, 8025} <= _published_targets(_service(config, "mailpit"))
    assert _env(_service(config, "temporal-ui"))["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_long_running_services_are_health_checked(config: dict) -> None:
    services = config["services"]
    jobs = _one_shot_jobs(config)
    assert {"temporal-admin-tools", "temporal-setup-namespace"} <= jobs
    for name in jobs:
        # `no` unquoted is YAML 1.1's false: accept both spellings.
        assert services[name].get("restart", "no") in ("no", False), f"{name} is one-shot"
    for name, service in services.items():
        deps = _depends_on(service)
        for dep, condition in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if condition == "service_healthy":
                assert _has_healthcheck(services[dep]), f"{name} waits on {dep}'s healthcheck"
        if name in jobs:
            continue
        assert _has_healthcheck(service) or "service_healthy" in deps.values(), (
            f"{name} runs for good but has no healthcheck and depends on none"
        )
    for name in ("postgres", "temporal", "mailpit", "web"):
        assert _has_healthcheck(services[name]), f"{name} should have its own healthcheck"


def test_registered_attributes_match_the_workflow_code() -> None:
    """The job registers exactly the keys the workflows upsert (escalation/search_attributes.py).

    Read as text, so this holds without the SDK installed.
    """
    source = (ROOT / "escalation" / "search_attributes.py").read_text()
    kinds = {
        "keyword": "Keyword",
        "bool": "Bool",
        "datetime": "Datetime",
        "text": "Text",
        "int": "Int",
        "float": "Double",
        "keyword_list": "KeywordList",
    }
    in_code = {
        name: kinds[kind]
        for kind, name in re.findall(r"SearchAttributeKey\.for_(\w+)\(\s*\"(\w+)\"", source)
    }
    block = re.search(r"SEARCH_ATTRIBUTES='(.*?)'", SEARCH_ATTRIBUTE_SCRIPT.read_text(), re.S)
    assert block
    declared = dict(line.split() for line in block.group(1).strip().splitlines())
    assert in_code == declared == EXPECTED_SEARCH_ATTRIBUTES


# --------------------------------------------------------------------------- setup scripts


def _write_stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)


STUB_PRELUDE = """
import json, os, sys
STATE = os.environ["STUB_STATE"]
with open(STATE) as f:
    state = json.load(f)
args = sys.argv[1:]
state["calls"].append({"argv": args, "password": os.environ.get("SQL_PASSWORD")})

def flag(*names):
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            return args[i + 1]
    return None

def done(code, text=""):
    with open(STATE, "w") as f:
        json.dump(state, f)
    if text:
        print(text, file=sys.stderr if code else sys.stdout)
    sys.exit(code)
"""

TEMPORAL_STUB = (
    STUB_PRELUDE
    + """
words = [a for a in args if not a.startswith("-")]
ns = flag("--namespace", "-n")
if words[:3] == ["operator", "cluster", "health"]:
    if state["health_failures"] > 0:
        state["health_failures"] -= 1
        done(1, "connection refused")
    done(0, "SERVING")
if words[:3] == ["operator", "namespace", "describe"]:
    done(0 if ns in state["namespaces"] else 1, "" if ns in state["namespaces"] else "not found")
if words[:3] == ["operator", "namespace", "create"]:
    if ns in state["namespaces"]:
        done(1, "Namespace already exists")
    state["namespaces"].append(ns)
    done(0, "Namespace registered")
if words[:3] == ["operator", "search-attribute", "list"]:
    rows = [("WorkflowId", "Keyword"), ("StartTime", "Datetime")]
    rows += sorted(state["attributes"].items())
    done(0, "\\n".join(["  Name  Type"] + [f"  {n}  {t}" for n, t in rows]))
if words[:3] == ["operator", "search-attribute", "create"]:
    if state["sa_create_failures"] > 0:
        state["sa_create_failures"] -= 1
        done(1, f"Namespace {ns} is not found.")
    name, kind = flag("--name"), flag("--type")
    if name in state["attributes"]:
        done(1, "Search attribute already exists")
    state["attributes"][name] = kind
    done(0, "Search attributes have been added")
done(2, f"stub temporal: unexpected {args}")
"""
)

SQL_TOOL_STUB = (
    STUB_PRELUDE
    + """
db = flag("--db", "--database")
command = next(a for a in args if a in ("create", "setup-schema", "update-schema"))
if command in state["fail"]:
    done(1, f"{command} failed")
if command == "create":
    if db in state["databases"]:
        done(1, f'pq: database "{db}" already exists')
    state["databases"].append(db)
done(0)
"""
)


def _run_script(
    script: Path, tmp_path: Path, state: dict, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    _write_stub(bin_dir, "temporal", TEMPORAL_STUB)
    _write_stub(bin_dir, "temporal-sql-tool", SQL_TOOL_STUB)
    _write_stub(bin_dir, "nc", "import sys\nsys.exit(0)\n")
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({"calls": [], **state}))
    sh = shutil.which("sh")
    assert sh, "a POSIX sh is needed to run the setup scripts"
    result = subprocess.run(
        [sh, str(script)],
        env={
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "STUB_STATE": str(state_file),
            "RETRY_DELAY": "0",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, json.loads(state_file.read_text())


SA_ENV = {"TEMPORAL_ADDRESS": "localhost:7233", "TEMPORAL_NAMESPACE": "default"}


def _sa_state(**overrides: object) -> dict:
    return {
        "namespaces": [],
        "attributes": {},
        "health_failures": 0,
        "sa_create_failures": 0,
        **overrides,
    }


def test_register_script_creates_namespace_and_the_six_attributes(tmp_path: Path) -> None:
    result, state = _run_script(
        SEARCH_ATTRIBUTE_SCRIPT,
        tmp_path,
        _sa_state(health_failures=2, sa_create_failures=1),
        SA_ENV,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert state["namespaces"] == ["default"]
    assert state["attributes"] == EXPECTED_SEARCH_ATTRIBUTES
    # Every call names the server, dialled by its IPv4 address.
    for call in state["calls"]:
        assert "--address" in call["argv"]
        assert call["argv"][call["argv"].index("--address") + 1] == "127.0.0.1:7233"
    create = next(c["argv"] for c in state["calls"] if c["argv"][1:3] == ["namespace", "create"])
    assert "--retention" in create


def test_register_script_is_idempotent(tmp_path: Path) -> None:
    registered = _sa_state(namespaces=["default"], attributes=dict(EXPECTED_SEARCH_ATTRIBUTES))
    result, state = _run_script(SEARCH_ATTRIBUTE_SCRIPT, tmp_path, registered, SA_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert state["attributes"] == EXPECTED_SEARCH_ATTRIBUTES
    changes = [c for c in state["calls"] if "create" in c["argv"]]
    assert changes == [], "nothing should be created a second time"


def test_register_script_rejects_an_attribute_of_another_type(tmp_path: Path) -> None:
    wrong = _sa_state(namespaces=["default"], attributes={"SlaDueAt": "Keyword"})
    result, _ = _run_script(SEARCH_ATTRIBUTE_SCRIPT, tmp_path, wrong, SA_ENV)
    assert result.returncode != 0
    assert "SlaDueAt" in result.stderr


def test_register_script_gives_up_when_the_server_never_serves(tmp_path: Path) -> None:
    result, _ = _run_script(
        SEARCH_ATTRIBUTE_SCRIPT,
        tmp_path,
        _sa_state(health_failures=10_000),
        {**SA_ENV, "ATTEMPTS": "3"},
    )
    assert result.returncode != 0
    assert "not healthy" in result.stderr


SCHEMA_ENV = {
    "POSTGRES_SEEDS": "postgres",
    "POSTGRES_USER": "escalation",
    "POSTGRES_PWD": "s3cret",
    "DB_PORT": "5432",
}


def _sql_calls(state: dict) -> list[tuple[str | None, str, list[str]]]:
    calls = []
    for call in state["calls"]:
        argv = call["argv"]
        if "--plugin" not in argv:
            continue
        db = argv[argv.index("--db") + 1]
        command = next(a for a in argv if a in ("create", "setup-schema", "update-schema"))
        calls.append((db, command, argv))
    return calls


def test_schema_script_sets_up_both_databases(tmp_path: Path) -> None:
    result, state = _run_script(SCHEMA_SCRIPT, tmp_path, {"databases": [], "fail": []}, SCHEMA_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert state["databases"] == ["temporal", "temporal_visibility"]
    calls = _sql_calls(state)
    assert [(db, cmd) for db, cmd, _ in calls] == [
        ("temporal", "create"),
        ("temporal", "setup-schema"),
        ("temporal", "update-schema"),
        ("temporal_visibility", "create"),
        ("temporal_visibility", "setup-schema"),
        ("temporal_visibility", "update-schema"),
    ]
    schema_root = "/etc/temporal/schema/postgresql/v12"
    for db, cmd, argv in calls:
        assert argv[argv.index("--plugin") + 1] == "postgres12"
        assert argv[argv.index("--ep") + 1] == "postgres"
        assert "s3cret" not in argv, "the password must not be on the command line"
        if cmd == "setup-schema":
            assert argv[argv.index("-v") + 1] == "0.0"
        if cmd == "update-schema":
            kind = "temporal" if db == "temporal" else "visibility"
            assert argv[argv.index("-d") + 1] == f"{schema_root}/{kind}/versioned"
    assert all(c["password"] == "s3cret" for c in state["calls"] if "--plugin" in c["argv"])


def test_schema_script_reruns_on_existing_databases(tmp_path: Path) -> None:
    existing = {"databases": ["temporal", "temporal_visibility"], "fail": []}
    result, state = _run_script(SCHEMA_SCRIPT, tmp_path, existing, SCHEMA_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    updated = [db for db, cmd, _ in _sql_calls(state) if cmd == "update-schema"]
    assert updated == ["temporal", "temporal_visibility"]


def test_schema_script_fails_when_the_schema_update_fails(tmp_path: Path) -> None:
    broken = {"databases": [], "fail": ["update-schema"]}
    result, _ = _run_script(SCHEMA_SCRIPT, tmp_path, broken, SCHEMA_ENV)
    assert result.returncode != 0


@pytest.mark.parametrize("missing", list(PASSWORDS))
def test_compose_refuses_to_start_without_each_password(tmp_path: Path, missing: str) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip(INSTALL_HINT)
    env_file = tmp_path / "partial.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in PASSWORDS.items() if k != missing))
    result = _compose_config(command, env_file)
    assert result.returncode != 0
    assert missing in result.stderr, result.stderr


def test_the_app_and_temporal_use_their_own_least_privilege_roles(config: dict) -> None:
    app_url = _env(_service(config, "worker"))["DATABASE_URL"]
    assert app_url.startswith("postgresql://escalation_app:app-pw@postgres:5432/")
    assert _env(_service(config, "web"))["DATABASE_URL"] == app_url
    for name in ("temporal", "temporal-admin-tools"):
        env = _env(_service(config, name))
        assert (env["POSTGRES_USER"], env["POSTGRES_PWD"]) == ("temporal", "temporal-pw"), name
    assert "superuser-pw" not in app_url
    init = (ROOT / "deploy" / "postgres" / "init-roles.sh").read_text()
    assert "CREATE ROLE temporal LOGIN CREATEDB" in init and "CREATE ROLE escalation_app" in init
    assert "SUPERUSER" not in init
