"""Other customers' data out of generated answers (issue 13, item 5).

A KB draft and its auto-response candidate are written from several customers' tickets and
resolutions and later sent to *other* customers, so the text taken from those tickets (the
agents' resolution wording, the tickets' subjects) is redacted before it is rendered:

* **email addresses** (``name+tag@mail.sub.example.co.uk``, Unicode local parts) → ``[email]``;
* **links**: anything with a scheme (``https://…``, ``ftp://…``), anything starting ``www.``,
  and bare host names ending in a common top-level domain (``shop.example.com/orders/7``,
  ``photos.example.de``) → ``[link]``. File names (``IMG_0042.jpg``, ``settings.json``) and
  versions (``4.2.1``) are not host names: their last label is no top-level domain listed;
* **identifiers and phone numbers** → ``[number]``:
  - IBAN-shaped strings (two capital letters, two check digits, then 11–30 letters and
    digits, in groups of four or not: ``GB82 WEST 1234 5698 7654 32``);
  - a run of digits and separators (spaces, ``-``, ``.``, parentheses, a leading ``+``) that
    holds **7 or more digits** in all (``+44 20 7946 0958``, ``(555) 123-4567``,
    ``4111 1111 1111 1111``, ``192.168.10.24``), or a single unbroken run of **6 or more
    digits** (``order 12345678``, ``ORD123456`` → ``ORD[number]``).

  Kept: shorter numbers, which are steps, durations, sizes and versions rather than
  identifiers ("step 2", "wait 10 minutes", "version 4.2", "T-12345", "error 504"), and dates
  (``2024-03-05``, ``05.03.2024``, ``5/3/2024``).

What is ours is kept: a link or an email address whose host is one of `keep_hosts` or a
subdomain of one (the policy's ``de_escalation.our_hosts``: the help centre, the product).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from urllib.parse import urlsplit

EMAIL = "[email]"
LINK = "[link]"
NUMBER = "[number]"

# Top-level domains a bare host name must end in to count as a link without a scheme: the
# generic ones and the country codes customers commonly write. (With a scheme or "www.", any.)
TLDS = (
    "com net org info biz io co ai cloud online site store shop xyz email eu uk de fr es it nl "
    "be ch at pl pt se no dk fi ie cz gr hu ro ru ua tr il in jp cn kr au nz ca us mx br ar cl "
    "za sg hk tw me tv"
).split()
# Top-level domains that are also words: "restarted.It works" (a missing space) is no link. A
# bare host ending in one is a link only with a path, or with three labels or more.
WORDLIKE_TLDS = frozenset("it in at no be me us co tv".split())

_EMAIL = re.compile(r"[\w.+-]+@(?:[\w-]+\.)+[\w-]{2,}")
_SCHEME_URL = re.compile(r"\b(?:[a-z][a-z0-9+.-]*://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_BARE_HOST = re.compile(
    r"(?<![\w@.\-/])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:" + "|".join(TLDS) + r")"
    r"(?![\w-])(?::\d{1,5})?(?:/[^\s<>\"'`]*)?",
    re.IGNORECASE,
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
# A digit run with the separators phone numbers and card numbers are written with; whether it
# is an identifier is decided by counting its digits (`_numbers`).
_DIGITS = re.compile(
    r"(?<![\d.,])(?:\+ ?)?(?:\(\d+\) ?|\d+)"
    r"(?:[ .\-]?\(\d+\) ?|[ .\-]\d+|(?<=\) )\d+|(?<=\))\d+)*"
)
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})")
_TRAILING = ".,;:!?)]}'\""

IDENTIFIER_DIGITS = 7  # digits in all of a separated run (phone, card, account number)
UNBROKEN_DIGITS = 6  # digits in one unbroken run (order, account, customer number)


@dataclass(frozen=True)
class Redacted:
    """The redacted text and what was taken out of it: the originals, email addresses first,
    then links, then numbers."""

    text: str
    found: list[str] = field(default_factory=list)


def _ours(host: str, keep_hosts: Collection[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == own or host.endswith("." + own) for own in keep_hosts)


def _host_of(link: str) -> str:
    if "://" not in link:
        link = "//" + link
    try:
        return urlsplit(link).hostname or ""
    except ValueError:
        return ""


def _split_trailing(text: str) -> tuple[str, str]:
    """A link as written, without the sentence's punctuation after it (a ")" closes one only
    when the link opened none)."""
    end = len(text)
    while end and text[end - 1] in _TRAILING:
        if text[end - 1] == ")" and text[:end].count("(") >= text[:end].count(")"):
            break
        end -= 1
    return text[:end], text[end:]


def redact(text: str, keep_hosts: Collection[str] = ()) -> Redacted:
    """`text` with customers' email addresses, links, phone numbers and identifiers replaced
    by ``[email]``, ``[link]`` and ``[number]`` (the rules: this module's docstring)."""
    own = [h.strip().lower().rstrip(".") for h in keep_hosts if h.strip()]
    found: list[str] = []

    def email(match: re.Match[str]) -> str:
        address = match.group()
        if _ours(address.rpartition("@")[2], own):
            return address
        found.append(address)
        return EMAIL

    def link(match: re.Match[str]) -> str:
        written, trailing = _split_trailing(match.group())
        host = _host_of(written)
        if not written or _ours(host, own):
            return match.group()
        found.append(written)
        return LINK + trailing

    def bare_link(match: re.Match[str]) -> str:
        labels = _host_of(match.group()).split(".")
        if labels[-1] in WORDLIKE_TLDS and len(labels) < 3 and "/" not in match.group():
            return match.group()
        return link(match)

    def iban(match: re.Match[str]) -> str:
        found.append(match.group())
        return NUMBER

    def number(match: re.Match[str]) -> str:
        run = match.group()
        digits = sum(ch.isdigit() for ch in run)
        if _DATE.fullmatch(run.strip()):
            return run
        longest = max(len(part) for part in re.findall(r"\d+", run))
        if digits < IDENTIFIER_DIGITS and longest < UNBROKEN_DIGITS:
            return run
        stripped = run.rstrip(" .-(")
        found.append(stripped)
        return NUMBER + run[len(stripped) :]

    text = _EMAIL.sub(email, text)
    text = _SCHEME_URL.sub(link, text)
    text = _BARE_HOST.sub(bare_link, text)
    text = _IBAN.sub(iban, text)
    text = _DIGITS.sub(number, text)
    return Redacted(text, found)


def redacted(text: str, keep_hosts: Collection[str] = ()) -> str:
    """Just the text of :func:`redact`."""
    return redact(text, keep_hosts).text


def mentions(text: str, values: Collection[str]) -> list[str]:
    """Which of `values` (a customer's email address, phone number, link, …) `text` still
    carries: compared case-insensitively, and numbers by their digits alone, within one run of
    digits and separators ("+44 20 7946 0958" is found as "0044-20-7946-0958" or
    "442079460958", not in digits of separate numbers)."""
    lowered = text.lower()
    runs = [re.sub(r"\D", "", match.group()) for match in _DIGITS.finditer(text)]
    hits: list[str] = []
    for value in values:
        value = value.strip()
        if not value or value in hits:
            continue
        value_digits = re.sub(r"\D", "", value)
        numeric = not re.search(r"[^\d\s+().\-]", value)
        if value.lower() in lowered or (
            numeric
            and len(value_digits) >= UNBROKEN_DIGITS
            and any(value_digits in run for run in runs)
        ):
            hits.append(value)
    return hits
