"""Customer sentiment in words an agent reads (seed Step 4: "Customer sentiment: Frustrated but
polite").

Labels, from most to least upset:

* ``angry`` — anger markers: shouting in capitals, "!!!", insults ("useless", "joke"),
  "unacceptable", "ridiculous", "worst", repeated contact ("third time"), threats to leave,
  dispute or sue — at least ``angry_points`` of them, or one with a clearly negative tone.
* ``frustrated`` / ``frustrated but polite`` — distress or need ("really need", "still",
  "desperate", "disappointed") or a negative tone, with or without courtesy ("please",
  "thanks", "hi").
* ``calm`` — a problem described matter-of-factly.
* ``positive`` — a warm message with nothing wrong in its tone.

Support tickets describe problems, so their *content* is negative even when the customer is
calm. VADER alone would read "upload failed, photos missing" as upset and "Hi ... thanks" as
happy. We therefore score the tone with a VADER lexicon from which problem vocabulary and
courtesies are removed, and count anger/frustration/politeness markers separately.

Capitals, "!!!" and emoji amplify the words around them: in a sentence that carries delight or
thanks ("THE PRINTS ARE GORGEOUS!!!", "thanks!!") they are excitement, elsewhere they are a raised
voice. Idioms ("I'd kill for a dark mode", "a killer feature") are taken out before anything is
read. Other languages add their own markers (:class:`SentimentMarkers`, from the policy's language
lexicons); VADER's tone is English only.

VADER (and its lexicon file) loads lazily on first use, once per process; this module does no
I/O at import time.
"""

from __future__ import annotations

import functools
import operator
import re
import string
from dataclasses import dataclass
from typing import Any

from escalation.folding import fold

ANGRY = "angry"
FRUSTRATED = "frustrated"
FRUSTRATED_POLITE = "frustrated but polite"
CALM = "calm"
POSITIVE = "positive"
LABELS: tuple[str, ...] = (ANGRY, FRUSTRATED, FRUSTRATED_POLITE, CALM, POSITIVE)


@dataclass(frozen=True, slots=True)
class SentimentThresholds:
    """The tunable numbers; the policy's ``[sentiment]`` section supplies them."""

    angry_points: int = 2
    angry_tone: float = -0.5
    frustrated_tone: float = -0.35
    positive_tone: float = 0.5


@dataclass(frozen=True, slots=True)
class Sentiment:
    label: str
    score: float  # tone in [-1, 1]: VADER compound over emotional words only
    angry: bool
    polite: bool
    anger_markers: tuple[str, ...] = ()
    frustration_markers: tuple[str, ...] = ()


# Problem vocabulary and courtesies: neutral for tone (they describe the issue, not the mood).
_NEUTRAL_WORDS = (
    "error errors fail failed fails failing failure lost lose loses losing loss missing miss "
    "missed broken break breaks crash crashed crashes bug bugs problem problems issue issues "
    "wrong delete deleted stuck block blocked blocks locked lock dispute disputed charge charged "
    "charges declined debt unable cancel cancelled canceled cancellation trouble fault damage "
    "damaged corrupt corrupted no not help helps helped helping helpful please thanks thank "
    "thx appreciate appreciated grateful kind kindly regards dear support successful success "
    "successfully fine ok okay like want need needs free safe save saved secure security protect "
    "fix fixed fixing restore recover recovered resolve resolved solve solved hi hello hey "
    "wedding anniversary birthday party celebrate celebration love loved lovely vacation "
    "holiday honeymoon baby excited important urgent urgently serious seriously hard leave "
    "leaving stop stopped kill killed killing attack attacked"
).split()
_NEUTRAL_SET = frozenset(_NEUTRAL_WORDS)

# Words an agent would recognise as shouting only when they are not acronyms.
_ACRONYMS = frozenset(
    "GDPR DMCA CCPA API URL URLS PDF JPG JPEG PNG RAW HEIC TIFF EXIF USB SSL DNS HTTP HTTPS "
    "WWW UTC GMT EST PST CET BST AM PM FAQ KB MB GB TB ID IDS ASAP FYI UK US USA EU VAT "
    "CEO CTO TOS IOS MAC PC CSV XML JSON SMS OTP MFA SSO CDN RGB CMYK DPI PPI ERR IP ISP "
    "VPN NAS SD CF DSLR HDR ICC UI UX PS LR".split()
)

_WORD = re.compile(r"[A-Za-z][A-Za-z_']*")
# Whitespace after ".", "!" or "?", or line breaks. (Written to open with one class, "\s", and
# look behind it: the regex engine then scans for it in C instead of trying every position.)
_SENTENCE_SPLIT = re.compile(r"\s(?:(?<=[.!?]\s)\s*|(?<=\n)\n*)")
_APOSTROPHES = re.compile(r"['’‘`´]")
_PUNCTUATION = string.punctuation
_STRIP_PUNCTUATION = operator.methodcaller("strip", _PUNCTUATION)

_ANGER_BODY = (
    r"unacceptable|ridiculous|outrageous|absurd|disgrace\w*|disgusting|pathetic|"
    r"appalling|shocking|shameful|insane|a joke|joke of a|scam(?:s|mers?|med|ming)?|"
    r"rip[- ]?off|fraud\w*|"
    r"useless|worthless|garbage|rubbish|crap\w*|incompetent|incompetence|idiots?|"
    r"morons?|stupid|clowns?|amateurs?|worst|terrible|horrible|awful|dreadful|furious|livid|"
    r"fuming|angry|pissed|fed up|sick (?:and tired )?of|enough is enough|wtf|ffs|damn\w*|"
    r"bloody|hell|fuck\w*|f\*+\w*|sh[i\*]t\w*|bullshit|bs|screw you|how dare|shame on you|"
    r"waste of (?:money|time)|never again|thanks for nothing|"
    r"lost (?:all )?(?:my )?(?:trust|faith|patience)|"
    r"(?:third|fourth|fifth|sixth|3rd|4th|5th|6th|\d+th) time|again and again|over and over|"
    r"(?:keep|kept) (?:having|asking|telling|contacting|emailing|writing)|"
    r"(?:no ?one|nobody) (?:has )?(?:replied|responded|answered|helped|cares|bothered)|"
    r"(?:ill|i will|im going to|i am going to|gonna|about to|going to) (?:cancel|leave|switch|"
    r"move|take my business|dispute|report|sue|post|write|tell everyone|warn)|"
    r"(?:switching|moving) to (?:a )?(?:competitor|smugmug|flickr|google|pixieset|zenfolio)|"
    r"bad review|(?:one|1)[- ]star|charge ?back|my (?:lawyer|attorney|solicitor)|sue you|"
    r"legal action|[😡🤬😠👿💢🖕👎]"
)
_FRUSTRATION_BODY = (
    r"(?:really|urgently|desperately|badly|seriously) need\w*|need (?:these|them|this|"
    r"those|it|my \w+|our \w+) (?:back|asap|urgently|now|today|for|by)|desperate\w*|urgent\w*|"
    r"asap|please help|help me|help!|still|yet again|once again|happening again|again!|"
    r"frustrat\w*|disappoint\w*|upset|annoy\w*|worried|worry|stress\w*|panic\w*|anxious|"
    r"not happy|unhappy|concerned|cant believe|can not believe|no response|heartbroken|"
    r"devastated|gutted|nightmare|(?:second|2nd) time|every time|keeps? happening|"
    r"for (?:days|hours|weeks)|(?:hours|days|weeks) (?:now|later|ago and)|waiting for|"
    r"been waiting|still (?:no|nothing|waiting)|at a loss|"
    r"losing (?:my )?(?:mind|patience|clients|business)|"
    r"what is going on|whats going on|why is this|this is (?:a )?(?:mess|disaster)"
)
_POLITE_BODY = (
    r"please|pls|plz|thanks|thank you|thankyou|thx|ty|appreciate\w*|grateful|"
    r"kind regards|best regards|warm regards|regards|best wishes|cheers|many thanks|"
    r"hi|hello|hey|dear|good (?:morning|afternoon|evening)|sorry to bother|"
    r"would you mind|if possible|when you (?:get|have) a (?:chance|moment)|kindly"
)
# Delight and thanks: the words that make capitals and "!!!" excitement instead of anger.
_DELIGHT_BODY = (
    r"love[sd]?|loving|adore\w*|gorgeous|stunning|beautiful|amazing|awesome|fantastic|brilliant|"
    r"wonderful|incredible|superb|excellent|outstanding|perfect|perfection|great (?:work|job|app|"
    r"update|service|feature)|well done|so good|so happy|thrilled|delighted|overjoyed|excited|"
    r"can(?:t| not)? wait|best (?:update|app|service|feature|thing)|(?:you|u) (?:guys )?rock|"
    r"(?:you(?:re| are)|ur) (?:a |an )?(?:star|legend|lifesaver|hero|angel|genius)|lifesaver|"
    r"happy tears|wow|yay|woo+|omg|(?:so|really|very) (?:pleased|grateful|impressed)|"
    r"[😍🥰❤♥💕💖💗😊😀😃😄😁🙂🤩🎉🙏👍👏✨💯🤗😘🥳]"
)
_GRATITUDE_BODY = r"thanks?|thank (?:you|u)|thankyou|thx|ty|cheers|appreciate\w*|grateful|merci|yes"
# Figures of speech that borrow violent or angry words: read as nothing at all.
_IDIOMS_BODY = (
    r"(?:id|i would|would|i could|could) (?:kill|die|murder) for|killer (?:feature|app|shots?|"
    r"photos?|update|deal|look|combo|tool)|murders? my eyes|kills? my eyes|to die for|dying to|"
    r"(?:im|i am) dead|drop[- ]dead (?:gorgeous|beautiful)|(?:absolutely |totally )?(?:destroyed|"
    r"crushed|killed|slayed|smashed) (?:it|the (?:other )?(?:team|competition|game|match|"
    r"tournament))|kill(?:ing|ed)? it|slay(?:ing|ed)?|sick (?:shots?|photos?|feature)|insanely "
    r"(?:good|fast|beautiful|sharp)|crazy (?:good|fast)|blown away|"
    r"shoot(?:ing)? (?:a|the|our|my|some)|shot (?:a|the|some)|fire (?:emoji|photos)|"
    r"haunted house|fake blood|zombies?|chainsaw|pain in the (?:neck|butt)|no pressure|"
    r"not the end of the world|not (?:at all |really |that |super )?urgent|no (?:rush|hurry)|"
    r"(?:dont|do not|no need to) (?:worry|panic)|no worries|"
    r"not (?:a )?(?:big deal|priority)|(?:there is |theres )?no (?:big )?(?:panic|stress)"
)
_BANGS = re.compile(r"!(?:!+|\?)|\?!")  # "!!", "?!", "!?" (each branch opens with a literal)
_LOUD = re.compile(r"[A-Z][A-Z]{2}")  # three capitals (so written, it opens with a class)


def _plain(bodies: list[str]) -> str:
    return r"(?<!\w)(?:" + "|".join(f"(?:{b})" for b in bodies) + r")(?!\w)"


def _words(*bodies: str | None) -> re.Pattern[str] | None:
    parts = [b for b in bodies if b]
    if not parts:
        return None
    dispatched = _dispatched([(0, part) for part in parts])
    return dispatched[0] if dispatched is not None else re.compile(_plain(parts))


# ---------------------------------------------------------------------------------------------
# Marker expressions dispatched on a word's first character
# ---------------------------------------------------------------------------------------------
#
# A marker expression is an alternation of hundreds of words tried at every word start, and the
# regex engine tries its alternatives one by one (a cheap check of each one's first character).
# The same alternatives grouped by their first character, ``a(?:...)|b(?:...)|...``, in their
# original order within each group, find exactly the same matches: at a word start only the
# alternatives that start with its character are tried, and the first of them (in the original
# order) that matches still wins. Leading groups and classes are multiplied out first
# ("(?:really|badly) need" -> "really need", "badly need"; "(?:es )?una" -> "es una", "una").

_META = frozenset("\\()[]{}.^$*+?|")
_QUANTIFIERS = frozenset("?*+{")
_EXPANSION_LIMIT = 512


def _alternatives(body: str) -> list[str]:
    """The top-level alternatives of a regex body (``a|b(?:c|d)`` -> ``a``, ``b(?:c|d)``)."""
    parts: list[str] = []
    depth = start = i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(body, i)
            if i < 0:
                return [body]
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(body[start:i])
            start = i + 1
        i += 1
    parts.append(body[start:])
    return parts


def _class_end(body: str, start: int) -> int:
    """Index of the "]" closing the class opened at ``start``, or -1."""
    i = start + 1
    if body[i : i + 1] == "^":
        i += 1
    if body[i : i + 1] == "]":  # a "]" first in a class is a literal
        i += 1
    while i < len(body):
        if body[i] == "\\":
            i += 2
            continue
        if body[i] == "]":
            return i
        i += 1
    return -1


def _group_end(body: str, start: int) -> int:
    """Index of the ")" closing the group opened at ``start``, or -1."""
    depth = 0
    i = start
    while i < len(body):
        char = body[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(body, i)
            if i < 0:
                return -1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _leading_literal(alternative: str) -> tuple[str, str] | None:
    """(its first character, the rest) when an alternative opens with one literal character
    that no quantifier follows."""
    if not alternative:
        return None
    char, rest = alternative[0], alternative[1:]
    if char == "\\":
        if len(alternative) < 2 or alternative[1].isalnum() or alternative[1] == "_":
            return None  # \w, \d, \b, a back-reference...
        char, rest = alternative[1], alternative[2:]
    elif char in _META:
        return None
    if rest[:1] in _QUANTIFIERS:
        return None
    return char, rest


def _expanded(alternative: str) -> list[tuple[str | re.Pattern[str], str]] | None:
    """The alternative as alternatives tried in the same order, each (its first character, the
    rest) or, where that cannot be had, (the atom it must start with, the whole of it); None
    when even that is unknown (then the expression is not dispatched)."""
    lead = _leading_literal(alternative)
    if lead is not None:
        return [lead]
    if alternative.startswith("(?:"):
        end = _group_end(alternative, 0)
        if end < 0:
            return None
        inner, rest = alternative[3:end], alternative[end + 1 :]
        optional = rest[:1] == "?"
        if optional:
            rest = rest[1:]
            if not rest or rest[:1] in ("?", "+"):  # lazy, possessive, or empty after it
                return None
        elif rest[:1] in _QUANTIFIERS:
            return _whole(alternative)
        out: list[tuple[str | re.Pattern[str], str]] = []
        # (?:x|y)rest tries x then rest, then y then rest: as xrest|yrest. (?:x)?rest as xrest|rest.
        for choice in [*(x + rest for x in _alternatives(inner)), *([rest] if optional else [])]:
            more = _expanded(choice)
            if more is None:
                return None
            out += more
            if len(out) > _EXPANSION_LIMIT:
                return None
        return out
    if alternative.startswith("[") and not alternative.startswith("[^"):
        end = _class_end(alternative, 0)
        if end < 0:
            return None
        members, rest = alternative[1:end], alternative[end + 1 :]
        if members and rest[:1] not in _QUANTIFIERS and not any(c in "\\-[]" for c in members):
            return [(char, rest) for char in dict.fromkeys(members)]
    return _whole(alternative)


def _whole(alternative: str) -> list[tuple[str | re.Pattern[str], str]] | None:
    atom = _first_atom(alternative)
    return None if atom is None else [(atom, alternative)]


def _first_atom(alternative: str) -> re.Pattern[str] | None:
    r"""The one-character expression an alternative must start with ("\d" in "\d+th"); None
    when its first character may be optional or is not a character (a lookahead, "\b")."""
    head = alternative[:1]
    if head == "\\":
        escaped = alternative[1:2]
        if escaped.isalpha() and escaped not in "dwsDWS":
            return None  # \b, \A, a back-reference...: not one character
        atom, rest = alternative[:2], alternative[2:]
    elif head == "[":
        end = _class_end(alternative, 0)
        if end < 0:
            return None
        atom, rest = alternative[: end + 1], alternative[end + 1 :]
    elif head == ".":
        atom, rest = ".", alternative[1:]
    elif head and head not in _META:
        atom, rest = re.escape(head), alternative[1:]
    else:
        return None
    if rest[:1] in ("?", "*"):
        return None
    if rest[:1] == "{" and not re.match(r"\{[1-9]\d*(?:,\d*)?\}", rest):
        return None
    return re.compile(atom)


# Word-initial letters, most frequent first: the groups are tried in this order.
_FREQUENT_FIRST = "tasiowcbpmfhdlrneguyvkjqxz"


def _dispatched(tagged: list[tuple[int, str]]) -> tuple[re.Pattern[str], tuple[int, ...]] | None:
    r"""``(?<!\w)(?:b1|b2|...)(?!\w)`` over the tagged bodies, grouped by first character; and
    the tag of each capturing group (a match's ``lastindex``). None when a body does not lend
    itself (a capturing group, an alternative whose first character is optional...).

    An alternative that cannot be multiplied out ("\d+th") joins, unchanged, the group of every
    character it can start with, and a last group tried where no other group's character is."""
    if any(re.compile(body).groups for _tag, body in tagged):
        return None  # capturing groups would be repeated and renumbered
    # In order: (tag, first character, rest) or (tag, first atom, whole alternative).
    entries: list[tuple[int, str | re.Pattern[str], str]] = []
    for tag, body in tagged:
        for alternative in _alternatives(body):
            expanded = _expanded(alternative)
            if expanded is None:
                return None
            entries.extend((tag, first, rest) for first, rest in expanded)
    firsts = {first for _tag, first, _rest in entries if isinstance(first, str)}
    order = sorted(firsts, key=lambda char: (_FREQUENT_FIRST.find(char) % 100, char))
    tags: list[int] = [-1]

    def pieces(char: str | None, members: list[tuple[int, str | re.Pattern[str], str]]) -> str:
        """Members in order: runs of one tag after the character, and whole alternatives."""
        out: list[str] = []
        run: list[str] = []
        run_tag = -1

        def close() -> None:
            if run:
                tags.append(run_tag)
                out.append(f"{re.escape(char or '')}(?:({'|'.join(run)}))")
                run.clear()

        for tag, first, rest in members:
            if isinstance(first, str):
                if run and tag != run_tag:
                    close()
                run_tag = tag
                run.append(rest)
            else:
                close()
                tags.append(tag)
                out.append(f"({rest})")
        close()
        return "|".join(out)

    groups: list[str] = []
    for char in order:
        members = [
            e for e in entries if e[1] == char or (not isinstance(e[1], str) and e[1].match(char))
        ]
        if all(isinstance(first, str) for _tag, first, _rest in members):
            groups.append(pieces(char, members))  # all start with char: "c(?:(..))|c(?:(..))"
        else:
            groups.append(f"(?={re.escape(char)})(?:{pieces(char, members)})")
    unknown = [e for e in entries if not isinstance(e[1], str)]
    if unknown:
        groups.append(f"(?:{pieces(None, unknown)})")
    regex = re.compile(r"(?<!\w)(?:" + "|".join(groups) + r")(?!\w)")
    if regex.groups != len(tags) - 1:  # pragma: no cover - defensive
        return None
    return regex, tuple(tags)


@dataclass(frozen=True, slots=True)
class SentimentMarkers:
    """The marker expressions for one language: English's own plus a lexicon's additions."""

    anger: re.Pattern[str]
    frustration: re.Pattern[str]
    polite: re.Pattern[str]
    delight: re.Pattern[str]
    gratitude: re.Pattern[str]
    idioms: re.Pattern[str] | None
    # All four kinds in one expression: one pass over the text, not four. A match's kind is
    # ``every_kinds[match.lastindex]``.
    every: re.Pattern[str]
    every_kinds: tuple[str, ...] = ()
    english: bool = True  # VADER's tone only reads English

    @classmethod
    def build(
        cls,
        *,
        anger: list[str] | tuple[str, ...] = (),
        frustration: list[str] | tuple[str, ...] = (),
        polite: list[str] | tuple[str, ...] = (),
        delight: list[str] | tuple[str, ...] = (),
        gratitude: list[str] | tuple[str, ...] = (),
        idioms: list[str] | tuple[str, ...] = (),
        english: bool = True,
    ) -> SentimentMarkers:
        def join(*bodies: str) -> re.Pattern[str]:
            pattern = _words(*bodies)
            assert pattern is not None
            return pattern

        kinds = {
            "anger": [_ANGER_BODY, *(fold(p) for p in anger)],
            "frustration": [_FRUSTRATION_BODY, *(fold(p) for p in frustration)],
            "delight": [_DELIGHT_BODY, *(fold(p) for p in delight)],
            "polite": [_POLITE_BODY, *(fold(p) for p in polite)],
        }
        names = tuple(kinds)
        dispatched = _dispatched([(k, b) for k, name in enumerate(names) for b in kinds[name]])
        if dispatched is not None:
            every, tags = dispatched
            every_kinds = tuple(names[tag] if tag >= 0 else "" for tag in tags)
        else:
            every = re.compile(
                r"(?<!\w)(?:"
                + "|".join(f"(?P<{name}>{_plain(kinds[name])})" for name in names)
                + r")(?!\w)"
            )
            slots = [""] * (every.groups + 1)
            for name, index in every.groupindex.items():
                slots[index] = name
            every_kinds = tuple(slots)
        return cls(
            anger=join(*kinds["anger"]),
            frustration=join(*kinds["frustration"]),
            polite=join(*kinds["polite"]),
            delight=join(*kinds["delight"]),
            every=every,
            every_kinds=every_kinds,
            gratitude=join(_GRATITUDE_BODY, *(fold(p) for p in gratitude)),
            idioms=_words(_IDIOMS_BODY, *(fold(p) for p in idioms)),
            english=english,
        )


ENGLISH = SentimentMarkers.build()


def _normalise(text: str) -> str:
    return fold(text)


@functools.cache
def _analyzer() -> Any:
    """One VADER analyzer per process, its lexicon stripped of problem words and courtesies."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon = {
        word: value for word, value in analyzer.lexicon.items() if word not in _NEUTRAL_SET
    }
    return analyzer


@functools.lru_cache(maxsize=8192)
def _sentence_tone(sentence: str) -> float:
    """VADER's compound for one sentence (0 when it has no lexicon word or emoticon, which
    VADER would score 0 anyway). Pure, so kept per sentence: greetings, thanks and stock
    phrases recur across tickets, and VADER is the costliest step of the mood."""
    analyzer = _analyzer()
    words = analyzer.lexicon.keys()
    tokens = sentence.split()
    # Without a lexicon word (or emoticon) VADER scores 0: skip its cost.
    if words.isdisjoint(tokens) and words.isdisjoint(map(_STRIP_PUNCTUATION, tokens)):
        return 0.0
    compound: float = analyzer.polarity_scores(sentence[:1000])["compound"]
    return compound


def _tone(sentences: list[str], glad: re.Pattern[str] | None = None) -> float:
    """Mean VADER compound over the sentences that carry any tone (VADER is per-sentence and
    quadratic in sentence length, so whole paragraphs are both slower and less accurate). A
    sentence with words of delight never counts as negative."""
    scores: list[float] = []
    for sentence in sentences[:60]:
        compound = _sentence_tone(sentence)
        if compound < 0 and glad is not None and glad.search(sentence):
            compound = 0.0  # "happy tears", "so good it hurts": the sentence is glad
        if abs(compound) >= 0.05:
            scores.append(compound)
    if not scores:
        return 0.0
    return round(sum(scores) / len(scores), 4)


def _shouted(sentence: str) -> tuple[int, int]:
    """(shouted words, words of three letters or more) in one sentence of the original text."""
    words = [w.strip("'") for w in _WORD.findall(sentence)]
    long_words = [w for w in words if len(w) >= 3]
    # Error codes (ERR_UPLOAD_TIMEOUT) and acronyms are capitals without raising a voice.
    shouted = [w for w in long_words if w.isupper() and "_" not in w and w not in _ACRONYMS]
    return len(shouted), len(long_words)


def _distinct(matches: list[str], limit: int = 6) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for match in matches:
        seen.setdefault(match.strip(), None)
    return tuple(seen)[:limit]


def assess_sentiment(
    text: str,
    thresholds: SentimentThresholds | None = None,
    markers: SentimentMarkers | None = None,
    complaint: bool = True,
) -> Sentiment:
    """Label the customer's mood in words an agent reads (see the module docstring).

    ``complaint`` says whether the ticket describes a problem: without one, capitals and "!!!"
    only raise the voice of a sentence that carries negative words of its own ("HOW DO I ADD
    MUSIC???" is eagerness; anger needs a complaint).
    """
    limits = thresholds or SentimentThresholds()
    words = markers or ENGLISH
    folded = _normalise(text)
    if words.idioms is not None:
        folded = words.idioms.sub(" ", folded)
    anger: list[str] = []
    frustration: list[str] = []
    polite = delighted = False
    kinds = words.every_kinds
    for found in words.every.finditer(folded):
        kind = kinds[found.lastindex or 0] if kinds else found.lastgroup
        if kind == "anger":
            anger.append(found.group())
        elif kind == "frustration":
            frustration.append(found.group())
        elif kind == "delight":
            delighted = True
        else:
            polite = True
    bangs = False
    loud_words = all_words = loud_sentences = 0
    # Most tickets neither shout nor bang: then no sentence needs reading alone.
    loud = _LOUD.search(text) is not None or _BANGS.search(text) is not None
    for sentence in _SENTENCE_SPLIT.split(text) if loud else ():
        shouted, counted = _shouted(sentence)
        bang = _BANGS.search(sentence) is not None
        if shouted or bang:
            # Amplifiers take the mood of their sentence: read it alone (rare, so not costly).
            lowered = _normalise(sentence)
            if words.idioms is not None:
                lowered = words.idioms.sub(" ", lowered)
            angry_words = words.anger.search(lowered) is not None
            if not angry_words and (
                words.delight.search(lowered) or words.gratitude.search(lowered)
            ):
                continue  # capitals and "!!!" here are excitement or emphatic thanks
            if not complaint and not angry_words and not words.frustration.search(lowered):
                continue  # nothing to complain about: loud, not angry
        loud_words += shouted
        all_words += counted
        loud_sentences += shouted >= 2 or (shouted >= 1 and shouted == counted)
        bangs = bangs or bang

    anger_markers = list(_distinct(anger))
    shouting = 2 if all_words >= 4 and loud_words * 2 > all_words else int(loud_sentences > 0)
    if shouting:
        anger_markers.append("shouting in capitals")
    if bangs:
        anger_markers.append("!!!")
    anger_points = len(anger_markers) + (1 if shouting == 2 else 0)
    frustration_markers = _distinct(frustration)
    tone = _tone(_SENTENCE_SPLIT.split(folded), words.delight) if words.english else 0.0

    angry = anger_points >= limits.angry_points or (anger_points >= 1 and tone <= limits.angry_tone)
    if angry:
        label = ANGRY
    # A grim tone alone is distress only when there is a problem: without one, "blood",
    # "explosions" or "terrifying" describe the photos, not the customer's mood.
    elif anger_points or frustration_markers or (complaint and tone <= limits.frustrated_tone):
        label = FRUSTRATED_POLITE if polite else FRUSTRATED
    elif tone >= limits.positive_tone or (delighted and tone >= 0):
        label = POSITIVE
    else:
        label = CALM
    return Sentiment(
        label=label,
        score=tone,
        angry=angry,
        polite=polite,
        anger_markers=tuple(anger_markers),
        frustration_markers=frustration_markers,
    )
