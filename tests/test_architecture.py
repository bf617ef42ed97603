"""The import picture stays one-way (STYLE.md): escalation/ is pure domain; workflows/ and
activities/ (the worker's code) build on it; the web app (web/) and the CLI (cli/, starter.py)
never import worker code, directly or through another module. Triage must stay pure."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IO_MODULES = {"asyncpg", "httpx", "aiosmtplib", "aiosmtpd", "socket", "requests", "urllib3"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted((ROOT / "escalation").glob("*.py")), ids=lambda p: p.name)
def test_domain_package_does_no_io_and_imports_no_outer_layer(path: Path) -> None:
    roots = imported_roots(path)
    assert not roots & IO_MODULES, f"{path.name} imports I/O: {roots & IO_MODULES}"
    assert not roots & {"workflows", "activities", "localstack", "worker", "starter"}


WORKER_CODE = {"workflows", "activities", "worker"}


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """The dotted names a file imports, relative imports resolved against its package."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def project_file(name: str, root: Path = ROOT) -> Path | None:
    """The repository's file for a dotted module name (None for a third-party module)."""
    candidate = root.joinpath(*name.split("."))
    for found in (candidate.with_suffix(".py"), candidate / "__init__.py"):
        if found.is_file():
            return found
    return None


def worker_code_reached(start: Path, root: Path = ROOT) -> list[str]:
    """The import chains from `start` that end in worker code, following project modules."""
    chains: list[str] = []
    seen: set[Path] = set()
    queue: list[tuple[Path, list[str]]] = [(start, [start.relative_to(root).as_posix()])]
    while queue:
        path, chain = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        names = sorted(imported_modules(path, root))
        for name in names:
            if name.split(".")[0] in WORKER_CODE:
                if not any(name.startswith(other + ".") for other in names):
                    chains.append(" -> ".join([*chain, name]))  # `activities.email`, once
            elif (found := project_file(name, root)) is not None and found not in seen:
                queue.append((found, [*chain, name]))
    return chains


OUTER_LAYER = [*sorted((ROOT / "web").rglob("*.py")), *sorted((ROOT / "cli").glob("*.py"))]
OUTER_LAYER.append(ROOT / "starter.py")


@pytest.mark.parametrize("path", OUTER_LAYER, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_web_app_and_the_cli_never_import_worker_code(path: Path) -> None:
    assert worker_code_reached(path) == []


def test_the_import_check_sees_a_chain_through_another_module(tmp_path: Path) -> None:
    """The check above can fail: web code reaching worker code through a helper module (a
    relative import, then a plain one) is named with its whole chain."""
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "__init__.py").write_text("")
    (tmp_path / "web" / "page.py").write_text("from . import helper\n")
    (tmp_path / "web" / "helper.py").write_text("import json\nfrom shared import tools\n")
    (tmp_path / "shared.py").write_text("from activities.email import send\n")
    chains = worker_code_reached(tmp_path / "web" / "page.py", tmp_path)
    assert chains == ["web/page.py -> web.helper -> shared -> activities.email"]
    assert worker_code_reached(ROOT / "worker.py") != []  # the worker does import it


def test_starter_is_a_thin_entry_point() -> None:
    """starter.py only runs the CLI package: no verb is written there."""
    tree = ast.parse((ROOT / "starter.py").read_text())
    defined = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert defined == [] and imported_modules(ROOT / "starter.py") == {
        "cli.main",
        "cli.main.run_as_script",
    }


def test_triage_runs_with_network_and_database_unavailable() -> None:
    """Import and run triage where any socket or asyncpg use would raise."""
    script = f"""
import socket, sys, json
sys.modules['asyncpg'] = None
sys.modules['httpx'] = None
def refuse(*a, **k): raise AssertionError('triage touched the network')
socket.socket = refuse
socket.create_connection = refuse
sys.path.insert(0, {str(ROOT)!r})
from escalation.models import EscalationPackage, parse_payload
from escalation.policy import load_policy
from escalation.triage import triage
payload = parse_payload(open({str(ROOT / "examples" / "T-12345-full.json")!r}).read())
policy = load_policy({str(ROOT / "config" / "policy.toml")!r})
first = triage(EscalationPackage.from_payload(payload), policy).to_json_dict()
second = triage(EscalationPackage.from_payload(payload), policy).to_json_dict()
assert first == second
print(json.dumps(first))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["priority"] == "P1"
