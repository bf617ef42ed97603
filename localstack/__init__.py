"""Embedded local stack: PostgreSQL, Temporal dev server and an SMTP sink, without Docker.

Used by `make demo` (`LocalStack`) and by the tests (`EmbeddedPostgres.temporary()`,
`SmtpSink.temporary()`, `start_local_env()`, `start_time_skipping_env()`). Submodules import
lazily so that, e.g., a test needing only the SMTP sink does not import temporalio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from localstack.errors import AlreadyRunning, PortInUse, StackError

if TYPE_CHECKING:
    from localstack.postgres import EmbeddedPostgres
    from localstack.smtp import SmtpSink
    from localstack.stack import LocalStack
    from localstack.temporal import SEARCH_ATTRIBUTES, TemporalDevServer

__all__ = [
    "SEARCH_ATTRIBUTES",
    "AlreadyRunning",
    "EmbeddedPostgres",
    "LocalStack",
    "PortInUse",
    "SmtpSink",
    "StackError",
    "TemporalDevServer",
]

_LAZY = {
    "EmbeddedPostgres": "localstack.postgres",
    "SmtpSink": "localstack.smtp",
    "LocalStack": "localstack.stack",
    "TemporalDevServer": "localstack.temporal",
    "SEARCH_ATTRIBUTES": "localstack.temporal",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'localstack' has no attribute {name!r}")
