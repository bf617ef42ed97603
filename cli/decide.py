"""`decide`: the triage decision for a payload (Contract 2), and reading a payload. Light on
purpose: it needs no Temporal, database or web module, so `decide` starts fast."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cli.errors import UsageError
from escalation.models import EscalationPackage, InvalidPayload, TicketPayload, parse_payload
from escalation.policy import PolicyError, load_policy
from escalation.triage import triage

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "config" / "policy.toml"


def read_payload(source: str) -> TicketPayload:
    """A Contract 1 payload from a file or stdin (`-`); UsageError naming what is wrong."""
    if source == "-":
        raw = sys.stdin.buffer.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{source}: no such file")
        raw = path.read_bytes()
    try:
        return parse_payload(raw)
    except InvalidPayload as error:
        raise UsageError(f"invalid payload: {error}") from None


def policy_path() -> Path:
    return Path(os.environ.get("ESCALATION_POLICY") or DEFAULT_POLICY)


def decide(source: str) -> dict[str, object]:
    """Contract 2: the triage decision for a payload; starts nothing."""
    payload = read_payload(source)
    try:
        policy = load_policy(policy_path())
    except PolicyError as error:
        raise UsageError(str(error)) from None
    return triage(EscalationPackage.from_payload(payload), policy).to_json_dict()
