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
