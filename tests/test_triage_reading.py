"""Triage reads a ticket the way a good agent does (issue 11): what the customer wrote now, every
issue with the most severe deciding, the category as a hint, negation, resolution and
hypotheticals, threats and child safety wherever they hide, confidence and a safe fallback,
whole quotes. One test per class of mistake, each in several wordings of our own."""

from __future__ import annotations

import pytest
from support.tickets import decide, default_policy, quiet

from escalation.models import KnownSolution, Priority
from escalation.policy import Policy


@pytest.fixture(scope="module")
def policy() -> Policy:
    return default_policy()


def row(decision: object) -> tuple[object, ...]:
    d = decision  # type: ignore[assignment]
    return (d.escalate, d.team, d.priority and d.priority.value)  # type: ignore[attr-defined]


# ---- 1. What the customer wrote now -------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "description"),
    [
        (
            "Re: My whole album vanished",
            "You are wonderful, everything is back where it was. Thank you!\n\n"
            "On Mon, 3 Mar 2025 at 09:12, PhotoVault Support <help@photovault.com> wrote:\n"
            "> Hi Dana, could you confirm the photos are visible again?\n"
            "> > I'm FURIOUS, 300 photos are gone and nobody answers!!!",
        ),
        (
            "RE: Copyright complaint",
            "Great, thanks for sorting it so quickly.\n\n"
            "-----Original Message-----\n"
            "From: PhotoVault Legal <legal@photovault.com>\n"
            "Sent: Friday, 7 March 2025 11:02\n"
            "To: Lee Park\n"
            "Subject: Copyright complaint\n\n"
            "The DMCA takedown notice filed against your gallery has been withdrawn.",
        ),
    ],
)
def test_a_thank_you_over_a_quoted_problem_does_not_escalate(
    policy: Policy, subject: str, description: str
) -> None:
    decision = quiet(policy, subject, description)
    assert not decision.escalate, decision.reasons


def test_a_forwarded_scam_mail_the_customer_did_not_click_is_a_phishing_report(
    policy: Policy,
) -> None:
    decision = decide(
        policy,
        "Fwd: Your account will be suspended",
        "Is this really from you? Looks fake to me, I didn't click the link.\n\n"
        "---------- Forwarded message ---------\n"
        "From: PhotoVault Security <security@photovau1t-login.net>\n"
        "Subject: Your account will be suspended\n\n"
        "Your account has been compromised. Verify your password within 24 hours or all your "
        "photos will be deleted: http://photovau1t-login.net/verify",
    )
    assert decision.scenario not in ("account_compromised", "security_breach", "legal_emergency")
    assert decision.priority is not None and decision.priority.rank >= Priority.P1.rank


def test_a_legal_disclaimer_is_not_legal_language(policy: Policy) -> None:
    decision = quiet(
        policy,
        "Canvas sizes",
        "Hello, which canvas sizes can I order for a living-room wall?\n\nBest,\nMarta\n\n"
        "DISCLAIMER: This message may contain confidential or legally privileged information. "
        "If you are not the intended recipient, you must not copy or disclose it; we accept no "
        "liability for viruses.",
    )
    assert not decision.escalate, decision.reasons
    assert "legal_compliance" not in decision.triggers


# ---- 2. Every issue in the ticket: the most severe decides --------------------------------------


@pytest.mark.parametrize(
    ("subject", "description", "expected"),
    [
        (
            "Slideshow music + a takedown",
            "How do I add a soundtrack to a slideshow? Also, someone re-uploaded my photo series "
            "in their own public gallery without permission; please take it down, it is my "
            "copyrighted work.",
            ("legal", "P1"),
        ),
        (
            "Where did my albums go",
            "Every album I made last year is empty now. I swear if this is not fixed I will find "
            "your support people and hurt them.",
            ("legal", "P0"),
        ),
        (
            "Sync wiped my originals, and a refund",
            "The desktop sync replaced my original files with tiny previews and the originals "
            "are gone everywhere. I'd also like a refund for this month.",
            ("engineering", "P1"),
        ),
    ],
)
def test_the_most_severe_issue_decides(
    policy: Policy, subject: str, description: str, expected: tuple[str, str]
) -> None:
    decision = decide(policy, subject, description)
    assert (decision.team, decision.priority and decision.priority.value) == expected, (
        decision.scenario,
        decision.reasons,
    )


def test_the_summary_names_the_other_issues(policy: Policy) -> None:
    decision = decide(
        policy,
        "Two things",
        "My card was charged twice for the same prints order. Also, could you add a dark mode?",
    )
    assert decision.scenario in ("payment_dispute", "invoice_error", "billing_inquiry")
    also = [r for r in decision.reasons if r.startswith("Also mentioned:")]
    assert also and "feature request" in also[0].lower(), decision.reasons


# ---- 3. The category is a hint ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "subject", "description", "expected"),
    [
        (
            "billing",
            "Checkout dead",
            "None of my clients can pay for their orders since this morning, the checkout "
            "errors for every card. Other studios on the forum say the same.",
            ("billing", "P0"),
        ),
        (
            "account",
            "Galleries defaced",
            "Dozens of our galleries were defaced overnight with offensive images and new admin "
            "users we never created. Someone is inside your system.",
            ("engineering", "P0"),
        ),
        (
            "general",
            "Lost everything",
            "All my albums show 0 photos since yesterday. Nothing was deleted by me.",
            ("engineering", "P1"),
        ),
    ],
)
def test_an_area_category_never_lowers_what_the_words_say(
    policy: Policy, category: str, subject: str, description: str, expected: tuple[str, str]
) -> None:
    decision = decide(policy, subject, description, category=category)
    assert (decision.team, decision.priority and decision.priority.value) == expected, (
        decision.scenario,
        decision.reasons,
    )


def test_an_exact_category_decides_when_the_text_shows_nothing_more_severe(
    policy: Policy,
) -> None:
    decision = decide(
        policy, "Idea", "Could galleries have a map view?", category="feature_request"
    )
    assert (decision.team, decision.scenario) == ("product", "feature_request")


# ---- 5. Negation, resolution and hypotheticals --------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "description"),
    [
        ("Never mind", "I thought my trip photos were deleted but I found them in another album, "
         "never mind! Sorry for the noise."),
        ("All good now", "My uploads kept failing this morning but it works now, all sorted."),
        ("Just curious", "Out of curiosity, what would happen to my photos if my card was "
         "declined at renewal?"),
        ("Hypothetical", "If my account ever got hacked, how would I get it back?"),
        ("Not urgent", "Not urgent at all: where do I change the date format on prints?"),
    ],
)  # fmt: skip
def test_negated_resolved_or_hypothetical_problems_do_not_fire(
    policy: Policy, subject: str, description: str
) -> None:
    decision = quiet(policy, subject, description)
    assert not decision.escalate, (decision.scenario, decision.reasons)


def test_i_did_not_click_is_not_a_compromise(policy: Policy) -> None:
    decision = decide(
        policy,
        "Strange email",
        "I got an email saying my PhotoVault password expired with a link to reset it. I did "
        "not click it and my account works fine. Thought you'd want to know.",
    )
    assert decision.scenario not in ("account_compromised", "security_breach")
    assert decision.priority is not None and decision.priority.rank >= Priority.P1.rank


# ---- 7. Threats of harm and child safety --------------------------------------------------------


@pytest.mark.parametrize(
    "description",
    [
        "Uploads have failed for a week. I know where your office is and somebody in that "
        "building is going to get hurt if this is not fixed by Monday.",
        "Fix my account or I will come to your HQ with a knife.",
        "Someone keeps uploading pictures of my 9-year-old son with our street name and his "
        "school, and says he will come and take him. Please help.",
        "There is a public gallery with sexual pictures of young kids, link below.",
    ],
)
def test_threats_and_child_safety_are_legal_emergencies(policy: Policy, description: str) -> None:
    decision = decide(policy, "Please read", description, category="photo_upload_problems")
    assert row(decision) == (True, "legal", "P0"), (decision.scenario, decision.reasons)


def test_a_childs_photo_with_identifying_details_without_a_threat_is_legal_p1(
    policy: Policy,
) -> None:
    decision = decide(
        policy,
        "Photo of my daughter",
        "A parent from school posted a public gallery with my daughter's photo, full name and "
        "class. There is no threat, but I did not consent and want it removed.",
    )
    assert row(decision) == (True, "legal", "P1"), (decision.scenario, decision.reasons)


# ---- 8. Confidence, evidence and a safe fallback ------------------------------------------------


def test_the_decision_carries_confidence_and_evidence(policy: Policy) -> None:
    decision = decide(
        policy, "Photos gone", "All 87 photos from our wedding album disappeared after upload."
    )
    assert 0.5 <= decision.confidence <= 1
    assert decision.evidence and decision.evidence[0].scenario == decision.scenario
    assert any("disappeared" in phrase for phrase in decision.evidence[0].phrases)


def test_a_ticket_nothing_explains_goes_to_a_human_to_classify(policy: Policy) -> None:
    decision = decide(policy, "hello", "Please call me back about the thing we discussed.")
    assert decision.escalate
    assert decision.scenario == "general_inquiry"
    assert decision.priority == Priority.P2
    assert decision.confidence < 0.5
    assert any("classify" in r.lower() for r in decision.reasons)


# ---- 10. What the customer said, quoted right ---------------------------------------------------


@pytest.mark.parametrize(
    ("description", "quote"),
    [
        ("My print order is for a gift and the party is due on Friday.", "due on Friday"),
        ("I need the album ready by next Tuesday for the memorial.", "by next Tuesday"),
        ("The client deadline is this weekend, please hurry.", "this weekend"),
    ],
)
def test_time_quotes_are_whole_phrases(policy: Policy, description: str, quote: str) -> None:
    decision = decide(policy, "Upload failing", f"Uploads keep failing. {description}")
    assert any(quote in text for text in decision.time_sensitive_quotes), (
        decision.time_sensitive_quotes
    )
    for text in decision.time_sensitive_quotes:
        assert text.split()[-1].lower() not in {"on", "by", "in", "the", "a", "this", "next"}


def test_reports_explained_by_an_approved_solution_do_not_lift_to_widespread(
    policy: Policy,
) -> None:
    known = KnownSolution(
        id=7,
        scenario="bug_report",
        error_code="ERR_THUMB_42",
        title="Thumbnails stuck processing",
        auto_response="Clear the app cache under Settings > Storage, then reopen the album.",
        symptom_terms=["thumbnails", "stuck", "processing"],
    )
    decision = decide(
        policy,
        "Thumbnails stuck",
        "My thumbnails have been stuck on processing since this morning, error ERR_THUMB_42.",
        urgency="low",
        auto_response_eligible=True,
        kb_matched=True,
        error_code="ERR_THUMB_42",
        recent_reports=3,
        known_solutions=[known],
    )
    assert decision.known_solution is not None and decision.known_solution.id == 7
    assert not decision.escalate, decision.reasons
    assert not decision.several_users


def test_a_bare_follow_up_is_read_against_the_thread_it_answers(policy: Policy) -> None:
    decision = decide(
        policy,
        "Re: Album shows 0 photos",
        "Any news? Still the same here.\n\n"
        "On Tue, 4 Mar 2025 at 08:00, Robin <robin@example.com> wrote:\n"
        "> My album 'Lisbon 2024' suddenly shows 0 photos, all 240 pictures are gone.",
    )
    assert (decision.team, decision.priority) == ("engineering", Priority.P1), decision.reasons
    assert decision.evidence[0].source == "context"


@pytest.mark.parametrize(
    "description",
    [
        "The sync is broken again. If your engineer closes my ticket once more I'll be waiting "
        "for him outside your office and he will end up in hospital, I'll put him in hospital.",
        "My ex still has access to our shared album and keeps commenting that he will kill me "
        "when I leave work on Friday. Please remove his access and keep the comments.",
        "Someone wrote under my son's photos that he knows which school my son goes to and "
        "will come for him. Please take the gallery down.",
    ],
)
def test_concrete_or_reported_threats_are_legal_emergencies(
    policy: Policy, description: str
) -> None:
    decision = decide(policy, "Help", description, category="galleries_and_albums")
    assert row(decision) == (True, "legal", "P0"), (decision.scenario, decision.reasons)


def test_a_court_order_due_today_is_a_legal_emergency(policy: Policy) -> None:
    decision = decide(
        policy,
        "Court order: disclosure of account records due today 16:00",
        "Please find attached the sealed order; it requires compliance by 4pm today.",
    )
    assert row(decision) == (True, "legal", "P0"), (decision.scenario, decision.reasons)


def test_other_people_on_their_own_accounts_are_several_users(policy: Policy) -> None:
    decision = decide(
        policy,
        "Albums empty",
        "Since last night four client albums show 0 photos. My assistant, who has her own "
        "account, says her albums are empty too, and three different couples emailed me.",
    )
    assert row(decision) == (True, "engineering", "P0"), (decision.scenario, decision.reasons)


@pytest.mark.parametrize(
    ("subject", "description", "expected"),
    [
        ("Receipt details", "Our March invoice still shows our former business name and the "
         "old address. Could you reissue it please?", ("billing", "P2")),
        ("Prints page", "Since I updated the app the crop tool jumps to the first photo when I "
         "tap save. Before the update it worked fine.", ("engineering", "P2")),
        ("Clips", "After the storage clean-up all my holiday clips show 0:00 and the files "
         "seem corrupted, on the phone and the web.", ("engineering", "P1")),
        ("Upload quirk", "The uploader silently skips photos whose names contain a hashtag. If I "
         "rename them they upload fine, so no rush.", ("engineering", "P2")),
        ("Scam gallery", "A public gallery on your site shows a fake login page for a bank and "
         "is being used to phish people. Please take it down.", ("legal", "P1")),
    ],
)  # fmt: skip
def test_more_wordings_of_known_rows(
    policy: Policy, subject: str, description: str, expected: tuple[str, str]
) -> None:
    decision = decide(policy, subject, description)
    assert (decision.team, decision.priority and decision.priority.value) == expected, (
        decision.scenario,
        [(e.scenario, e.phrases) for e in decision.evidence],
    )


def test_a_wish_for_file_formats_is_a_feature_request(policy: Policy) -> None:
    decision = decide(
        policy,
        "Formats",
        "Would love it if you could add native support (DNG/HEIF previews) one day!",
        status="free",
    )
    assert (decision.team, decision.scenario) == ("product", "feature_request"), decision.evidence


def test_an_important_notice_disclaimer_is_not_the_customers_words(policy: Policy) -> None:
    decision = quiet(
        policy,
        "Album order",
        "Hello, can I reorder albums by dragging them?\n\nKind regards,\nSam Lee\nStudio Lee\n\n"
        "IMPORTANT NOTICE: This e-mail is confidential and may be legally privileged; personal "
        "data is processed under the GDPR. If you are not the intended recipient, delete it.",
    )
    assert not decision.escalate, decision.reasons
