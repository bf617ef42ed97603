"""The dashboard's knowledge page (seed De-escalation 4–5): what the service learned from
quick resolutions, and the buttons that let triage use it. A draft changes nothing until
approved."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web import permissions
from web.deps import (
    PageAgent,
    ServicesDep,
    same_origin,
)
from web.knowledge import (
    MAX_TEXT_CHARS,
    PatternError,
    decide_pattern,
    edit_pattern,
    list_patterns,
    revoke_pattern,
)
from web.rendering import (
    render_markdown,
)
from web.routes.html import forbidden, page

router = APIRouter(include_in_schema=False)
DECISIONS = {"approve": "approved", "reject": "rejected", "revoke": "draft"}
NOTICES = {
    "approved": " Triage now answers matching tickets with it.",
    "draft": " It waits for review again; triage no longer uses it.",
}


@router.get("/knowledge", response_class=HTMLResponse)
async def knowledge_page(
    request: Request,
    agent: PageAgent,
    found: ServicesDep,
    decided: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> HTMLResponse:
    """Drafts waiting for a human first, with their article and customer answer."""
    return await _render(request, agent, found, decided=decided)


async def _render(
    request: Request,
    agent: PageAgent,
    found: ServicesDep,
    *,
    decided: int | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    patterns = permissions.visible_patterns(agent, await list_patterns(found.pool))
    notice = None
    if decided is not None:
        match = next((p for p in patterns if p.id == decided), None)
        if match is not None and match.status in DECISIONS.values():
            if match.status == "draft":  # back from an edit or a revocation: the later one
                revoked = match.revoked_at is not None and (
                    match.edited_at is None or match.revoked_at >= match.edited_at
                )
                notice = f"Pattern {match.id} is {'revoked' if revoked else 'edited'}."
            else:
                notice = f"Pattern {match.id} is {match.status}."
            notice += NOTICES.get(match.status, "")
    return page(
        request,
        "knowledge.j2",
        {
            "agent": agent,
            "patterns": patterns,
            "articles": {p.id: render_markdown(_body(p.article_markdown)) for p in patterns},
            "notice": notice,
            "error": error,
            "text_max": MAX_TEXT_CHARS,
        },
        status_code=status_code,
    )


def _body(article: str | None) -> str | None:
    """The article without its `# title` line: the card's heading already shows it."""
    if article and article.startswith("# "):
        return article.partition("\n")[2]
    return article


@router.post("/knowledge/{pattern_id}/edit", response_model=None)
async def edit_knowledge(
    request: Request,
    pattern_id: int,
    agent: PageAgent,
    found: ServicesDep,
    title: Annotated[str | None, Form(max_length=300)] = None,
    article_markdown: Annotated[str | None, Form(max_length=MAX_TEXT_CHARS)] = None,
    auto_response: Annotated[str | None, Form(max_length=MAX_TEXT_CHARS)] = None,
) -> Response:
    """The draft's edit form: its title, KB article and auto-response, before approval."""
    if not same_origin(request, found):
        return forbidden(request)
    if not 1 <= pattern_id <= 2**62:
        return await _render(request, agent, found, error="No such pattern.", status_code=404)
    try:
        await permissions.authorize_pattern(found.pool, agent, pattern_id)
        await edit_pattern(
            found.pool,
            pattern_id,
            agent=agent.name,
            title=title,
            article_markdown=article_markdown,
            auto_response=auto_response,
        )
    except permissions.Forbidden as error:
        return await _render(request, agent, found, error=error.message, status_code=403)
    except PatternError as error:
        code = 404 if error.not_found else 409
        return await _render(request, agent, found, error=error.message, status_code=code)
    return RedirectResponse(f"/knowledge?decided={pattern_id}#pattern-{pattern_id}", 303)


@router.post("/knowledge/{pattern_id}/{decision}", response_model=None)
async def decide_knowledge(
    request: Request,
    pattern_id: int,
    decision: str,
    agent: PageAgent,
    found: ServicesDep,
    reviewed_sha256: Annotated[str | None, Form(max_length=64)] = None,
    reason: Annotated[str | None, Form(max_length=300)] = None,
) -> Response:
    """The Approve / Reject / Revoke buttons: decide, then show the list again
    (post/redirect/get). Approve sends the hash of the text shown with it."""
    if not same_origin(request, found):
        return forbidden(request)
    if decision not in DECISIONS or not 1 <= pattern_id <= 2**62:
        return await _render(
            request, agent, found, error="No such pattern or decision.", status_code=404
        )
    try:
        await permissions.authorize_pattern(found.pool, agent, pattern_id)
        if decision == "revoke":
            await revoke_pattern(found.pool, pattern_id, agent=agent.name, reason=reason or None)
        else:
            await decide_pattern(
                found.pool,
                pattern_id,
                approve=decision == "approve",
                agent=agent.name,
                reviewed_sha256=reviewed_sha256 or None,
            )
    except permissions.Forbidden as error:
        return await _render(request, agent, found, error=error.message, status_code=403)
    except PatternError as error:
        code = 404 if error.not_found else 409
        return await _render(request, agent, found, error=error.message, status_code=code)
    return RedirectResponse(f"/knowledge?decided={pattern_id}#pattern-{pattern_id}", 303)
