"""`/readyz`: can this process serve requests now? PostgreSQL answers `SELECT 1` through the
pool and Temporal describes our namespace, each within `DatabaseLimits.readiness_timeout`.

`/healthz` (liveness) never touches a dependency: an orchestrator restarting the web app
because PostgreSQL is down helps nobody. `/readyz` takes it out of rotation instead (compose's
healthcheck, a load balancer's probe). The answer names which dependency is down, never why
(the reason is logged).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from web.schemas import Readiness

log = logging.getLogger("web")


async def postgres_ready(pool: asyncpg.Pool, within: float) -> bool:
    try:
        async with asyncio.timeout(within):
            async with pool.acquire(timeout=within) as connection:
                await connection.fetchval("SELECT 1", timeout=within)
    except Exception as error:  # any failure means "not ready"; the reason goes to the log
        log.warning("readiness: PostgreSQL is not ready: %r", error)
        return False
    return True


async def temporal_ready(client: Client, within: float) -> bool:
    try:
        async with asyncio.timeout(within):
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=client.namespace),
                timeout=timedelta(seconds=within),
            )
    except Exception as error:
        log.warning("readiness: Temporal is not ready: %r", error)
        return False
    return True


async def readiness(pool: asyncpg.Pool, client: Client, within: float) -> Readiness:
    """Both checks at once: the answer takes at most `within` seconds (plus a little)."""
    postgres, temporal = await asyncio.gather(
        postgres_ready(pool, within), temporal_ready(client, within)
    )
    return Readiness(
        ready=postgres and temporal,
        postgres="up" if postgres else "down",
        temporal="up" if temporal else "down",
    )
