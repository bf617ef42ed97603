"""The text-matching engine: a validated policy's patterns compiled and cross-checked once, then
every signal and phrase of a ticket found in one pass over its normalised text.

Apart from the schema because it is triage's hot path, tuned for speed: every pattern is indexed
by the characters its matches can start with, so at each word only the few patterns that can
start there are tried (one big alternation costs milliseconds per ticket).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from escalation.models import TEAMS, Priority
from escalation.policy import PolicyError, normalise_category
from escalation.sentiment import SentimentThresholds

if TYPE_CHECKING:
    from escalation.policy import Policy

# ---------------------------------------------------------------------------------------------
# Text: normalised once per ticket, with a way back to the customer's own words
# ---------------------------------------------------------------------------------------------

_NORMALISE = re.compile(r"[’‘'`´]|[^\S\n]*\n\s*|[^\S\n]{2,}|[^\S\n ]")
_APOSTROPHE_CHARS = frozenset("’‘'`´")


@dataclass(frozen=True, slots=True)
class Text:
    """A ticket's text lower-cased, apostrophes dropped ("can't" -> "cant") and spaces collapsed;
    ``original()`` maps a span of the normalised text back to the customer's words."""

    source: str
    norm: str
    _starts: tuple[int, ...]
    _shifts: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> Text:
        lowered = text.lower()
        if len(lowered) != len(text):  # rare characters whose lower case is longer
            lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        pieces: list[str] = []
        starts, shifts = [0], [0]
        pos = npos = 0
        for match in _NORMALISE.finditer(lowered):
            start, end = match.span()
            pieces.append(lowered[pos:start])
            npos += start - pos
            token = match.group()
            replacement = "" if token in _APOSTROPHE_CHARS else ("\n" if "\n" in token else " ")
            pieces.append(replacement)
            npos += len(replacement)
            pos = end
            starts.append(npos)
            shifts.append(end - npos)
        pieces.append(lowered[pos:])
        return cls(text, "".join(pieces), tuple(starts), tuple(shifts))

    def _orig(self, index: int) -> int:
        segment = bisect.bisect_right(self._starts, index) - 1
        return index + self._shifts[segment]

    def original(self, start: int, end: int) -> str:
        """The customer's words behind ``norm[start:end]``."""
        if end <= start:
            return ""
        return self.source[self._orig(start) : self._orig(end - 1) + 1]


@dataclass(frozen=True, slots=True)
class Hit:
    """One pattern match in a ticket's normalised text."""

    start: int
    end: int
    phrase: str


_CLAUSE_BREAK = re.compile(r"[.,;:!?\n()]| but | however | although | though ")
_TOKEN = re.compile(r"[a-z0-9&]+")


@dataclass(frozen=True, slots=True)
class Negation:
    words: frozenset[str]
    except_after: frozenset[str]
    fillers: frozenset[str]
    clause_starters: frozenset[str]
    window: int

    def negated(self, norm: str, start: int) -> bool:
        """True when a negation word sits among the few words before ``start`` in its clause."""
        if not self.words:
            return False
        before = norm[max(0, start - 80) : start]
        breaks = list(_CLAUSE_BREAK.finditer(before))
        if breaks:
            before = before[breaks[-1].end() :]
        tokens = [t for t in _TOKEN.findall(before) if t not in self.fillers][-self.window :]
        following = _TOKEN.findall(norm[start : start + 20])[:1]
        for index, token in enumerate(tokens):
            if token in self.words:
                after = tokens[index + 1] if index + 1 < len(tokens) else (following or [""])[0]
                if after in self.except_after:
                    continue
                if any(t in self.clause_starters for t in tokens[index + 1 :]):
                    continue
                return True
        return False


# Where a whole-word pattern can start: a non-space character not preceded by a word character.
_STARTS = re.compile(r"(?<!\w)\S")
PREFIX_LENGTH = 3


@dataclass(frozen=True)
class SignalIndex:
    """Many patterns matched in one pass over the text.

    Python's regex engine tries every alternative of a large alternation at every position, so
    one big expression is slow (milliseconds per ticket). Instead every pattern is indexed by the
    first characters any of its matches can begin with (computed from the regex parse tree), and
    for each such prefix the patterns of one owner (a scenario or a phrase set) that can start
    with it are compiled together; at each word start only those few expressions are tried.
    """

    by_prefix: dict[str, tuple[tuple[int, re.Pattern[str]], ...]]  # prefix -> (owner, regex)
    anywhere: tuple[tuple[int, re.Pattern[str]], ...]  # patterns whose start is unknown

    def scan(self, norm: str) -> dict[int, list[Hit]]:
        """Every match of every owner's patterns, grouped by owner, in text order."""
        found: dict[int, list[Hit]] = {}
        get = self.by_prefix.get
        anywhere = self.anywhere
        lengths = range(PREFIX_LENGTH - 1, 0, -1)
        for start_match in _STARTS.finditer(norm):
            pos = start_match.start()
            candidates = get(norm[pos : pos + PREFIX_LENGTH], ())
            for length in lengths:
                short = get(norm[pos : pos + length])
                if short:
                    candidates = candidates + short
            if anywhere:
                candidates = candidates + anywhere
            for owner, regex in candidates:
                match = regex.match(norm, pos)
                if match is not None:
                    found.setdefault(owner, []).append(Hit(pos, match.end(), match.group()))
        return found


def _prefixes(body: str, length: int = PREFIX_LENGTH, cap: int = 4096) -> frozenset[str] | None:
    """The strings of ``length`` characters (or whole shorter matches) every match of ``body``
    starts with, lower-cased; None when that cannot be bounded (e.g. it starts with ``\\w``).

    Uses the stdlib's regex parser (``re._parser``); anything unexpected falls back to None,
    which is always correct, only slower.
    """
    try:
        from re import _constants as c  # type: ignore[attr-defined]
        from re import _parser as parser  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - other Python versions
        return None

    class Unbounded(Exception):
        pass

    digits = {str(d) for d in range(10)}

    def sequence(items: Iterable[tuple[Any, Any]], room: int) -> set[str]:
        results = {""}
        for op, av in items:
            grown: set[str] = set()
            for prefix in results:
                if len(prefix) >= room:
                    grown.add(prefix)
                    continue
                for tail in item(op, av, room - len(prefix)):
                    grown.add(prefix + tail)
            results = grown
            if len(results) > cap:
                raise Unbounded
            if all(len(prefix) >= room for prefix in results):
                break
        return results

    def item(op: Any, av: Any, room: int) -> set[str]:
        if op is c.LITERAL:
            return {chr(av).lower()}
        if op is c.IN:
            chars: set[str] = set()
            for sub_op, sub_av in av:
                if sub_op is c.LITERAL:
                    chars.add(chr(sub_av).lower())
                elif sub_op is c.RANGE and sub_av[1] - sub_av[0] < 64:
                    chars |= {chr(code).lower() for code in range(sub_av[0], sub_av[1] + 1)}
                elif sub_op is c.CATEGORY and sub_av in (c.CATEGORY_DIGIT, c.CATEGORY_UNI_DIGIT):
                    chars |= digits
                else:
                    raise Unbounded
            return chars
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            return {""}
        if op is c.SUBPATTERN:
            return sequence(av[-1], room)
        if op is c.ATOMIC_GROUP:
            return sequence(av, room)
        if op is c.BRANCH:
            union: set[str] = set()
            for branch in av[1]:
                union |= sequence(branch, room)
            return union
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            low, high, sub = av
            top = max(low, room) if high is c.MAXREPEAT else min(high, max(low, room))
            collected = {""} if low == 0 else set()
            current = {""}
            for count in range(1, top + 1):
                current = {
                    prefix + tail
                    for prefix in current
                    for tail in (sequence(sub, room - len(prefix)) if len(prefix) < room else {""})
                }
                if count >= low:
                    collected |= current
                if len(collected) > cap:
                    raise Unbounded
                if count >= low and all(len(prefix) >= room for prefix in current):
                    break
            return collected
        raise Unbounded

    try:
        prefixes = sequence(parser.parse(body, _FLAGS), length)
    except Unbounded:
        return None
    except Exception:  # pragma: no cover - defensive: never fail compilation over an index
        return None
    if "" in prefixes:
        return None
    return frozenset(prefixes)


def _build_index(patterns: Sequence[tuple[int, str]]) -> SignalIndex:
    """Index (owner, expanded pattern body) pairs for :meth:`SignalIndex.scan`."""
    by_prefix: dict[str, dict[int, list[str]]] = {}
    anywhere: dict[int, list[str]] = {}
    for owner, body in patterns:
        prefixes = _prefixes(body)
        if prefixes is None:
            anywhere.setdefault(owner, []).append(body)
            continue
        for prefix in prefixes:
            by_prefix.setdefault(prefix, {}).setdefault(owner, []).append(body)

    compiled: dict[tuple[str, ...], re.Pattern[str]] = {}

    def regex(bodies: list[str]) -> re.Pattern[str]:
        key = tuple(bodies)
        if key not in compiled:
            joined = "|".join(f"(?:{b})" for b in bodies)
            compiled[key] = re.compile(_word_pattern(joined), _FLAGS)
        return compiled[key]

    return SignalIndex(
        by_prefix={
            prefix: tuple((owner, regex(bodies)) for owner, bodies in sorted(owners.items()))
            for prefix, owners in sorted(by_prefix.items())
        },
        anywhere=tuple((owner, regex(bodies)) for owner, bodies in sorted(anywhere.items())),
    )


# Owners in the phrase index (scenario signals use the scenario's index, 0..n-1).
LEGAL_TERMS, SEVERAL_USERS, TIME_PHRASES, AT_STAKE_NOUNS = -1, -2, -3, -4


@dataclass(frozen=True)
class Scan:
    """All pattern matches in one ticket: per scenario (negations and look-alikes removed) and
    per phrase set (legal terms, several users, time phrases, at-stake nouns)."""

    text: Text
    scenarios: dict[int, list[Hit]]
    phrases: dict[int, list[Hit]]


@dataclass(frozen=True)
class CompiledPolicy:
    """Everything triage needs, precomputed from a validated policy."""

    scenario_index: dict[str, int]
    category_index: dict[str, int]
    index: SignalIndex
    not_regex: tuple[re.Pattern[str] | None, ...]
    legal_scenarios: tuple[int, ...]
    emotional: re.Pattern[str] | None
    at_stake_ignore: frozenset[str]
    negation: Negation
    thresholds: SentimentThresholds

    def scan(self, text: Text) -> Scan:
        """Find every signal and phrase in one pass; drop negated ones and look-alikes."""
        norm = text.norm
        raw = self.index.scan(norm)
        scenarios: dict[int, list[Hit]] = {}
        phrases: dict[int, list[Hit]] = {}
        for owner, hits in raw.items():
            if owner < 0:
                kept = _non_overlapping(hits)
                if owner != AT_STAKE_NOUNS:
                    kept = [h for h in kept if not self.negation.negated(norm, h.start)]
                if kept:
                    phrases[owner] = kept
                continue
            excluded = self.not_regex[owner]
            spans = [m.span() for m in excluded.finditer(norm)] if excluded is not None else []
            kept = [
                hit
                for hit in hits
                if not any(s < hit.end and hit.start < e for s, e in spans)
                and not self.negation.negated(norm, hit.start)
            ]
            if kept:
                scenarios[owner] = kept
        return Scan(text=text, scenarios=scenarios, phrases=phrases)


def _non_overlapping(hits: list[Hit]) -> list[Hit]:
    """Leftmost-longest hits of a phrase set, like ``finditer`` over one alternation."""
    kept: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        if kept and hit.start < kept[-1].end:
            continue
        kept.append(hit)
    return kept


# ---------------------------------------------------------------------------------------------
# Compilation and cross-checks
# ---------------------------------------------------------------------------------------------

_VOCAB_REF = re.compile(r"@([a-z_][a-z0-9_]*)")
_FLAGS = re.IGNORECASE


def _expand(pattern: str, vocabulary: dict[str, str], path: str, depth: int = 0) -> str:
    if depth > 5:
        raise PolicyError(path, "vocabulary references nest too deeply (a cycle?)")

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in vocabulary:
            known = ", ".join(sorted(vocabulary)) or "none"
            raise PolicyError(path, f"unknown vocabulary word '@{name}' (known: {known})")
        return "(?:" + _expand(vocabulary[name], vocabulary, path, depth + 1) + ")"

    return _VOCAB_REF.sub(replace, pattern)


def _word_pattern(body: str) -> str:
    return rf"(?<!\w)(?:{body})(?!\w)"


def _compile_one(pattern: str, vocabulary: dict[str, str], path: str) -> str:
    """Expand vocabulary and check the result compiles; return the expanded body."""
    if not pattern.strip():
        raise PolicyError(path, "empty pattern")
    body = _expand(pattern, vocabulary, path)
    try:
        regex = re.compile(_word_pattern(body), _FLAGS)
    except re.error as error:
        raise PolicyError(path, f"invalid regular expression {pattern!r}: {error}") from None
    if regex.match(""):
        raise PolicyError(path, f"pattern {pattern!r} matches empty text")
    return body


def _compile_set(
    patterns: Sequence[str], vocabulary: dict[str, str], path: str
) -> re.Pattern[str] | None:
    bodies = [
        _compile_one(pattern, vocabulary, f"{path}[{i}]") for i, pattern in enumerate(patterns)
    ]
    if not bodies:
        return None
    return re.compile(_word_pattern("|".join(f"(?:{b})" for b in bodies)), _FLAGS)


def _join(patterns: Sequence[str], vocabulary: dict[str, str], path: str) -> str:
    return "|".join(
        f"(?:{_compile_one(p, vocabulary, f'{path}[{i}]')})" for i, p in enumerate(patterns)
    )


def _check_references(policy: Policy) -> tuple[dict[str, int], dict[str, int]]:
    """Teams, ids, categories and scenario references; returns the id and category indexes."""
    for name in policy.teams:
        if name not in TEAMS:
            raise PolicyError(
                f"teams.{name}", f"unknown team {name!r} (known: {', '.join(sorted(TEAMS))})"
            )
        if "webhook" in policy.teams[name].channels and not policy.teams[name].webhook_url:
            raise PolicyError(f"teams.{name}.webhook_url", "required when channels include webhook")

    scenario_index: dict[str, int] = {}
    category_index: dict[str, int] = {}
    known_teams = ", ".join(sorted(policy.teams))
    for i, scenario in enumerate(policy.scenarios):
        path = f"scenarios[{i}]"
        if scenario.id in scenario_index:
            first = scenario_index[scenario.id]
            raise PolicyError(
                f"{path}.id", f"duplicate scenario id {scenario.id!r} (also scenarios[{first}])"
            )
        scenario_index[scenario.id] = i
        if scenario.team not in policy.teams:
            raise PolicyError(
                f"{path}.team", f"unknown team {scenario.team!r} (known: {known_teams})"
            )
        for j, category in enumerate(scenario.categories):
            key = normalise_category(category)
            if key in category_index:
                other = policy.scenarios[category_index[key]].id
                raise PolicyError(
                    f"{path}.categories[{j}]",
                    f"category {category!r} already maps to scenario {other!r}",
                )
            category_index[key] = i

    for i, scenario in enumerate(policy.scenarios):
        path = f"scenarios[{i}]"
        for attribute in ("several_users", "premium_scenario"):
            target = getattr(scenario, attribute)
            if target is None:
                continue
            if target not in scenario_index:
                raise PolicyError(
                    f"{path}.{attribute}", f"unknown scenario {target!r} (in {scenario.id!r})"
                )
            if attribute == "several_users":
                target_scenario = policy.scenarios[scenario_index[target]]
                if target_scenario.priority is not Priority.P0:
                    raise PolicyError(
                        f"{path}.several_users",
                        f"{target!r} is {target_scenario.priority.value}, not a P0 row",
                    )
                if scenario.kind != "problem":
                    raise PolicyError(f"{path}.several_users", "only problems have a P0 row")

    fallback = policy.defaults.fallback_scenario
    if fallback not in scenario_index:
        raise PolicyError("defaults.fallback_scenario", f"unknown scenario {fallback!r}")
    return scenario_index, category_index


def _compile(policy: Policy) -> CompiledPolicy:
    """Cross-check references and compile every pattern; raise PolicyError naming the key."""
    vocabulary = dict(policy.vocabulary)
    for name, pattern in vocabulary.items():
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise PolicyError(f"vocabulary.{name}", "names use a-z, 0-9 and _")
        _compile_one(pattern, vocabulary, f"vocabulary.{name}")
    scenario_index, category_index = _check_references(policy)

    patterns: list[tuple[int, str]] = []
    not_regex: list[re.Pattern[str] | None] = []
    for i, scenario in enumerate(policy.scenarios):
        path = f"scenarios[{i}]"
        for j, signal in enumerate(scenario.signals):
            patterns.append((i, _compile_one(signal, vocabulary, f"{path}.signals[{j}]")))
        not_regex.append(_compile_set(scenario.not_signals, vocabulary, f"{path}.not_signals"))

    legal = _join(policy.triggers.legal_terms, vocabulary, "triggers.legal_terms")
    if legal:
        patterns.append((LEGAL_TERMS, legal))
    several = _join(
        policy.modifiers.several_users_signals, vocabulary, "modifiers.several_users_signals"
    )
    if several:
        patterns.append((SEVERAL_USERS, several))

    ts = policy.time_sensitivity
    events = _join(ts.events, vocabulary, "time_sensitivity.events")
    weak = _join(ts.weak_times, vocabulary, "time_sensitivity.weak_times")
    strong = _join(ts.strong_times, vocabulary, "time_sensitivity.strong_times")
    deadlines = _join(ts.deadlines, vocabulary, "time_sensitivity.deadlines")
    if events and (weak or strong):
        times = "|".join(p for p in (weak, strong) if p)
        patterns.append((TIME_PHRASES, rf"(?:{events})(?: \S+){{0,4}}? (?:{times})"))
        patterns.append((TIME_PHRASES, rf"(?:{times})(?: \S+){{0,3}}? (?:{events})"))
    for part in (strong, deadlines):
        if part:
            patterns.append((TIME_PHRASES, part))

    stake = policy.at_stake
    patterns.append((AT_STAKE_NOUNS, _compile_one(stake.nouns, vocabulary, "at_stake.nouns")))
    emotional = _compile_set(stake.emotional, vocabulary, "at_stake.emotional")

    return CompiledPolicy(
        scenario_index=scenario_index,
        category_index=category_index,
        index=_build_index(patterns),
        not_regex=tuple(not_regex),
        legal_scenarios=tuple(i for i, s in enumerate(policy.scenarios) if s.legal),
        emotional=emotional,
        at_stake_ignore=frozenset(word.lower() for word in stake.ignore),
        negation=Negation(
            frozenset(policy.negation.words),
            frozenset(policy.negation.except_after),
            frozenset(policy.negation.fillers),
            frozenset(policy.negation.clause_starters),
            policy.negation.window,
        ),
        thresholds=policy.sentiment.thresholds(),
    )
