"""SLA alerts (Step 8) delivered for real: email through the SMTP sink, Slack-compatible JSON to a
local HTTP server, each recorded once in PostgreSQL — retries and replays never alert twice, and
a channel that is down fails loudly until it is back."""

from __future__ import annotations

import json
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.alerts import AlertActivities
from activities.settings import DEFAULT_POLICY, FaultInjection, Settings
from activities.webhook import redact_url
from escalation.messages import AlertInput, workflow_id_for
from escalation.models import Priority
from escalation.policy import Policy, PolicyError, load_policy
from localstack.smtp import ReceivedMessage, SmtpSink
from tests.conftest import WebhookReceiver, policy_with_webhooks


@pytest.fixture
def alert_settings(
    tmp_path: Path,
    pool: asyncpg.Pool,
    smtp_sink: SmtpSink,
    faults: FaultInjection,
    webhook: WebhookReceiver,
) -> Settings:
    return Settings(
        pool=pool,
        smtp_url=smtp_sink.url,
        policy_path=policy_with_webhooks(tmp_path, webhook.url, teams=("engineering",)),
        faults=faults,
    )


def new_alert(**changes: Any) -> AlertInput:
    ticket_id = f"T-{uuid.uuid4().hex[:10].upper()}"
    values: dict[str, Any] = {
        "key": f"{ticket_id}:response_breach:0",
        "ticket_id": ticket_id,
        "kind": "response_breach",
        "team": "engineering",
        "priority": Priority.P1,
        "headline": "no human response after 1 hour",
        "details": {"escalated_at": "2024-11-07 14:30 UTC", "response_due_at": "15:30 UTC"},
        "workflow_id": workflow_id_for(ticket_id),
    }
    values.update(changes)
    return AlertInput(**values)


async def send(settings: Settings, alert: AlertInput) -> Any:
    return await ActivityEnvironment().run(AlertActivities(settings).send_alert, alert)


def mails_for(sink: SmtpSink, ticket_id: str) -> list[ReceivedMessage]:
    return [m for m in sink.messages() if m.message["X-Escalation-Ticket"] == ticket_id]


async def notification(pool: asyncpg.Pool, key: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM notifications WHERE idempotency_key = $1", key)
    assert row is not None, f"no notification row {key}"
    return row


async def log_events(pool: asyncpg.Pool, ticket_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM escalation_log WHERE ticket_id = $1 ORDER BY id", ticket_id
    )


def closed_port() -> int:
    """A local port nothing listens on: an SMTP server that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_alert_posts_slack_json_with_headline_and_ticket_to_team_webhook(
    alert_settings: Settings, webhook: WebhookReceiver
) -> None:
    alert = new_alert()
    result = await send(alert_settings, alert)

    assert result.delivered == ["email", "webhook"] and result.already_sent == []
    [request] = webhook.for_ticket(alert.ticket_id)
    assert (request.method, request.path, request.status) == ("POST", "/hook", 200)
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["idempotency-key"] == f"{alert.key}:webhook"
    payload = request.json()
    title = f"[P1] 🔴 {alert.ticket_id}: no human response after 1 hour (Engineering Team)"
    assert payload["text"].startswith(title)
    [section] = payload["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    mrkdwn = section["text"]["text"]
    assert alert.headline in mrkdwn and alert.ticket_id in mrkdwn
    assert "*Response due at:* 15:30 UTC" in mrkdwn
    run = f"http://localhost:8233/namespaces/default/workflows/escalation-{alert.ticket_id}"
    assert f"<{run}|Open the run in the Temporal UI>" in mrkdwn

    row = await notification(alert_settings.pool, f"{alert.key}:webhook")
    assert (row["channel"], row["recipient"], row["status"]) == (
        "webhook",
        redact_url(webhook.url),
        "sent",
    )
    assert json.loads(row["body"]) == payload


async def test_alert_email_reaches_team_address_with_run_link(
    alert_settings: Settings, smtp_sink: SmtpSink
) -> None:
    alert = new_alert(agent="dana")
    await send(alert_settings, alert)

    [mail] = mails_for(smtp_sink, alert.ticket_id)
    assert mail.rcpt_tos == ("engineering@photovault.example",)
    assert mail.subject == (
        f"[P1] 🔴 {alert.ticket_id}: no human response after 1 hour (Engineering Team)"
    )
    body = mail.text
    assert body.startswith("🔴 no human response after 1 hour\n")
    assert f"Ticket:   {alert.ticket_id}\n" in body
    assert "Priority: 🔴 High (P1)\n" in body
    assert "Team:     Engineering Team\n" in body
    assert "Agent:    dana\n" in body
    assert "Escalated at: 2024-11-07 14:30 UTC\nResponse due at: 15:30 UTC\n" in body
    assert f"/namespaces/default/workflows/escalation-{alert.ticket_id}\n" in body
    row = await notification(alert_settings.pool, f"{alert.key}:email")
    assert (row["kind"], row["status"], row["attempts"]) == ("alert:response_breach", "sent", 1)


async def test_manager_escalation_email_reaches_the_manager(
    alert_settings: Settings, smtp_sink: SmtpSink, webhook: WebhookReceiver
) -> None:
    alert = new_alert(
        kind="manager_escalation", audience="manager", headline="not resolved within 4 hours"
    )
    await send(alert_settings, alert)

    [mail] = mails_for(smtp_sink, alert.ticket_id)
    assert mail.rcpt_tos == ("engineering-manager@photovault.example",)
    assert "You receive this as the manager of the Engineering Team." in mail.text
    [request] = webhook.for_ticket(alert.ticket_id)
    assert "Escalated to the manager" in request.json()["blocks"][0]["text"]["text"]


async def test_same_alert_key_twice_delivers_once_per_channel_and_logs_once(
    alert_settings: Settings, smtp_sink: SmtpSink, webhook: WebhookReceiver
) -> None:
    alert = new_alert()
    first = await send(alert_settings, alert)
    second = await send(alert_settings, alert)

    assert first.delivered == ["email", "webhook"] and first.already_sent == []
    assert second.delivered == [] and second.already_sent == ["email", "webhook"]
    assert len(mails_for(smtp_sink, alert.ticket_id)) == 1
    assert len(webhook.for_ticket(alert.ticket_id)) == 1
    [event] = await log_events(alert_settings.pool, alert.ticket_id)
    assert (event["idempotency_key"], event["action"]) == (
        f"alert:{alert.key}",
        "alert:response_breach",
    )
    logged = event["event"]
    assert logged["ticketId"] == alert.ticket_id and logged["channels"] == ["email", "webhook"]
    assert (logged["kind"], logged["audience"], logged["team"], logged["priority"]) == (
        "response_breach",
        "team",
        "engineering",
        "P1",
    )
    assert logged["headline"] == alert.headline and logged["details"] == alert.details
    assert logged["timestamp"].endswith("+00:00")


async def test_webhook_down_twice_fails_visibly_then_delivers_once_without_resending_email(
    alert_settings: Settings, smtp_sink: SmtpSink, webhook: WebhookReceiver
) -> None:
    alert = new_alert()
    webhook.fail_next = 2
    key = f"{alert.key}:webhook"

    for attempt in (1, 2):
        with pytest.raises(ApplicationError) as failed:
            await send(alert_settings, alert)
        assert failed.value.type == "AlertDeliveryFailed" and not failed.value.non_retryable
        assert "webhook" in str(failed.value) and "answered 500" in str(failed.value)
        row = await notification(alert_settings.pool, key)
        assert (row["status"], row["attempts"]) == ("pending", attempt)
        assert "answered 500" in row["last_error"]
        assert not await log_events(alert_settings.pool, alert.ticket_id)

    third = await send(alert_settings, alert)

    assert third.delivered == ["webhook"] and third.already_sent == ["email"]
    assert [r.status for r in webhook.for_ticket(alert.ticket_id)] == [500, 500, 200]
    assert len(mails_for(smtp_sink, alert.ticket_id)) == 1
    row = await notification(alert_settings.pool, key)
    assert (row["status"], row["attempts"]) == ("sent", 3)
    email = await notification(alert_settings.pool, f"{alert.key}:email")
    assert (email["status"], email["attempts"]) == ("sent", 1)
    assert len(await log_events(alert_settings.pool, alert.ticket_id)) == 1


async def test_webhook_unreachable_counts_attempt_and_still_sends_email(
    tmp_path: Path, pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    settings = Settings(
        pool=pool,
        smtp_url=smtp_sink.url,
        policy_path=policy_with_webhooks(tmp_path, url, teams=("engineering",)),
    )
    alert = new_alert()

    with pytest.raises(ApplicationError, match="ConnectError"):
        await send(settings, alert)

    row = await notification(pool, f"{alert.key}:webhook")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "ConnectError" in row["last_error"]
    assert len(mails_for(smtp_sink, alert.ticket_id)) == 1


async def test_smtp_down_counts_attempt_and_sends_once_when_back(
    alert_settings: Settings, smtp_sink: SmtpSink, webhook: WebhookReceiver
) -> None:
    alert = new_alert()
    smtp_url = alert_settings.smtp_url
    alert_settings.smtp_url = f"smtp://127.0.0.1:{closed_port()}"

    with pytest.raises(ApplicationError, match="email"):
        await send(alert_settings, alert)
    row = await notification(alert_settings.pool, f"{alert.key}:email")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"]

    alert_settings.smtp_url = smtp_url
    result = await send(alert_settings, alert)

    assert result.delivered == ["email"] and result.already_sent == ["webhook"]
    assert len(mails_for(smtp_sink, alert.ticket_id)) == 1
    assert len(webhook.for_ticket(alert.ticket_id)) == 1


async def test_retry_after_a_crash_past_delivery_alerts_once(
    alert_settings: Settings, smtp_sink: SmtpSink, webhook: WebhookReceiver
) -> None:
    alert_settings.faults.fail_once_after_effect.add("send_alert")
    alert = new_alert()

    with pytest.raises(RuntimeError, match="injected failure"):
        await send(alert_settings, alert)
    retried = await send(alert_settings, alert)

    assert retried.already_sent == ["email", "webhook"]
    assert len(mails_for(smtp_sink, alert.ticket_id)) == 1
    assert len(webhook.for_ticket(alert.ticket_id)) == 1
    assert len(await log_events(alert_settings.pool, alert.ticket_id)) == 1


@dataclass
class FixedPolicySettings(Settings):
    """Settings serving a policy object as is, skipping the loader's checks."""

    fixed: Policy | None = None

    def policy(self) -> Policy:
        assert self.fixed is not None
        return self.fixed


async def test_webhook_channel_without_url_fails_without_retry_and_sends_nothing(
    pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    policy = load_policy(DEFAULT_POLICY)
    team = policy.teams["engineering"].model_copy(update={"channels": ["email", "webhook"]})
    broken = policy.model_copy(update={"teams": {**policy.teams, "engineering": team}})
    settings = FixedPolicySettings(pool=pool, smtp_url=smtp_sink.url, fixed=broken)
    alert = new_alert()

    with pytest.raises(ApplicationError) as failed:
        await send(settings, alert)

    assert failed.value.non_retryable and failed.value.type == "AlertChannelMisconfigured"
    assert "teams.engineering.webhook_url" in str(failed.value)
    assert not mails_for(smtp_sink, alert.ticket_id)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM notifications WHERE ticket_id = $1", alert.ticket_id
        )
        == 0
    )


async def test_policy_file_with_webhook_channel_but_no_url_is_refused_naming_the_key(
    tmp_path: Path, pool: asyncpg.Pool, smtp_sink: SmtpSink
) -> None:
    path = policy_with_webhooks(tmp_path, None, teams=("engineering",))
    settings = Settings(pool=pool, smtp_url=smtp_sink.url, policy_path=path)
    alert = new_alert()

    with pytest.raises(PolicyError, match=r"teams\.engineering\.webhook_url"):
        await send(settings, alert)
    assert not mails_for(smtp_sink, alert.ticket_id)
