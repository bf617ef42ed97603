"""Agents' corrections of triage, recorded in
`triage_corrections` by the workflow, written as labelled cases in the triage-dev format, so
`starter.py triage eval FILE` scores a policy change against the team's own history.

One case per escalation episode: its latest correction is the label that stands (an agent who
moved a ticket to billing and then to legal says legal). The CLI verb that writes the file is
cli/triage.py `export_corrections`.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg

from escalation.evaluation import correction_case
from escalation.messages import TriageCorrection

# The latest correction of every episode, oldest episode first, with how many it had.
_LATEST = """
SELECT * FROM (
    SELECT DISTINCT ON (workflow_id, episode_id) *,
           count(*) OVER (PARTITION BY workflow_id, episode_id) AS corrections
      FROM triage_corrections
     ORDER BY workflow_id, episode_id, sequence DESC, id DESC
) latest
ORDER BY corrected_at, id
"""


def _correction(row: asyncpg.Record) -> TriageCorrection:
    return TriageCorrection(
        key=row["idempotency_key"],
        ticket_id=row["ticket_id"],
        workflow_id=row["workflow_id"],
        episode_id=row["episode_id"],
        run_id=row["run_id"],
        sequence=row["sequence"],
        payload=row["payload"],
        triage_team=row["triage_team"],
        triage_priority=row["triage_priority"],
        triage_scenario=row["triage_scenario"],
        previous_team=row["previous_team"],
        previous_priority=row["previous_priority"],
        team=row["agent_team"],
        priority=row["agent_priority"],
        agent=row["agent"],
        reason=row["reason"],
        corrected_at=row["corrected_at"],
    )


async def correction_cases(db: asyncpg.Pool | asyncpg.Connection) -> list[dict[str, object]]:
    """Every episode's latest correction as a case, oldest first."""
    return [
        correction_case(
            _correction(row),
            case_id=f"correction-{row['ticket_id']}-{row['id']}",
            corrections=row["corrections"],
        )
        for row in await db.fetch(_LATEST)
    ]


def unwritable(path: Path) -> str | None:
    """Why `path` cannot be written as a file, or None."""
    if path.is_dir():
        return f"{path}: is a directory"
    folder = path.parent
    if not folder.is_dir():
        return f"{path}: no such folder {folder}"
    if not os.access(path if path.exists() else folder, os.W_OK):
        return f"{path}: permission denied"
    return None
