"""A customer's reply is read as triage reads a ticket: only what the customer wrote now (quoted
earlier messages, signature and disclaimer split off), in the reply's language, with that
language's markers. An angry reply about a problem lifts the ticket to the angry-complaint floor
(the policy's ``modifiers.angry_complaint_min``); anything else leaves it where it is. Pure
functions on the shipped policy, and the activity method called directly (no Temporal)."""

from __future__ import annotations

import asyncio

import pytest
from support.tickets import decide, default_policy

from activities.settings import Settings
from activities.triage import TriageActivities, reply_assessment
from escalation.messages import ReplyAssessment
from escalation.models import Priority, TriageDecision
from escalation.policy import Policy
from escalation.sentiment import assess_sentiment


@pytest.fixture(scope="module")
def policy() -> Policy:
    return default_policy()


@pytest.fixture(scope="module")
def p2_problem(policy: Policy) -> TriageDecision:
    """A P2 problem, below the angry-complaint floor: what an angry reply can lift."""
    decision = decide(
        policy, "Slideshow broken since update", "After yesterday's release slideshows do not play."
    )
    assert decision.priority is Priority.P2
    assert decision.scenario is not None
    assert policy.scenario(decision.scenario).kind == "problem"
    assert policy.modifiers.angry_complaint_min.rank < Priority.P2.rank
    return decision


def _reads_angry_as_english(policy: Policy, text: str) -> bool:
    """The old reading: the whole text at once, English markers only."""
    return assess_sentiment(text, policy.sentiment.thresholds()).angry


POLITE_ABOVE_QUOTED_ANGER = [
    # A reply header and "> " quotes.
    "Thanks, that fixed it. Have a good day!\n"
    "\n"
    "On Tue, 6 May 2025 at 10:00, Kim <kim@example.com> wrote:\n"
    "> THIS IS UNACCEPTABLE!!! My slideshows are BROKEN again, third time I write, what a joke.\n"
    "> Fix it NOW or I cancel.",
    # Outlook's original-message block, no "> ".
    "All good now, the slideshow plays again. Many thanks for the quick help.\n"
    "\n"
    "-----Original Message-----\n"
    "From: Kim <kim@example.com>\n"
    "Sent: Tuesday, May 6, 2025 10:00 AM\n"
    "To: support@photovault.example\n"
    "Subject: Slideshow broken\n"
    "\n"
    "This is ridiculous and unacceptable!!! Third time I am writing. Useless support.",
    # In Spanish, with a sign-off and signature between the reply and the quote.
    "Muchas gracias, ya funciona la presentación.\n"
    "\n"
    "Saludos,\n"
    "Ana\n"
    "\n"
    "El mar, 6 may 2025 a las 10:00, Ana <ana@example.com> escribió:\n"
    "> ¡¡¡ESTO ES INACEPTABLE!!! Es la tercera vez que escribo, una vergüenza.",
]


@pytest.mark.parametrize("text", POLITE_ABOVE_QUOTED_ANGER)
def test_a_polite_reply_above_a_quoted_angry_message_does_not_lift(
    policy: Policy, p2_problem: TriageDecision, text: str
) -> None:
    assert _reads_angry_as_english(policy, text)  # the quote alone is angry
    assessment = reply_assessment(p2_problem, text, policy)
    assert not assessment.angry, assessment
    assert assessment.lift_to is None
    assert assessment.sentiment != "angry"


# Angry without shouting or "!!!": only the language's own anger markers can tell.
ANGRY_TWINS = {
    "en": "This is unacceptable and a disgrace. It is the third time I write about the slideshow.",
    "es": "Esto es inaceptable y una vergüenza. Es la tercera vez que escribo por la presentación.",
    "de": "Das ist inakzeptabel und eine Frechheit. Ich schreibe schon zum dritten Mal wegen der "
    "Diashow.",
}


@pytest.mark.parametrize("language", list(ANGRY_TWINS))
def test_an_angry_reply_lifts_a_p2_problem_to_the_floor_in_every_language(
    policy: Policy, p2_problem: TriageDecision, language: str
) -> None:
    text = ANGRY_TWINS[language]
    assessment = reply_assessment(p2_problem, text, policy)
    assert assessment == ReplyAssessment(
        sentiment="angry", angry=True, lift_to=policy.modifiers.angry_complaint_min
    )
    if language != "en":
        assert not _reads_angry_as_english(policy, text)  # English markers alone miss it


@pytest.mark.parametrize(
    "text",
    [
        "Merci infiniment pour votre aide, le diaporama fonctionne parfaitement maintenant !",
        # Capitals and "!!!" beside French delight and thanks are excitement, not a raised voice
        # (read with English markers only, they were anger).
        "VOUS ÊTES GÉNIAUX!!! Le diaporama marche de nouveau, merci",
    ],
)
def test_a_grateful_reply_in_french_does_not_lift(
    policy: Policy, p2_problem: TriageDecision, text: str
) -> None:
    assessment = reply_assessment(p2_problem, text, policy)
    assert not assessment.angry, assessment
    assert assessment.lift_to is None
    assert assessment.sentiment in ("positive", "calm")


# Shouted thanks beside the good news, in every shipped language: the language's own words of
# thanks make the capitals and "!!!" emphatic (Italian, Portuguese and "je vous remercie" read
# angry and lifted the ticket while their languages had no such words).
SHOUTED_THANKS = {
    "en": "THANK YOU SO MUCH!!! The slideshow PLAYS again!!!",
    "es": "¡¡¡MUCHAS GRACIAS!!! ¡¡¡La presentación FUNCIONA otra vez!!!",
    "de": "VIELEN DANK!!! Die Diashow LÄUFT wieder!!!",
    "fr": "JE VOUS REMERCIE INFINIMENT!!! Le diaporama MARCHE de nouveau!!!",
    "it": "VI RINGRAZIO TANTISSIMO!!! La presentazione FUNZIONA di nuovo!!!",
    "pt": "MUITO OBRIGADA!!! A apresentação FUNCIONA de novo!!!",
    "nl": "HARTELIJK DANK!!! De diavoorstelling WERKT weer!!!",
}


@pytest.mark.parametrize("language", list(SHOUTED_THANKS))
def test_shouted_thanks_do_not_lift_in_any_language(
    policy: Policy, p2_problem: TriageDecision, language: str
) -> None:
    assessment = reply_assessment(p2_problem, SHOUTED_THANKS[language], policy)
    assert not assessment.angry, assessment
    assert assessment.lift_to is None


def test_an_angry_reply_does_not_lift_a_question_or_a_ticket_at_the_floor(
    policy: Policy, p2_problem: TriageDecision
) -> None:
    text = ANGRY_TWINS["es"]
    question = decide(policy, "How do I set up client proofing", "What is the best workflow?")
    assert question.scenario is not None
    assert policy.scenario(question.scenario).kind != "problem"
    assert reply_assessment(question, text, policy).lift_to is None
    floor = policy.modifiers.angry_complaint_min
    at_floor = p2_problem.model_copy(update={"priority": floor})
    assessment = reply_assessment(at_floor, text, policy)
    assert assessment.angry and assessment.lift_to is None


class _PolicySettings(Settings):
    """Settings that hand out a policy already loaded (no database, no mail server)."""

    loaded: Policy | None = None

    def policy(self) -> Policy:
        assert self.loaded is not None
        return self.loaded


def test_the_activity_reads_the_reply_the_same_way(
    policy: Policy, p2_problem: TriageDecision
) -> None:
    """The activity method, called directly (no worker, no Temporal)."""
    settings = _PolicySettings(pool=None, smtp_url="smtp://unused")  # type: ignore[arg-type]
    settings.loaded = policy
    activities = TriageActivities(settings)
    calm = asyncio.run(activities.assess_reply(p2_problem, POLITE_ABOVE_QUOTED_ANGER[0]))
    assert calm == reply_assessment(p2_problem, POLITE_ABOVE_QUOTED_ANGER[0], policy)
    assert calm.lift_to is None and not calm.angry
    angry = asyncio.run(activities.assess_reply(p2_problem, ANGRY_TWINS["de"]))
    assert angry.angry and angry.lift_to is policy.modifiers.angry_complaint_min
