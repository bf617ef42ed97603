"""Ops endpoints: liveness, readiness (PostgreSQL and Temporal, with short timeouts; compose's
healthchecks use it) and the Prometheus scrape (a token, or an explicit opt-out)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from web.deps import ServicesDep
from web.prometheus import render_metrics
from web.readiness import readiness
from web.routes.openapi import RETRY_AFTER
from web.schemas import Health, Readiness
from web.services import WebConfig

router = APIRouter()


def metrics_refusal(config: WebConfig, authorization: str) -> Response | None:
    """None when the scrape may read the figures, else the answer: 401 for a missing or wrong
    token, 403 when no token is configured and nobody opted out."""
    if config.metrics_public:
        return None
    if config.metrics_token is None:
        return JSONResponse(
            {"detail": "/metrics needs ESCALATION_METRICS_TOKEN (or ESCALATION_METRICS_PUBLIC=1)"},
            status_code=403,
        )
    scheme, _, token = authorization.partition(" ")
    given = token.strip().encode() if scheme.lower() == "bearer" else b""
    if not hmac.compare_digest(given, config.metrics_token.encode()):
        return JSONResponse(
            {"detail": "a scrape token is required"},
            status_code=401,
            headers={"www-authenticate": 'Bearer realm="metrics"'},
        )
    return None


@router.get("/healthz", response_model=Health, tags=["ops"], summary="Liveness")
async def healthz() -> Health:
    return Health(ok=True)


@router.get(
    "/readyz",
    response_model=Readiness,
    tags=["ops"],
    summary="Readiness: PostgreSQL and Temporal answer (503 with Retry-After if not)",
    responses={503: {"model": Readiness, "description": "A dependency is down"}},
)
async def readyz(found: ServicesDep) -> JSONResponse:
    answer = await readiness(found.pool, found.temporal, found.config.database.readiness_timeout)
    return JSONResponse(
        answer.model_dump(mode="json", by_alias=True),
        status_code=200 if answer.ready else 503,
        headers=None if answer.ready else RETRY_AFTER,
    )


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request, found: ServicesDep) -> Response:
    """Prometheus text format (scraped by ops, not part of the API): `Authorization:
    Bearer <ESCALATION_METRICS_TOKEN>`, unless ESCALATION_METRICS_PUBLIC opts out."""
    if refused := metrics_refusal(found.config, request.headers.get("authorization", "")):
        return refused
    return Response(await render_metrics(found.pool), media_type=CONTENT_TYPE_LATEST)
