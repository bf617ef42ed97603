"""Message segmentation: what the customer wrote now versus everything else in a ticket.

A ticket description is often a whole e-mail: the new message, a sign-off and signature, a
legal disclaimer, then the thread it replies to or the mail it forwards. Triage must decide on
the new message only — a thank-you note over a quoted "my photos are gone" is not data loss —
so :func:`split_message` cuts the text into five parts by whole lines:

* ``new`` — greeting and body the customer wrote now;
* ``quoted`` — earlier messages of a reply: ``> `` lines, an ``On … wrote:`` header with what
  it introduces, ``-----Original Message-----`` and Outlook ``From:/Sent:/To:/Subject:`` blocks;
* ``forwarded`` — forwarded mail (Gmail, Apple Mail, Thunderbird dividers, ``Fwd:`` bodies);
* ``signature`` — sign-off block, ``-- `` signature, "Sent from my iPhone", contact block;
* ``disclaimer`` — confidentiality notices and "consider the environment" lines.

Markers are recognised in English, Spanish, German, French, Portuguese, Italian and Dutch.

Conservative by design: a weak cue never removes text from ``new``. A sign-off only ends the
message when what follows it is a short name/contact block; a reply header needs a date, time
or address; a ``From:`` line counts only inside a header block; a disclaimer needs legal
wording; and ``new`` is never emptied by a signature or disclaimer.

Pure and fast: stdlib ``re`` only, patterns compiled at import. Each line meets a cheap gate
(its first characters or first word in a set) before any precise pattern; the closing is looked
for only in the last stretch of new text, disclaimers with one scan over those lines. A 1-2 KB
ticket takes a few tens of microseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Message", "split_message"]


@dataclass(frozen=True, slots=True)
class Message:
    """A ticket description cut into parts; every input line lands in exactly one part."""

    new: str  # what the customer wrote now: greeting + body, sign-off/signature removed
    quoted: str  # earlier messages quoted in a reply
    forwarded: str  # forwarded mail, with its divider and headers
    signature: str  # sign-off, "-- " signature, "Sent from my …", contact block
    disclaimer: str  # legal disclaimers and confidentiality notices

    def context(self) -> str:
        """Quoted and forwarded text together: evidence for an agent, never the decision."""
        return "\n\n".join(part for part in (self.quoted, self.forwarded) if part)


_NEW, _QUOTED, _FORWARDED, _SIGNATURE, _DISCLAIMER = range(5)

_I = re.IGNORECASE

# --- history markers -------------------------------------------------------------------------

# Cheap gate, by a line's first two characters (any case, see _any_case): only lines that could
# start a marker meet its precise pattern. A dict lookup costs far less than a regex per line.
_FORWARD_LINE, _ORIGINAL_LINE, _FROM_LINE, _SUBJECT_LINE = 1, 2, 4, 8
_MARKER_HEADS: dict[str, int] = {
    "--": _FORWARD_LINE | _ORIGINAL_LINE,
    "- ": _FORWARD_LINE | _ORIGINAL_LINE,
    "__": _FORWARD_LINE,
    "==": _FORWARD_LINE,
    "fo": _FORWARD_LINE,
    "be": _FORWARD_LINE,
    "an": _FORWARD_LINE,
    "dé": _FORWARD_LINE,
    "in": _FORWARD_LINE,
    "me": _FORWARD_LINE,
    "we": _FORWARD_LINE,
    "do": _FORWARD_LINE,
    "de": _FORWARD_LINE | _FROM_LINE,
    "fr": _FROM_LINE,
    "vo": _FROM_LINE,
    "va": _FROM_LINE,
    "da": _FROM_LINE,
    "fw": _SUBJECT_LINE,
    "wg": _SUBJECT_LINE,
    "tr": _SUBJECT_LINE,
    "rv": _SUBJECT_LINE,
    "en": _SUBJECT_LINE,
}
_BOLD_LINE = _FORWARD_LINE | _FROM_LINE  # "*From:*", "**Forwarded message**"


def _any_case(heads: dict[str, int]) -> dict[str, int]:
    """The same gate keyed by every capitalisation, so a line needs no ``lower()``."""
    out: dict[str, int] = {}
    for head, flags in heads.items():
        for first in {head[0], head[0].upper()}:
            for second in {head[1], head[1].upper()}:
                out[first + second] = out.get(first + second, 0) | flags
    return out


_MARKER_HEADS = _any_case(_MARKER_HEADS)
_FORWARD_DIVIDER = re.compile(
    r"[-_=*\s]*(?:"
    r"begin\s+forwarded\s+message|forwarded\s+(?:message|e-?mail)"
    r"|inicio\s+del\s+mensaje\s+reenviado|mensaje\s+reenviado"
    r"|anfang\s+der\s+weitergeleiteten\s+(?:nachricht|e-?mail)|weitergeleitete\s+nachricht"
    r"|d[ée]but\s+du\s+message\s+(?:r[ée]exp[ée]di[ée]|transf[ée]r[ée])|message\s+transf[ée]r[ée]"
    r"|in[ií]cio\s+da\s+mensagem\s+(?:re)?encaminhada|mensagem\s+(?:re)?encaminhada"
    r"|inizio\s+messaggio\s+inoltrato|messaggio\s+inoltrato"
    r"|begin\s+doorgestuurd\s+bericht|doorgestuurd\s+bericht"
    r")[-_=*\s:]*",
    _I,
)
_ORIGINAL_DIVIDER = re.compile(
    r"-{3,}\s*(?:original\s+message|mensaje\s+original|urspr[üu]ngliche\s+nachricht"
    r"|originalnachricht|message\s+d['’]origine|message\s+original|mensagem\s+original"
    r"|messaggio\s+originale|oorspronkelijk\s+bericht|origineel\s+bericht)\s*-{3,}",
    _I,
)
_HEADER_FROM = re.compile(r"\*{0,2}(?:from|von|de|da|van)\*{0,2}\s?:", _I)
_HEADER_KEY = re.compile(
    r"\*{0,2}(?:(?P<date>sent|date|gesendet|datum|envoy[ée]|enviado(?:\s+el)?|enviada|fecha"
    r"|data|inviato|verzonden|verstuurd)"
    r"|(?P<to>to|an|à|a|para|aan|cc|subject|betreff|objet|asunto|assunto|oggetto|onderwerp))"
    r"\*{0,2}\s?:",
    _I,
)
_SEPARATOR = re.compile(r"[-_=*]{5,}")
# "Fwd: subject" opening a forward; the short client prefixes only as the very first line.
_FWD_SUBJECT = re.compile(r"(?:fwd|fw)\s?:\s*\S", _I)
_FWD_SUBJECT_FIRST = re.compile(r"(?:FW|Fw|WG|TR|RV|ENC)\s?:\s*\S")
# Words in the customer's note that make a header block or "Original Message" a forward.
_FORWARD_CUE = re.compile(  # on lower-cased text
    r"\b(?:forward(?:ed|ing)?|fwd|reenv[ií]\w*|weitergeleitet\w*|weiterleite\w*"
    r"|transf[ée]r[ée]\w*|(?:re)?encaminh\w*|inoltr\w*|doorgestuurd|doorstuur\w*)\b"
)

_WROTE = r"(?:wrote|escribi[óo]|schrieb|a\s+[ée]crit|escreveu|ha\s+scritto|schreef)"
# Searches run without IGNORECASE (on lower-cased text where case varies): sre scans far
# faster when it can use a literal prefix.
_REPLY_VERB = re.compile(r"wrote|escribi|schrieb|crit|escreveu|scritto|schreef")
# "On <date> … wrote:" and its six translations; the date must come early.
_REPLY_ON = re.compile(
    r"(?:On|El|Am|Le|Em|Il(?:\s+giorno)?|Op)\s.{0,25}?\d.*\b" + _WROTE + r"\b.{0,150}:",
    re.DOTALL,
)
# "Ana <ana@x.com> wrote:", "Max <m@x.de> schrieb am 03.03.2025 um 10:00:".
_REPLY_ADDRESS = re.compile(
    r".*(?:<[^<>\s]+@[^<>\s]+>|[\w.+-]+@[\w-]+(?:\.[\w-]+)+)[)\]\"']{0,3},?\s+"
    + _WROTE
    + r"\b.{0,80}:",
    re.DOTALL,
)
# A real reply header carries a time, a year or an address, not just "On Monday my son wrote:".
_REPLY_PLAUSIBLE = re.compile(r"\d{1,2}:\d{2}|\b(?:19|20)\d{2}\b")  # or an "@"

# --- closing: signature and disclaimer ------------------------------------------------------

_THANKS = (
    r"(?:many\s+|big\s+)?thanks(?:\s+(?:so\s+much|very\s+much|a\s+lot|a\s+million|again|heaps))?"
    r"|thank\s+you(?:\s+(?:so\s+much|very\s+much|again|kindly))?|thx|tks"
    r"|(?:muchas\s+)?gracias|dank\s+(?:je|u)\s+wel|(?:vielen\s+)?dank(?:e(?:sch[öo]n)?)?(?:\s+sch[öo]n)?"
    r"|merci(?:\s+(?:beaucoup|encore|bien))?|(?:muito\s+)?obrigad[oa]|grazie(?:\s+mille)?"
    r"|(?:alvast\s+)?bedankt"
)
_THANKS_FOR = (
    r"(?:\s+for\s+(?:(?:all\s+)?(?:your|the|any|all)\s+)?(?:help|time|support|assistance"
    r"|patience|understanding|consideration|attention))?"
    r"(?:\s+(?:in\s+advance|de\s+antemano|d['’]avance|desde\s+j[áa]|in\s+anticipo|im\s+voraus))?"
)
_CLOSING = (
    r"(?:with\s+)?(?:best|kind|kindest|warm|warmest|many|sincere|warm\s+and\s+best)?\s*regards"
    r"|(?:best|warm|all\s+the\s+best|good)\s+wishes|best|all\s+the\s+best|cheers|sincerely"
    r"|yours\s+(?:sincerely|faithfully|truly)|(?:very\s+)?truly\s+yours|respectfully(?:\s+yours)?"
    r"|cordially|warmly|take\s+care|talk\s+soon|speak\s+soon"
    r"|(?:un\s+)?(?:cordial\s+)?saludos?(?:\s+cordiales)?|atentamente|cordialmente"
    r"|un\s+(?:fuerte\s+)?abrazo|abrazos|(?:reciba\s+)?un\s+cordial\s+saludo"
    r"|(?:mit\s+)?(?:freundlichen|freundliche|besten|beste|vielen|viele|lieben|liebe|herzlichen"
    r"|herzliche|sch[öo]nen|sch[öo]ne)?\s*gr[üu](?:ß|ss)(?:e|en)?|gru(?:ß|ss)|mfg|lg|vg"
    r"|hochachtungsvoll|bis\s+bald"
    r"|(?:bien\s+)?cordialement|bien\s+[àa]\s+(?:vous|toi)"
    r"|(?:mes\s+|nos\s+)?(?:meilleures\s+|sinc[èe]res\s+|cordiales\s+)?salutations"
    r"|amicalement|amiti[ée]s|bises|bonne\s+(?:journ[ée]e|soir[ée]e)|[àa]\s+bient[ôo]t"
    r"|atenciosamente|(?:melhores\s+)?cumprimentos|(?:um\s+)?abra[çc]o|abra[çc]os|att\.?|atte\.?"
    r"|sauda[çc][õo]es"
    r"|(?:cordiali|distinti|tanti|cari|un)?\s*salut[io]|a\s+presto|buona\s+giornata"
    r"|un\s+abbraccio"
    r"|(?:met\s+)?(?:vriendelijke|hartelijke|beste|lieve)?\s*groet(?:en|jes)?|mvg|hoogachtend"
    r"|tot\s+(?:ziens|snel)"
)
_PHRASE = r"(?:(?:" + _THANKS + r")" + _THANKS_FOR + r"|" + _CLOSING + r")"
# A sign-off line: "Best regards,", "Danke und viele Grüße", "Cheers, Ana"; `rest` is checked
# to be nothing but a name, so "Thanks, that fixed it" is not a sign-off.
_SIGNOFF_PATTERN = (
    r"[^\w]{0,3}" + _PHRASE + r"(?:\s*,?\s*(?:and|&|und|y|et|e|en)\s+" + _PHRASE + r")?"
    r"\b(?P<rest>.*)"
)
_SIGNOFF = re.compile(_SIGNOFF_PATTERN)  # on lower-cased text
_SIGNOFF_ANY_CASE = re.compile(_SIGNOFF_PATTERN, _I)
_SENT_FROM = re.compile(
    r"(?:sent\s+(?:from|with|via)|get\s+outlook\s+for|enviado\s+desde|gesendet\s+(?:von|mit)"
    r"|envoy[ée]\s+(?:de|depuis)|enviado\s+(?:do|a\s+partir\s+do|de)|inviato\s+da"
    r"|verzonden\s+(?:vanaf|met|van)|verstuurd\s+(?:vanaf|met))"
    r"(?:\s+(?:my|mi|meinem|mon|ma|meu|mijn|il\s+mio|mio))?(?:\s+[\w.-]+){1,4}\.?"
    r"|von\s+meinem(?:\s+[\w.-]+){1,4}\s+gesendet\.?",
    _I,
)


# First words (lower-cased, edge punctuation dropped) that can open a sign-off or a "Sent
# from" line: a set lookup gates the costly patterns.
_SIGNOFF_WORDS = frozenset(
    "thanks thank thx tks many big muchas gracias vielen dank danke dankeschön merci muito "
    "obrigado obrigada grazie alvast bedankt with best kind kindest warm warmest sincere "
    "regards all good cheers sincerely yours very truly respectfully cordially warmly take "
    "talk speak un cordial saludo saludos atentamente cordialmente cordialement abrazo "
    "abrazos reciba mit freundlichen freundliche besten beste viele vielen lieben liebe "
    "herzlichen herzliche schönen schöne grüße grüsse gruß gruss mfg lg vg hochachtungsvoll "
    "bis bien mes nos meilleures sincères cordiales salutations amicalement amitiés bises "
    "bonne à a atenciosamente melhores cumprimentos um abraço abraços att atte saudações "
    "tanti cari distinti cordiali saluti saluto buona met vriendelijke hartelijke lieve groet "
    "groeten groetjes mvg hoogachtend tot".split()
)
_SENT_FROM_WORDS = frozenset(
    "sent get enviado gesendet envoyé inviato verzonden verstuurd von".split()
)
_CLOSING_HEADS = frozenset(  # first two characters of those words, in any case
    _any_case({(word + " ")[:2]: 1 for word in _SIGNOFF_WORDS | _SENT_FROM_WORDS})
)
_OPENING_PUNCTUATION = "¡¿*_[(\"'“‘«> "
_CLOSING_PUNCTUATION = ",.;:!?)]*\"'”’»…"


def _first_word(s: str) -> str:
    """The line's first word, lower-cased, without the punctuation around it."""
    head = s[:32]
    if not head[0].isalnum():
        head = head.lstrip(_OPENING_PUNCTUATION)
    cut = head.find(" ")
    if cut >= 0:
        head = head[:cut]
    return head.rstrip(_CLOSING_PUNCTUATION).lower()


_DASH_DELIMITER = re.compile(r"(?:--|—|–|__)")
_DASH_NAME = re.compile(r"(?:--|—|–|-)\s*(?P<name>[^\W\d_].*)")
# Phone numbers as people write them: "+351 912 345 678", "(951) 555-0143", "020 7946 0321";
# not invoice or order numbers such as "INV-2025-004417".
_PHONE = re.compile(
    r"\+\d[\d ()./-]{5,}\d|\(\d{2,5}\)\s?\d[\d ./-]{3,}\d"
    r"|\b\d{2,5}[ .]\d{3,4}[ .]\d{3,4}\b|\b\d{3}-\d{3,4}(?:-\d{4})?\b"
)
_CONTACT_MARKS = ("@", "://", "www.", "WWW.", " | ")  # e-mail, web, "Title | Company | phone"
_CONTACT_LABEL = re.compile(
    r"(?:tel|t|phone|mobile|mob|cell|m|fax|e|e-?mail|w|web|t[ée]l|tel[ée]fono|telefone"
    r"|telefono|m[óo]vil|handy|mobiel|cellulare|celular)\.?\s*:",
    _I,
)
_PS = re.compile(r"(?:p\.?\s?s|p\.?\s?d|n\.?\s?b)\b", _I)
_PARTICLES = frozenset(
    "de da do dos das del della di du des la le van von der den ter ten zu y e et and und en "
    "of the for at & al el bin st im am für a à".split()
)

# Disclaimers: a strong opening stands alone; a weak one ("This e-mail …") also needs a
# confidentiality word and legal wording in the lines that follow. Both patterns run over the
# candidate lines joined and lower-cased, each line opened by "\n": one C-level scan that jumps
# from line start to line start.


def _line_openings(*openings: str) -> re.Pattern[str]:
    """Match "\n" + any opening; grouped by first letter so each line's first letter is
    compared once per group rather than once per opening."""
    groups: dict[str, list[str]] = {}
    for opening in openings:
        if not opening[0].isalpha():
            raise ValueError(f"an opening must start with a letter: {opening!r}")
        groups.setdefault(opening[0], []).append(opening[1:])
    body = "|".join(f"{first}(?:{'|'.join(rest)})" for first, rest in groups.items())
    return re.compile(r"\n[\W_]{0,3}(?:" + body + ")")


_INTENDED_DE = (
    r"(?:richtige|vorgesehene|beabsichtigte|bestimmungsgem[äa](?:ß|ss)e)?\s*"
    r"(?:adressat|empf[äa]nger)"
)
_INTENDED_NL = (
    r"(?:niet\s+de\s+(?:beoogde\s+|bedoelde\s+)?(?:geadresseerde|ontvanger)"
    r"|dit\s+bericht\s+(?:per\s+vergissing|onterecht|abusievelijk))"
)
_DISCLAIMER_STRONG = _line_openings(
    r"confidential(?:ity)?\s+(?:notice|note|statement|warning|disclaimer)",
    r"important\s+(?:notice|disclaimer|note)\s*:",
    r"legal\s+(?:notice|disclaimer)\s*:",
    r"privileged\s+(?:and|&)\s+confidential",
    r"confidential(?:ity)?\s*:",
    r"disclaimer\s*:",
    r"if\s+you\s+(?:are\s+not\s+the\s+(?:intended|named)|have\s+received\s+this\s+"
    r"(?:e-?mail|message|communication)\s+in\s+error)",
    r"please\s+(?:consider|think\s+of|respect)\s+the\s+environment\s+before\s+print",
    r"consider\s+the\s+environment\s+before\s+print",
    r"think\s+of\s+the\s+environment\s+before\s+print",
    r"think\s+before\s+you\s+print",
    r"aviso\s+de\s+confidencialidad",
    r"si\s+(?:usted\s+)?no\s+es\s+(?:usted\s+)?el\s+destinatario",
    r"si\s+ha\s+recibido\s+este\s+(?:correo|mensaje)(?:\s+electr[óo]nico)?\s+por\s+error",
    r"por\s+favor,?\s+(?:piense|considere)\s+el\s+medio\s+ambiente",
    r"antes\s+de\s+imprimir\s+(?:este|esta)\s+(?:correo|mensaje|e-?mail|mensagem)",
    r"piense\s+en\s+el\s+medio\s+ambiente",
    r"considere\s+el\s+medio\s+ambiente",
    r"vertraulichkeitshinweis",
    r"wenn\s+sie\s+nicht\s+der\s+" + _INTENDED_DE,
    r"falls\s+sie\s+nicht\s+der\s+" + _INTENDED_DE,
    r"sollten\s+sie\s+nicht\s+der\s+" + _INTENDED_DE,
    r"bitte\s+(?:denken\s+sie\s+an\s+die\s+umwelt|pr[üu]fen\s+sie,?\s+ob\s+der\s+ausdruck)",
    r"denken\s+sie\s+an\s+die\s+umwelt",
    r"avis\s+de\s+confidentialit[ée]",
    r"si\s+vous\s+n['’][eê]tes\s+pas\s+(?:le\s+|la\s+)?destinataire",
    r"si\s+vous\s+avez\s+re[çc]u\s+ce\s+(?:message|courriel|e-?mail|mail)\s+par\s+erreur",
    r"merci\s+de\s+penser\s+[àa]\s+l['’]environnement",
    r"pensez\s+[àa]\s+l['’]environnement",
    r"avant\s+d['’]imprimer\s+ce\s+(?:message|courriel|e-?mail|mail)",
    r"aviso\s+de\s+confidencialidade",
    r"se\s+(?:voc[êe]\s+)?n[ãa]o\s+(?:for|[ée])\s+o\s+destinat",
    r"caso\s+(?:voc[êe]\s+)?n[ãa]o\s+seja\s+o\s+destinat",
    r"pense\s+no\s+meio\s+ambiente",
    r"avviso\s+di\s+riservatezza",
    r"se\s+(?:non\s+siete|non\s+sei|lei\s+non\s+[èe]|non\s+[èe])\s+(?:il\s+)?destinatario",
    r"qualora\s+(?:non\s+siate\s+il\s+destinatario|abbiate\s+ricevuto\s+(?:questo|questa|il)"
    r"\s+(?:messaggio|e-?mail)\s+per\s+errore)",
    r"prima\s+di\s+stampare\s+(?:questa|questo)\s+(?:e-?mail|messaggio)",
    r"pensa\s+all['’]ambiente",
    r"rispetta\s+l['’]ambiente",
    r"vertrouwelijkheids\w*",
    r"indien\s+u\s+" + _INTENDED_NL,
    r"als\s+u\s+" + _INTENDED_NL,
    r"denk\s+aan\s+het\s+milieu",
)
_DISCLAIMER_WEAK = _line_openings(
    *(
        rf"{word}\b"
        for word in ("disclaimer", "haftungsausschluss", r"aviso\s+legal", r"legal\s+notice")
    ),
    *(
        rf"{word}\s*[:\-–]"
        for word in (
            "important",
            "notice",
            "aviso",
            "hinweis",
            "avertissement",
            "avviso",
            "mededeling",
            "nota",
            "confidential",
        )
    ),
    r"this\s+(?:e-?mail|message|communication|transmission|electronic\s+mail)\b",
    r"the\s+(?:information|contents?)\s+(?:contained\s+)?(?:in|of)\s+this\b",
    r"any\s+(?:views|opinions)\s+expressed\b",
    r"este\s+(?:correo|mensaje|e-?mail)\b",
    r"la\s+informaci[óo]n\s+contenida\b",
    r"diese\s+(?:e-?mail|nachricht|mail)\b",
    r"die\s+informationen\s+in\s+dieser\b",
    r"ce\s+(?:message|courriel|e-?mail|mail)\b",
    r"cet\s+e-?mail\b",
    r"les\s+informations\s+contenues\b",
    r"esta\s+(?:mensagem|e-?mail)\b",
    r"as\s+informa[çc][õo]es\s+contidas\b",
    r"questo\s+(?:messaggio|e-?mail|email)\b",
    r"questa\s+e-?mail\b",
    r"le\s+informazioni\s+contenute\b",
    r"dit\s+(?:e-?mail(?:bericht)?|bericht)\b",
    r"de\s+informatie\s+(?:verzonden\s+)?(?:in|met)\s+dit\b",
)
# Evidence a weak opening needs, as plain substrings of lower-cased text: ``in`` runs a fast
# C search, cheaper here than one alternation tried at every position.
_DISCLAIMER_CONFIDENTIAL = (
    "confidential",
    "privileged",
    "vertraulich",
    "confidencial",
    "confidentiel",
    "riservat",
    "confidenzial",
    "vertrouwelijk",
    "sigilos",
    "legally",
    "rechtlich",
)
_DISCLAIMER_LEGAL = (
    "recipient",
    "intended",
    "addressee",
    "destinat",
    "in error",
    "by mistake",
    "notify",
    "prohibited",
    "unauthori",
    "empfänger",
    "adressat",
    "irrtümlich",
    "versehentlich",
    "erreur",
    "por error",
    "por engano",
    "per errore",
    "geadresseerde",
    "ontvanger",
    "vergissing",
    "prohibid",
    "prohíbid",
    "proibid",
    "vietat",
    "interdit",
    "untersagt",
    "verboten",
    "nicht gestattet",
    "verboden",
    "liabilit",
    "haftung",
    "responsabilit",
)


# --- helpers ---------------------------------------------------------------------------------


def _is_quote(s: str) -> bool:
    """``> text``, ``>> text`` or a bare ``>``; not ``>50 photos`` (a customer's comparison)."""
    return s[0] == ">" and (len(s) == 1 or s[1] in " \t>" or s[1].isalpha())


def _contact(s: str) -> bool:
    """A phone number, address, e-mail, web site or labelled contact line."""
    if len(s) > 160:  # contact lines are short; also keeps the patterns linear
        return False
    for mark in _CONTACT_MARKS:
        if mark in s:
            return True
    return bool(_PHONE.search(s) or (":" in s[:14] and _CONTACT_LABEL.match(s)))


def _name_like(s: str) -> bool:
    """A name or name-and-title line: capitalised words, particles, initials, digits."""
    if len(s) > 90 or s[-1] in "?!:;":
        return False
    words = s.split()
    if len(words) > 10:
        return False
    capital = False
    for word in words:
        core = word.strip(",.;:()[]'\"|/&–—-")
        if not core:
            continue
        first = core[0]
        if first.isupper():
            capital = True
        elif first.isdigit() or core.lower() in _PARTICLES:
            continue
        elif not (word.endswith(".") and len(core) <= 4):  # titles: "mr.", "dr.", "ing."
            return False
    return capital


def _signature_like(s: str) -> bool:
    """A line that could sit in a signature: short, contact data or few lowercase words."""
    if len(s) > 120 or _PS.match(s):
        return False
    if _contact(s):
        return True
    if "?" in s:
        return False
    words = s.split()
    if len(words) > 14:
        return False
    lowercase = 0
    for word in words:
        core = word.strip(",.;:()[]'\"|/&–—-")
        if core and core[0].islower() and core.lower() not in _PARTICLES:
            lowercase += 1
    return lowercase < 3 and not (lowercase == 2 and s[-1] in ".!")


def _signoff_rest(s: str) -> str | None:
    """What follows the sign-off phrase on its line ("Cheers, Ana" → ", Ana"), or None."""
    low = s.lower()
    if len(low) == len(s):  # the usual case: match lower-cased text, faster than IGNORECASE
        match = _SIGNOFF.match(low)
        return None if match is None else s[match.start("rest") :]
    match = _SIGNOFF_ANY_CASE.match(s)
    return None if match is None else match.group("rest")


def _strip_symbols(s: str) -> str:
    """Drop punctuation, spaces and emoji around a sign-off's rest ("Thanks! 😊" → "")."""
    start, end = 0, len(s)
    while start < end and not s[start].isalnum():
        start += 1
    while end > start and not s[end - 1].isalnum():
        end -= 1
    return s[start:end]


def _reply_header_start(stripped: list[str], i: int) -> int:
    """First line of an ``On … wrote:`` header ending on line ``i`` (clients wrap it), or -1."""
    for back in range(3):
        start = i - back
        if start < 0:
            break
        first = stripped[start]
        if back and (not first or first[0] == ">"):
            break
        candidate = " ".join(stripped[start : i + 1]) if back else stripped[i]
        if len(candidate) > 320:
            break
        if _REPLY_ON.fullmatch(candidate) and (
            "@" in candidate or _REPLY_PLAUSIBLE.search(candidate)
        ):
            return start
    if len(stripped[i]) <= 320 and _REPLY_ADDRESS.fullmatch(stripped[i]):
        return i
    return -1


def _header_block(stripped: list[str], i: int) -> bool:
    """Line ``i`` (``From:``) opens a header block: a Sent/Date and a To/Subject line follow."""
    dated = addressed = False
    for j in range(i + 1, min(len(stripped), i + 9)):
        s = stripped[j]
        if not s:
            break
        key = _HEADER_KEY.match(s)
        if key:
            if key.group("date"):
                dated = True
            else:
                addressed = True
            if dated and addressed:
                return True
    return False


# A non-blank line that is not a quote (see _is_quote), in "\n"-joined stripped lines.
_UNQUOTED_LINE = re.compile(r"\n(?:[^>\n]|>(?![ \t>\n]|[^\W\d_]|\Z))")


def _only_quotes_from(stripped: list[str], i: int) -> bool:
    """Lines ``i..`` are all quotes or blank: one C-level search instead of a loop per line."""
    return _UNQUOTED_LINE.search("\n" + "\n".join(stripped[i:])) is None


def _scan_history(stripped: list[str], kinds: list[int]) -> tuple[int, int]:
    """Mark ``>`` lines and attributed quotes; return where unquoted history starts, and kind.

    History without ``>`` (Outlook, forwards) runs to the end of the text, so the scan stops at
    its first line. An ``On … wrote:`` header followed by ``>`` lines only covers itself: new
    text may follow the quote (bottom-posting, inline replies).
    """
    n = len(stripped)
    forward_subject = -1
    seen_text = False
    quoting = False  # blank lines after a quote belong to it; those before stay with new text
    rest_checked = False  # has the first quote looked ahead for new text below it?
    for i, s in enumerate(stripped):
        if not s:
            if quoting:
                kinds[i] = _QUOTED
            continue
        first = s[0]
        if first == ">" and (len(s) == 1 or s[1] in " \t>" or s[1].isalpha()):  # _is_quote
            if not rest_checked:
                rest_checked = True
                if _only_quotes_from(stripped, i):  # top-posting: the rest is one quote
                    return i, _QUOTED
            kinds[i] = _QUOTED
            quoting = True
            continue
        quoting = False
        gate = _BOLD_LINE if first == "*" else _MARKER_HEADS.get(s[:2], 0)
        if gate and len(s) <= 200:  # markers are short lines
            if gate & _FORWARD_LINE and _FORWARD_DIVIDER.fullmatch(s):
                if forward_subject >= 0:
                    kinds[forward_subject] = _FORWARDED
                return i, _FORWARDED
            if gate & _ORIGINAL_LINE and _ORIGINAL_DIVIDER.fullmatch(s):
                return i, _history_kind(stripped, kinds, i, forward_subject)
            if gate & _FROM_LINE and _HEADER_FROM.match(s) and _header_block(stripped, i):
                start = i
                j = i - 1
                while j >= 0 and (not stripped[j] or _SEPARATOR.fullmatch(stripped[j])):
                    if stripped[j]:
                        start = j
                    j -= 1
                return start, _history_kind(stripped, kinds, start, forward_subject)
            if (
                gate & _SUBJECT_LINE
                and forward_subject < 0
                and (
                    (_FWD_SUBJECT.match(s) and (i == 0 or not stripped[i - 1] or not seen_text))
                    or (not seen_text and _FWD_SUBJECT_FIRST.match(s))
                )
            ):
                forward_subject = i
        seen_text = True
        if s[-1] == ":" and _REPLY_VERB.search(s):
            start = _reply_header_start(stripped, i)
            if start >= 0:
                j = i + 1
                while j < n and not stripped[j]:
                    j += 1
                if j < n and _is_quote(stripped[j]):
                    if not rest_checked:
                        rest_checked = True
                        if _only_quotes_from(stripped, j):
                            return start, _QUOTED
                    for k in range(start, i + 1):
                        kinds[k] = _QUOTED
                    quoting = True
                    continue
                return start, _QUOTED
    if forward_subject >= 0:
        return forward_subject, _FORWARDED
    return n, _NEW


def _history_kind(stripped: list[str], kinds: list[int], start: int, forward_subject: int) -> int:
    """A header block or "Original Message" is a forward when the customer's note says so."""
    if forward_subject >= 0:
        kinds[forward_subject] = _FORWARDED
        return _FORWARDED
    for k in range(start):
        if kinds[k] == _NEW and stripped[k] and _FORWARD_CUE.search(stripped[k].lower()):
            return _FORWARDED
    return _QUOTED


def _closing_tail_ok(stripped: list[str], start: int, end: int, *, need: bool) -> bool:
    """Lines ``start..end`` after a sign-off are a short name/contact block (or nothing)."""
    tail = [s for s in stripped[start:end] if s]
    if not tail:
        return not need
    if len(tail) > 8:
        return False
    first = tail[0]
    if not (
        _name_like(first)
        or _contact(first)
        or _DASH_DELIMITER.fullmatch(first)
        or _SENT_FROM.fullmatch(first)
    ):
        return False
    return all(
        _signature_like(s) or _DASH_DELIMITER.fullmatch(s) or _SENT_FROM.fullmatch(s) for s in tail
    )


def _signature_start(stripped: list[str], run: int, first_new: int, end: int) -> int:
    """Where the signature starts in lines ``run..end`` (the last stretch of new text), or -1."""
    # A signature is at most a sign-off or delimiter and 8-10 lines: look no further back.
    lo, count = end, 0
    while lo > run and count < 11:
        lo -= 1
        if stripped[lo]:
            count += 1
    for i in range(max(lo, first_new + 1), end):
        s = stripped[i]
        if not s or len(s) > 80:
            continue
        if s[0] in "-—–_":
            if _DASH_DELIMITER.fullmatch(s):
                if _closing_tail_ok(stripped, i + 1, end, need=False):
                    return i
                continue
            dash = _DASH_NAME.fullmatch(s)
            if dash and _name_like(dash.group("name")) and stripped[i - 1] == "":
                previous = next((p for p in reversed(stripped[run:i]) if p), "")
                if not previous.startswith(("-", "—", "–")) and _closing_tail_ok(
                    stripped, i + 1, end, need=False
                ):
                    return i
            continue
        if s[0].isalnum() and s[:2] not in _CLOSING_HEADS:
            continue
        word = _first_word(s)
        if word in _SENT_FROM_WORDS and _SENT_FROM.fullmatch(s):
            if _closing_tail_ok(stripped, i + 1, end, need=False):
                return i
            continue
        signoff = _signoff_rest(s) if word in _SIGNOFF_WORDS else None
        if signoff is not None:
            rest = _strip_symbols(signoff)
            if not rest:
                if _closing_tail_ok(stripped, i + 1, end, need=True):
                    return i
            elif (
                len(rest.split()) <= 4
                and _name_like(rest)
                and all(w[0].isupper() or w.lower() in _PARTICLES for w in rest.split())
            ):
                if _closing_tail_ok(stripped, i + 1, end, need=False):
                    return i
    # A contact block with no sign-off: the last paragraph is a name plus contact lines.
    paragraph = end
    while paragraph > run and stripped[paragraph - 1]:
        paragraph -= 1
    block = [s for s in stripped[paragraph:end] if s]
    if (
        paragraph > first_new
        and 2 <= len(block) <= 8
        and _name_like(block[0])
        and not any(ch.isdigit() for ch in block[0])  # a person, not "Order PV-55781"
        and any(_contact(s) for s in block)
        and all(_signature_like(s) for s in block)
    ):
        return paragraph
    return -1


def _disclaimer_start(stripped: list[str], run: int, first_new: int, end: int) -> int:
    """Where a legal disclaimer starts in lines ``run..end``, or ``end`` if there is none."""
    lo = max(run, first_new + 1)
    if lo >= end:
        return end
    low = ("\n" + "\n".join(stripped[lo:end])).lower()  # "\n" opens every line
    strong = _DISCLAIMER_STRONG.search(low)
    stop = strong.start() if strong else len(low)
    for weak in _DISCLAIMER_WEAK.finditer(low, 0, stop):
        block = low[weak.start() : weak.start() + 800].replace("\n", " ")
        if any(word in block for word in _DISCLAIMER_CONFIDENTIAL) and any(
            word in block for word in _DISCLAIMER_LEGAL
        ):
            stop = weak.start()
            break
    if stop == len(low):
        return end
    return lo + low.count("\n", 0, stop + 1) - 1


def _mark_closing(stripped: list[str], kinds: list[int], end: int) -> None:
    """Mark signature and disclaimer at the end of the last stretch of new text before ``end``."""
    last = end - 1
    while last >= 0 and (kinds[last] != _NEW or not stripped[last]):
        last -= 1
    if last < 0:
        return
    run = last
    while run > 0 and kinds[run - 1] == _NEW:
        run -= 1
    first_new = next(i for i in range(last + 1) if kinds[i] == _NEW and stripped[i])
    stop = last + 1
    disclaimer = _disclaimer_start(stripped, run, first_new, stop)
    signature = _signature_start(stripped, run, first_new, disclaimer)
    for k in range(disclaimer, stop):
        kinds[k] = _DISCLAIMER
    if signature >= 0:
        for k in range(signature, disclaimer):
            kinds[k] = _SIGNATURE


def split_message(text: str) -> Message:
    """Cut a ticket description into new text, quoted history, forwards, signature, disclaimer.

    Whole lines keep their original characters; each part is stripped of surrounding
    whitespace only.
    """
    lines = text.splitlines(keepends=True)
    if not lines:
        return Message("", "", "", "", "")
    stripped = list(map(str.strip, lines))
    n = len(lines)
    kinds = [_NEW] * n
    tail, tail_kind = _scan_history(stripped, kinds)
    for k in range(tail, n):
        kinds[k] = tail_kind
    _mark_closing(stripped, kinds, tail)
    if not any(kinds):  # nothing cut: the common, short ticket
        return Message(text.strip(), "", "", "", "")
    parts: list[list[str]] = [[], [], [], [], []]
    for line, kind in zip(lines, kinds, strict=True):
        parts[kind].append(line)
    new, quoted, forwarded, signature, disclaimer = ("".join(part).strip() for part in parts)
    return Message(new, quoted, forwarded, signature, disclaimer)
