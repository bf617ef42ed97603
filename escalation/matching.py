"""The text-matching engine: a validated policy's patterns compiled and cross-checked once, then
every signal and phrase of a ticket found in one pass over its normalised text.

Apart from the schema because it is triage's hot path, tuned for speed: every pattern is indexed
by the characters its matches can start with, so at each word only the few patterns that can
start there are tried (one big alternation costs milliseconds per ticket).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from escalation.folding import APOSTROPHES, DROPPED_AFTER, fold_case, fold_pattern
from escalation.models import TEAMS, Priority
from escalation.policy import PolicyError, normalise_category
from escalation.sentiment import ENGLISH, SentimentMarkers, SentimentThresholds

if TYPE_CHECKING:
    from escalation.policy import LexiconNegation, NegationConfig, Policy

# ---------------------------------------------------------------------------------------------
# Text: normalised once per ticket, with a way back to the customer's own words
# ---------------------------------------------------------------------------------------------

# Apostrophes resolved as escalation/folding.py says (dropped, or parting words), space runs
# collapsed. Every match opens with an apostrophe or a space character, so the expression opens
# with that one class (the regex engine then scans for it in C) and looks behind at the character
# it took to tell the branches apart: a dropped apostrophe, any other apostrophe, a line break
# and the spaces around it, a run of spaces, any other space character.
_NORMALISE = re.compile(
    rf"[{APOSTROPHES}\s](?:"
    rf"(?P<dropped>(?<=[{APOSTROPHES}])(?:{DROPPED_AFTER}))"
    rf"|(?<=[{APOSTROPHES}])|(?<=\n)\s*|(?<=[^\S\n])[^\S\n]*\n\s*|(?<=[^\S\n])[^\S\n]+"
    r"|(?<=[^\S\n ]))"
)


@dataclass(frozen=True, slots=True)
class Text:
    """A ticket's text folded (lower case, accents off, apostrophes resolved) and spaces collapsed;
    ``original()`` maps a span of the normalised text back to the customer's words."""

    source: str
    norm: str
    _starts: tuple[int, ...]
    _shifts: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> Text:
        lowered = fold_case(text)
        pieces: list[str] = []
        starts, shifts = [0], [0]
        pos = npos = 0
        for match in _NORMALISE.finditer(lowered):
            start, end = match.span()
            pieces.append(lowered[pos:start])
            npos += start - pos
            token = match.group()
            if match.lastgroup == "dropped":
                replacement = ""
            else:
                replacement = "\n" if "\n" in token else " "
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


_CLAUSE_BREAKS = ("but", "however", "although", "though")
_TOKEN = re.compile(r"[^\W_]+|&")
_SENTENCE_BREAK = re.compile(r"[.!?\n]")


def _clause_break(words: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(fold_pattern(w.lower())) for w in sorted(set(words)))
    return re.compile(rf"[.,;:!?\n()]| (?:{alternatives}) ")


_ENGLISH_BREAKS = _clause_break(_CLAUSE_BREAKS)


@dataclass(frozen=True, slots=True)
class Negation:
    words: frozenset[str]
    except_after: frozenset[str]
    fillers: frozenset[str]
    clause_starters: frozenset[str]
    window: int
    breaks: re.Pattern[str] = _ENGLISH_BREAKS

    def negated(self, norm: str, start: int) -> bool:
        """True when a negation word sits among the few words before ``start`` in its clause."""
        if not self.words:
            return False
        before = norm[max(0, start - 80) : start]
        breaks = list(self.breaks.finditer(before))
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
# How far past the index's prefix a word start is read to rule out a pattern group before its
# regex is tried (see SignalIndex.gates).
GATE_LENGTH = 6
_GATE_MEMO_LIMIT = 1 << 16


@dataclass(frozen=True)
class SignalIndex:
    """Many patterns matched in one pass over the text.

    Python's regex engine tries every alternative of a large alternation at every position, so
    one big expression is slow (milliseconds per ticket). Instead every pattern is indexed by the
    first characters any of its matches can begin with (computed from the regex parse tree), and
    for each such prefix the patterns of one owner (a scenario or a phrase set) that can start
    with it are compiled together; at each word start only those few expressions are tried.

    Each of those expressions also carries a gate: the longer beginnings (up to
    ``GATE_LENGTH`` characters) its matches can have, or None when that cannot be bounded. An
    expression whose gate the word start does not begin with cannot match there and is not
    tried (half of them at a typical word start). The expressions left for a word start are
    remembered by its first ``GATE_LENGTH`` characters.
    """

    by_prefix: dict[str, tuple[tuple[int, re.Pattern[str]], ...]]  # prefix -> (owner, regex)
    anywhere: tuple[tuple[int, re.Pattern[str]], ...]  # patterns whose start is unknown
    # by_prefix's entries in the same order, as the pattern bodies each regex joins.
    bodies: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    # Filled on first use: each prefix's gates, each body's, the candidates per word start.
    _gates: dict[str, tuple[tuple[str, ...] | None, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _body_gates: dict[str, tuple[str, ...] | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _memo: dict[str, tuple[tuple[int, re.Pattern[str]], ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def gates(self, prefix: str) -> tuple[tuple[str, ...] | None, ...]:
        """The gate of each of ``by_prefix[prefix]``'s regexes: the beginnings any of its
        bodies' matches can have (None, always tried, when one body's cannot be bounded)."""
        gates = self._gates.get(prefix)
        if gates is not None:
            return gates
        groups = self.bodies.get(prefix)
        if groups is None:  # an index built without its bodies: every regex is tried
            gates = (None,) * len(self.by_prefix.get(prefix, ()))
        else:
            gates = tuple(self._group_gate(bodies) for bodies in groups)
        self._gates[prefix] = gates
        return gates

    def _group_gate(self, bodies: tuple[str, ...]) -> tuple[str, ...] | None:
        union: set[str] = set()
        for body in bodies:
            if body not in self._body_gates:
                self._body_gates[body] = _gate(body)
            gate = self._body_gates[body]
            if gate is None:
                return None
            union.update(gate)
        return tuple(sorted(union))

    def candidates(self, key: str) -> tuple[tuple[int, re.Pattern[str]], ...]:
        """The (owner, regex) pairs to try at a word start whose text begins with ``key``
        (its first ``GATE_LENGTH`` characters), in index order."""
        found = self._memo.get(key)
        if found is not None:
            return found
        get = self.by_prefix.get
        # Gates hold lower-case ASCII; a key with other characters (an upper-case letter left by
        # folding, a long s...) may still match a pattern case-insensitively: try them all.
        gated = key.isascii() and key == key.lower()
        chosen: list[tuple[int, re.Pattern[str]]] = []
        for length in range(PREFIX_LENGTH, 0, -1):
            prefix = key[:length]
            entries = get(prefix)
            if not entries:
                continue
            if not gated:
                chosen.extend(entries)
                continue
            for entry, gate in zip(entries, self.gates(prefix), strict=True):
                if gate is None or key.startswith(gate):
                    chosen.append(entry)
        found = (*chosen, *self.anywhere)
        if len(self._memo) >= _GATE_MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = found
        return found

    def scan(self, norm: str) -> dict[int, list[Hit]]:
        """Every match of every owner's patterns, grouped by owner, in text order."""
        found: dict[int, list[Hit]] = {}
        memo = self._memo
        width = GATE_LENGTH
        for start_match in _STARTS.finditer(norm):
            pos = start_match.start()
            key = norm[pos : pos + width]
            candidates = memo.get(key)
            if candidates is None:
                candidates = self.candidates(key)
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
        from re import _constants as c  # type: ignore[attr-defined]  # private, no stubs
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
        tree = _parsed(_word_pattern(body))
        if tree is None:  # pragma: no cover - no stdlib parser
            return None
        prefixes = sequence(tree, length)
    except Unbounded:
        return None
    except Exception:  # pragma: no cover - defensive: never fail compilation over an index
        return None
    if "" in prefixes:
        return None
    return frozenset(prefixes)


@functools.lru_cache(maxsize=32768)
def _parsed(pattern: str) -> Any:
    """The stdlib parser's tree of a pattern (raises re.error), parsed once per process: it both
    validates a policy pattern and tells where its matches can start. None without the parser."""
    try:
        from re import _parser as parser  # type: ignore[attr-defined]  # private, no stubs
    except ImportError:  # pragma: no cover - other Python versions
        re.compile(pattern, _FLAGS)
        return None
    return parser.parse(pattern, _FLAGS)


def _gate(body: str) -> tuple[str, ...] | None:
    """The longest beginnings (``GATE_LENGTH`` characters down to one more than the index's
    prefix) every match of ``body`` starts with, or None when none of those can be bounded."""
    for length in range(GATE_LENGTH, PREFIX_LENGTH, -1):
        prefixes = _prefixes(body, length)
        # Lower-case ASCII only: the gate is read only at word starts written in it.
        if prefixes is not None and all(p.isascii() and p == p.lower() for p in prefixes):
            return tuple(sorted(prefixes))
    return None


@functools.lru_cache(maxsize=32)
def _build_index(patterns: tuple[tuple[int, str], ...]) -> SignalIndex:
    """Index (owner, expanded pattern body) pairs for :meth:`SignalIndex.scan` (cached: a
    policy reloaded unchanged, as tests and the CLI do, reuses its indexes)."""
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

    ordered = sorted(by_prefix.items())
    return SignalIndex(
        by_prefix={
            prefix: tuple((owner, regex(bodies)) for owner, bodies in sorted(owners.items()))
            for prefix, owners in ordered
        },
        anywhere=tuple((owner, regex(bodies)) for owner, bodies in sorted(anywhere.items())),
        bodies={
            prefix: tuple(tuple(bodies) for _owner, bodies in sorted(owners.items()))
            for prefix, owners in ordered
        },
    )


# Owners in the phrase index (scenario signals use the scenario's index, 0..n-1).
LEGAL_TERMS, SEVERAL_USERS, TIME_PHRASES, AT_STAKE_NOUNS = -1, -2, -3, -4
RESOLUTION, HYPOTHETICAL = -5, -6
# Phrase sets whose hits a hypothetical ("if this ever happened") cancels, like scenario signals.
_HYPOTHETICAL_SCOPE = frozenset({LEGAL_TERMS, SEVERAL_USERS})


@dataclass(frozen=True)
class Scan:
    """All pattern matches in one ticket: per scenario (negations and look-alikes removed) and
    per phrase set (legal terms, several users, time phrases, at-stake nouns)."""

    text: Text
    scenarios: dict[int, list[Hit]]
    phrases: dict[int, list[Hit]]


@dataclass(frozen=True)
class LanguageReader:
    """English's patterns plus one language's, indexed for one pass over a ticket."""

    language: str
    indexes: tuple[SignalIndex, ...]  # English's, then the language's own
    not_regex: tuple[re.Pattern[str] | None, ...]
    negation: Negation
    markers: SentimentMarkers
    phrase_not: dict[int, re.Pattern[str]]  # look-alikes that cancel a phrase set's hits

    @property
    def index(self) -> SignalIndex:
        return self.indexes[0]

    def scan(self, text: Text) -> Scan:
        """Find every signal and phrase in one pass per index; drop what is negated,
        hypothetical or a look-alike."""
        norm = text.norm
        raw = self.indexes[0].scan(norm)
        for index in self.indexes[1:]:
            for owner, hits in index.scan(norm).items():
                merged = raw.setdefault(owner, [])
                merged.extend(hits)
                merged.sort(key=lambda h: (h.start, -h.end))
        hypothetical = [h.start for h in raw.get(HYPOTHETICAL, [])]
        seen: dict[int, bool] = {}  # hits of several owners often start at the same word

        def negated(start: int) -> bool:
            found = seen.get(start)
            if found is None:
                found = seen[start] = self.negation.negated(norm, start)
            return found

        def counts(hit: Hit) -> bool:
            if negated(hit.start):
                return False
            return not any(
                start <= hit.start and not _SENTENCE_BREAK.search(norm, start, hit.start)
                for start in hypothetical
            )

        scenarios: dict[int, list[Hit]] = {}
        phrases: dict[int, list[Hit]] = {}
        for owner, hits in raw.items():
            if owner < 0:
                kept = _non_overlapping(hits)
                if owner in self.phrase_not:
                    cancel = [m.span() for m in self.phrase_not[owner].finditer(norm)]
                    kept = [
                        h for h in kept if not any(s < h.end and h.start < e for s, e in cancel)
                    ]
                if owner in _HYPOTHETICAL_SCOPE:
                    kept = [h for h in kept if counts(h)]
                elif owner not in (AT_STAKE_NOUNS, HYPOTHETICAL, RESOLUTION):
                    kept = [h for h in kept if not negated(h.start)]
                if kept:
                    phrases[owner] = kept
                continue
            excluded = self.not_regex[owner]
            spans = [m.span() for m in excluded.finditer(norm)] if excluded is not None else []
            kept = [
                hit
                for hit in hits
                if not any(s < hit.end and hit.start < e for s, e in spans) and counts(hit)
            ]
            if kept:
                scenarios[owner] = kept
        return Scan(text=text, scenarios=scenarios, phrases=phrases)


@dataclass(frozen=True)
class _LanguageSource:
    """One language's validated pattern bodies, indexed on first use (worker start stays quick)."""

    patterns: tuple[tuple[int, str], ...]
    not_bodies: tuple[tuple[str, ...], ...]
    negation: Negation
    markers: SentimentMarkers
    phrase_not: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class CompiledPolicy:
    """Everything triage needs, precomputed from a validated policy."""

    scenario_index: dict[str, int]
    category_index: dict[str, int]
    hint_index: dict[str, int]
    legal_scenarios: tuple[int, ...]
    emotional: re.Pattern[str] | None
    at_stake_ignore: frozenset[str]
    thresholds: SentimentThresholds
    languages: tuple[str, ...]  # "en" first
    _sources: dict[str, _LanguageSource]
    _readers: dict[str, LanguageReader]

    def reader(self, language: str = "en") -> LanguageReader:
        """The reader for a language (English for one the policy has no lexicon for)."""
        reader = self._readers.get(language)
        if reader is None:
            if language not in self._sources:
                return self.reader("en")
            source = self._sources[language]
            own = (_build_index(source.patterns),) if source.patterns else ()
            shared = (self.reader("en").indexes[0],) if language != "en" else ()
            reader = LanguageReader(
                language=language,
                indexes=shared + own,
                not_regex=tuple(
                    re.compile(_word_pattern("|".join(f"(?:{b})" for b in bodies)), _FLAGS)
                    if bodies
                    else None
                    for bodies in source.not_bodies
                ),
                negation=source.negation,
                markers=source.markers,
                phrase_not={
                    owner: re.compile(_word_pattern(body), _FLAGS)
                    for owner, body in source.phrase_not
                },
            )
            self._readers[language] = reader
        return reader

    def scan(self, text: Text, language: str = "en") -> Scan:
        return self.reader(language).scan(text)


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
    body = fold_pattern(_expand(pattern, vocabulary, path))
    # Vocabulary entries are checked once on their own; the pattern is checked with each
    # reference as a one-character group, so thousands of patterns load in well under a second.
    skeleton = _VOCAB_REF.sub("(?:x)", fold_pattern(pattern))
    try:
        tree = _parsed(_word_pattern(skeleton))
    except (re.error, RecursionError, OverflowError) as error:
        raise PolicyError(path, f"invalid regular expression {pattern!r}: {error}") from None
    if "(?<" in skeleton:  # look-behind widths are checked by the compiler, not the parser
        try:
            re.compile(_word_pattern(body), _FLAGS)
        except re.error as error:
            raise PolicyError(path, f"invalid regular expression {pattern!r}: {error}") from None
    empty = tree.getwidth()[0] == 0 if tree is not None else re.match(_word_pattern(skeleton), "")
    if empty:
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


def _check_references(policy: Policy) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Teams, ids, categories and scenario references; returns the id, category and hint
    indexes."""
    for name in policy.teams:
        if name not in TEAMS:
            raise PolicyError(
                f"teams.{name}", f"unknown team {name!r} (known: {', '.join(sorted(TEAMS))})"
            )
        if "webhook" in policy.teams[name].channels and not policy.teams[name].webhook_url:
            raise PolicyError(f"teams.{name}.webhook_url", "required when channels include webhook")

    scenario_index: dict[str, int] = {}
    category_index: dict[str, int] = {}
    hint_index: dict[str, int] = {}
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
        for key_name, index in (("categories", category_index), ("hint_categories", hint_index)):
            for j, category in enumerate(getattr(scenario, key_name)):
                key = normalise_category(category)
                taken = category_index.get(key, hint_index.get(key))
                if taken is not None:
                    other = policy.scenarios[taken].id
                    raise PolicyError(
                        f"{path}.{key_name}[{j}]",
                        f"category {category!r} already maps to scenario {other!r}",
                    )
                index[key] = i

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
    return scenario_index, category_index, hint_index


def _check_vocabulary(vocabulary: dict[str, str], path: str, prefix: str = "") -> None:
    for name in vocabulary:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise PolicyError(f"{path}.{name}", "names use a-z, 0-9 and _")
        if prefix and not name.startswith(prefix):
            raise PolicyError(
                f"{path}.{name}", f"a lexicon's vocabulary names start with {prefix!r}"
            )


def _phrase_patterns(words: Any, vocabulary: dict[str, str], path: str) -> list[tuple[int, str]]:
    """The phrase sets (legal terms, several users, time, at stake, resolution, hypothetical)
    of English or of one lexicon, as (owner, body) pairs."""
    patterns: list[tuple[int, str]] = []

    def add(owner: int, items: Sequence[str], where: str) -> None:
        # One body per phrase, not one alternation of them all: the index then tries at each
        # word only the phrases that can start there (a joined set was tried whole at every
        # word any of its phrases could start with).
        for i, item in enumerate(items):
            patterns.append((owner, _compile_one(item, vocabulary, f"{where}[{i}]")))

    add(LEGAL_TERMS, words.triggers.legal_terms, f"{path}triggers.legal_terms")
    add(
        SEVERAL_USERS,
        words.modifiers.several_users_signals,
        f"{path}modifiers.several_users_signals",
    )
    add(RESOLUTION, words.resolution.signals, f"{path}resolution.signals")
    add(HYPOTHETICAL, words.hypothetical.signals, f"{path}hypothetical.signals")
    if words.at_stake.nouns:
        patterns.append(
            (
                AT_STAKE_NOUNS,
                _compile_one(words.at_stake.nouns, vocabulary, f"{path}at_stake.nouns"),
            )
        )
    return patterns


def _time_patterns(
    parts: list[tuple[Any, str]], vocabulary: dict[str, str]
) -> list[tuple[int, str]]:
    """An event near a time, a firm time alone, or a deadline (English plus one language)."""

    def each(field: str) -> list[str]:
        return [
            _compile_one(item, vocabulary, f"{path}time_sensitivity.{field}[{i}]")
            for ts, path in parts
            for i, item in enumerate(getattr(ts, field))
        ]

    events, weak, strong, deadlines = (
        each(f) for f in ("events", "weak_times", "strong_times", "deadlines")
    )
    patterns: list[tuple[int, str]] = []
    # An event near a time, one body per event and per time (see `add` above for why).
    if events and (weak or strong):
        any_event = "|".join(f"(?:{e})" for e in events)
        any_time = "|".join(f"(?:{t})" for t in (*weak, *strong))
        for event in events:
            patterns.append((TIME_PHRASES, rf"(?:{event})(?: \S+){{0,4}}? (?:{any_time})"))
        for time in (*weak, *strong):
            patterns.append((TIME_PHRASES, rf"(?:{time})(?: \S+){{0,3}}? (?:{any_event})"))
    patterns.extend((TIME_PHRASES, part) for part in (*strong, *deadlines))
    return patterns


def _negation(base: NegationConfig, extra: LexiconNegation | None = None) -> Negation:
    """English's negation words, plus a lexicon's (less the English ones it drops)."""

    def words(name: str) -> frozenset[str]:
        return frozenset([*getattr(base, name), *(getattr(extra, name) if extra else ())])

    return Negation(
        words("words") - frozenset(extra.drop if extra else ()),
        words("except_after"),
        words("fillers"),
        words("clause_starters"),
        base.window,
        _clause_break([*_CLAUSE_BREAKS, *words("clause_breaks")]),
    )


def _compile(policy: Policy) -> CompiledPolicy:
    """Cross-check references and compile every pattern of every language; raise PolicyError
    naming the key. Each language's index is built when a ticket in it is first read."""
    vocabulary = dict(policy.vocabulary)
    _check_vocabulary(vocabulary, "vocabulary")
    for code, lexicon in policy.lexicons.items():
        _check_vocabulary(lexicon.vocabulary, f"lexicons.{code}.vocabulary", f"{code}_")
        vocabulary.update(lexicon.vocabulary)
    for name, pattern in policy.vocabulary.items():
        _compile_one(pattern, vocabulary, f"vocabulary.{name}")
    for code, lexicon in policy.lexicons.items():
        for name, pattern in lexicon.vocabulary.items():
            _compile_one(pattern, vocabulary, f"lexicons.{code}.vocabulary.{name}")
    scenario_index, category_index, hint_index = _check_references(policy)

    english: list[tuple[int, str]] = []
    english_not: list[list[str]] = []
    for i, scenario in enumerate(policy.scenarios):
        path = f"scenarios[{i}]"
        for j, signal in enumerate(scenario.signals):
            english.append((i, _compile_one(signal, vocabulary, f"{path}.signals[{j}]")))
        english_not.append(
            [
                _compile_one(p, vocabulary, f"{path}.not_signals[{j}]")
                for j, p in enumerate(scenario.not_signals)
            ]
        )
    english += _phrase_patterns(policy, vocabulary, "")
    neg = policy.negation
    sources = {
        "en": _LanguageSource(
            patterns=tuple(english + _time_patterns([(policy.time_sensitivity, "")], vocabulary)),
            not_bodies=tuple(tuple(b) for b in english_not),
            negation=_negation(neg),
            markers=ENGLISH,
        )
    }
    emotional = list(policy.at_stake.emotional)
    for code, lexicon in policy.lexicons.items():
        path = f"lexicons.{code}."
        patterns: list[tuple[int, str]] = []
        not_bodies = [list(b) for b in english_not]
        for scenario_id, words in lexicon.scenarios.items():
            where = f"{path}scenarios.{scenario_id}"
            if scenario_id not in scenario_index:
                raise PolicyError(where, f"unknown scenario {scenario_id!r}")
            i = scenario_index[scenario_id]
            for j, signal in enumerate(words.signals):
                patterns.append((i, _compile_one(signal, vocabulary, f"{where}.signals[{j}]")))
            for j, signal in enumerate(words.not_signals):
                not_bodies[i].append(_compile_one(signal, vocabulary, f"{where}.not_signals[{j}]"))
        patterns += _phrase_patterns(lexicon, vocabulary, path)
        # The language's own times and events, and each crossed with English's ("boda this
        # weekend" is rare; "boda este sabado" is the point).
        patterns += _time_patterns([(lexicon.time_sensitivity, path)], vocabulary)
        for j, pattern in enumerate(lexicon.sentiment.idioms):
            _compile_one(pattern, vocabulary, f"{path}sentiment.idioms[{j}]")
        ln = lexicon.negation
        sentiment = lexicon.sentiment
        try:
            markers = SentimentMarkers.build(
                anger=sentiment.anger,
                frustration=sentiment.frustration,
                polite=sentiment.polite,
                delight=sentiment.delight,
                gratitude=sentiment.gratitude,
                idioms=sentiment.idioms,
                english=False,
            )
        except re.error as error:
            raise PolicyError(f"{path}sentiment", f"invalid regular expression: {error}") from None
        emotional += lexicon.at_stake.emotional
        not_legal = _join(
            lexicon.triggers.not_legal_terms, vocabulary, f"{path}triggers.not_legal_terms"
        )
        sources[code] = _LanguageSource(
            patterns=tuple(patterns),
            not_bodies=tuple(tuple(b) for b in not_bodies),
            negation=_negation(neg, ln),
            markers=markers,
            phrase_not=((LEGAL_TERMS, not_legal),) if not_legal else (),
        )

    compiled = CompiledPolicy(
        scenario_index=scenario_index,
        category_index=category_index,
        hint_index=hint_index,
        legal_scenarios=tuple(i for i, s in enumerate(policy.scenarios) if s.legal),
        emotional=_compile_set(emotional, vocabulary, "at_stake.emotional"),
        at_stake_ignore=frozenset(word.lower() for word in policy.at_stake.ignore),
        thresholds=policy.sentiment.thresholds(),
        languages=tuple(sources),
        _sources=sources,
        _readers={},
    )
    compiled.reader("en")
    return compiled
