"""De-escalation (seed "De-escalation"): ticket status, the resolution's timing, and the
learning loop — quick resolutions become patterns, a pattern seen N times becomes a KB draft, a
human approves it, and from then on triage answers matching tickets without a human.

Pure parts first (normalising, matching, quick), then triage with known solutions, then the
whole loop on a real Temporal server, PostgreSQL and SMTP server.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHandle

from activities.settings import DEFAULT_POLICY, Settings, TicketStatusWebhook
from escalation.learning import (
    common_symptoms,
    match_known_solution,
    normalise_resolution,
    pattern_key,
    quick_resolution,
    terms,
)
from escalation.messages import (
    AgentResponse,
    EscalationOutcome,
    EscalationStateName,
    ResolveInput,
    WaitOnCustomer,
)
from escalation.models import EscalationPackage, KnownSolution, parse_payload
from escalation.policy import load_policy
from escalation.signing import sign
from escalation.triage import triage
from localstack.smtp import SmtpSink
from tests.conftest import WebhookReceiver, eventually
from tests.test_escalation_workflow import mails_for, start, wait_for_state
from web.knowledge import PatternError, decide_pattern, get_pattern
from worker import create_worker
from workflows.escalation import EscalationWorkflow

POLICY = load_policy(DEFAULT_POLICY)
FIX = "Cleared the stuck publish session on the server and asked the customer to publish again."
FIX_REWORDED = [
    FIX,
    "cleared stuck publish session on server, asked customer to publish again",
    "Asked the customer to publish again after clearing the stuck publish session (server).",
]

# --- pure: normalising and matching ------------------------------------------------------------


@pytest.mark.parametrize("wording", FIX_REWORDED)
def test_the_same_fix_in_other_words_normalises_to_one_pattern(wording: str) -> None:
    assert normalise_resolution(wording) == normalise_resolution(FIX)
    assert pattern_key("feature_broken", "err_x", wording) == pattern_key(
        "feature_broken", "ERR_X", FIX
    )


@pytest.mark.parametrize(
    "other",
    [
        "Refunded the duplicate charge.",
        "Cleared the stuck publish session on the server.",  # half the fix is another fix
        "Reset the customer's password and asked them to log in again.",
    ],
)
def test_a_different_fix_is_a_different_pattern(other: str) -> None:
    assert pattern_key("feature_broken", None, other) != pattern_key("feature_broken", None, FIX)


def test_scenario_and_error_code_are_part_of_the_pattern() -> None:
    key = pattern_key("feature_broken", "ERR_A", FIX)
    assert key != pattern_key("feature_broken", "ERR_B", FIX)
    assert key != pattern_key("data_loss_single_user", "ERR_A", FIX)


def test_terms_drop_ids_numbers_addresses_and_boilerplate() -> None:
    found = terms("Hi team, ticket T-12345: upload of 87 photos fails, mail me at a@b.example!")
    assert "upload" in found and "fail" in found and "photo" in found
    assert not {"hi", "team", "ticket", "87", "12345", "mail@b"} & set(found)


def test_common_symptoms_are_the_terms_most_tickets_share() -> None:
    shared = common_symptoms(
        [
            terms("Lightroom publish stuck at 0%"),
            terms("Publishing from Lightroom hangs"),
            terms("Lightroom plugin publish frozen"),
        ]
    )
    assert shared[:2] == ["lightroom", "publish"]


def known(**fields: object) -> KnownSolution:
    data: dict[str, object] = {
        "id": 7,
        "scenario": "feature_broken",
        "error_code": "ERR_LR_SYNC",
        "symptom_terms": ["lightroom", "publish"],
        "title": "Lightroom publish stuck",
        "auto_response": "Clear the publish session.",
    }
    return KnownSolution.model_validate(data | fields)


def test_a_solution_with_an_error_code_matches_only_that_code_and_scenario() -> None:
    solution = known()
    assert match_known_solution("feature_broken", "err_lr_sync", "x", [solution], 0.6)
    assert not match_known_solution("feature_broken", "ERR_OTHER", "x", [solution], 0.6)
    assert not match_known_solution("feature_broken", None, "x", [solution], 0.6)
    assert not match_known_solution("bug_report", "ERR_LR_SYNC", "x", [solution], 0.6)


def test_a_solution_without_an_error_code_needs_most_of_its_symptoms() -> None:
    solution = known(error_code=None, symptom_terms=["lightroom", "publish", "stuck"])
    text = "Lightroom won't publish, it is stuck"
    assert match_known_solution("feature_broken", None, text, [solution], 0.6) == solution
    assert not match_known_solution("feature_broken", None, "Lightroom is slow", [solution], 0.6)
    bare = known(error_code=None, symptom_terms=[])
    assert not match_known_solution("feature_broken", None, text, [bare], 0.6)


def test_quick_means_within_half_the_target_after_the_first_response_waiting_excluded() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    target = 4 * 3600

    def judge(minutes: float, paused: float = 0, responded: datetime | None = t0) -> bool:
        resolved = t0 + timedelta(minutes=minutes)
        return quick_resolution(
            responded_at=responded,
            resolved_at=resolved,
            paused_after_response_seconds=paused,
            response_target_seconds=target,
            quick_within=0.5,
        )[0]

    assert judge(120) and not judge(121)
    assert judge(24 * 60, paused=22 * 3600)  # a day waiting on the customer does not count
    assert not judge(10, responded=None)  # no human response: nothing to learn from


# --- triage with known solutions ---------------------------------------------------------------


def lightroom_package(
    text: str, *, urgency: str = "medium", code: str = "ERR_LR_SYNC", **extra: object
) -> EscalationPackage:
    subject, _, description = text.partition("\n")
    payload = parse_payload(
        {
            "ticket": {
                "id": "T-LR-1",
                "subject": subject,
                "description": description,
                "urgency": urgency,
                "createdAt": "2026-11-20T10:00:00Z",
                "customerEmail": "pat@studio.example",
            },
            "technicalContext": {"errorCode": code},
        }
    )
    return EscalationPackage.from_payload(payload).model_copy(update=extra)


NEUTRAL = (
    "Lightroom publish stuck at 0%\n"
    "Since yesterday the Lightroom plugin stops at 0% when I publish a collection."
)


def test_without_an_approved_solution_the_ticket_is_escalated_beyond_kb() -> None:
    decision = triage(lightroom_package(NEUTRAL), POLICY)
    assert decision.escalate and "beyond_kb" in decision.triggers
    assert decision.known_solution is None


def test_an_approved_solution_keeps_a_matching_ticket_with_auto_response() -> None:
    decision = triage(lightroom_package(NEUTRAL, known_solutions=[known()]), POLICY)
    assert not decision.escalate, decision.reasons
    assert decision.triggers == []
    assert decision.known_solution is not None and decision.known_solution.id == 7
    assert any("Known solution #7" in reason for reason in decision.reasons)


def test_upstream_high_urgency_alone_does_not_override_a_known_solution() -> None:
    decision = triage(lightroom_package(NEUTRAL, urgency="high", known_solutions=[known()]), POLICY)
    assert not decision.escalate


@pytest.mark.parametrize(
    ("text", "urgency", "trigger", "matched"),
    [
        (
            "Lightroom publish broken AGAIN\nThis is ridiculous and completely unacceptable, "
            "third time this month the plugin stops at 0%. Fix it now!",
            "medium",
            "dissatisfaction",
            True,
        ),
        (
            "Lightroom publish stuck\nThe plugin stops at 0% and I missed a client delivery; "
            "my attorney says this is a breach of contract.",
            "medium",
            "legal_compliance",
            False,  # a legal demand is another scenario: the solution does not even apply
        ),
        (NEUTRAL, "critical", "urgency", True),
    ],
    ids=["angry", "legal", "critical"],
)
def test_anger_legal_language_or_critical_urgency_still_escalate_a_known_problem(
    text: str, urgency: str, trigger: str, matched: bool
) -> None:
    decision = triage(lightroom_package(text, urgency=urgency, known_solutions=[known()]), POLICY)
    assert decision.escalate and trigger in decision.triggers, decision.triggers
    # matched: the knowledge is there, and still a human must act
    assert (decision.known_solution is not None) is matched
    assert ("beyond_kb" not in decision.triggers) is matched


def test_a_solution_for_another_error_code_changes_nothing() -> None:
    decision = triage(
        lightroom_package(NEUTRAL, code="ERR_OTHER", known_solutions=[known()]), POLICY
    )
    assert decision.escalate and "beyond_kb" in decision.triggers


# --- the whole loop, on Temporal -------------------------------------------------------------

SIMILAR = [
    ("Lightroom publish stuck at 0%", "Since yesterday the Lightroom plugin stops at 0% when I "
     "publish a collection. Restarting Lightroom did not help."),
    ("Lightroom sync frozen", "Publishing from Lightroom stops at zero percent with an error, "
     "tried twice."),
    ("Can't publish from Lightroom", "The Lightroom publish service stays at 0% and never "
     "finishes. Any idea?"),
    ("Lightroom publishing not working", "Hello, my Lightroom publish is stuck at 0% since this "
     "morning. Thanks for looking."),
]  # fmt: skip


def lightroom_ticket(code: str, index: int, subject: str, description: str, **ticket: object):
    """A ticket of the family, created `index` × 3 days apart (the same error from other
    customers within a day would be 'several users', an outage, which no KB answer settles)."""
    created = datetime.now(UTC) - timedelta(days=40 - 3 * index)
    data = {
        "ticket": {
            "id": f"LR-{uuid.uuid4().hex[:10]}",
            "subject": subject,
            "description": description,
            "urgency": "medium",
            "createdAt": created.isoformat(),
            "customerEmail": f"photographer{index}-{uuid.uuid4().hex[:6]}@studio.example",
            "customerName": f"Alex {index}",
        }
        | ticket,
        "technicalContext": {"errorCode": code, "browserInfo": "Lightroom Classic 14"},
    }
    return parse_payload(data)


async def escalate_and_resolve_quickly(
    client: Client, queue: str, payload, resolution: str
) -> WorkflowHandle:
    handle = await start(client, queue, payload)
    await wait_for_state(handle, EscalationStateName.ESCALATED)
    await handle.execute_update(EscalationWorkflow.respond, AgentResponse(agent="sam"))
    await handle.execute_update(
        EscalationWorkflow.resolve, ResolveInput(agent="sam", resolution=resolution)
    )
    outcome = await handle.result()
    assert outcome.outcome == "resolved"
    return handle


async def test_three_quick_resolutions_draft_an_article_approval_answers_the_fourth(
    client: Client, task_queue: str, pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    code = f"ERR_LR_{uuid.uuid4().hex[:8].upper()}"  # this test's own family of tickets
    tickets = []
    for index, ((subject, description), fix) in enumerate(
        zip(SIMILAR[:3], FIX_REWORDED, strict=True)
    ):
        payload = lightroom_ticket(code, index, subject, description)
        await escalate_and_resolve_quickly(client, task_queue, payload, fix)
        tickets.append(payload.ticket.id)

    pattern_row = await pool.fetchrow("SELECT * FROM kb_patterns WHERE error_code = $1", code)
    assert pattern_row is not None
    pattern = await get_pattern(pool, pattern_row["id"])
    assert pattern.status == "draft" and pattern.occurrences == 3
    assert pattern.ticket_ids == tickets
    article = pattern.article_markdown or ""
    for part in (
        "## Problem",
        "## Symptoms",
        "## Steps that resolved it",
        "## Tickets it came from",
    ):
        assert part in article
    assert code in article and all(ticket in article for ticket in tickets)
    assert "Cleared the stuck publish session" in article
    assert "lightroom" in pattern.symptom_terms and "publish" in pattern.symptom_terms
    assert pattern.auto_response and "publish again" in pattern.auto_response
    rows = await pool.fetch(
        "SELECT quick, pattern_id FROM resolutions WHERE ticket_id = ANY($1::text[])", tickets
    )
    assert [(r["quick"], r["pattern_id"]) for r in rows] == [(True, pattern.id)] * 3

    # Nothing learned changes triage before a human approves it.
    before = lightroom_ticket(code, 3, *SIMILAR[3])
    handle = await start(client, task_queue, before)
    status = await wait_for_state(handle, EscalationStateName.ESCALATED)
    assert "beyond_kb" in status.triggers
    await handle.execute_update(
        EscalationWorkflow.resolve, ResolveInput(agent="sam", resolution="Duplicate, see earlier.")
    )

    approved = await decide_pattern(pool, pattern.id, approve=True, agent="lee")
    assert approved.status == "approved" and approved.decided_by == "lee"

    # A fourth similar ticket, in new words: answered with the solution, no human needed.
    fourth = lightroom_ticket(
        code,
        5,
        "lightroom wont publish",
        "hi, publishing my collection from lightroom is stuck at 0 percent, what can I do?",
    )
    handle = await start(client, task_queue, fourth)
    outcome: EscalationOutcome = await handle.result()
    assert outcome.outcome == "auto-response"
    status = await handle.query(EscalationWorkflow.status)
    assert status.state is EscalationStateName.AUTO_RESPONSE
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM support_assignments WHERE ticket_id = $1", fourth.ticket.id
        )
        == 0
    )
    mail = (await eventually(lambda: mails_for(smtp_sink, fourth.ticket.id)))[0]
    body = mail.get_content()
    assert "Cleared the stuck publish session" in body and fourth.ticket.id in body
    logged = await pool.fetchrow(
        "SELECT event FROM escalation_log WHERE ticket_id = $1 AND action = 'auto_response'",
        fourth.ticket.id,
    )
    assert logged["event"]["knownSolutionId"] == pattern.id

    # An angry or a legal one of the same family still goes to a human.
    angry = lightroom_ticket(
        code,
        7,
        "Lightroom publish broken AGAIN",
        "This is ridiculous and completely unacceptable. Third time the plugin is stuck at 0%.",
    )
    legal = lightroom_ticket(
        code,
        9,
        "Lightroom publish stuck, client delivery missed",
        "The plugin stops at 0% and I missed a delivery; my lawyer says this breaches our "
        "contract with you.",
    )
    for payload, trigger in ((angry, "dissatisfaction"), (legal, "legal_compliance")):
        handle = await start(client, task_queue, payload)
        status = await wait_for_state(handle, EscalationStateName.ESCALATED)
        assert trigger in status.triggers
        await handle.execute_update(
            EscalationWorkflow.resolve, ResolveInput(agent="sam", resolution="Handled.")
        )


async def test_a_draft_quotes_no_customers_address_phone_number_or_link(
    client: Client, task_queue: str, pool: asyncpg.Pool
) -> None:
    """Each agent wrote the customer's own email address, phone number and a link into the
    resolution, and the customers their order numbers into the subjects: the stored draft (its
    title, article and auto-response) carries placeholders instead, and the three wordings, the
    same once redacted, are one fix."""
    code = f"ERR_LR_{uuid.uuid4().hex[:8].upper()}"
    phones = ["+44 20 7946 0958", "(555) 123-4567", "+49 30 1234567"]
    quoted: list[str] = []
    for index, phone in enumerate(phones):
        subject, description = SIMILAR[index]
        payload = lightroom_ticket(code, index, f"{subject}, order {48213370 + index}", description)
        email = payload.ticket.customer_email
        link = f"https://files.studio{index}.example.com/share/{uuid.uuid4().hex[:8]}"
        fix = (
            f"Cleared the stuck publish session for {email} and called {phone}; then sent "
            f"{link} and asked the customer to publish again."
        )
        await escalate_and_resolve_quickly(client, task_queue, payload, fix)
        quoted += [email, phone, link, str(48213370 + index)]

    row = await pool.fetchrow("SELECT * FROM kb_patterns WHERE error_code = $1", code)
    assert row is not None and row["status"] == "draft" and row["occurrences"] == 3
    for column in ("title", "article_markdown", "auto_response"):
        text = row[column]
        assert text, column
        leaked = [value for value in quoted if value in text]
        assert leaked == [], (column, leaked)
        assert "studio" not in text, (column, text)
    answer = row["auto_response"]
    assert "Cleared the stuck publish session for [email] and called [number]" in answer
    assert "sent [link] and asked the customer to publish again" in answer
    assert ', order [number]"' in row["article_markdown"]  # the subjects, as symptoms
    assert "Cleared the stuck publish session for [email] and called [number]" in row["title"]


async def test_approving_needs_a_draft_and_deciding_twice_is_harmless(pool: asyncpg.Pool) -> None:
    key = f"test:{uuid.uuid4().hex}"
    pattern_id = await pool.fetchval(
        """
        INSERT INTO kb_patterns (pattern_key, scenario, normalised_resolution, occurrences)
        VALUES ($1, 'feature_broken', 'clear session', 2) RETURNING id
        """,
        key,
    )
    with pytest.raises(PatternError, match="no draft yet: 2 quick resolution"):
        await decide_pattern(pool, pattern_id, approve=True, agent="lee")
    await pool.execute("UPDATE kb_patterns SET status = 'draft' WHERE id = $1", pattern_id)
    first = await decide_pattern(pool, pattern_id, approve=False, agent="lee")
    again = await decide_pattern(pool, pattern_id, approve=False, agent="kim")
    assert first.status == again.status == "rejected" and again.decided_by == "lee"
    with pytest.raises(PatternError, match="already rejected"):
        await decide_pattern(pool, pattern_id, approve=True, agent="lee")
    with pytest.raises(PatternError, match="no learned pattern with id 0"):
        await decide_pattern(pool, 0, approve=True, agent="lee")


# --- de-escalation: status, timing, the ticketing system -------------------------------------

SECRET = b"status-webhook-secret-0123456789"


@pytest.fixture
async def status_queue(
    client: Client, pool: asyncpg.Pool, smtp_sink: SmtpSink, webhook: WebhookReceiver
) -> Path:
    settings = Settings(
        pool=pool,
        smtp_url=smtp_sink.url,
        ticket_status_webhook=TicketStatusWebhook(url=webhook.url, secret=SECRET),
    )
    queue = f"status-{uuid.uuid4().hex[:8]}"
    async with create_worker(client, settings, queue):
        yield queue


async def test_resolving_updates_the_ticket_logs_the_timing_and_tells_the_ticketing_system(
    client: Client, status_queue: str, pool: asyncpg.Pool, webhook: WebhookReceiver
) -> None:
    payload = lightroom_ticket(f"ERR_ST_{uuid.uuid4().hex[:6].upper()}", 0, *SIMILAR[0])
    ticket_id = payload.ticket.id
    webhook.fail_next = 1  # the helpdesk blinks once: retried, delivered once
    handle = await start(client, status_queue, payload)
    await wait_for_state(handle, EscalationStateName.ESCALATED)
    await handle.execute_update(EscalationWorkflow.respond, AgentResponse(agent="sam"))
    await handle.execute_update(
        EscalationWorkflow.wait_on_customer, WaitOnCustomer(agent="sam", question="Which version?")
    )
    await asyncio.sleep(1.5)
    await handle.execute_update(
        EscalationWorkflow.resolve, ResolveInput(agent="sam", resolution=FIX)
    )
    await handle.result()

    ticket = await pool.fetchrow("SELECT * FROM tickets WHERE ticket_id = $1", ticket_id)
    assert ticket["status"] == "resolved" and ticket["resolution"] == FIX
    row = await pool.fetchrow("SELECT * FROM resolutions WHERE ticket_id = $1", ticket_id)
    assert row["resolved_by"] == "sam" and row["escalation_necessary"] is True
    assert row["team"] == "engineering" and row["priority"] == "P2"
    assert row["paused_seconds"] >= 1.4
    elapsed = (row["resolved_at"] - row["escalated_at"]).total_seconds()
    assert row["resolution_seconds"] == pytest.approx(elapsed - row["paused_seconds"])
    assert row["quick"] is True and row["response_target_seconds"] == 4 * 3600
    event = await pool.fetchval(
        "SELECT event FROM escalation_log WHERE ticket_id = $1 AND action = 'resolved'", ticket_id
    )
    assert event["quick"] is True
    assert event["resolutionSeconds"] == pytest.approx(row["resolution_seconds"])

    delivered = await eventually(
        lambda: [r for r in webhook.for_ticket(ticket_id) if r.status == 200]
    )
    attempts = webhook.for_ticket(ticket_id)
    assert [r.status for r in attempts] == [500, 200] and len(delivered) == 1
    request = delivered[0]
    assert len({r.headers["webhook-id"] for r in attempts}) == 1  # same message, retried
    expected = sign(
        SECRET,
        request.headers["webhook-id"],
        int(request.headers["webhook-timestamp"]),
        request.body,
    )
    assert request.headers["webhook-signature"] == expected
    body = request.json()
    assert body["type"] == "ticket.status_changed"
    assert body["data"]["ticketId"] == ticket_id and body["data"]["status"] == "resolved"
    assert body["data"]["resolvedBy"] == "sam"


def test_the_status_webhook_is_configured_from_the_environment() -> None:
    secret = "whsec_" + base64.b64encode(SECRET).decode()
    assert TicketStatusWebhook.from_env({}) is None
    hook = TicketStatusWebhook.from_env(
        {
            "TICKET_STATUS_WEBHOOK_URL": "https://helpdesk.example/hooks",
            "ESCALATION_WEBHOOK_SECRETS": f"{secret} whsec_b2xk",
        }
    )
    assert hook is not None and hook.secret == SECRET
    with pytest.raises(ValueError, match="no secret to sign with"):
        TicketStatusWebhook.from_env({"TICKET_STATUS_WEBHOOK_URL": "https://h.example/"})
    with pytest.raises(ValueError, match="must be an http"):
        TicketStatusWebhook.from_env({"TICKET_STATUS_WEBHOOK_URL": "ftp://h.example/"})
    with pytest.raises(
        ValueError, match="TICKET_STATUS_WEBHOOK_SECRET: webhook secret is too short"
    ):
        TicketStatusWebhook.from_env(
            {
                "TICKET_STATUS_WEBHOOK_URL": "https://h.example/",
                "TICKET_STATUS_WEBHOOK_SECRET": "whsec_b2xk",
            }
        )
