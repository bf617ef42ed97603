"""Turning stored data into what an agent reads: safe HTML from the summary's Markdown, the
seed's queue indicators with words for screen readers, and a readable timeline.

The summary quotes the customer verbatim, so it is untrusted: raw HTML is never rendered (a
`<script>` shows as text), dangerous link schemes are refused, images are not loaded (no
tracking pixels), and links open without handing over our page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

from web.queries import Acknowledgement, LogEvent
from web.schemas import Indicator

WEB = Path(__file__).resolve().parent
SAFE_SCHEMES = ("http://", "https://", "mailto:")


# --- Markdown ------------------------------------------------------------------------------


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")  # `![x](https://tracker/...)` stays text: no request leaves the page

    def link_open(
        renderer: RendererHTML,
        tokens: Sequence[Token],
        idx: int,
        options: OptionsDict,
        env: EnvType,
    ) -> str:
        token = tokens[idx]
        href = str(token.attrGet("href") or "")
        if not href.lower().startswith(SAFE_SCHEMES):
            token.attrSet("href", "#")  # relative links would point into our own app
        token.attrSet("rel", "nofollow noopener noreferrer")
        return renderer.renderToken(tokens, idx, options, env)

    def heading_open(
        renderer: RendererHTML,
        tokens: Sequence[Token],
        idx: int,
        options: OptionsDict,
        env: EnvType,
    ) -> str:
        # The page has its own <h1>: the summary's headings go one level down.
        token = tokens[idx]
        token.tag = f"h{min(6, int(token.tag[1]) + 1)}"
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("heading_open", heading_open)
    md.add_render_rule("heading_close", heading_open)
    return md


_MD = _markdown()


def render_markdown(text: str | None) -> Markup:
    """Markdown → HTML that cannot run anything: raw HTML in the source comes out escaped."""
    return Markup(_MD.render(text or ""))


# --- indicators ----------------------------------------------------------------------------

# Each is drawn by CSS (web/static/style.css, `.mark-<kind>`): a coloured shape and its words
# in the page's own font, so none turns into an empty box where no colour-emoji font is
# installed. The seed's emoji stay in the API (`symbol`) and in the alerts.
PRIORITY_INDICATORS = {
    "P0": Indicator(symbol="🔴", label="Priority P0, critical", kind="p0", text="P0"),
    "P1": Indicator(symbol="🔴", label="Priority P1, high", kind="p1", text="P1"),
    "P2": Indicator(symbol="🟡", label="Priority P2, medium", kind="p2", text="P2"),
    "P3": Indicator(symbol="🟢", label="Priority P3, low", kind="p3", text="P3"),
}
PREMIUM = Indicator(symbol="⭐", label="Premium customer", kind="premium", text="Premium")
TIME_SENSITIVE = Indicator(
    symbol="🔥", label="Time-sensitive", kind="time-sensitive", text="Time-sensitive"
)
# The queue's legend: one badge of each look (P0 and P1 share the seed's red).
LEGEND = (
    Indicator(symbol="🔴", label="Priority P0 or P1", kind="p1", text="P0/P1"),
    PRIORITY_INDICATORS["P2"],
    PRIORITY_INDICATORS["P3"],
    PREMIUM,
    TIME_SENSITIVE,
)


def priority_indicator(priority: str | None) -> Indicator | None:
    return PRIORITY_INDICATORS.get(priority or "")


def indicators(priority: str | None, premium: bool, time_sensitive: bool) -> list[Indicator]:
    """The seed's Step-9 marks: red P0/P1, yellow P2, green P3, premium, time-sensitive."""
    marks = [mark for mark in (priority_indicator(priority),) if mark]
    if premium:
        marks.append(PREMIUM)
    if time_sensitive:
        marks.append(TIME_SENSITIVE)
    return marks


# --- time ----------------------------------------------------------------------------------


def utc(value: datetime | None) -> str:
    """'2024-11-07 14:30 UTC': one zone for every agent, as the log and the alerts use."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else ""


def countdown(due: datetime | None, now: datetime | None = None) -> str:
    """'due in 1h 05m' / 'overdue by 3m 10s': the server's first rendering of what
    queue.js then keeps ticking."""
    if due is None:
        return "no deadline"
    now = now or datetime.now(UTC)
    seconds = int((due - now).total_seconds())
    text = _duration(abs(seconds))
    return f"overdue by {text}" if seconds < 0 else f"due in {text}"


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def is_past(due: datetime | None, now: datetime | None = None) -> bool:
    return due is not None and due <= (now or datetime.now(UTC))


# --- timeline ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    title: str
    description: str
    kind: str  # css hook: escalated, alert, reply, response, resolved, ...


ALERT_TITLES = {
    "immediate": "Immediate alert to the team",
    "response_warning": "Warning: response target nearly reached",
    "response_breach": "Response target breached",
    "manager_escalation": "Escalated to the team's manager",
    "customer_replied": "Alert: the customer replied",
    "satisfaction_drop": "Alert: satisfaction dropped",
    "daily_status": "Daily status check",
    "no_progress": "No progress follow-up",
    "reassigned": "Alert: reassigned to the team",
    "customer_answered": "Alert: the customer answered",
    "customer_not_notified": "Alert: the customer could not be notified",
}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _describe(action: str, event: dict[str, Any]) -> tuple[str, str, str]:
    """(title, description, kind) of one escalation_log event."""
    match action:
        case "escalated":
            reason = _text(event.get("reason"))
            episode = event.get("episode")
            reopened = _text(event.get("reopenedBecause"))
            again = isinstance(episode, int) and episode > 1
            return (
                f"Escalated again (episode {episode})" if again else "Escalated",
                f"To {_text(event.get('escalatedTo'))} as {_text(event.get('priority'))}"
                + (f": {reason}" if reason else "")
                + (f". Reopened: {reopened}." if reopened else ""),
                "escalated",
            )
        case "customer_notified":
            return ("Customer notified", "The acknowledgement email was accepted.", "notified")
        case "customer_not_notified":
            return (
                "Customer not notified",
                _text(event.get("reason")) or "The acknowledgement could not be delivered.",
                "alert",
            )
        case "csat":
            comment = _text(event.get("comment"))
            return (
                "Satisfaction after resolution",
                f"{_text(event.get('score'))}/5" + (f": {comment}" if comment else ""),
                "info",
            )
        case "auto_response":
            return ("Kept with auto-response", "No escalation trigger fired.", "info")
        case "agent_responded":
            first = "First response" if event.get("firstResponse") else "Response"
            note = _text(event.get("note"))
            return (
                f"{first} by {_text(event.get('agent'))}",
                note or "No note.",
                "response",
            )
        case "waiting_on_customer":
            question = _text(event.get("question"))
            return (
                f"Waiting on the customer ({_text(event.get('agent'))})",
                f"Asked: {question}" if question else "Clock paused until the customer replies.",
                "waiting",
            )
        case "customer_replied":
            return ("Customer replied", _text(event.get("reply")), "reply")
        case "satisfaction_changed":
            previous = event.get("previous")
            comment = _text(event.get("comment"))
            return (
                "Satisfaction",
                f"{_text(event.get('score'))}/5"
                + (f" (was {previous}/5)" if previous is not None else "")
                + (f": {comment}" if comment else ""),
                "info",
            )
        case "reassigned":
            reason = _text(event.get("reason"))
            before, after = event.get("fromPriority"), event.get("toPriority")
            changes = []
            if event.get("from") != event.get("to"):
                changes.append(f"From {_text(event.get('from'))} to {_text(event.get('to'))}")
            if before != after:
                changes.append(f"priority {_text(before)} → {_text(after)}")
            said = "; ".join(changes)
            return (
                "Reassigned",
                said[:1].upper() + said[1:] + (f": {reason}" if reason else ""),
                "info",
            )
        case "priority_changed":
            return (
                "Priority changed",
                f"{_text(event.get('from'))} → {_text(event.get('to'))}"
                f" ({_text(event.get('because'))})",
                "alert",
            )
        case "resolved":
            necessary = event.get("escalationNecessary")
            return (
                f"Resolved by {_text(event.get('resolvedBy'))}",
                _text(event.get("resolution"))
                + ("" if necessary is not False else " (escalation marked unnecessary)"),
                "resolved",
            )
    if action.startswith("alert:"):
        kind = action.removeprefix("alert:")
        audience = _text(event.get("audience"))
        headline = _text(event.get("headline"))
        return (
            ALERT_TITLES.get(kind, f"Alert: {kind.replace('_', ' ')}"),
            headline + (f" (to the {audience})" if audience and audience != "team" else ""),
            "manager" if kind == "manager_escalation" else "alert",
        )
    return (action.replace("_", " ").capitalize(), "", "info")


def _event_time(event: LogEvent) -> datetime:
    stamp = event.event.get("timestamp")
    if isinstance(stamp, str):
        try:
            parsed = datetime.fromisoformat(stamp)
        except ValueError:
            return event.logged_at
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return event.logged_at


def timeline(events: list[LogEvent], ack: Acknowledgement | None) -> list[TimelineEntry]:
    """The log as sentences. Step 5 logs its own outcome (`customer_notified`); an episode
    from before that has the acknowledgement's send time put in its place."""
    entries = [TimelineEntry(_event_time(e), *_describe(e.action, e.event)) for e in events]
    logged = any(e.action in ("customer_notified", "customer_not_notified") for e in events)
    if ack is not None and ack.status == "sent" and not logged:
        entries.append(
            TimelineEntry(
                ack.sent_at or ack.created_at,
                "Customer notified",
                f"Acknowledgement emailed: {ack.subject or '(no subject)'}",
                "notified",
            )
        )
    return sorted(entries, key=lambda entry: entry.at)


# --- templates -----------------------------------------------------------------------------


def templates() -> Jinja2Templates:
    """Jinja2 with autoescape on for every template (.j2 included), and our helpers."""
    # Starlette's default only escapes *.html; ours are *.j2, so autoescape is forced on.
    env = Environment(
        loader=FileSystemLoader(WEB / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(utc=utc, iso=iso, countdown=countdown, markdown=render_markdown)
    env.globals.update(is_past=is_past, indicators=indicators, legend=LEGEND)
    return Jinja2Templates(env=env)
