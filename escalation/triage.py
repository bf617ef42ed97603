"""Triage: does a ticket need humans, which team, which priority (seed "Trigger", Steps 2-3).

Pure and deterministic: the same package and policy always give the same decision; no I/O,
no clock, no network. The steps carry the seed's names:

* :func:`read_ticket` — what the customer wrote now (quoted history, forwards, signatures and
  disclaimers set aside), in which language, and every signal in it.
* :func:`evaluate_triggers` — the five triggers; escalate when any fires.
* :func:`detect_scenario` — every scenario the words support; the most severe decides, the
  category is one more candidate (an area label only when the words name nothing).
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

from escalation.language import detect_language
from escalation.learning import match_known_solution
from escalation.matching import (
    AT_STAKE_NOUNS,
    HYPOTHETICAL,
    LEGAL_TERMS,
    RESOLUTION,
    SEVERAL_USERS,
    TIME_PHRASES,
    Hit,
    LanguageReader,
    Scan,
    Text,
)
from escalation.models import (
    EscalationPackage,
    KnownSolution,
    Priority,
    ScenarioEvidence,
    TriageDecision,
    Trigger,
)
from escalation.policy import Policy, Scenario, normalise_category
from escalation.segments import split_message
from escalation.sentiment import Sentiment, assess_sentiment

# The scenario whose signals mean "a workaround exists" (for the "No clear workaround" line).
WORKAROUND_SCENARIO = "bug_with_workaround"


@dataclass(frozen=True, slots=True)
class TicketReading:
    """What triage reads from the ticket once: every signal and phrase, and the sentiment."""

    scan: Scan
    sentiment: Sentiment
    language: str = "en"
    context: Scan | None = None  # the quoted thread: evidence for a bare follow-up only

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
    source: Literal["category", "text", "context", "hint", "fallback"]
    evidence: tuple[str, ...]  # the customer's words that matched, in order
    score: float
    # Every scenario considered, most severe first (this one among them).
    considered: tuple[ScenarioMatch, ...] = ()
    row: Scenario | None = None  # after the several-users lift, for ordering by severity


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


# A reply or forward's subject repeats the thread it answers: context, not what is new.
_THREAD_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|antwort|rif|r|rv|res|ref|tr|fw|fwd|wg|enc|i|doorst)\s*(?:\[\d+\])?\s*:\s*)+",
    re.IGNORECASE,
)


_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|enc|i|doorst)\s*:", re.IGNORECASE)


def customer_words(package: EscalationPackage) -> tuple[str, str]:
    """(what the customer wrote now, the thread it answers).

    A reply's subject and its quoted history are the thread: they may say what a bare follow-up
    is about. A forwarded mail is something the customer shows us (a scam mail is evidence of a
    phishing report, not of a compromise): it is neither.
    """
    ticket = package.ticket
    message = split_message(ticket.description or "")
    subject = ticket.subject or ""
    thread = _THREAD_SUBJECT.match(subject)
    if thread is None:
        return "\n".join(p for p in (subject, message.new) if p), message.quoted
    earlier = [message.quoted]
    if not _FORWARD_SUBJECT.match(subject):
        earlier.insert(0, subject[thread.end() :])
    return message.new, "\n".join(p for p in earlier if p)


_SENTENCE_END = re.compile(r"[.!?\n]")


def _without_hypotheticals(scan: Scan) -> str:
    """The customer's words for reading their mood, less the sentences that only imagine a
    problem ("if my account ever got hacked..." is not distress)."""
    hits = scan.phrases.get(HYPOTHETICAL)
    if not hits:
        return scan.text.source
    norm, pieces, kept = scan.text.norm, [], 0
    for hit in hits:
        if hit.start < kept:
            continue
        end = _SENTENCE_END.search(norm, hit.end)
        stop = end.end() if end else len(norm)
        pieces.append(scan.text.original(kept, hit.start))
        kept = stop
    pieces.append(scan.text.original(kept, len(norm)))
    return " ".join(pieces)


def _mood(scan: Scan, reader: LanguageReader, policy: Policy, complaint: bool) -> Sentiment:
    """The customer's mood in the scanned words, read with their language's markers; a sentence
    that only imagines a problem does not colour it."""
    complaint = complaint or any(policy.scenarios[i].kind == "problem" for i in scan.scenarios)
    mood = _without_hypotheticals(scan)
    return assess_sentiment(mood, policy.compiled.thresholds, reader.markers, complaint)


def read_ticket(package: EscalationPackage, policy: Policy) -> TicketReading:
    """Split off the history, detect the language, and find every signal in the new words once."""
    compiled = policy.compiled
    now, earlier = customer_words(package)
    language = detect_language(now, compiled.languages)
    reader = compiled.reader(language)
    scan = reader.scan(Text.of(now))
    return TicketReading(
        scan=scan,
        sentiment=_mood(scan, reader, policy, complaint=False),
        language=reader.language,
        context=reader.scan(Text.of(earlier)) if earlier else None,
    )


def read_reply(text: str, policy: Policy, problem: bool = False) -> Sentiment:
    """A customer's reply read as :func:`read_ticket` reads a ticket: only what they wrote now
    (the quoted earlier messages, the signature and any disclaimer split off), in its language,
    with that language's markers. ``problem``: the ticket is about a problem, which is the
    complaint a loud reply is about even when its own words name none ("STILL NOTHING!!!")."""
    compiled = policy.compiled
    new = split_message(text).new
    reader = compiled.reader(detect_language(new, compiled.languages))
    return _mood(reader.scan(Text.of(new)), reader, policy, complaint=problem)


def _scan(text: str | Text | TicketReading, policy: Policy) -> Scan:
    if isinstance(text, TicketReading):
        return text.scan
    return policy.compiled.scan(text if isinstance(text, Text) else Text.of(text))


def _resolved(reading: TicketReading, policy: Policy) -> dict[int, list[Hit]]:
    """Scenario hits, without the problems the customer says went away ("found them, never
    mind"): a problem named before the last resolution phrase is over; one named after it is
    not ("that fixed it, but now the album is empty")."""
    resolutions = reading.scan.phrases.get(RESOLUTION)
    if not resolutions:
        return reading.hits
    last = resolutions[-1].start
    kept: dict[int, list[Hit]] = {}
    for index, hits in reading.hits.items():
        if policy.scenarios[index].kind == "problem":
            hits = [h for h in hits if h.start > last]
        if hits:
            kept[index] = hits
    return kept


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


def _lifted(scenario: Scenario, several: bool, policy: Policy) -> Scenario:
    """The row a scenario takes when several users are affected (its P0 row), else itself."""
    if several and scenario.several_users:
        return policy.scenario(scenario.several_users)
    return scenario


def _severity(match: ScenarioMatch, index: dict[str, int]) -> tuple[float, ...]:
    """Most severe first: priority, then a legal duty (a threatened lawsuit outranks the fault it
    is about, at the same priority), shorter response target, stronger evidence."""
    row = match.row or match.scenario
    return (
        row.priority.rank,
        0 if row.legal else 1,
        row.response_seconds,
        -round(match.score, 6),
        index[match.scenario.id],
    )


def detect_scenario(
    package: EscalationPackage,
    policy: Policy,
    reading: TicketReading | None = None,
    several: bool | None = None,
) -> ScenarioMatch:
    """Every scenario the customer's words support, and the category; the most severe decides.

    A category that names a scenario exactly is one more candidate (it decides when the words
    show nothing more severe); an area label only speaks when the words name no scenario. A
    problem several users share is ranked by its P0 row.
    """
    reading = reading or read_ticket(package, policy)
    compiled = policy.compiled
    if several is None:
        several = detect_several_users(package, policy, reading) is not None
    candidates: list[ScenarioMatch] = []
    for index, hits in _resolved(reading, policy).items():
        scenario = policy.scenarios[index]
        candidates.append(
            ScenarioMatch(
                scenario,
                "text",
                _evidence_of(reading.text, hits),
                _score(hits, scenario.weight),
                row=_lifted(scenario, several, policy),
            )
        )
    category = normalise_category(package.ticket.category or "")
    exact = compiled.category_index.get(category)
    if exact is not None and all(c.scenario is not policy.scenarios[exact] for c in candidates):
        scenario = policy.scenarios[exact]
        candidates.append(
            ScenarioMatch(
                scenario,
                "category",
                (package.ticket.category or "",),
                0.0,
                row=_lifted(scenario, several, policy),
            )
        )
    if not candidates and _thread_speaks(reading):
        context = reading.context
        assert context is not None
        for index, hits in context.scenarios.items():
            scenario = policy.scenarios[index]
            candidates.append(
                ScenarioMatch(
                    scenario,
                    "context",
                    _evidence_of(context.text, hits),
                    _score(hits, scenario.weight),
                    row=_lifted(scenario, several, policy),
                )
            )
    if not candidates:
        hint = compiled.hint_index.get(category)
        if hint is not None:
            scenario = policy.scenarios[hint]
            match = ScenarioMatch(scenario, "hint", (package.ticket.category or "",), 0.0)
        else:
            match = ScenarioMatch(policy.fallback, "fallback", (), 0.0)
        return ScenarioMatch(match.scenario, match.source, match.evidence, 0.0, (match,))
    ordered = sorted(candidates, key=lambda m: _severity(m, compiled.scenario_index))
    best = ordered[0]
    return ScenarioMatch(
        best.scenario, best.source, best.evidence, best.score, tuple(ordered), best.row
    )


def _thread_speaks(reading: TicketReading) -> bool:
    """The quoted thread says what a bare follow-up ("still broken, see below") is about; not
    when the new words close it (thanks, "found them") or are glad."""
    if reading.context is None or not reading.context.scenarios:
        return False
    if RESOLUTION in reading.scan.phrases or reading.sentiment.label == "positive":
        return False
    return True


def _evidence_of(text: Text, hits: list[Hit]) -> tuple[str, ...]:
    """The customer's words behind the hits, each once, in order."""
    return tuple(dict.fromkeys(text.original(hit.start, hit.end) for hit in hits))


def _confidence(match: ScenarioMatch) -> float:
    """How sure triage is: strong words near 1, a category alone 0.6, an area label 0.35, nothing
    at all 0.2 (a human classifies it)."""
    if match.source == "fallback":
        return 0.2
    if match.source == "hint":
        return 0.35
    if match.source == "category":
        return 0.6
    if match.source == "context":
        return 0.45
    return round(0.5 + 0.45 * match.score / (match.score + 1.5), 2)


def find_known_solution(
    package: EscalationPackage, policy: Policy, match: ScenarioMatch
) -> KnownSolution | None:
    """An approved solution for the decided scenario, or for another one the words support at
    the same priority (never one that would answer a less severe issue than the decided one)."""
    decided = (match.row or match.scenario).priority
    for candidate in match.considered or (match,):  # most severe first: the decided one leads
        if (candidate.row or candidate.scenario).priority is not decided:
            continue
        known = match_known_solution(
            candidate.scenario.id,
            package.technical_context.error_code,
            package.ticket.text,
            package.known_solutions,
            policy.de_escalation.symptom_overlap,
        )
        if known is not None:
            return known
    return None


def route(scenario: Scenario, policy: Policy) -> str:
    """Step 2: the team that owns the scenario (checked against the policy's teams)."""
    policy.team(scenario.team)
    return scenario.team


def detect_several_users(
    package: EscalationPackage,
    policy: Policy,
    reading: TicketReading | None = None,
    known: KnownSolution | None = None,
) -> str | None:
    """Why we believe several users are affected, or None.

    From the technical context (affected users), from recent reports of the same error by other
    users, or from the customer's words ("all our clients", "not just me"). Recent reports of an
    error an approved known solution answers are not an incident: the solution explains them,
    so they do not lift the ticket (the customer's words and the affected-user count still do).
    """
    threshold = policy.modifiers.several_users_min_reports
    affected = package.technical_context.affected_users
    if affected is not None and affected >= threshold:
        return f"{affected} users affected"
    if package.recent_reports >= threshold and known is None:
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
    known: KnownSolution | None = None,
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

    several = detect_several_users(package, policy, reading, known)
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


# A quote must not end on a word that needs its object ("due on" -> "due on Friday").
_DANGLING = frozenset(
    "on by in at this next the a an before until till for of to due from within around".split()
)
_NEXT_WORD = re.compile(r" ?([^\W_][\w/:-]*)")


def _whole_phrase(norm: str, start: int, end: int) -> tuple[int, int]:
    """Extend a match that ends on a dangling word by up to two words in the same clause."""
    for _ in range(2):
        words = norm[start:end].split()
        if not words or words[-1] not in _DANGLING:
            break
        following = _NEXT_WORD.match(norm, end)
        if following is None:
            break
        end = following.end()
    return start, end


def detect_time_sensitivity(text: str | Text | TicketReading, policy: Policy) -> list[str]:
    """The customer's own words that put a clock on the ticket ("anniversary this weekend"),
    each a whole phrase."""
    scan = _scan(text, policy)
    quotes: dict[str, None] = {}
    for hit in scan.phrases.get(TIME_PHRASES, []):
        start, end = _whole_phrase(scan.text.norm, hit.start, hit.end)
        quotes.setdefault(scan.text.original(start, end).strip(), None)
    return list(quotes)[:3]


_STAKE_WORDS = re.compile(r"(?:(\d[\d,]*) )?((?:[a-z]+ ){0,2})$")


def find_at_stake(text: str | Text | TicketReading, policy: Policy) -> AtStake | None:
    """What the customer cares about, in their words: "87 wedding photos" -> "wedding photos".

    Prefers a precious qualifier (wedding, baby...), then any qualifier, then a count.
    """
    scan = _scan(text, policy)
    compiled = policy.compiled
    norm = scan.text.norm
    if isinstance(text, TicketReading) and text.language != "en":
        return _at_stake_after(scan, policy)
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


# Romance and Dutch/German qualifiers follow the noun: "fotos de la boda", "foto del matrimonio".
_STAKE_AFTER = re.compile(
    r" (?:de|do|da|dos|das|del|della|dello|dei|delle|degli|des|du|di|van|von|vom|der|uit)"
    r"(?: (?:la|el|los|las|le|les|il|lo|mi|mis|meu|minha|meus|minhas|nosso|nossa|mon|ma|mes|"
    r"notre|nos|mio|mia|miei|mie|nostro|nostra|mijn|onze|het|de|meiner|meines|unserer))?"
    r"((?: [^\W\d_]+){1,2})"
)


def _at_stake_after(scan: Scan, policy: Policy) -> AtStake | None:
    """What is at stake where the qualifier follows the noun; a bare noun when none does."""
    emotional_words = policy.compiled.emotional
    best: tuple[tuple[int, int], AtStake] | None = None
    for hit in scan.phrases.get(AT_STAKE_NOUNS, []):
        after = _STAKE_AFTER.match(scan.text.norm, hit.end)
        found = (
            emotional_words.search(after.group(1))
            if after is not None and emotional_words is not None
            else None
        )
        emotional = found is not None
        end = after.start(1) + found.end() if after is not None and found is not None else hit.end
        phrase = " ".join(scan.text.original(hit.start, end).split())
        key = (int(emotional), -hit.start)
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
    """The whole decision (Contract 2, docs/contracts/decision.md) for one escalation package."""
    reading = read_ticket(package, policy)
    match = detect_scenario(package, policy, reading)
    known = find_known_solution(package, policy, match)
    if known is not None and package.recent_reports >= policy.modifiers.several_users_min_reports:
        match = detect_scenario(
            package,
            policy,
            reading,
            detect_several_users(package, policy, reading, known) is not None,
        )
    outcome = set_priority(package, policy, match, reading, known)
    legal_terms = find_legal_terms(reading, policy)
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
            reasons.append(f"The customer's words outrank the category '{package.ticket.category}'")
    also = _also_mentioned(match, scenario)
    if also:
        reasons.append("Also mentioned: " + ", ".join(also))
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
        language=reading.language,
        confidence=_confidence(match),
        evidence=[_as_evidence(m) for m in match.considered],
        also_mentioned=also,
    )


def _also_mentioned(match: ScenarioMatch, decided: Scenario) -> list[str]:
    """The other issues the words raise, by label, for the agent's summary."""
    labels: dict[str, None] = {}
    for other in match.considered:
        if other.source == "text" and other.scenario.id not in (match.scenario.id, decided.id):
            if other.scenario.label != decided.label:
                labels.setdefault(other.scenario.label.lower(), None)
    return list(labels)[:4]


def _as_evidence(match: ScenarioMatch) -> ScenarioEvidence:
    row = match.row or match.scenario
    return ScenarioEvidence(
        scenario=match.scenario.id,
        team=row.team,
        priority=row.priority,
        source=match.source,
        phrases=list(match.evidence)[:6],
        score=round(match.score, 3),
    )
