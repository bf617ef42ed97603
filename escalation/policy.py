"""The escalation policy (seed Steps 2-3, DESIGN "Default policy"): data in ``config/policy.toml``,
validated once into typed models here so rules read models, never raw dicts.

A typo anywhere — an unknown team, priority "P5", duration "2hrs", an unknown key, a dangling
scenario reference, a duplicate id, a broken regular expression or playbook template — raises
:class:`PolicyError` with one message naming the key path, e.g.
``config/policy.toml: scenarios[3].team: unknown team 'enginering' (known: billing, ...)``.

The text patterns are compiled once per policy (lazily, on first use or by :func:`parse_policy`)
so triage stays fast: every pattern is indexed by the characters its matches can start with, and
one pass over the ticket tries, at each word, only the patterns that can start there.

Pure domain code: no I/O at import time (``load_policy`` reads the file when called); jinja2 is
imported only by the functions that validate or render playbooks.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from escalation.models import TEAMS, Email, Priority
from escalation.sentiment import SentimentThresholds
from escalation.sla import SlaRules

if TYPE_CHECKING:
    from escalation.models import EscalationPackage

# ---------------------------------------------------------------------------------------------
# Errors and durations
# ---------------------------------------------------------------------------------------------


class PolicyError(Exception):
    """One clear message: ``<source>: <key path>: <problem>``.

    Not a ValueError on purpose: pydantic must not swallow it into a ValidationError.
    """

    def __init__(self, path: str, problem: str, source: str = "policy") -> None:
        self.path = path
        self.problem = problem
        self.source = source
        super().__init__(f"{source}: {path}: {problem}" if path else f"{source}: {problem}")

    def at(self, source: str) -> PolicyError:
        return PolicyError(self.path, self.problem, source)


_DURATION = re.compile(
    r"^\s*(\d+)\s*(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hour|hours|d|day|days)"
    r"\s*$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration_seconds(text: str) -> int:
    """Seconds in "30s", "15m", "15 min", "1h", "4 hours", "24h", "1d" or "immediate" (0).

    Raises ValueError for anything else ("2hrs", "soon"): an SLA must be unambiguous. Seconds
    exist for test and benchmark policies with second-scale targets.
    """
    if text.strip().lower() == "immediate":
        return 0
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"invalid duration {text!r}: use e.g. '15m', '1h', '4 hours', '1d' or 'immediate'"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]


def parse_duration(text: str) -> int:
    """Whole minutes of a duration (see parse_duration_seconds)."""
    return parse_duration_seconds(text) // 60


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


def _check_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+\S*$", value):
        raise ValueError(f"invalid URL {value!r}: must start with http:// or https://")
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
Url = Annotated[str, AfterValidator(_check_url)]
ScenarioId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Kind = Literal["problem", "request", "question"]

# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    """Unknown keys are typos: refuse them. Frozen: a policy never changes once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TeamConfig(_Strict):
    display_name: Annotated[str, Field(min_length=1)]
    email: Email
    manager_email: Email
    webhook_url: Url | None = None
    channels: Annotated[list[Literal["email", "webhook"]], Field(min_length=1)] = ["email"]


class _ResponseTarget:
    """Reads a model's `response` duration in minutes (the contract) or seconds (the clock).
    A plain mixin: the models declare the field themselves, where their key order wants it."""

    @property
    def response_minutes(self) -> int:
        return parse_duration(self.response)  # type: ignore[attr-defined]

    @property
    def response_seconds(self) -> int:
        return parse_duration_seconds(self.response)  # type: ignore[attr-defined]


class PriorityConfig(_Strict, _ResponseTarget):
    label: Annotated[str, Field(min_length=1)]
    response: Duration
    indicator: str = ""
    immediate_alert: bool = False


class Priorities(_Strict):
    P0: PriorityConfig
    P1: PriorityConfig
    P2: PriorityConfig
    P3: PriorityConfig

    def get(self, priority: Priority | str) -> PriorityConfig:
        return getattr(self, Priority(priority).value)


class Scenario(_Strict, _ResponseTarget):
    id: ScenarioId
    label: Annotated[str, Field(min_length=1)]
    team: str
    priority: Priority
    response: Duration
    kind: Kind
    reason: Annotated[str, Field(min_length=1)]
    impact: str | None = None
    categories: list[str] = []
    signals: list[str] = []
    not_signals: list[str] = []
    weight: Annotated[float, Field(gt=0, le=10)] = 1.0
    legal: bool = False
    several_users: str | None = None
    premium_scenario: str | None = None
    playbook: list[str] = []


class TriggerConfig(_Strict):
    urgency_levels: list[Literal["critical", "high", "medium", "low"]] = ["critical", "high"]
    meaning_priorities: list[Priority] = [Priority.P0, Priority.P1]
    legal_terms: list[str] = []


class SentimentConfig(_Strict):
    angry_points: Annotated[int, Field(ge=1)] = 2
    angry_tone: Annotated[float, Field(ge=-1, le=1)] = -0.5
    frustrated_tone: Annotated[float, Field(ge=-1, le=1)] = -0.35
    positive_tone: Annotated[float, Field(ge=-1, le=1)] = 0.5
    dissatisfied_labels: list[
        Literal["angry", "frustrated", "frustrated but polite", "calm", "positive"]
    ] = ["angry", "frustrated", "frustrated but polite"]

    def thresholds(self) -> SentimentThresholds:
        return SentimentThresholds(
            angry_points=self.angry_points,
            angry_tone=self.angry_tone,
            frustrated_tone=self.frustrated_tone,
            positive_tone=self.positive_tone,
        )


class Modifiers(_Strict):
    premium_problem_min: Priority = Priority.P1
    angry_complaint_min: Priority = Priority.P1
    several_users_min_reports: Annotated[int, Field(ge=2)] = 3
    several_users_window: Duration = "24h"
    several_users_signals: list[str] = []

    @property
    def several_users_window_minutes(self) -> int:
        return parse_duration(self.several_users_window)


class TimeSensitivityConfig(_Strict):
    events: list[str] = []
    weak_times: list[str] = []
    strong_times: list[str] = []
    deadlines: list[str] = []


class AtStakeConfig(_Strict):
    nouns: str
    emotional: list[str] = []
    ignore: list[str] = []


class NegationConfig(_Strict):
    words: list[str] = []
    except_after: list[str] = []
    fillers: list[str] = []
    clause_starters: list[str] = []
    window: Annotated[int, Field(ge=1, le=8)] = 3


class Defaults(_Strict):
    fallback_scenario: str


class MonitoringConfig(_Strict):
    """Step 8: when the SLA clock alerts, warns, escalates to a manager and follows up."""

    warning_at: Annotated[float, Field(gt=0, lt=1)] = 0.75
    manager_escalation_after: Duration = "4h"
    manager_escalation_priorities: list[Priority] = [Priority.P0, Priority.P1]
    reply_alert_priorities: list[Priority] = [Priority.P0, Priority.P1]
    satisfaction_alert_priorities: list[Priority] = [Priority.P0, Priority.P1]
    satisfaction_alert_below: Annotated[int, Field(ge=1, le=5)] = 3
    daily_check_every: Duration = "24h"
    daily_check_priorities: list[Priority] = [Priority.P2, Priority.P3]
    no_progress_after: Duration = "48h"
    no_progress_priorities: list[Priority] = [Priority.P2, Priority.P3]


class DeEscalationConfig(_Strict):
    """Seed "De-escalation": what counts as a quick resolution and when one becomes knowledge."""

    # "If human agent resolves quickly": resolved within this share of the response target,
    # counted from the first human response (time waiting on the customer excluded).
    quick_within: Annotated[float, Field(gt=0)] = 0.5
    # "Learn from solution": a pattern resolved quickly this many times drafts a KB article
    # and an auto-response candidate for a human to approve.
    pattern_min_occurrences: Annotated[int, Field(ge=1)] = 3
    # A pattern without an error code matches a new ticket of its scenario when the ticket
    # carries at least this share of the pattern's symptom terms.
    symptom_overlap: Annotated[float, Field(gt=0, le=1)] = 0.6
    # A ticket matching an approved known solution still goes to a human when it is critical
    # (upstream urgency or by meaning), angry, or uses legal language (always).
    known_solution_escalates_urgency: list[Literal["critical", "high", "medium", "low"]] = [
        "critical"
    ]
    known_solution_escalates_priority: list[Priority] = [Priority.P0]
    known_solution_escalates_sentiment: list[
        Literal["angry", "frustrated", "frustrated but polite", "calm", "positive"]
    ] = ["angry"]


class Policy(_Strict):
    """The whole policy. Use :func:`load_policy` / :func:`parse_policy` to get one."""

    version: Literal[1] = 1
    defaults: Defaults
    teams: dict[str, TeamConfig]
    priorities: Priorities
    triggers: TriggerConfig = TriggerConfig()
    sentiment: SentimentConfig = SentimentConfig()
    modifiers: Modifiers = Modifiers()
    time_sensitivity: TimeSensitivityConfig = TimeSensitivityConfig()
    at_stake: AtStakeConfig
    negation: NegationConfig = NegationConfig()
    vocabulary: dict[str, str] = {}
    scenarios: Annotated[list[Scenario], Field(min_length=1)]
    monitoring: MonitoringConfig = MonitoringConfig()
    de_escalation: DeEscalationConfig = DeEscalationConfig()

    _compiled: CompiledPolicy | None = PrivateAttr(default=None)

    def team(self, name: str) -> TeamConfig:
        try:
            return self.teams[name]
        except KeyError:
            known = ", ".join(sorted(self.teams))
            raise KeyError(f"unknown team {name!r} (known: {known})") from None

    def scenario(self, scenario_id: str) -> Scenario:
        return self.scenarios[self.compiled.scenario_index[scenario_id]]

    def has_scenario(self, scenario_id: str) -> bool:
        return scenario_id in self.compiled.scenario_index

    def sla_rules(self) -> SlaRules:
        """The monitoring rules in seconds, as the workflow carries them."""
        m = self.monitoring
        priorities = {
            priority: self.priorities.get(priority).response_seconds for priority in Priority
        }
        return SlaRules(
            warning_fraction=m.warning_at,
            manager_escalation_after=parse_duration_seconds(m.manager_escalation_after),
            manager_escalation_priorities=m.manager_escalation_priorities,
            immediate_alert_priorities=[
                p for p in Priority if self.priorities.get(p).immediate_alert
            ],
            reply_alert_priorities=m.reply_alert_priorities,
            satisfaction_alert_priorities=m.satisfaction_alert_priorities,
            satisfaction_alert_below=m.satisfaction_alert_below,
            daily_check_every=parse_duration_seconds(m.daily_check_every),
            daily_check_priorities=m.daily_check_priorities,
            no_progress_after=parse_duration_seconds(m.no_progress_after),
            no_progress_priorities=m.no_progress_priorities,
            response_targets=priorities,
            teams=sorted(self.teams),
            angry_complaint_min=self.modifiers.angry_complaint_min,
        )

    @property
    def fallback(self) -> Scenario:
        return self.scenario(self.defaults.fallback_scenario)

    @property
    def compiled(self) -> CompiledPolicy:
        """Patterns and indexes, built and cross-checked once (raises PolicyError)."""
        private = self.__pydantic_private__  # plain dict: hot path, skip pydantic's __getattr__
        compiled = private.get("_compiled") if private else None
        if compiled is None:
            compiled = _compile(self)
            self._compiled = compiled
        return compiled


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


def normalise_category(category: str) -> str:
    """Ticketing-system category as a key: "Data Loss" / "data-loss" -> "data_loss"."""
    return re.sub(r"[\s\-/]+", "_", category.strip().lower())


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _loc_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class that owns the last key of ``loc`` (to list allowed keys)."""
    current: Any = Policy
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            current = info.annotation
        else:
            args = [a for a in get_args(current) if a is not type(None)]
            origin = get_origin(current)
            if origin is Annotated:
                current = args[0]
                args = [a for a in get_args(current) if a is not type(None)]
                origin = get_origin(current)
            if origin in (list, dict):
                current = args[-1]
            elif args:
                current = args[0]
            else:
                return None
        while get_origin(current) is Annotated:
            current = get_args(current)[0]
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _describe(error: ValidationError) -> PolicyError:
    """The first problem as one line; a misspelt key is reported before the key it misses."""
    errors = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")
    item = errors[0]
    loc = item["loc"]
    path = _loc_path(loc)
    kind = item["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc)
        allowed = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listed = f" (allowed: {', '.join(allowed)}{hint})" if allowed else ""
        problem = f"unknown key {str(loc[-1])!r}{listed}"
    elif kind == "missing":
        problem = "missing"
    elif kind == "enum" and "'P0'" in str(item.get("ctx", {}).get("expected", "")):
        problem = f"unknown priority {item['input']!r} (known: P0, P1, P2, P3)"
    else:
        message = item["msg"].removeprefix("Value error, ")
        if "input" in item and not isinstance(item["input"], dict | list):
            if repr(item["input"]) not in message:
                message = f"{message} (got {item['input']!r})"
        problem = message
    more = len(error.errors()) - 1
    if more:
        problem += f" (and {more} more problem{'s' if more > 1 else ''})"
    return PolicyError(path, problem)


def parse_policy(text: str, source: str = "policy") -> Policy:
    """Validate a policy document once; every problem raises PolicyError naming the key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError("", f"invalid TOML: {error}", source) from None
    try:
        policy = Policy.model_validate(raw)
        policy.compiled  # noqa: B018 - compile and cross-check now, not on the first ticket
        _check_playbooks(policy)
    except ValidationError as error:
        raise _describe(error).at(source) from None
    except PolicyError as error:
        raise error.at(source) from None
    return policy


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file (call from an activity or the CLI, never a workflow)."""
    location = Path(path)
    try:
        text = location.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError("", f"cannot read policy: {error.strerror or error}", str(path)) from None
    return parse_policy(text, str(path))


# ---------------------------------------------------------------------------------------------
# Playbooks (Jinja2, imported lazily: only activities and the loader render or check them)
# ---------------------------------------------------------------------------------------------

PLAYBOOK_VARIABLES = ("ticket", "customer", "history", "technical")


def _environment() -> Any:
    """Playbooks come from a config file: rendered sandboxed, missing values read as blank."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        undefined=jinja2.ChainableUndefined, autoescape=False, keep_trailing_newline=False
    )


def _sample_package() -> EscalationPackage:
    from escalation.models import EscalationPackage

    return EscalationPackage.model_validate(
        {
            "ticket": {
                "id": "T-1",
                "subject": "sample",
                "urgency": "low",
                "createdAt": "2024-01-01T00:00:00Z",
                "customerEmail": "sample@example.com",
            },
            "customer": {},
            "history": {},
            "technicalContext": {},
        }
    )


def _check_playbooks(policy: Policy) -> None:
    """Each playbook line must parse, use only the package's parts and render without values."""
    try:
        import jinja2
        from jinja2 import meta
    except ImportError:  # pragma: no cover - jinja2 is a project dependency
        return
    env = _environment()
    sample = _sample_package()
    for i, scenario in enumerate(policy.scenarios):
        for j, line in enumerate(scenario.playbook):
            path = f"scenarios[{i}].playbook[{j}]"
            try:
                parsed = env.parse(line)
            except jinja2.TemplateSyntaxError as error:
                raise PolicyError(path, f"invalid template: {error.message}") from None
            unknown = sorted(meta.find_undeclared_variables(parsed) - set(PLAYBOOK_VARIABLES))
            if unknown:
                raise PolicyError(
                    path,
                    f"unknown variable {unknown[0]!r} (use {', '.join(PLAYBOOK_VARIABLES)})",
                )
            try:
                env.from_string(line).render(_playbook_context(sample))
            except Exception as error:
                raise PolicyError(path, f"template fails on missing values: {error}") from None


def _playbook_context(package: EscalationPackage) -> dict[str, Any]:
    return {
        "ticket": package.ticket,
        "customer": package.customer,
        "history": package.history,
        "technical": package.technical_context,
    }


@functools.lru_cache(maxsize=1024)
def _playbook_template(line: str) -> Any:
    """Compiled once per distinct playbook line (compiling per ticket cost 5% of a worker)."""
    return _environment().from_string(line)


def render_playbook(policy: Policy, scenario_id: str, package: EscalationPackage) -> list[str]:
    """The scenario's suggested actions filled in from the package (for the agent summary)."""
    context = _playbook_context(package)
    lines = []
    for line in policy.scenario(scenario_id).playbook:
        rendered = " ".join(_playbook_template(line).render(context).split())
        if rendered:
            lines.append(rendered)
    return lines
