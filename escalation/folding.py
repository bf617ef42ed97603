"""One way to fold a ticket's text for matching, shared by the signal engine and the tone reader:
lower case, accents off ("é" -> "e", so "contraseña" and "contrasena" read the same), and
apostrophes resolved ("can't" -> "cant", but French/Italian elision "l'album" -> "l album").

Every step maps one character to at most one, so a span of folded text maps back to the
customer's own words (escalation/matching.py keeps the offsets).
"""

from __future__ import annotations

import re
import unicodedata

APOSTROPHES = "’‘'`´"


def _fold_table() -> dict[int, str]:
    """Precomposed Latin letters to their ASCII base letter; ß, æ, ø, œ stay as they are."""
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFD", char)[0]
        if base != char and base.isascii() and base.isalpha():
            table[code] = base
    return table


FOLD_TABLE = _fold_table()

# An apostrophe before an English contraction ending is dropped ("can't", "it's", "foto's"), and
# so is one that opens or closes a word ("customers' invoices", "the 'Family' album"); any other
# apostrophe separates words ("l'album", "j'ai", "dell'app"). DROPPED_AFTER: what must hold just
# after an apostrophe for it to be dropped (escalation/matching.py reads it too).
DROPPED_AFTER = (
    r"(?=(?:t|s|re|ve|ll|d|m)(?![^\W\d_]))"
    rf"|(?<!\w[{APOSTROPHES}])|(?!\w)"
)
DROPPED = re.compile(rf"[{APOSTROPHES}](?:{DROPPED_AFTER})")
ELISION = re.compile(rf"[{APOSTROPHES}]")


def lower(text: str) -> str:
    """Lower case that keeps the length (the rare characters whose lower case is longer stay)."""
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return lowered


def fold_case(text: str) -> str:
    """Lower-cased and accents folded (ASCII text has no accents to fold)."""
    lowered = lower(text)
    return lowered if lowered.isascii() else lowered.translate(FOLD_TABLE)


def fold(text: str) -> str:
    """Lower-cased, accents folded, apostrophes resolved (see the module docstring)."""
    folded = fold_case(text)
    if ELISION.search(folded) is None:  # no apostrophe at all: nothing to resolve
        return folded
    return ELISION.sub(" ", DROPPED.sub("", folded))


def fold_pattern(pattern: str) -> str:
    """A policy pattern folded like the text it is matched against (accents written or not)."""
    return pattern.translate(FOLD_TABLE)
