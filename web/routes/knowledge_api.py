"""The learned patterns over the JSON API: list, read, edit, approve or reject, revoke — for
the agent's teams only, with four-eyes approval (web/knowledge.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from web import permissions
from web.deps import (
    ApiAgent,
    ServicesDep,
)
from web.knowledge import (
    STATUSES,
    KnowledgePattern,
    PatternError,
    decide_pattern,
    edit_pattern,
    list_patterns,
    revoke_pattern,
)
from web.routes.openapi import errors
from web.schemas import (
    PatternEdit,
    PatternReview,
    PatternRevoke,
)

knowledge = APIRouter(prefix="/api", tags=["agents"], responses=errors(413))


# --- learned patterns (seed De-escalation 3-5) ------------------------------------------------

PatternIdPath = Annotated[int, Path(ge=1, le=2**62, description="The learned pattern's id")]


def _pattern_refused(error: PatternError) -> HTTPException:
    return HTTPException(status_code=404 if error.not_found else 409, detail=error.message)


@knowledge.get(
    "/knowledge",
    response_model=list[KnowledgePattern],
    summary="Learned patterns: drafts waiting for approval first",
    responses=errors(401, 503),
)
async def list_knowledge(
    agent: ApiAgent,
    found: ServicesDep,
    status: Annotated[
        str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$", description="Only these")
    ] = None,
) -> list[KnowledgePattern]:
    return permissions.visible_patterns(agent, await list_patterns(found.pool, status))


@knowledge.get(
    "/knowledge/{pattern_id}",
    response_model=KnowledgePattern,
    summary="One learned pattern: its KB article draft and auto-response candidate",
    responses=errors(401, 403, 404, 503),
)
async def knowledge_pattern(
    pattern_id: PatternIdPath, agent: ApiAgent, found: ServicesDep
) -> KnowledgePattern:
    """403 for a pattern learned from another team's tickets (web/permissions.py)."""
    try:
        return await permissions.authorize_pattern(found.pool, agent, pattern_id)
    except PatternError as error:
        raise _pattern_refused(error) from None


@knowledge.post(
    "/knowledge/{pattern_id}/edit",
    response_model=KnowledgePattern,
    summary="Edit a draft's title, KB article or auto-response before it is approved",
    responses=errors(400, 401, 403, 404, 409, 503),
)
async def edit_knowledge(
    pattern_id: PatternIdPath,
    body: PatternEdit,
    agent: ApiAgent,
    found: ServicesDep,
) -> KnowledgePattern:
    """Only a draft is edited (an approved pattern is revoked first, 409); the editor is
    recorded and cannot approve the text they wrote."""
    try:
        await permissions.authorize_pattern(found.pool, agent, pattern_id)
        return await edit_pattern(
            found.pool,
            pattern_id,
            agent=agent.name,
            title=body.title,
            article_markdown=body.article_markdown,
            auto_response=body.auto_response,
        )
    except PatternError as error:
        raise _pattern_refused(error) from None


@knowledge.post(
    "/knowledge/{pattern_id}/revoke",
    response_model=KnowledgePattern,
    summary="Revoke an approval: the pattern is a draft again, out of triage at once",
    responses=errors(400, 401, 403, 404, 409, 503),
)
async def revoke_knowledge(
    pattern_id: PatternIdPath,
    agent: ApiAgent,
    found: ServicesDep,
    body: PatternRevoke | None = None,
) -> KnowledgePattern:
    """Only an approved pattern is revoked (409 otherwise); who revoked it and why are kept."""
    try:
        await permissions.authorize_pattern(found.pool, agent, pattern_id)
        return await revoke_pattern(
            found.pool, pattern_id, agent=agent.name, reason=body.reason if body else None
        )
    except PatternError as error:
        raise _pattern_refused(error) from None


@knowledge.post(
    "/knowledge/{pattern_id}/{decision}",
    response_model=KnowledgePattern,
    summary="Approve a draft (triage then answers matching tickets with it) or reject it",
    responses=errors(400, 401, 403, 404, 409, 503),
)
async def decide_knowledge(
    pattern_id: PatternIdPath,
    decision: Annotated[str, Path(pattern="^(approve|reject)$")],
    agent: ApiAgent,
    found: ServicesDep,
    body: PatternReview | None = None,
) -> KnowledgePattern:
    """Only a draft can be decided; repeating the same decision is harmless (200). Approval is
    a second person's: 409 for an agent who resolved one of the pattern's tickets or wrote its
    current text, and (with `reviewedSha256`) for a text changed since it was read. The
    approval keeps the text's SHA-256 (`approvedSha256`), and is refused (409) while the text
    quotes an email address, phone number, link or identifier of the customers whose tickets
    the pattern came from. 403 on every pattern route for a pattern of another team's tickets
    (web/permissions.py)."""
    try:
        await permissions.authorize_pattern(found.pool, agent, pattern_id)
        return await decide_pattern(
            found.pool,
            pattern_id,
            approve=decision == "approve",
            agent=agent.name,
            reviewed_sha256=body.reviewed_sha256 if body else None,
        )
    except PatternError as error:
        raise _pattern_refused(error) from None
