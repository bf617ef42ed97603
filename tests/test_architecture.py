"""The import picture stays one-way (STYLE.md): escalation/ is pure domain; workflows/ and
activities/ build on it; starter.py never imports activities. Triage must stay pure."""

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


def test_starter_never_imports_activities() -> None:
    assert not imported_roots(ROOT / "starter.py") & {"activities", "workflows"}


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
