"""Who may see and act on which escalation: the one place the dashboard's pages (web/pages.py)
and the agents' API (web/api.py) ask.

An escalation belongs to the team holding it now (triage's team, or the one it was reassigned
to). An `agent` sees and acts on their team's, a `manager` on those of their teams, an `admin`
on all; legal tickets are only for the legal team's members and admins (web/auth.py refuses a
manager of another team listing legal). A ticket whose team is not known yet (before triage
has decided it) is for admins only: it may turn out to be a legal request.
"""

from __future__ import annotations

from collections.abc import Sequence

from web import queries, temporal_ops
from web.auth import RESTRICTED_TEAM, Agent
from web.services import Services


class Forbidden(Exception):
    """The agent may not see this ticket: 403 (API) or a 403 page. The message names the
    ticket, never its content or its team."""

    def __init__(self, ticket_id: str) -> None:
        self.message = f"ticket {ticket_id} is not held by a team you work for"
        super().__init__(self.message)


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
