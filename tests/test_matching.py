"""The signal index leans on the private stdlib regex parser (``re._parser``, ``re._constants``):
these tests pin what ``_prefixes`` reads from it, and that the index finds exactly what a
brute-force search finds, so a Python upgrade that changes the parser fails here loudly instead
of silently slowing triage (every pattern unindexed) or breaking it (matches skipped)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from escalation.matching import (
    GATE_LENGTH,
    PREFIX_LENGTH,
    SignalIndex,
    Text,
    _build_index,
    _gate,
    _prefixes,
)
from escalation.policy import load_policy

ROOT = Path(__file__).resolve().parent.parent

# Pattern body -> the exact prefixes its matches can start with (None: cannot be bounded).
PREFIXES: dict[str, frozenset[str] | None] = {
    "refund": frozenset({"ref"}),  # a literal word: its first PREFIX_LENGTH characters
    "Refund": frozenset({"ref"}),  # lower-cased, as the normalised text is
    "ok": frozenset({"ok"}),  # a word shorter than PREFIX_LENGTH: the whole word
    "refund|chargeback": frozenset({"ref", "cha"}),  # an alternation: each branch
    "[bc]ug": frozenset({"bug", "cug"}),  # a character class: each character
    "[a-c]at": frozenset({"aat", "bat", "cat"}),  # a small range
    r"e\d": frozenset({f"e{d}" for d in range(10)}),  # a digit class, shorter than the length
    "(?:un)?install": frozenset({"uni", "ins"}),  # an optional group: with and without it
    r"data ?loss": frozenset({"dat"}),  # an optional character past the prefix
    r"(?<!not )working": frozenset({"wor"}),  # a lookbehind adds no characters
    r"\bdown\b": frozenset({"dow"}),  # nor does a word boundary
    "a{2,3}h": frozenset({"aaa", "aah"}),  # a bounded repeat
    "lo+st": frozenset({"loo", "los"}),  # an unbounded repeat
    "(?:very )+bad": frozenset({"ver"}),  # a repeated group
    r"\w+ crashed": None,  # starts with \w: any word character, not indexed
    ".*foo": None,  # starts with any character
    "[^a]bc": None,  # a negated class
    "x?": None,  # can match nothing
}


@pytest.mark.parametrize("body", list(PREFIXES))
def test_prefixes_read_from_the_regex_parse_tree(body: str) -> None:
    assert PREFIX_LENGTH == 3
    assert _prefixes(body) == PREFIXES[body]


def test_the_private_regex_parser_is_still_there() -> None:
    """If these modules move, ``_prefixes`` returns None for everything: correct but slow."""
    from re import _constants, _parser  # type: ignore[attr-defined]

    assert callable(_parser.parse)
    for name in ("LITERAL", "IN", "RANGE", "CATEGORY", "SUBPATTERN", "BRANCH", "MAX_REPEAT"):
        assert hasattr(_constants, name), name


def overlapping_hits(regex: re.Pattern[str], norm: str) -> set[tuple[int, int, str]]:
    """Brute force: ``finditer`` with the pattern in a lookahead, so it is tried at every
    position of the text (a plain ``finditer`` would skip matches that overlap)."""
    everywhere = re.compile(f"(?=({regex.pattern}))", regex.flags)
    return {(m.start(1), m.end(1), m.group(1)) for m in everywhere.finditer(norm)}


def scanned_hits(index: SignalIndex, norm: str) -> dict[int, set[tuple[int, int, str]]]:
    return {
        owner: {(hit.start, hit.end, hit.phrase) for hit in hits}
        for owner, hits in index.scan(norm).items()
    }


TEXTS = [
    "I want a refund, the chargeback is still pending and the app is not working",
    "Bug: the app crashed after I uninstalled it. Reinstall? Install failed; cug, aah, aaah!",
    "OK so error E4 then e7, data loss, dataloss, the server is down, lost and looost photos",
    "Very very bad. Not working. Refunded? A bat and a cat; working fine now",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_index_finds_what_brute_force_finds(text: str) -> None:
    """One owner per pattern: the index's hits are exactly each pattern's matches."""
    bodies = list(PREFIXES)[:-1]  # all but "x?", which matches empty text (policy refuses it)
    index = _build_index(tuple(enumerate(bodies)))
    norm = Text.of(text).norm
    expected = {}
    for owner, body in enumerate(bodies):
        regex = re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)
        if hits := overlapping_hits(regex, norm):
            expected[owner] = hits
    assert scanned_hits(index, norm) == expected


def test_the_index_finds_something() -> None:
    """The brute-force comparison above is not vacuous."""
    bodies = list(PREFIXES)[:-1]
    index = _build_index(tuple(enumerate(bodies)))
    found = scanned_hits(index, Text.of(TEXTS[1]).norm)
    assert found[bodies.index("[bc]ug")] == {(0, 3, "bug"), (72, 75, "cug")}
    assert found[bodies.index(r"\w+ crashed")] == {(9, 20, "app crashed")}
    assert found[bodies.index("a{2,3}h")] == {(77, 80, "aah"), (82, 86, "aaah")}
    assert bodies.index(r"\w+ crashed") in {owner for owner, _ in index.anywhere}


def policy_texts() -> list[str]:
    ticket = json.loads((ROOT / "examples" / "T-12345-full.json").read_text())["ticket"]
    return [
        f"{ticket['subject']}\n{ticket['description']}",
        "URGENT: everyone in our team cannot log in since this morning, we have a demo tomorrow",
        "I was charged twice and want a refund, otherwise I will contact my lawyer",
        "Not a big deal, but the export button doesn't work; I can use the menu instead",
    ]


@pytest.fixture(scope="module")
def policy_index() -> SignalIndex:
    return load_policy(ROOT / "config" / "policy.toml").compiled.reader("en").index


@pytest.mark.parametrize("index_of_text", range(4))
def test_the_default_policy_index_finds_what_brute_force_finds(
    policy_index: SignalIndex, index_of_text: int
) -> None:
    """Every regex the default policy's index holds, tried at every position of the text."""
    index = policy_index
    regexes: dict[int, set[re.Pattern[str]]] = {}
    for entries in (*index.by_prefix.values(), index.anywhere):
        for owner, regex in entries:
            regexes.setdefault(owner, set()).add(regex)
    norm = Text.of(policy_texts()[index_of_text]).norm
    expected = {}
    for owner, owned in regexes.items():
        hits = set().union(*(overlapping_hits(regex, norm) for regex in owned))
        if hits:
            expected[owner] = hits
    assert expected, "the text should match something"
    assert scanned_hits(index, norm) == expected


def test_a_closing_apostrophe_leaves_one_space() -> None:
    # Possessive plurals and quoted words read as plain words: "customers' invoices".
    assert Text.of("other customers' invoices").norm == "other customers invoices"
    assert Text.of("the 'Family' album").norm == "the family album"


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("photos? (?:lost", "invalid regular expression"),
        ("(?:gone)?", "matches empty text"),
        ("(?<=\\w+)lost", "invalid regular expression"),  # look-behind width: compiler-only
        ("@media gone", None),
    ],
)
def test_policy_patterns_are_validated_by_the_parser_alone(
    pattern: str, problem: str | None
) -> None:
    """Validation parses each pattern (with vocabulary references as one-character groups)
    instead of compiling it; these are the errors the parser and the width check must catch."""
    from escalation.matching import _compile_one
    from escalation.policy import PolicyError

    vocabulary = {"media": "(?:photos?|albums?)"}
    if problem is None:
        assert _compile_one(pattern, vocabulary, "p") == "(?:(?:photos?|albums?)) gone"
        return
    with pytest.raises(PolicyError, match=problem):
        _compile_one(pattern, vocabulary, "p")


@pytest.mark.parametrize(
    ("body", "gate"),
    [
        ("photos are lost", ("photos",)),  # a literal: its first GATE_LENGTH characters
        ("(?:un)?install", ("instal", "uninst")),  # each branch
        (r"e\d", tuple(f"e{d}" for d in range(10))),  # whole shorter matches
        (r"lost \w+", ("lost ",)),  # bounded up to where it can be (5 characters here)
        (r"los\w+", None),  # nothing bounded past the index's own prefix
    ],
)
def test_gates_are_the_longer_beginnings_of_a_match(body: str, gate: tuple[str, ...]) -> None:
    assert GATE_LENGTH == 6
    assert _gate(body) == gate


GATE_TEXTS = [
    "my photos are lost, lost photos, uninstalled then installed, e4 and E7",
    "my photos are loſt; loſt photos (a long s is an s to the regex, ignoring case)",
    "İnstall failed, photos are lost",
    "lost",
    "los",
]


@pytest.mark.parametrize("text", GATE_TEXTS)
def test_gated_scan_finds_what_the_ungated_index_finds(text: str) -> None:
    """Gates only skip regexes that cannot match: with them and without (an index built
    without its bodies has none), the hits are the same, in the same order."""
    bodies = ("photos are lost", "lost photos", "(?:un)?install", r"e\d", r"lost \w+", "los")
    gated = _build_index(tuple(enumerate(bodies)))
    ungated = SignalIndex(by_prefix=gated.by_prefix, anywhere=gated.anywhere)
    norm = Text.of(text).norm
    assert gated.scan(norm) == ungated.scan(norm)
    assert gated.scan(norm) == gated.scan(norm)  # and again from the memo
