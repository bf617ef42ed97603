"""Jinja2 rendering of what humans read: the agent's summary (Step 4) and the customer's
acknowledgement (Step 5). Pure functions of (package, decision, policy), called by activities.

The summary is CommonMark, rendered as HTML on the dashboard: every value interpolated into it
is escaped (:func:`markdown_text`), so a customer's words can never add a heading, a list, a
link or emphasis of their own — only the template's own Markdown is structure."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from escalation.models import EscalationPackage, TriageDecision
from escalation.playbooks import render_playbook
from escalation.policy import Policy
from escalation.segments import split_message


def format_utc(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "unknown"


def format_ago(value: datetime | None, reference: datetime) -> str:
    """'2 days ago' relative to when the ticket was created, not to now (reproducible)."""
    if value is None:
        return "unknown"
    seconds = (reference - value).total_seconds()
    if seconds < 0:
        return format_utc(value)
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def format_minutes(minutes: int | None) -> str:
    """60 → 'within 1 hour'; 15 → 'within 15 minutes'; 1440 → 'within 24 hours'."""
    if not minutes:
        return "as soon as possible"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"within {hours} hour{'s' if hours != 1 else ''}"
    return f"within {minutes} minute{'s' if minutes != 1 else ''}"


_SENTENCE_END = re.compile(r"[.!?](?=\s)")


def excerpt(text: str, limit: int) -> str:
    """At most `limit` characters, cut after a whole sentence where one ends past half-way
    (else after a whole word): the summary never quotes the customer by a fragment."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= limit // 2:
        return head[: ends[-1]] + " …"
    return head.rsplit(" ", 1)[0] + " …"


def new_message(text: str) -> str:
    """What the customer wrote now, without the quoted thread, signature and disclaimer."""
    return split_message(text).new or text


class Markdown(str):
    """Markdown this module wrote itself: interpolated as it is (every other value is text)."""


# Every line ending CommonMark (or a browser) honours: a bare "\r" ends a line as "\n" does.
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
# Characters that open inline structure anywhere: code, emphasis, links, autolinks and HTML;
# "_" only beside a non-letter (inside a word, as in ERR_UPLOAD_TIMEOUT, it opens nothing).
_INLINE = re.compile(r"[\\`*\[\]<]|(?<![^\W_])_|_(?![^\W_])")
# What opens a block at a line's start: a heading, a quote, a list item, a setext underline.
_BLOCK = re.compile(r"^([#>+=-]|\d{1,9}(?=[.)]))", re.MULTILINE)
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)  # four spaces would open a code block


def markdown_text(value: object) -> str:
    """``value`` as literal CommonMark text, its line breaks kept as plain "\\n"."""
    if isinstance(value, Markdown):
        return value
    text = _LINE_BREAKS.sub("\n", str(value))
    text = _INDENT.sub("", _INLINE.sub(r"\\\g<0>", text))
    return _BLOCK.sub(_escape_block_start, text)


def _escape_block_start(found: re.Match[str]) -> str:
    mark = found.group(1)
    return mark + "\\" if mark[0].isdigit() else "\\" + mark  # "1\." or "\#"


def markdown_quote(value: object) -> Markdown:
    """``value`` as a block quote of literal text, one "> " per line."""
    return Markdown("> " + markdown_text(value).replace("\n", "\n> "))


def _environment(*, markdown: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("escalation", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # the web app escapes HTML when it renders the Markdown
        finalize=markdown_text if markdown else None,
    )
    env.filters.update(
        utc=format_utc,
        ago=format_ago,
        excerpt=excerpt,
        new_message=new_message,
        quote=markdown_quote,
    )
    return env


@cache
def _templates() -> Environment:
    """Plain-text templates: the customer's and the team's email."""
    return _environment(markdown=False)


@cache
def _markdown_templates() -> Environment:
    """Markdown templates: every interpolated value is escaped."""
    return _environment(markdown=True)


def suggested_actions(
    package: EscalationPackage, decision: TriageDecision, policy: Policy
) -> list[str]:
    """The scenario's playbook filled with the ticket's facts (the fallback's when it has none)."""
    scenario = decision.scenario or policy.defaults.fallback_scenario
    return render_playbook(policy, scenario, package) or render_playbook(
        policy, policy.defaults.fallback_scenario, package
    )


def _customer_line(package: EscalationPackage) -> str:
    c = package.customer
    tier = (c.account_status or "unknown tier").capitalize()
    age = f" ({c.account_age})" if c.account_age else ""
    return f"{tier} customer{age}"


def _affected_line(package: EscalationPackage, decision: TriageDecision) -> str | None:
    tech = package.technical_context
    what = decision.at_stake or ("files" if tech.file_count else None)
    if tech.file_count and what and str(tech.file_count) not in what:
        what = f"{tech.file_count} {what}"
    if tech.file_size:
        what = f"{what or 'upload'} ({tech.file_size})"
    return what


def _history_line(package: EscalationPackage) -> str:
    h = package.history
    if h.previous_tickets is None:
        return "unknown (no history on record)"
    if h.previous_tickets == 0:
        return "0 (first ticket)"
    parts = [str(h.previous_tickets)]
    details = []
    if h.last_ticket_date:
        details.append(f"last on {h.last_ticket_date.isoformat()}")
    if h.last_ticket_resolution:
        details.append(h.last_ticket_resolution)
    if h.average_resolution_time:
        details.append(f"average resolution {h.average_resolution_time}")
    if details:
        parts.append(f"({'; '.join(details)})")
    return " ".join(parts)


def _agent_notes(package: EscalationPackage, decision: TriageDecision) -> list[str]:
    sentiment = decision.sentiment or "not assessed"
    notes = [f"Customer sentiment: {sentiment}."]
    if decision.time_sensitive_quotes:
        quoted = ", ".join(f'"{quote}"' for quote in decision.time_sensitive_quotes)
        notes.append(f"Customer mentioned {quoted} - time sensitive.")
    if decision.legal_terms:
        notes.append(
            "Legal/compliance language: " + ", ".join(f'"{t}"' for t in decision.legal_terms) + "."
        )
    if package.history.previous_tickets:
        notes.append(
            f"Returning customer: {package.history.previous_tickets} previous ticket(s); "
            "review them before replying."
        )
    if package.gaps:
        notes.append("Missing context: " + ", ".join(package.gaps) + ".")
    return notes


def write_summary_markdown(
    package: EscalationPackage, decision: TriageDecision, policy: Policy
) -> str:
    """Step 4: every section of the seed's template, filled from the package and decision."""
    assert decision.team and decision.priority
    several = max(package.recent_reports, package.technical_context.affected_users or 0)
    return (
        _markdown_templates()
        .get_template("summary.md.j2")
        .render(
            package=package,
            decision=decision,
            customer_line=_customer_line(package),
            affected_line=_affected_line(package, decision),
            several_users_line=(
                f"{several} users reported the same problem recently"
                if several
                else "the customer reports others are affected"
            ),
            history_line=_history_line(package),
            actions=suggested_actions(package, decision, policy),
            priority_label=policy.priorities.get(decision.priority).label,
            team_name=policy.teams[decision.team].display_name,
            response_text=format_minutes(decision.response_target_minutes),
            agent_notes=_agent_notes(package, decision),
        )
    )


def _team_phrase(display_name: str) -> str:
    """'Engineering Team' → 'engineering team'; 'Legal' → 'legal team'."""
    phrase = display_name.lower()
    return phrase if phrase.endswith("team") else f"{phrase} team"


def _empathy_line(decision: TriageDecision) -> str | None:
    """Name what matters to the customer, in their words, as the seed's acknowledgement does."""
    quote = decision.time_sensitive_quotes[0] if decision.time_sensitive_quotes else None
    if decision.at_stake:
        thing = decision.at_stake
        verb = "are" if thing.endswith("s") and not thing.endswith("ss") else "is"
        line = f"I understand how important your {thing} {verb}"
        return f'{line}, especially as you mentioned "{quote}".' if quote else f"{line} to you."
    if quote:
        return f'I understand this is time-sensitive, as you mentioned "{quote}".'
    return None


# A first name we greet by: letters, with the apostrophes, hyphens and dots names have.
_FIRST_NAME = re.compile(r"^[^\W\d_](?:[^\W\d_]|['’.-](?=[^\W\d_])){0,39}$")


def greeting_name(customer_name: str | None) -> str:
    """The customer's first name, or "there" when it does not look like one: the name comes
    from whoever filled in the form, and the acknowledgement must not carry their text."""
    first = (customer_name or "").strip().split(" ")[0]
    return first if _FIRST_NAME.match(first) else "there"


def acknowledgement_email(
    package: EscalationPackage, decision: TriageDecision, policy: Policy
) -> tuple[str, str]:
    """Step 5: (subject, body) of the customer's acknowledgement.

    It quotes nothing the sender wrote but a plausible first name: the address is not
    verified (a web form takes any), so a subject or message of the sender's making would
    turn our signed mail into their relay. The topic is the scenario's own words."""
    assert decision.team and decision.priority
    ticket = package.ticket
    team = policy.teams[decision.team]
    scenario = decision.scenario or policy.defaults.fallback_scenario
    topic = (
        policy.scenario(scenario).customer_topic
        if policy.has_scenario(scenario)
        else "your request"
    )
    body = (
        _templates()
        .get_template("acknowledgement.txt.j2")
        .render(
            ticket=ticket,
            decision=decision,
            first_name=greeting_name(ticket.customer_name),
            topic=topic,
            empathy=_empathy_line(decision),
            team_phrase=_team_phrase(team.display_name),
            team_name=team.display_name,
            look_into=(decision.at_stake and f"your {decision.at_stake}") or "what went wrong",
            priority_label=policy.priorities.get(decision.priority).label,
            response_text=format_minutes(decision.response_target_minutes),
        )
    )
    return f"Your PhotoVault support ticket {ticket.id}", body


def kb_article_markdown(
    *,
    title: str,
    scenario_label: str,
    error_code: str | None,
    subjects: list[str],
    symptom_terms: list[str],
    steps: list[str],
    tickets: list[dict[str, object]],
) -> str:
    """De-escalation 4: the KB article draft of a learned pattern."""
    return (
        _templates()
        .get_template("kb_article.md.j2")
        .render(
            title=title,
            scenario_label=scenario_label,
            error_code=error_code,
            subjects=subjects,
            symptom_terms=symptom_terms,
            steps=steps,
            tickets=tickets,
        )
    )


def known_solution_answer(problem: str, steps: list[str]) -> str:
    """De-escalation 5: the auto-response candidate, what a matching customer will be sent."""
    return (
        _templates()
        .get_template("known_solution_answer.txt.j2")
        .render(problem=problem, steps=steps)
        .strip()
    )


def known_solution_email(package: EscalationPackage, answer: str) -> tuple[str, str]:
    """(subject, body) of the email that answers a ticket with an approved known solution."""
    ticket = package.ticket
    first_name = (ticket.customer_name or "").split(" ")[0] or "there"
    body = (
        _templates()
        .get_template("known_solution_email.txt.j2")
        .render(ticket=ticket, first_name=first_name, answer=answer)
    )
    return f"Re: {ticket.subject}", body
