"""Step 1 — prepare the escalation package: whatever the payload lacks is gathered from
PostgreSQL (customer profile, ticket history, technical context), and the ticket is recorded
so later tickets can count it (history, several-users rule, escalation-rate denominator)."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
from temporalio import activity

from activities.settings import Settings
from escalation.models import (
    Customer,
    EscalationPackage,
    History,
    KnownSolution,
    TechnicalContext,
)
from escalation.run_state import EscalationInput


def describe_age(since: datetime, at: datetime) -> str:
    """'6 months', '1 year 2 months', '12 days': how an agent says account age."""
    days = max((at - since).days, 0)
    if days < 31:
        return f"{days} day{'s' if days != 1 else ''}"
    months = round(days / 30.44)
    years, months = divmod(months, 12)
    parts = []
    if years:
        parts.append(f"{years} year{'s' if years != 1 else ''}")
    if months:
        parts.append(f"{months} month{'s' if months != 1 else ''}")
    return " ".join(parts)


def describe_duration(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    if minutes < 90:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(minutes / 60)
    if hours < 48:
        return f"{hours} hours"
    return f"{round(hours / 24)} days"


def describe_size(size_bytes: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size_bytes >= factor:
            value = size_bytes / factor
            return (
                f"{value:.0f}{unit}" if value >= 10 or value.is_integer() else f"{value:.1f}{unit}"
            )
    return f"{size_bytes}B"


def _fill(model: object, values: dict[str, object]) -> None:
    """Set each value only where the payload left the field empty: the payload wins."""
    for name, value in values.items():
        if getattr(model, name) is None and value is not None:
            setattr(model, name, value)


# An approved pattern answers tickets only with the text its approver reviewed: its
# `approved_sha256` (web/knowledge.py text_sha256, the same unit-separated text) must still be
# the hash of its title, article and auto-response. Approvals from before migration 009 have no
# hash and are kept.
APPROVED_TEXT_INTACT = """(approved_sha256 IS NULL OR approved_sha256 = encode(sha256(convert_to(
    concat_ws(E'\\x1f', coalesce(title, ''), coalesce(article_markdown, ''),
              coalesce(auto_response, '')), 'UTF8')), 'hex'))"""


class PackageActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def gather_escalation_package(self, input: EscalationInput) -> EscalationPackage:
        payload = input.payload
        ticket = payload.ticket
        customer = (payload.customer or Customer()).model_copy(deep=True)
        history = (payload.history or History()).model_copy(deep=True)
        technical = (payload.technical_context or TechnicalContext()).model_copy(deep=True)
        window = timedelta(minutes=self.settings.policy().modifiers.several_users_window_minutes)

        async with self.settings.pool.acquire() as db:
            profile = await self._customer_profile(db, customer.user_id, ticket.customer_email)
            if profile is not None:
                _fill(
                    customer,
                    {
                        "user_id": profile["user_id"],
                        "account_status": profile["account_status"],
                        "account_age": describe_age(profile["account_created"], ticket.created_at),
                        "total_galleries": profile["total_galleries"],
                        "total_photos": profile["total_photos"],
                        "last_login": profile["last_login"],
                    },
                )
            if history.previous_tickets is None:
                _fill(
                    history,
                    await self._history(db, ticket.id, ticket.customer_email, ticket.created_at),
                )
            if customer.user_id:
                _fill(
                    technical,
                    await self._technical_context(db, customer.user_id, ticket.created_at),
                )
            async with db.transaction():
                await db.execute(
                    """
                    INSERT INTO tickets (ticket_id, user_id, customer_email, subject, category,
                                         urgency, error_code, created_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    ON CONFLICT (ticket_id) DO NOTHING
                    """,
                    ticket.id,
                    profile["user_id"] if profile is not None else None,
                    ticket.customer_email,
                    ticket.subject,
                    ticket.category,
                    ticket.urgency.value,
                    technical.error_code,
                    ticket.created_at,
                )
            recent_reports = 0
            if technical.error_code:
                recent_reports = await db.fetchval(
                    """
                    SELECT count(DISTINCT customer_email) FROM tickets
                    WHERE error_code = $1 AND customer_email <> $2
                      AND created_at BETWEEN $3 AND $4
                    """,
                    technical.error_code,
                    ticket.customer_email,
                    ticket.created_at - window,
                    ticket.created_at + window,
                )

            known = await db.fetch(
                f"""
                SELECT id, scenario, error_code, symptom_terms, title, auto_response
                  FROM kb_patterns
                 WHERE status = 'approved' AND auto_response IS NOT NULL
                   AND {APPROVED_TEXT_INTACT}
                   AND (error_code IS NULL OR error_code = upper($1))
                 ORDER BY id
                """,
                (technical.error_code or "").strip(),
            )

        gaps = []
        if profile is None and payload.customer is None:
            gaps.append("customer profile")
        if history.previous_tickets is None:
            gaps.append("ticket history")
        if all(
            value is None
            for value in (technical.error_code, technical.browser_info, technical.upload_status)
        ):
            gaps.append("technical context")
        return EscalationPackage(
            ticket=ticket,
            customer=customer,
            history=history,
            technical_context=technical,
            recent_reports=recent_reports,
            gaps=gaps,
            known_solutions=[
                KnownSolution(
                    id=row["id"],
                    scenario=row["scenario"],
                    error_code=row["error_code"],
                    symptom_terms=list(row["symptom_terms"]),
                    title=row["title"] or f"Known solution #{row['id']}",
                    auto_response=row["auto_response"],
                )
                for row in known
            ],
        )

    async def _customer_profile(
        self, db: asyncpg.Connection, user_id: str | None, email: str
    ) -> asyncpg.Record | None:
        return await db.fetchrow(
            "SELECT * FROM customers WHERE user_id = $1 OR lower(email) = lower($2)"
            " ORDER BY (user_id = $1) DESC LIMIT 1",
            user_id,
            email,
        )

    async def _history(
        self, db: asyncpg.Connection, ticket_id: str, email: str, before: datetime
    ) -> dict[str, object]:
        row = await db.fetchrow(
            """
            SELECT count(*) AS previous,
                   max(created_at) AS last_at,
                   avg(resolved_at - created_at) AS average_resolution,
                   (SELECT resolution FROM tickets p
                     WHERE lower(p.customer_email) = lower($2) AND p.ticket_id <> $1
                       AND p.created_at < $3
                     ORDER BY p.created_at DESC LIMIT 1) AS last_resolution
              FROM tickets
             WHERE lower(customer_email) = lower($2) AND ticket_id <> $1 AND created_at < $3
            """,
            ticket_id,
            email,
            before,
        )
        return {
            "previous_tickets": row["previous"],
            "last_ticket_date": row["last_at"].date() if row["last_at"] else None,
            "last_ticket_resolution": row["last_resolution"],
            "average_resolution_time": (
                describe_duration(row["average_resolution"]) if row["average_resolution"] else None
            ),
        }

    async def _technical_context(
        self, db: asyncpg.Connection, user_id: str, before: datetime
    ) -> dict[str, object]:
        last = await db.fetchrow(
            "SELECT * FROM upload_events WHERE user_id = $1 AND attempted_at <= $2"
            " ORDER BY attempted_at DESC LIMIT 1",
            user_id,
            before,
        )
        last_ok = await db.fetchval(
            "SELECT max(attempted_at) FROM upload_events"
            " WHERE user_id = $1 AND attempted_at <= $2 AND status = 'succeeded'",
            user_id,
            before,
        )
        if last is None:
            return {"last_successful_upload": last_ok}
        return {
            "last_upload_attempt": last["attempted_at"],
            "upload_status": last["status"],
            "error_code": last["error_code"],
            "browser_info": last["browser_info"],
            "file_size": describe_size(last["file_size_bytes"])
            if last["file_size_bytes"]
            else None,
            "file_count": last["file_count"],
            "last_successful_upload": last_ok,
        }
