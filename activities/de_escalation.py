"""De-escalation (seed "De-escalation"): when a human resolves the ticket —
1. update ticket status (the `tickets` row; the ticketing system through a signed webhook),
2. log the resolution with its timing (`resolutions`),
3. learn from the solution: a quick resolution joins its pattern (`kb_patterns`),
4. update the KB if it is a new pattern: at the policy's count, a KB article draft,
5. consider adding it to the auto-response list: the draft's customer answer, which a human
   approves (`starter.py kb approve`, the dashboard) before triage ever uses it.
"""

from __future__ import annotations

import re
from collections import Counter

import asyncpg
from temporalio import activity

from activities.rendering import excerpt, kb_article_markdown, known_solution_answer
from activities.settings import Settings
from activities.webhook import post_webhook_once
from escalation.learning import common_symptoms, normalise_resolution, pattern_key, terms
from escalation.learning import quick_resolution as judge_quick
from escalation.messages import ClosedTicket, ResolutionRecord, TicketStatusUpdate
from escalation.policy import Policy
from escalation.redaction import redacted

MAX_STEPS = 8
# Sentences, semicolons, line breaks and "then" separate the steps an agent wrote.
STEP_BREAK = re.compile(r"(?<=[.!?])\s+|;\s*|\n+|,?\s+then\s+", re.IGNORECASE)
MAX_SUBJECTS = 5


class DeEscalationActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def close_ticket(self, record: ResolutionRecord) -> ClosedTicket:
        """Steps 1–5 in one transaction: a retry finds the resolution row and changes nothing
        (the pattern's count is recomputed from its resolutions, never incremented)."""
        policy = self.settings.policy()
        rules = policy.de_escalation
        paused = max(0.0, record.paused_seconds)
        quick, after_response = judge_quick(
            responded_at=record.responded_at,
            resolved_at=record.resolved_at,
            paused_after_response_seconds=paused,
            response_target_seconds=record.response_target_seconds,
            quick_within=rules.quick_within,
        )
        elapsed = (record.resolved_at - record.escalated_at).total_seconds()
        closed = ClosedTicket(
            resolution_seconds=max(0.0, elapsed - paused),
            after_response_seconds=after_response,
            quick=quick,
            quick_threshold_seconds=rules.quick_within * record.response_target_seconds,
            notify_ticketing_system=self.settings.ticket_status_webhook is not None,
        )
        async with self.settings.pool.acquire() as db, db.transaction():
            await db.execute(
                """
                UPDATE tickets SET status = 'resolved', resolved_at = $2, resolution = $3
                 WHERE ticket_id = $1
                """,
                record.ticket_id, record.resolved_at, record.resolution,
            )  # fmt: skip
            await db.execute(
                """
                INSERT INTO resolutions (ticket_id, episode_id, team, priority, scenario,
                    error_code, resolved_by, resolution, escalation_necessary, escalated_at,
                    responded_at, resolved_at, response_target_seconds, paused_seconds,
                    resolution_seconds, after_response_seconds, quick, symptom_terms)
                VALUES ($1, $18, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                        $16, $17)
                ON CONFLICT (episode_id) DO NOTHING
                """,
                record.ticket_id, record.team, record.priority.value, record.scenario,
                record.error_code, record.agent, record.resolution, record.escalation_necessary,
                record.escalated_at, record.responded_at, record.resolved_at,
                record.response_target_seconds, paused, closed.resolution_seconds,
                after_response, quick, terms(record.ticket_text)[:40], record.episode_id,
            )  # fmt: skip
            if quick and record.scenario and normalise_resolution(record.resolution):
                await self._learn(db, record, policy, closed)
        self.settings.faults.maybe_fail("close_ticket")
        return closed

    async def _learn(
        self,
        db: asyncpg.Connection,
        record: ResolutionRecord,
        policy: Policy,
        closed: ClosedTicket,
    ) -> None:
        """File the resolution under its pattern; at the threshold, draft the KB article."""
        assert record.scenario is not None
        error_code = (record.error_code or "").strip().upper() or None
        pattern_id = await db.fetchval(
            """
            INSERT INTO kb_patterns (pattern_key, scenario, error_code, normalised_resolution)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (pattern_key) DO UPDATE SET updated_at = kb_patterns.updated_at
            RETURNING id
            """,
            pattern_key(record.scenario, error_code, record.resolution),
            record.scenario,
            error_code,
            normalise_resolution(record.resolution),
        )  # the upsert locks the pattern row: concurrent resolutions of it take turns
        await db.execute(
            "UPDATE resolutions SET pattern_id = $2 WHERE episode_id = $1 AND pattern_id IS NULL",
            record.episode_id,
            pattern_id,
        )
        pattern = await db.fetchrow("SELECT * FROM kb_patterns WHERE id = $1", pattern_id)
        members = await db.fetch(
            """
            SELECT r.ticket_id, r.team, r.priority, r.resolved_by, r.resolution,
                   r.after_response_seconds, r.symptom_terms, t.subject
              FROM resolutions r LEFT JOIN tickets t USING (ticket_id)
             WHERE r.pattern_id = $1
             ORDER BY r.resolved_at, r.ticket_id
            """,
            pattern_id,
        )
        status = pattern["status"]
        symptoms = common_symptoms([list(m["symptom_terms"]) for m in members])
        draft: dict[str, object] = {}
        ready = len(members) >= policy.de_escalation.pattern_min_occurrences
        if status in ("collecting", "draft") and ready:
            draft = self._draft(policy, record.scenario, error_code, members, symptoms)
            status = "draft"
        await db.execute(
            """
            UPDATE kb_patterns
               SET occurrences = $2, ticket_ids = $3, symptom_terms = $4, status = $5,
                   title = coalesce($6, title), article_markdown = coalesce($7, article_markdown),
                   auto_response = coalesce($8, auto_response),
                   drafted_at = CASE WHEN $5 = 'draft' THEN coalesce(drafted_at, now())
                                     ELSE drafted_at END,
                   updated_at = now()
             WHERE id = $1
            """,
            pattern_id, len(members), [m["ticket_id"] for m in members], symptoms, status,
            draft.get("title"), draft.get("article"), draft.get("answer"),
        )  # fmt: skip
        closed.pattern_id = pattern_id
        closed.pattern_status = status
        closed.pattern_occurrences = len(members)

    @staticmethod
    def _draft(
        policy: Policy,
        scenario: str,
        error_code: str | None,
        members: list[asyncpg.Record],
        symptoms: list[str],
    ) -> dict[str, object]:
        """The KB article and the auto-response candidate, from the pattern's resolutions.

        Written from several customers' tickets for others to read: what it quotes of them
        (the resolutions' wording, the tickets' subjects) has their email addresses, links,
        phone numbers and identifiers redacted first (escalation/redaction.py), our own hosts
        (`de_escalation.our_hosts`) kept."""
        label = policy.scenario(scenario).label if policy.has_scenario(scenario) else scenario
        ours = policy.de_escalation.our_hosts

        def clean(text: str) -> str:
            return redacted(" ".join(text.split()), ours)

        # One pattern is one fix: its most common wording (ties: the earliest), as steps.
        wordings = Counter(clean(m["resolution"]) for m in members)
        wording = wordings.most_common(1)[0][0]
        steps = [
            part[:1].upper() + part[1:]
            for part in (p.strip(" .") for p in STEP_BREAK.split(wording))
            if part
        ][:MAX_STEPS] or [wording]
        fix = excerpt(wording.rstrip("."), 80)
        title = f"{label}{f' ({error_code})' if error_code else ''}: {fix}"
        subjects = list(dict.fromkeys(clean(m["subject"]) for m in members if m["subject"]))
        article = kb_article_markdown(
            title=title,
            scenario_label=label,
            error_code=error_code,
            subjects=subjects[:MAX_SUBJECTS],
            symptom_terms=symptoms,
            steps=steps,
            tickets=[
                {
                    "ticket_id": m["ticket_id"],
                    "resolved_by": m["resolved_by"],
                    "minutes": round((m["after_response_seconds"] or 0) / 60, 1),
                    "team": m["team"],
                    "priority": m["priority"],
                }
                for m in members
            ],
        )
        problem = f"{label.lower()}{f' (error {error_code})' if error_code else ''}"
        answer = known_solution_answer(problem, steps)
        return {"title": title, "article": article, "answer": answer}

    @activity.defn
    async def notify_ticketing_system(self, update: TicketStatusUpdate) -> bool:
        """Step 1 outside: the signed status webhook, once per ticket (False: not configured)."""
        webhook = self.settings.ticket_status_webhook
        if webhook is None:
            return False
        await post_webhook_once(
            self.settings,
            key=f"{update.ticket_id}:{update.episode_id}:status:{update.status}",
            ticket_id=update.ticket_id,
            kind="ticket_status",
            url=webhook.url,
            payload={"type": "ticket.status_changed", "data": update.to_json_dict()},
            secret=webhook.secret,
        )
        return True
