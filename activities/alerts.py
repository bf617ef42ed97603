"""Step 8 — SLA alerts: deliver one alert on every channel its team configured (email and/or a
Slack-compatible webhook), each channel once under its own key, then log it once.

A channel that is down makes the activity fail after the others were tried, so Temporal
retries with backoff and only the missing channel is sent again; the failure is counted on the
`notifications` row and visible in the worker log and the Temporal UI. A channel that refused
for good (the relay refused the address, the webhook answered a permanent 4xx) is not retried;
when every failed channel refused for good, the activity fails non-retryably at once, while a
mix with a transient failure stays retryable (the refused channel is not sent again, see
activities.delivery). Delivery is at least once, each channel with its dedupe id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery import failure_reason
from activities.email import send_email_once
from activities.rendering import _templates
from activities.settings import Settings
from activities.webhook import post_webhook_once
from escalation.messages import AlertInput, AlertResult
from escalation.policy import Policy, TeamConfig

SLACK_SECTION_LIMIT = 3000  # characters of mrkdwn a Slack section block accepts


@dataclass(frozen=True)
class RenderedAlert:
    """What every channel shows of one alert."""

    title: str  # "[P1] 🔴 T-123: no human response after 1 hour (Engineering Team)"
    body: str  # plain-text email body
    run_url: str


def run_url(settings: Settings, workflow_id: str) -> str:
    """The run in the Temporal Web UI: one click from the alert to the ticket's history."""
    base = settings.temporal_ui_url.rstrip("/")
    namespace = quote(settings.namespace, safe="")
    return f"{base}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"


def _label(key: str) -> str:
    """'response_due_at' → 'Response due at'; keys come from the workflow, values as given."""
    text = key.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def render_alert(alert: AlertInput, policy: Policy, team: TeamConfig, url: str) -> RenderedAlert:
    """Title and plain-text body from `alert.txt.j2`."""
    priority = policy.priorities.get(alert.priority)
    indicator = f"{priority.indicator} " if priority.indicator else ""
    title = (
        f"[{alert.priority}] {indicator}{alert.ticket_id}: {alert.headline} ({team.display_name})"
    )
    body = (
        _templates()
        .get_template("alert.txt.j2")
        .render(
            alert=alert,
            headline_line=f"{indicator}{alert.headline}",
            priority_line=f"{indicator}{priority.label} ({alert.priority})",
            team_name=team.display_name,
            details=[(_label(key), value) for key, value in alert.details.items()],
            run_url=url,
        )
    )
    return RenderedAlert(title=title, body=body, run_url=url)


def _mrkdwn(text: str) -> str:
    """Slack's three control characters, escaped as its docs require."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(
    alert: AlertInput, policy: Policy, team: TeamConfig, rendered: RenderedAlert
) -> dict[str, Any]:
    """Incoming-webhook JSON: `text` for notifications and clients without blocks, one mrkdwn
    section with the facts and a link to the run."""
    priority = policy.priorities.get(alert.priority)
    lines = [
        f"*{_mrkdwn(rendered.title)}*",
        f"*Team:* {_mrkdwn(team.display_name)} · *Priority:* "
        f"{_mrkdwn(priority.label)} ({alert.priority})",
    ]
    if alert.audience == "manager":
        lines.append(f"*Escalated to the manager of the {_mrkdwn(team.display_name)}*")
    if alert.agent:
        lines.append(f"*Agent:* {_mrkdwn(alert.agent)}")
    lines += [f"• *{_mrkdwn(_label(k))}:* {_mrkdwn(v)}" for k, v in alert.details.items()]
    link = f"<{rendered.run_url}|Open the run in the Temporal UI>"
    text = "\n".join(lines)
    if len(text) + len(link) + 1 > SLACK_SECTION_LIMIT:
        text = text[: SLACK_SECTION_LIMIT - len(link) - 3] + "…"
    return {
        "text": f"{_mrkdwn(rendered.title)} {rendered.run_url}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"{text}\n{link}"}}],
    }


def team_for_alert(policy: Policy, alert: AlertInput) -> TeamConfig:
    """The alert's team, checked before anything is sent: a configuration mistake cannot be
    fixed by retrying, so it fails the activity at once (non-retryable) with the key to fix."""
    try:
        team = policy.team(alert.team)
    except KeyError as error:
        raise ApplicationError(
            f"alert {alert.key}: {error.args[0]}", type="AlertTeamUnknown", non_retryable=True
        ) from None
    if "webhook" in team.channels and not team.webhook_url:
        raise ApplicationError(
            f"alert {alert.key}: team {alert.team!r} has the webhook channel but no webhook_url"
            f" (set teams.{alert.team}.webhook_url in the policy)",
            type="AlertChannelMisconfigured",
            non_retryable=True,
        )
    return team


class AlertActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn
    async def send_alert(self, alert: AlertInput) -> AlertResult:
        """Every configured channel is tried even when one fails, so a down webhook never
        holds back the email; the log event is written once all channels have delivered."""
        policy = self.settings.policy()
        team = team_for_alert(policy, alert)
        rendered = render_alert(alert, policy, team, run_url(self.settings, alert.workflow_id))
        result = AlertResult(key=alert.key)
        failures: dict[str, BaseException] = {}
        for channel in team.channels:
            try:
                if channel == "email":
                    sent_before = await self._email(alert, team, rendered)
                else:
                    sent_before = await self._webhook(alert, policy, team, rendered)
            except Exception as error:
                failures[channel] = error
                continue
            (result.already_sent if sent_before else result.delivered).append(channel)
        if failures:
            reasons = "; ".join(f"{ch}: {failure_reason(e)}" for ch, e in failures.items())
            permanent = all(
                isinstance(e, ApplicationError) and e.non_retryable for e in failures.values()
            )
            raise ApplicationError(
                f"alert {alert.key} not delivered on {', '.join(failures)} ({reasons})",
                {"failed": list(failures), "permanent": permanent, **result.to_json_dict()},
                type="AlertDeliveryFailed",
                non_retryable=permanent,
            ) from next(iter(failures.values()))
        await self._log(alert, team)
        self.settings.faults.maybe_fail("send_alert")
        return result

    async def _email(self, alert: AlertInput, team: TeamConfig, rendered: RenderedAlert) -> bool:
        recipient = team.manager_email if alert.audience == "manager" else team.email
        sent = await send_email_once(
            self.settings,
            key=f"{alert.key}:email",
            ticket_id=alert.ticket_id,
            kind=f"alert:{alert.kind}",
            recipient=recipient,
            subject=rendered.title,
            body=rendered.body,
        )
        return sent.already_sent

    async def _webhook(
        self, alert: AlertInput, policy: Policy, team: TeamConfig, rendered: RenderedAlert
    ) -> bool:
        assert team.webhook_url  # team_for_alert refused the team otherwise
        return await post_webhook_once(
            self.settings,
            key=f"{alert.key}:webhook",
            ticket_id=alert.ticket_id,
            kind=f"alert:{alert.kind}",
            url=team.webhook_url,
            payload=slack_payload(alert, policy, team, rendered),
        )

    async def _log(self, alert: AlertInput, team: TeamConfig) -> None:
        """One escalation_log event per alert key; a retry or replay finds it there. The row's
        key is `alert:<alert key>`: the alert key alone can equal one of the workflow's own
        log event keys (the P1 "customer replied" alert and the reply event), and then one of
        the two rows would be dropped."""
        action = f"alert:{alert.kind}"
        event: dict[str, Any] = {
            "ticketId": alert.ticket_id,
            "episodeId": alert.episode_id,
            "action": action,
            "timestamp": datetime.now(UTC).isoformat(),
            "kind": alert.kind,
            "audience": alert.audience,
            "team": alert.team,
            "priority": str(alert.priority),
            "channels": list(team.channels),
            "headline": alert.headline,
            "details": alert.details,
        }
        if alert.agent:
            event["agent"] = alert.agent
        await self.settings.pool.execute(
            """
            INSERT INTO escalation_log (idempotency_key, ticket_id, episode_id, action, event)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (idempotency_key) DO NOTHING
            """,
            f"alert:{alert.key}",
            alert.ticket_id,
            alert.episode_id,
            action,
            event,
        )
