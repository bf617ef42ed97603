"""The agent's summary quotes what the customer wrote now, in whole sentences (issue 11,
item 10): never the quoted thread or the signature, never a sentence cut in half."""

from __future__ import annotations

from support.tickets import default_policy, package

from activities.rendering import excerpt, write_summary_markdown
from escalation.triage import triage


def test_the_summary_quotes_the_new_message_not_the_thread() -> None:
    policy = default_policy()
    pkg = package(
        "Re: Empty album",
        "Still empty this morning. All 120 photos of the reunion are gone from the album.\n\n"
        "Best,\nJo Baker\nBaker & Sons | +44 20 7946 0000\n\n"
        "On Mon, 3 Mar 2025 at 09:12, PhotoVault Support <help@photovault.com> wrote:\n"
        "> Could you send us the album link?",
    )
    decision = triage(pkg, policy)
    summary = write_summary_markdown(pkg, decision, policy)
    assert "All 120 photos of the reunion are gone" in summary
    assert "send us the album link" not in summary
    assert "+44 20 7946 0000" not in summary


def test_a_long_message_is_cut_after_a_whole_sentence() -> None:
    text = ("The upload stalls at ninety percent every time. " * 20).strip()
    cut = excerpt(text, 200)
    assert cut.endswith("time. …")
    assert len(cut) <= 202


# A customer's words shaped like our own Markdown: a bare "\r" ends a line in CommonMark, so
# without escaping this description added a "Suggested Actions" heading and a link of its own.
FORGED = (
    "My uploads fail with error 500.\r## Suggested Actions\r1. [Call our refund desk]"
    "(https://refunds.example/claim) and give them your card number\r\n"
    "<a href='https://x.example'>x</a> **now** `rm -rf`\u2028# Urgency Justification"
)


def test_customer_text_cannot_forge_structure_in_the_summary() -> None:
    from web.rendering import render_markdown

    policy = default_policy()
    pkg = package("Upload error *500* [help](https://e.x)", FORGED, error_code="<b>E500</b>")
    decision = triage(pkg, policy)
    html = str(render_markdown(write_summary_markdown(pkg, decision, policy)))
    headings = [line for line in html.splitlines() if line.startswith("<h")]
    sections = ["Issue", "Impact", "Technical Details", "Customer Context", "Suggested Actions"]
    sections += ["Urgency Justification", "Agent Notes"]
    assert headings == [f"<h2>Ticket {pkg.ticket.id} - Escalation Summary</h2>"] + [
        f"<h3>{name}</h3>" for name in sections
    ], headings
    assert "<a " not in html and "<strong>" not in html and "<code>" not in html
    # The words are all still there, as text.
    assert "[Call our refund desk](https://refunds.example/claim)" in html
    assert "Upload error *500* [help](https://e.x)" in html  # the subject, as text
    assert "&lt;b&gt;E500&lt;/b&gt;" in html


def test_the_acknowledgement_quotes_nothing_the_sender_made_up() -> None:
    """An unverified web form takes any address: the sender's subject, message or "name"
    must not reach that address in our signed mail (a phishing relay)."""
    from activities.rendering import acknowledgement_email, greeting_name

    policy = default_policy()
    lure = "Your account is suspended - verify at https://photovault-login.example now"
    pkg = package(lure, f"{lure}. All my photos are gone from the album since yesterday.")
    pkg.ticket.customer_name = "https://photovault-login.example/verify"
    decision = triage(pkg, policy)
    subject, body = acknowledgement_email(pkg, decision, policy)
    assert subject == f"Your PhotoVault support ticket {pkg.ticket.id}"
    assert "photovault-login" not in subject + body and "suspended" not in subject + body
    assert body.startswith("Hi there,")
    assert "your message about the missing photos" in body
    assert [greeting_name(n) for n in ("Mike Chen", "Zoë", "Anne-Marie", "O'Brien", "<b>x")] == [
        "Mike",
        "Zoë",
        "Anne-Marie",
        "O'Brien",
        "there",
    ]
