"""Triage: does a ticket need humans, which team, which priority (seed "Trigger", Steps 2-3).

Pure and deterministic: the same package and policy always give the same decision; no I/O,
no clock, no network. The steps carry the seed's names:

* :func:`evaluate_triggers` — the five triggers; escalate when any fires.
* :func:`detect_scenario` — what the ticket is about (category, else the customer's words).
* :func:`route` — the scenario's team (Step 2).
* :func:`set_priority` — the scenario's priority, then the modifiers (Step 3).
* :func:`detect_time_sensitivity` — the customer's own deadline words (shown, never used to
  raise priority).

Upstream urgency only fires the urgency trigger: the priority comes from what the ticket means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from escalation.learning import match_known_solution
from escalation.matching import (
    AT_STAKE_NOUNS,
    LEGAL_TERMS,
    SEVERAL_USERS,
    TIME_PHRASES,
    Hit,
    Scan,
    Text,
)
from escalation.models import (
    EscalationPackage,
    KnownSolution,
    Priority,
    TriageDecision,
    Trigger,
)
from escalation.policy import Policy, Scenario, normalise_category
from escalation.sentiment import Sentiment, assess_sentiment

# The scenario whose signals mean "a workaround exists" (for the "No clear workaround" line).
WORKAROUND_SCENARIO = "bug_with_workaround"


@dataclass(frozen=True, slots=True)
class TicketReading:
    """What triage reads from the ticket once: every signal and phrase, and the sentiment."""

    scan: Scan
    sentiment: Sentiment

    @property
    def text(self) -> Text:
        return self.scan.text

    @property
    def hits(self) -> dict[int, list[Hit]]:
        """Signal hits per scenario index."""
        return self.scan.scenarios


@dataclass(frozen=True, slots=True)
class ScenarioMatch:
    scenario: Scenario
    source: Literal["category", "text", "fallback"]
    evidence: tuple[str, ...]  # the customer's words that matched, in order
    score: float


@dataclass(frozen=True, slots=True)
class PriorityOutcome:
    """The scenario after modifiers, its priority and response target, and why."""

    scenario: Scenario
    priority: Priority
    response_seconds: int
    meaning_priority: Priority  # before the customer-based modifiers (premium, angry)
    several_users: str | None
    notes: tuple[str, ...]
    raised_by: tuple[Literal["premium", "angry"], ...]


@dataclass(frozen=True, slots=True)
class AtStake:
    phrase: str
    emotional: bool


def read_ticket(package: EscalationPackage, policy: Policy) -> TicketReading:
    """Normalise the subject and description once and find every scenario signal in them."""
    compiled = policy.compiled
    return TicketReading(
        scan=compiled.scan(Text.of(package.ticket.text)),
        sentiment=assess_sentiment(package.ticket.text, compiled.thresholds),
    )


def _scan(text: str | Text | TicketReading, policy: Policy) -> Scan:
    if isinstance(text, TicketReading):
        return text.scan
    return policy.compiled.scan(text if isinstance(text, Text) else Text.of(text))


def _score(hits: list[Hit], weight: float) -> float:
    """Pieces of evidence: overlapping matches count once, a phrase repeated (the subject
    echoing the description) counts once, and longer phrases are worth slightly more."""
    clusters: list[tuple[int, str]] = []  # (end, longest phrase)
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        if clusters and hit.start < clusters[-1][0]:
            end, phrase = clusters[-1]
            longest = hit.phrase if len(hit.phrase) > len(phrase) else phrase
            clusters[-1] = (max(end, hit.end), longest)
        else:
            clusters.append((hit.end, hit.phrase))
    phrases = {phrase for _end, phrase in clusters}
    return weight * sum(1 + 0.1 * min(len(p.split()) - 1, 3) for p in sorted(phrases))


def _evidence(reading: TicketReading, index: int) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for hit in reading.hits.get(index, []):
        seen.setdefault(reading.text.original(hit.start, hit.end), None)
    return tuple(seen)


def _best(reading: TicketReading, policy: Policy, indexes: list[int]) -> tuple[int, float] | None:
    """Highest score; ties go to the more severe priority, then to the earlier scenario."""
    best: tuple[float, int, int] | None = None
    for index in indexes:
        scenario = policy.scenarios[index]
        score = _score(reading.hits[index], scenario.weight)
        key = (round(score, 6), -scenario.priority.rank, -index)
        if best is None or key > best:
            best = key
    if best is None:
        return None
    return -best[2], best[0]


def detect_scenario(
    package: EscalationPackage, policy: Policy, reading: TicketReading | None = None
) -> ScenarioMatch:
    """The scenario from the category when it names one, else from the customer's words.

    Legal/compliance signals win over both: a GDPR request filed as "account_cancellation" is
    still a GDPR request with a statutory deadline.
    """
    reading = reading or read_ticket(package, policy)
    compiled = policy.compiled
    legal = [i for i in compiled.legal_scenarios if i in reading.hits]
    if legal:
        index, score = _best(reading, policy, legal)  # type: ignore[misc]
        return ScenarioMatch(policy.scenarios[index], "text", _evidence(reading, index), score)

    category = package.ticket.category
    if category:
        index_or_none = compiled.category_index.get(normalise_category(category))
        if index_or_none is not None:
            return ScenarioMatch(policy.scenarios[index_or_none], "category", (category,), 0.0)

    found = _best(reading, policy, list(reading.hits))
    if found is None:
        return ScenarioMatch(policy.fallback, "fallback", (), 0.0)
    index, score = found
    return ScenarioMatch(policy.scenarios[index], "text", _evidence(reading, index), score)


def route(scenario: Scenario, policy: Policy) -> str:
    """Step 2: the team that owns the scenario (checked against the policy's teams)."""
    policy.team(scenario.team)
    return scenario.team


def detect_several_users(
    package: EscalationPackage, policy: Policy, reading: TicketReading | None = None
) -> str | None:
    """Why we believe several users are affected, or None.

    From the technical context (affected users), from recent reports of the same error by other
    users, or from the customer's words ("all our clients", "not just me").
    """
    threshold = policy.modifiers.several_users_min_reports
    affected = package.technical_context.affected_users
    if affected is not None and affected >= threshold:
        return f"{affected} users affected"
    if package.recent_reports >= threshold:
        window = policy.modifiers.several_users_window
        reports = package.recent_reports
        return f"{reports} other users reported the same problem in the last {window}"
    scan = _scan(reading or package.ticket.text, policy)
    hits = scan.phrases.get(SEVERAL_USERS)
    if hits:
        return f'customer says "{scan.text.original(hits[0].start, hits[0].end)}"'
    return None


def set_priority(
    package: EscalationPackage,
    policy: Policy,
    match: ScenarioMatch,
    reading: TicketReading | None = None,
) -> PriorityOutcome:
    """Step 3: the scenario's priority, then the modifiers.

    * premium customer's request with a premium row -> that row (feature request -> CS P3);
    * several users affected -> the scenario's P0 row;
    * premium customer's problem -> at least ``premium_problem_min``;
    * angry customer with a valid complaint (a problem) -> at least ``angry_complaint_min``.

    The response target is the scenario's own when the priority is the scenario's, else the
    priority's default.
    """
    reading = reading or read_ticket(package, policy)
    modifiers = policy.modifiers
    scenario = match.scenario
    notes: list[str] = []
    raised: list[Literal["premium", "angry"]] = []

    if package.premium and scenario.premium_scenario:
        scenario = policy.scenario(scenario.premium_scenario)
        team = policy.team(scenario.team).display_name
        notes.append(f"Premium customer's request: handled personally by the {team}")

    several = detect_several_users(package, policy, reading)
    if several and scenario.several_users:
        scenario = policy.scenario(scenario.several_users)
        notes.append(f"Several users affected ({several}): treated as {scenario.label.lower()}")
    elif several and scenario.kind == "problem":
        notes.append(f"Several users may be affected ({several})")

    meaning = scenario.priority
    priority = meaning
    if package.premium and scenario.kind == "problem":
        if priority.rank > modifiers.premium_problem_min.rank:
            priority = modifiers.premium_problem_min
            raised.append("premium")
    if reading.sentiment.angry and scenario.kind == "problem":
        if priority.rank > modifiers.angry_complaint_min.rank:
            priority = modifiers.angry_complaint_min
            raised.append("angry")

    if priority is scenario.priority:
        response = scenario.response_seconds
    else:
        response = policy.priorities.get(priority).response_seconds
    return PriorityOutcome(
        scenario=scenario,
        priority=priority,
        response_seconds=response,
        meaning_priority=meaning,
        several_users=several,
        notes=tuple(notes),
        raised_by=tuple(raised),
    )


def detect_time_sensitivity(text: str | Text | TicketReading, policy: Policy) -> list[str]:
    """The customer's own words that put a clock on the ticket ("anniversary this weekend")."""
    scan = _scan(text, policy)
    quotes: dict[str, None] = {}
    for hit in scan.phrases.get(TIME_PHRASES, []):
        quotes.setdefault(scan.text.original(hit.start, hit.end).strip(), None)
    return list(quotes)[:3]


_STAKE_WORDS = re.compile(r"(?:(\d[\d,]*) )?((?:[a-z]+ ){0,2})$")


def find_at_stake(text: str | Text | TicketReading, policy: Policy) -> AtStake | None:
    """What the customer cares about, in their words: "87 wedding photos" -> "wedding photos".

    Prefers a precious qualifier (wedding, baby...), then any qualifier, then a count.
    """
    scan = _scan(text, policy)
    compiled = policy.compiled
    norm = scan.text.norm
    best: tuple[tuple[int, int, int, int], AtStake] | None = None
    for hit in scan.phrases.get(AT_STAKE_NOUNS, []):
        before = _STAKE_WORDS.search(norm[max(0, hit.start - 60) : hit.start])
        number, qualifiers = (before.group(1), before.group(2)) if before else (None, "")
        kept: list[str] = []
        for word in reversed(qualifiers.split()):
            if word in compiled.at_stake_ignore:
                break
            kept.insert(0, word)
        qualifier = " ".join(kept)
        emotional = bool(
            qualifier and compiled.emotional is not None and compiled.emotional.search(qualifier)
        )
        start = hit.start - (len(qualifier) + 1 if qualifier else 0)
        phrase = " ".join(scan.text.original(start, hit.end).split())
        key = (int(emotional), int(bool(qualifier)), int(bool(number)), -hit.start)
        if best is None or key > best[0]:
            best = (key, AtStake(phrase=phrase, emotional=emotional))
    return best[1] if best else None


def find_legal_terms(reading: TicketReading, policy: Policy) -> list[str]:
    """Legal/compliance language, in the customer's words: legal scenarios' signals and the
    trigger's extra terms (negated mentions like "I'm not going to sue" do not count)."""
    compiled = policy.compiled
    hits: list[Hit] = []
    for index in compiled.legal_scenarios:
        hits.extend(reading.hits.get(index, []))
    hits.extend(reading.scan.phrases.get(LEGAL_TERMS, []))
    terms: dict[str, None] = {}
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        terms.setdefault(reading.text.original(hit.start, hit.end).strip(), None)
    return list(terms)[:5]


def evaluate_triggers(
    package: EscalationPackage,
    policy: Policy,
    reading: TicketReading,
    meaning_priority: Priority | None,
    legal_terms: list[str],
    known: KnownSolution | None = None,
) -> list[Trigger]:
    """The seed's five triggers, in contract order; escalate when any fired.

    Urgency fires on the upstream level, or when the meaning is critical/high (upstream
    urgency can be wrong in both directions; priority never comes from it).

    An approved known solution makes the ticket KB-matched and auto-response-eligible; then
    only what the policy's `[de_escalation]` still sends to a human fires (critical urgency,
    anger) besides legal language, which always does.
    """
    ticket = package.ticket
    settings = policy.triggers
    learned = policy.de_escalation
    urgency_levels: list[str] = list(settings.urgency_levels)
    meaning_priorities = settings.meaning_priorities
    dissatisfied: list[str] = list(policy.sentiment.dissatisfied_labels)
    if known is not None:
        urgency_levels = [
            u for u in urgency_levels if u in learned.known_solution_escalates_urgency
        ]
        meaning_priorities = [
            p for p in meaning_priorities if p in learned.known_solution_escalates_priority
        ]
        dissatisfied = [s for s in dissatisfied if s in learned.known_solution_escalates_sentiment]
    fired: list[Trigger] = []
    if ticket.urgency.value in urgency_levels or (
        meaning_priority is not None and meaning_priority in meaning_priorities
    ):
        fired.append("urgency")
    if not ticket.auto_response_eligible and known is None:
        fired.append("auto_response_ineligible")
    if reading.sentiment.label in dissatisfied:
        fired.append("dissatisfaction")
    if not ticket.kb_matched and known is None:
        fired.append("beyond_kb")
    if legal_terms:
        fired.append("legal_compliance")
    return fired


def _trigger_reasons(
    package: EscalationPackage,
    policy: Policy,
    triggers: list[Trigger],
    outcome: PriorityOutcome,
    reading: TicketReading,
    legal_terms: list[str],
) -> list[str]:
    urgency = package.ticket.urgency.value
    lines = []
    if "urgency" in triggers:
        if urgency in policy.triggers.urgency_levels:
            line = f"Upstream urgency: {urgency}"
            if outcome.meaning_priority not in policy.triggers.meaning_priorities:
                line += f" (priority set from the ticket's meaning: {outcome.priority.value})"
            lines.append(line)
        else:
            lines.append(
                f"Upstream urgency '{urgency}' understated: "
                f"{outcome.scenario.label.lower()} is {outcome.meaning_priority.value}"
            )
    if "auto_response_ineligible" in triggers:
        lines.append("Not eligible for auto-response")
    if "dissatisfaction" in triggers:
        markers = reading.sentiment.anger_markers or reading.sentiment.frustration_markers
        detail = f' ("{markers[0]}")' if markers else ""
        lines.append(f"Customer dissatisfaction detected: {reading.sentiment.label}{detail}")
    if "beyond_kb" in triggers:
        lines.append("Beyond knowledge-base scope (no KB match)")
    if "legal_compliance" in triggers:
        quoted = ", ".join(f'"{term}"' for term in legal_terms[:3])
        lines.append(f"Legal/compliance language: {quoted}")
    return lines


def _headline(
    scenario: Scenario, premium: bool, angry: bool, time_sensitive: bool, escalate: bool
) -> str:
    parts = [scenario.reason]
    if premium and "premium" not in scenario.reason.lower():
        parts.append("premium customer")
    if angry:
        parts.append("angry customer")
    if time_sensitive:
        parts.append("time sensitive")
    headline = " - ".join(parts)
    return headline if escalate else f"Not escalated - {headline}"


def triage(package: EscalationPackage, policy: Policy) -> TriageDecision:
    """The whole decision (DESIGN Contract 2) for one escalation package."""
    reading = read_ticket(package, policy)
    match = detect_scenario(package, policy, reading)
    outcome = set_priority(package, policy, match, reading)
    legal_terms = find_legal_terms(reading, policy)
    known = match_known_solution(
        outcome.scenario.id,
        package.technical_context.error_code,
        package.ticket.text,
        package.known_solutions,
        policy.de_escalation.symptom_overlap,
    )
    triggers = evaluate_triggers(
        package, policy, reading, outcome.meaning_priority, legal_terms, known
    )
    escalate = bool(triggers)
    scenario = outcome.scenario
    quotes = detect_time_sensitivity(reading, policy)
    at_stake = find_at_stake(reading, policy)
    sentiment = reading.sentiment

    reasons: list[str] = []
    if package.premium:
        reasons.append(
            f"Premium customer - raised to {outcome.priority.value}"
            if "premium" in outcome.raised_by
            else "Premium customer"
        )
    if at_stake is not None and at_stake.emotional:
        phrase = at_stake.phrase[:1].upper() + at_stake.phrase[1:]
        reasons.append(f"{phrase} (high emotional value)")
    reasons.append(scenario.impact or scenario.label)
    if match.source == "text" and package.ticket.category:
        filed = policy.compiled.category_index.get(normalise_category(package.ticket.category))
        if filed is not None and policy.scenarios[filed].id != match.scenario.id:
            reasons.append(
                f"Legal/compliance language overrides the category '{package.ticket.category}'"
            )
    reasons.extend(outcome.notes)
    if "angry" in outcome.raised_by:
        raised_to = outcome.priority.value
        reasons.append(f"Angry customer with a valid complaint - raised to {raised_to}")
    if scenario.kind == "problem" and scenario.id != WORKAROUND_SCENARIO:
        workaround = policy.compiled.scenario_index.get(WORKAROUND_SCENARIO)
        if workaround is not None and workaround not in reading.hits:
            reasons.append("No clear workaround")
    if quotes:
        reasons.append("Customer is time-sensitive: " + ", ".join(f'"{q}"' for q in quotes))
    reasons.extend(_trigger_reasons(package, policy, triggers, outcome, reading, legal_terms))
    if known is not None:
        reasons.append(f"Known solution #{known.id} (approved): {known.title}")
    if not escalate:
        reasons.append("No escalation trigger fired: auto-response keeps the ticket")

    return TriageDecision(
        ticket_id=package.ticket.id,
        escalate=escalate,
        triggers=triggers,
        team=route(scenario, policy) if escalate else None,
        priority=outcome.priority if escalate else None,
        response_target_minutes=outcome.response_seconds // 60 if escalate else None,
        response_target_seconds=outcome.response_seconds if escalate else None,
        scenario=scenario.id,
        sentiment=sentiment.label,
        time_sensitive=bool(quotes),
        premium=package.premium,
        reasons=reasons,
        sentiment_score=sentiment.score,
        time_sensitive_quotes=quotes,
        legal_terms=legal_terms,
        several_users=outcome.several_users is not None,
        at_stake=at_stake.phrase if at_stake else None,
        headline=_headline(scenario, package.premium, sentiment.angry, bool(quotes), escalate),
        known_solution=known,
    )
