"""Other customers' data out of generated answers (issue 13, item 5): escalation/redaction.py,
pure. The draft built from real resolutions is checked in tests/test_learning.py."""

from __future__ import annotations

import pytest

from escalation.redaction import mentions, redact, redacted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Wrote to jane.doe+photos@mail.studio.example.co.uk about it.",
            "Wrote to [email] about it.",
        ),
        ("Kontakt: müller.jürgen@beispiel.de, bitte.", "Kontakt: [email], bitte."),
        ("mail ALEX_99@Example.COM now", "mail [email] now"),
        ("Called +44 20 7946 0958 and fixed it.", "Called [number] and fixed it."),
        ("Called (555) 123-4567, then reset.", "Called [number], then reset."),
        ("Rufen Sie +49 (0)30 1234567 an.", "Rufen Sie [number] an."),
        ("電話 03-1234-5678 まで", "電話 [number] まで"),
        ("Refunded order 12345678 in full.", "Refunded order [number] in full."),
        ("Account ORD1234567 relinked.", "Account ORD[number] relinked."),
        ("Card 4111 1111 1111 1111 was declined.", "Card [number] was declined."),
        ("Refund to GB82 WEST 1234 5698 7654 32 done.", "Refund to [number] done."),
        ("IBAN DE89370400440532013000.", "IBAN [number]."),
        ("Customer IP 192.168.10.24 was blocked.", "Customer IP [number] was blocked."),
        ("See https://shop.example.com/orders/7?id=3.", "See [link]."),
        ("Sent a link (http://files.example.net/a) to them.", "Sent a link ([link]) to them."),
        ("Their site www.mystudio-photos.fr is down", "Their site [link] is down"),
        (
            "Moved gallery from mystudio.com/portfolio to a new album",
            "Moved gallery from [link] to a new album",
        ),
        (
            "Le client a écrit depuis photos.exemple.fr hier.",
            "Le client a écrit depuis [link] hier.",
        ),
    ],
)
def test_customers_addresses_numbers_and_links_become_placeholders(
    text: str, expected: str
) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Step 2: wait 10 minutes, then retry.",
        "Upgrade to version 4.2.1 of the plugin (build 5040).",
        "Cleared ticket T-12345 and error 504; retried 3 times.",
        "Released on 2024-03-05, again on 05.03.2024 and 5/3/2024.",
        "Renamed IMG_0042.jpg and settings.json, then restarted.It works.",
        "Uploads up to 2 500 photos, 1.5 GB each, 10-15 minutes.",
        "Reinicié la sesión y pedí al cliente que lo intente de nuevo.",
    ],
)
def test_steps_durations_versions_dates_and_file_names_are_kept(text: str) -> None:
    result = redact(text)
    assert result.text == text and result.found == []


def test_our_own_hosts_are_kept_everything_else_redacted() -> None:
    text = (
        "Pointed them to https://help.photovault.example/articles/42 and www.photovault.example, "
        "wrote from support@photovault.example, not https://photovault.example.evil.com/x "
        "or bob@notphotovault.example"
    )
    result = redact(text, keep_hosts=["photovault.example"])
    assert result.text == (
        "Pointed them to https://help.photovault.example/articles/42 and www.photovault.example, "
        "wrote from support@photovault.example, not [link] or [email]"
    )
    assert result.found == ["bob@notphotovault.example", "https://photovault.example.evil.com/x"]


def test_what_was_found_is_listed_addresses_then_links_then_numbers() -> None:
    result = redact("Mail a@b.example, call +1 415 555 0100, see b.example.com/x.")
    assert result.text == "Mail [email], call [number], see [link]."
    assert result.found == ["a@b.example", "b.example.com/x", "+1 415 555 0100"]


def test_mentions_finds_a_customers_address_or_phone_in_any_writing() -> None:
    text = "Hi Jane (JANE@Studio.example), we called 0044-20-7946-0958 yesterday."
    assert mentions(text, ["jane@studio.example", "+44 20 7946 0958", "other@x.example"]) == [
        "jane@studio.example",
        "+44 20 7946 0958",
    ]
    assert mentions("called 442079460958", ["+44 20 7946 0958"]) == ["+44 20 7946 0958"]
    assert mentions("step 2", ["", "   ", "12"]) == []
    assert mentions("order 4821, 3370 photos", ["48213370"]) == []  # two numbers, not one
    assert mentions("Order 48213370 again", ["48213370", "48213370"]) == ["48213370"]
