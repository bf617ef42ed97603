"""Learn from solution (seed "De-escalation" 3–5), the pure part.

A quick resolution is filed under a *pattern*: the ticket's scenario, its error code and the
resolution text normalised so that two agents writing the same fix in different words
("Cleared the stuck upload session and asked the customer to retry." / "cleared stuck upload
session, asked customer to retry") land in the same one. Normalising keeps the meaningful words
as a sorted set of crude stems: word order, punctuation, stop words, numbers, ids, addresses
and inflections do not make a new pattern.

Once a human approves a pattern's draft, the pattern is a *known solution*: triage treats a new
ticket of the same scenario and error code (or, for patterns without one, carrying most of the
pattern's symptom terms) as KB-matched and auto-response-eligible.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from escalation.models import KnownSolution

# Words that carry no meaning for a fix or a symptom: function words and support boilerplate.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each few for
    from further had has have having he her here hers him his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours out over
    own same she should so some such than that the their theirs them then there these they this
    those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself
    hi hello hey dear thanks thank please regards cheers best kind team support agent ticket
    issue problem help helped let know get got via per still
    today yesterday now just really able unable cant cannot wont dont didnt doesnt isnt im ive
    """.split()
)

_PLACEHOLDERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE), " "),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), " "),
    (re.compile(r"\b[A-Z]{1,5}-\d+\b"), " "),  # ticket ids, T-12345
    (re.compile(r"\b\d[\d.,:/-]*\b"), " "),  # numbers, dates, sizes, times
)
_WORD = re.compile(r"[a-z][a-z']*")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ied", "ies", "ed", "es", "s", "ly")


def stem(word: str) -> str:
    """A deliberately crude stem: enough for "cleared/clearing/clears" to meet."""
    word = word.replace("'", "")
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if suffix in ("ied", "ies"):
                word += "y"
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiousl":
        word = word[:-1]  # "stopp(ed)" → "stop"
    return word


def terms(text: str) -> list[str]:
    """The meaningful stems of `text`, in order of first appearance, without repeats."""
    cleaned = text
    for pattern, replacement in _PLACEHOLDERS:
        cleaned = pattern.sub(replacement, cleaned)
    seen: dict[str, None] = {}
    for word in _WORD.findall(cleaned.lower()):
        word = word.strip("'")
        if len(word) < 2 or word in STOP_WORDS:
            continue
        stemmed = stem(word)
        if stemmed not in STOP_WORDS:
            seen.setdefault(stemmed, None)
    return list(seen)


def normalise_resolution(text: str) -> str:
    """The resolution as a sorted set of stems: the part of a pattern's key agents write."""
    return " ".join(sorted(set(terms(text))))


def pattern_key(scenario: str, error_code: str | None, resolution: str) -> str:
    """scenario | error code | normalised resolution, hashed to a stable, bounded key."""
    normalised = normalise_resolution(resolution)
    identity = f"{scenario}|{(error_code or '').strip().upper()}|{normalised}"
    return f"{scenario}:{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def common_symptoms(ticket_terms: Sequence[Sequence[str]], limit: int = 12) -> list[str]:
    """Terms present in at least half of the pattern's tickets, most shared first (then
    alphabetical, so the same tickets always give the same list)."""
    if not ticket_terms:
        return []
    counts = Counter(term for one in ticket_terms for term in set(one))
    needed = max(2, math.ceil(len(ticket_terms) / 2)) if len(ticket_terms) > 1 else 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    shared = [term for term, n in ranked if n >= needed]
    return shared[:limit]


def match_known_solution(
    scenario: str,
    error_code: str | None,
    ticket_text: str,
    known: Iterable[KnownSolution],
    symptom_overlap: float,
) -> KnownSolution | None:
    """The approved solution that fits this ticket, if any (the most specific first).

    With an error code on the pattern, the ticket must be of the same scenario and carry the
    same code: the code is the strongest evidence of the same fault. Without one, the ticket
    must carry at least `symptom_overlap` of the pattern's symptom terms; a pattern with
    neither never matches (it would swallow its whole scenario).
    """
    code = (error_code or "").strip().upper()
    candidates = [solution for solution in known if solution.scenario == scenario]
    if not candidates:
        return None
    words = set(terms(ticket_text)) if any(not s.error_code for s in candidates) else set()
    best: tuple[float, KnownSolution] | None = None
    for solution in candidates:
        if solution.error_code:
            if solution.error_code.strip().upper() != code:
                continue
            score = 2.0
        else:
            symptoms = set(solution.symptom_terms)
            if not symptoms:
                continue
            score = len(symptoms & words) / len(symptoms)
            if score < symptom_overlap:
                continue
        if best is None or score > best[0] or (score == best[0] and solution.id < best[1].id):
            best = (score, solution)
    return best[1] if best else None


def quick_resolution(
    *,
    responded_at: datetime | None,
    resolved_at: datetime,
    paused_after_response_seconds: float,
    response_target_seconds: int,
    quick_within: float,
) -> tuple[bool, float | None]:
    """(quick?, seconds from the first response to the resolution, waiting excluded).

    "Resolves quickly" (seed): within `quick_within` of the response target after the first
    human response. A ticket resolved without any response counts from nothing, so it is not
    quick (there was no human step to learn from).
    """
    if responded_at is None or response_target_seconds <= 0:
        return False, None
    seconds = max(0.0, (resolved_at - responded_at).total_seconds() - paused_after_response_seconds)
    return seconds <= quick_within * response_target_seconds, seconds
