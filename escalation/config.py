"""Addresses from the environment (Contract 3), read by the processes, never by workflow code."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

TASK_QUEUE = "escalations"


@dataclass(frozen=True)
class Endpoints:
    temporal_address: str
    namespace: str
    database_url: str
    smtp_url: str
    temporal_ui_url: str
    task_queue: str

    @classmethod
    def from_env(cls, overrides: Mapping[str, str] | None = None) -> Endpoints:
        env = {**os.environ, **(overrides or {})}
        ui_port = env.get("TEMPORAL_UI_PORT", "8233")
        return cls(
            temporal_address=env.get("TEMPORAL_ADDRESS", "localhost:7233"),
            namespace=env.get("TEMPORAL_NAMESPACE", "default"),
            database_url=env.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5433/escalation"),
            smtp_url=env.get("SMTP_URL", "smtp://127.0.0.1:1025"),
            temporal_ui_url=env.get("TEMPORAL_UI_URL", f"http://localhost:{ui_port}"),
            task_queue=env.get("ESCALATION_TASK_QUEUE", TASK_QUEUE),
        )

    def workflow_url(self, workflow_id: str) -> str:
        return f"{self.temporal_ui_url}/namespaces/{self.namespace}/workflows/{workflow_id}"
