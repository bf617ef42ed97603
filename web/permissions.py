"""Who may see and act on which escalation: the one place the dashboard's pages and the
agents' API (web/routes/) ask.

An escalation belongs to the team holding it now (triage's team, or the one it was reassigned
to). An `agent` sees and acts on their team's, a `manager` on those of their teams, an `admin`
on all; legal tickets are only for the legal team's members and admins (web/auth.py refuses a
manager of another team listing legal). A ticket whose team is not known yet (before triage
has decided it) is for admins only: it may turn out to be a legal request.

A learned pattern (web/knowledge.py) belongs to the teams that held its tickets when they were
resolved (`KnowledgePattern.teams`, from the resolutions recorded): an agent sees and acts on
it (reads, edits, approves, rejects, revokes) when they work for one of them, a pattern with a
legal ticket is for the legal team's members and admins only, and one with no resolution
recorded for admins only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from web import queries, temporal_ops
from web.auth import RESTRICTED_TEAM, Agent
from web.knowledge import KnowledgePattern, get_pattern
from web.services import Services


class Forbidden(Exception):
    """The agent may not see this ticket: 403 (API) or a 403 page. The message names the
    ticket, never its content or its team."""

    def __init__(self, ticket_id: str) -> None:
        self.message = f"ticket {ticket_id} is not held by a team you work for"
        super().__init__(self.message)


class PatternForbidden(Forbidden):
    """The agent may not see or act on this learned pattern: 403, the CLI's exit 2. The
    message names the pattern, never its text or its teams."""

    def __init__(self, pattern_id: int) -> None:
        self.message = f"pattern {pattern_id} was learned from tickets of teams you do not work for"
        Exception.__init__(self, self.message)


def may_see(agent: Agent, team: str | None) -> bool:
    """Whether `agent` sees an escalation held by `team` (None: not triaged yet)."""
    if agent.admin:
        return True
    if team is None:
        return False
    if team == RESTRICTED_TEAM and agent.team != RESTRICTED_TEAM:
        return False
    return team in agent.works_for


def check(agent: Agent, ticket_id: str, team: str | None) -> None:
    """Forbidden unless `agent` may see the ticket held by `team`."""
    if not may_see(agent, team):
        raise Forbidden(ticket_id)


def visible_teams(agent: Agent) -> Sequence[str] | None:
    """The teams whose escalations the queue shows `agent`; None for an admin (every team,
    and the untriaged)."""
    if agent.admin:
        return None
    return [team for team in agent.works_for if may_see(agent, team)]


async def ticket_team(found: Services, ticket_id: str) -> str | None:
    """The team holding the ticket now: the run's own answer, or (when the run does not
    answer or is gone) its latest episode's row. TicketError when neither knows the ticket."""
    try:
        live = await temporal_ops.status(found.temporal, ticket_id)
    except temporal_ops.TicketError:
        row = await queries.assignment(found.pool, ticket_id)
        if row is None:
            raise
        return row.team
    return live.team


async def authorize(found: Services, agent: Agent, ticket_id: str) -> None:
    """Before an action on the ticket: Forbidden unless the agent may act on it (an admin is
    never asked about the team, so a ticket unknown to Temporal still answers 404 later)."""
    if agent.admin:
        return
    check(agent, ticket_id, await ticket_team(found, ticket_id))


def may_see_pattern(agent: Agent, teams: Sequence[str]) -> bool:
    """Whether `agent` sees a learned pattern whose tickets were resolved by `teams`."""
    if agent.admin:
        return True
    if not teams:
        return False
    if RESTRICTED_TEAM in teams and agent.team != RESTRICTED_TEAM:
        return False
    return any(may_see(agent, team) for team in teams)


def visible_patterns(agent: Agent, patterns: Iterable[KnowledgePattern]) -> list[KnowledgePattern]:
    """The patterns `agent` may see, in their order."""
    return [pattern for pattern in patterns if may_see_pattern(agent, pattern.teams)]


def check_pattern(agent: Agent, pattern: KnowledgePattern) -> None:
    """PatternForbidden unless `agent` may see and act on the pattern."""
    if not may_see_pattern(agent, pattern.teams):
        raise PatternForbidden(pattern.id)


async def authorize_pattern(
    db: asyncpg.Pool | asyncpg.Connection, agent: Agent, pattern_id: int
) -> KnowledgePattern:
    """The pattern, before reading or acting on it: PatternError (404) when there is none,
    PatternForbidden (403) when it is another team's."""
    pattern = await get_pattern(db, pattern_id)
    check_pattern(agent, pattern)
    return pattern
