"""The CLI's readable answers: a few lines a person reads at a glance. `--json` prints the
data itself (the contract a program relies on); these render the same data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def when(value: Any) -> str:
    """An ISO time from an answer as "2026-12-02 09:15 UTC"."""
    if not value:
        return "-"
    moment = datetime.fromisoformat(str(value))
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _lines(pairs: list[tuple[str, Any]]) -> str:
    shown = [(label, value) for label, value in pairs if value not in (None, "", [])]
    width = max(len(label) for label, _ in shown) + 1
    return "\n".join(f"{label + ':':<{width}} {value}" for label, value in shown)


def decision(answer: Mapping[str, Any]) -> str:
    """Contract 2 as a person reads it: the verdict first, then why."""
    if answer["escalate"]:
        verdict = (
            f"Escalate {answer['ticketId']} to {answer['team']} as {answer['priority']} "
            f"(first response within {answer['responseTargetMinutes']} min)"
        )
    else:
        verdict = f"Do not escalate {answer['ticketId']}: no human needed"
    pairs: list[tuple[str, Any]] = [
        ("Scenario", answer.get("scenario")),
        ("Triggers", ", ".join(answer.get("triggers") or [])),
        ("Sentiment", answer.get("sentiment")),
        ("Time-sensitive", "yes" if answer.get("timeSensitive") else None),
        ("Premium", "yes" if answer.get("premium") else None),
        ("Language", answer.get("language")),
        ("Also mentioned", ", ".join(answer.get("alsoMentioned") or [])),
    ]
    reasons = "\n".join(f"  - {reason}" for reason in answer.get("reasons") or [])
    return f"{verdict}\n{_lines(pairs)}" + (f"\nReasons:\n{reasons}" if reasons else "")


def started(answer: Mapping[str, Any]) -> str:
    if answer["reopened"]:
        how = f"Reopened {answer['ticketId']} as a new episode"
    elif answer["started"]:
        how = f"Started the escalation of {answer['ticketId']}"
    else:
        how = f"{answer['ticketId']} is already escalating (this run answers)"
    pairs = [
        ("Workflow", answer["workflowId"]),
        ("Run", answer["runId"]),
        ("Episode", answer.get("episodeId")),
        ("Because", answer.get("reopenedBecause")),
        ("Temporal UI", answer["temporalUi"]),
    ]
    return f"{how}\n{_lines(pairs)}"


def status(answer: Mapping[str, Any]) -> str:
    """The status query (or the updated status an agent action answers with)."""
    state = str(answer["state"]).replace("_", " ")
    head = f"{answer['ticketId']}: {state}"
    if answer.get("team"):
        head += f" — {answer['team']}, {answer.get('priority')}"
    if (answer.get("episode") or 1) > 1:
        head += f" (episode {answer['episode']})"
    clock = "paused (waiting on the customer)" if answer.get("paused") else None
    notified = answer.get("acknowledgement")
    if answer.get("customerNotice"):
        notified = f"{notified}: {answer['customerNotice']}"
    pairs: list[tuple[str, Any]] = [
        ("Scenario", answer.get("scenario")),
        ("Escalated", when(answer.get("escalatedAt")) if answer.get("escalatedAt") else None),
        ("Response due", when(answer["responseDueAt"]) if answer.get("responseDueAt") else None),
        ("SLA clock", clock),
        ("Responded", _by(answer.get("respondedAt"), answer.get("respondedBy"))),
        ("Customer told", notified),
        ("Customer replies", answer.get("customerReplies") or None),
        ("Satisfaction", answer.get("satisfaction")),
        ("Resolved", when(answer["resolvedAt"]) if answer.get("resolvedAt") else None),
        ("Resolution", answer.get("resolution")),
        ("Alerts", len(answer.get("alerts") or []) or None),
        ("Actions", ", ".join(answer.get("actions") or [])),
        ("Workflow", answer.get("workflowId")),
    ]
    earlier = answer.get("earlierEpisodes") or []
    text = f"{head}\n{_lines(pairs)}"
    if earlier:
        rows = [
            f"  {e['episode']}. {when(e['escalatedAt'])} {e['team']} {e['priority']} {e['state']}"
            for e in earlier
        ]
        text += "\nEarlier episodes:\n" + "\n".join(rows)
    return text


def _by(at: Any, agent: Any) -> str | None:
    if not at:
        return None
    return f"{when(at)} by {agent}" if agent else when(at)


def replied(answer: Mapping[str, Any]) -> str:
    if answer.get("reopened"):
        return f"The reply reopened {answer['ticketId']} as a new episode (run {answer['runId']})"
    return f"Forwarded the reply to {answer['ticketId']}'s escalation (run {answer['runId']})"


def rated(answer: Mapping[str, Any]) -> str:
    if "state" in answer:  # the open escalation took it: its status answers
        return f"Recorded satisfaction {answer.get('satisfaction')}/5\n" + status(answer)
    where = f" (episode {answer['episodeId']})" if answer.get("episodeId") else ""
    return (
        f"Recorded satisfaction {answer['score']}/5 for {answer['ticketId']}{where} "
        f"after its resolution, at {when(answer['recordedAt'])}"
    )
