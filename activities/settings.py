"""What every activity needs from the outside world, built once by the worker."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from escalation.policy import Policy, load_policy

DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "config" / "policy.toml"


@dataclass
class FaultInjection:
    """Test hook: make named activities fail once *after* their side effect, so tests can prove
    that a retried activity writes and sends exactly once. Empty in production."""

    fail_once_after_effect: set[str] = field(default_factory=set)
    _failed: set[str] = field(default_factory=set)

    def maybe_fail(self, activity_name: str) -> None:
        if activity_name in self.fail_once_after_effect and activity_name not in self._failed:
            self._failed.add(activity_name)
            raise RuntimeError(f"injected failure after the side effect of {activity_name}")


@dataclass
class Settings:
    pool: asyncpg.Pool
    smtp_url: str
    policy_path: Path = DEFAULT_POLICY
    sender: str = "PhotoVault Support <support@photovault.example>"
    temporal_ui_url: str = "http://localhost:8233"
    namespace: str = "default"
    faults: FaultInjection = field(default_factory=FaultInjection)
    _policy: Policy | None = None
    _policy_mtime: float = -1.0

    def policy(self) -> Policy:
        """The policy, re-read when the file changes so ops can re-route without a restart."""
        mtime = self.policy_path.stat().st_mtime
        if self._policy is None or mtime != self._policy_mtime:
            self._policy = load_policy(self.policy_path)
            self._policy_mtime = mtime
        return self._policy


def policy_path_from_env() -> Path:
    return Path(os.environ.get("ESCALATION_POLICY") or DEFAULT_POLICY)
