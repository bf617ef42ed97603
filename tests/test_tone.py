"""Tone that tells delight from anger (issue 11, item 4): capitals, "!!!" and emoji amplify the
words around them, idioms are not threats, and anger needs a complaint. Wording is our own."""

from __future__ import annotations

import pytest

from escalation.sentiment import assess_sentiment


@pytest.mark.parametrize(
    "text",
    [
        "THE CANVAS PRINTS ARRIVED AND THEY ARE STUNNING!!! My husband teared up.",
        "OMG I ADORE the new collage layouts!!! 😍😍 Best update ever.",
        "THANK YOU THANK YOU THANK YOU!!! You saved our anniversary.",
        "Wow!!! The new editor is AMAZING, great work team 🎉",
        "thanks!! that did the trick",
        "Thanks so much!!! 🙏",
        "YES!!! Found the setting, you guys rock",
    ],
)
def test_shouted_delight_is_not_anger(text: str) -> None:
    sentiment = assess_sentiment(text)
    assert not sentiment.angry, sentiment
    assert sentiment.label in ("positive", "calm"), sentiment


@pytest.mark.parametrize(
    "text",
    [
        "I'd kill for a dark mode in the web app.",
        "The new batch export is a killer feature, well done.",
        "That bright white editor murders my eyes at night, a dark theme would be lovely.",
        "These lenses are to die for, can I tag the gear used in each photo?",
        "Our team absolutely destroyed the tournament, how do I share the album with parents?",
        "I'm dying to try the new slideshow music, when does it ship?",
    ],
)
def test_idioms_are_not_threats_or_anger(text: str) -> None:
    sentiment = assess_sentiment(text)
    assert not sentiment.angry, sentiment
    assert sentiment.label not in ("angry", "frustrated"), sentiment


@pytest.mark.parametrize(
    "text",
    [
        "My photos are GONE and nobody has answered in three days!!! Unacceptable.",
        "I PAID FOR PREMIUM AND THE UPLOADS STILL FAIL. Fix it or I'm leaving.",
        "This is ridiculous, charged twice and NO reply!!",
        "😡 Third time I'm writing about the broken sync. Pathetic.",
    ],
)
def test_shouting_about_a_complaint_is_anger(text: str) -> None:
    assert assess_sentiment(text).angry


def test_thanks_with_exclamation_marks_is_not_frustration() -> None:
    assert assess_sentiment("Got it working, thanks!!").label in ("positive", "calm")


def test_capitals_in_a_happy_sentence_do_not_make_the_next_complaint_louder() -> None:
    # One complaint, said calmly, after an excited sentence: frustrated at most, never angry.
    text = "LOVE THE NEW THEMES!!! One thing: the music stops after the third slide."
    assert not assess_sentiment(text).angry


def test_happy_tears_are_not_distress() -> None:
    text = "My grandma cried happy tears when she saw the photo book 😭❤️ How do I order another?"
    assert assess_sentiment(text, complaint=False).label in ("positive", "calm")


@pytest.mark.parametrize(
    "text",
    [
        "The war reenactment shoot had explosions, screaming soldiers and fake wounds. How do I "
        "tag each regiment?",
        "We shot a horror short film: knives, blood everywhere, a terrifying basement. Can I "
        "password-protect the stills?",
    ],
)
def test_dark_subject_matter_without_a_complaint_is_calm(text: str) -> None:
    # Tone alone is not distress: without a problem to complain about, grim words describe
    # the photos, not the customer's mood.
    assert assess_sentiment(text, complaint=False).label == "calm"


# The marker expressions are dispatched on a word's first character (escalation/sentiment.py):
# they must find exactly what the plain alternation of the same bodies finds.
DISPATCH_BODIES = [
    r"(?:third|fourth|3rd|\d+th) time|again and again",  # a leading group with a category
    r"(?:es )?una verguenza|que verguenza",  # an optional leading group
    r"[😡🤬]|rip[- ]?off|sick (?:and tired )?of",  # a class of emoji, classes inside
    r"fed up|f\*+\w*|damn\w*|wtf",  # escapes after the first character
    r"a|ab|abc",  # a shorter alternative first: the first that matches wins, as in the plain one
]
DISPATCH_TEXTS = [
    "this is the 5th time, again and again, 3rd time lucky? ١٢th time",
    "es una verguenza y que verguenza, una verguenza",
    "😡 what a rip-off, a ripoff, sick and tired of it, sick of it",
    "fed up, f***ing damned wtf",
    "a ab abc abcd",
]


@pytest.mark.parametrize("text", DISPATCH_TEXTS)
def test_dispatched_markers_find_what_the_plain_alternation_finds(text: str) -> None:
    import re

    from escalation.sentiment import _dispatched

    tagged = list(enumerate(DISPATCH_BODIES))
    dispatched = _dispatched(tagged)
    assert dispatched is not None
    regex, tags = dispatched
    plain = re.compile(
        r"(?<!\w)(?:" + "|".join(f"(?P<k{i}>{body})" for i, body in tagged) + r")(?!\w)"
    )
    found = [(m.span(), m.group(), tags[m.lastindex or 0]) for m in regex.finditer(text)]
    expected = [
        (m.span(), m.group(), int((m.lastgroup or "k-1")[1:])) for m in plain.finditer(text)
    ]
    assert found == expected
    assert found


def test_every_language_s_markers_are_dispatched_and_read_as_the_plain_ones() -> None:
    """The policy's lexicons add their own markers: each language's expression is dispatched and
    reads a text of its own marker words as the plain alternation of the same bodies does."""
    import re
    from pathlib import Path

    from escalation import sentiment
    from escalation.folding import fold
    from escalation.policy import load_policy

    policy = load_policy(Path(__file__).resolve().parent.parent / "config" / "policy.toml")
    bases = {
        "anger": sentiment._ANGER_BODY,
        "frustration": sentiment._FRUSTRATION_BODY,
        "delight": sentiment._DELIGHT_BODY,
        "polite": sentiment._POLITE_BODY,
    }
    for code in policy.compiled.languages:
        markers = policy.compiled.reader(code).markers
        assert len(markers.every_kinds) > 5, code  # dispatched: a group per run of one kind
        lexicon = policy.lexicons.get(code)
        extra = {kind: getattr(lexicon.sentiment, kind) if lexicon else [] for kind in bases}
        plain = re.compile(
            r"(?<!\w)(?:"
            + "|".join(
                f"(?P<{kind}>" + "|".join(f"(?:{b})" for b in [base, *map(fold, extra[kind])]) + ")"
                for kind, base in bases.items()
            )
            + r")(?!\w)"
        )
        words = [w for kind in bases for w in extra[kind]] or ["unacceptable, thanks"]
        text = fold(" and ".join(re.sub(r"[\\()?|*+\[\]{}]", " ", w) for w in words))
        found = [
            (m.span(), markers.every_kinds[m.lastindex or 0]) for m in markers.every.finditer(text)
        ]
        assert found == [(m.span(), m.lastgroup) for m in plain.finditer(text)], code
        assert found, code
