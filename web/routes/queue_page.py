"""The queue page: open escalations, most urgent first; queue.js keeps it current."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from escalation.models import TEAMS
from web import permissions, queries
from web.deps import (
    PageAgent,
    ServicesDep,
)
from web.routes.html import page
from web.schemas import (
    TEAM_PATTERN,
)

router = APIRouter(include_in_schema=False)


# --- queue ---------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    agent: PageAgent,
    found: ServicesDep,
    team: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[str | None, Query(max_length=1024)] = None,
) -> HTMLResponse:
    """Open escalations, most urgent first, a page of queries.QUEUE_PAGE at a time with a link
    to the next (keyset: `after` is the previous page's cursor); queue.js keeps the first page
    current without reloading."""
    selected = team if team and re.fullmatch(TEAM_PATTERN, team) else None
    visible = permissions.visible_teams(agent)
    cursor = None
    if after:
        try:
            cursor = queries.QueueCursor.decode(after)
        except ValueError as error:
            context = {"agent": agent, "title": "Bad page link", "message": f"after: {error}."}
            return page(request, "error.j2", context, status_code=422)
    found_page = await queries.queue_page(found.pool, selected, visible, queries.QUEUE_PAGE, cursor)
    next_link = None
    if found_page.next is not None:
        query = {"after": found_page.next.encode(), **({"team": selected} if selected else {})}
        next_link = "/?" + urlencode(query)
    return page(
        request,
        "queue.j2",
        {
            "agent": agent,
            "rows": found_page.rows,
            "teams": TEAMS if visible is None else tuple(visible),
            "team": selected,
            "now": datetime.now(UTC),
            "paged": cursor is not None,
            "next_link": next_link,
            "first_link": "/?" + urlencode({"team": selected}) if selected else "/",
        },
    )
