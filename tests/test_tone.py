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
