"""Showing citizens' text safely: escaped, bidi override/embedding/isolate controls made visible.

A citizen's text may carry U+202A–U+202E or U+2066–U+2069 to reorder what an officer sees
("Trojan Source" style). Each is replaced by a visible marker; the text itself sits in a
``<bdi dir="auto">`` so Urdu and other right-to-left text still runs the right way.
"""

from __future__ import annotations

import re
import unicodedata

from markupsafe import Markup, escape

BIDI_CONTROLS = {
    "\u202a": "LRE", "\u202b": "RLE", "\u202c": "PDF", "\u202d": "LRO", "\u202e": "RLO",
    "\u2066": "LRI", "\u2067": "RLI", "\u2068": "FSI", "\u2069": "PDI",
}


def neutralise(text: str | None) -> Markup:
    """Escape ``text`` and replace every bidi control with a visible, inert marker."""
    out = str(escape(text or ""))
    for ch, name in BIDI_CONTROLS.items():
        if ch in out:
            out = out.replace(ch, f'<span class="bidi-mark" title="U+{ord(ch):04X}">[{name}]</span>')
    return Markup(out)  # noqa: S704 (escaped above; only our own markers added)


def citizen_text(text: str | None) -> Markup:
    """The text as the citizen wrote it, escaped and neutralised, isolated with its own direction."""
    return Markup('<bdi dir="auto" class="ctext">') + neutralise(text) + Markup("</bdi>")


def strip_controls(text: str | None) -> str:
    """Plain text without bidi controls (exports, the API)."""
    return "".join(ch for ch in (text or "") if ch not in BIDI_CONTROLS)


def mask_phone(phone: str | None) -> str:
    """``+9198******45`` style: enough to recognise, not to call."""
    if not phone:
        return ""
    return phone[:5] + "*" * max(0, len(phone) - 7) + phone[-2:]


REDACTED = "[redacted]"
_LETTER = r"[^\W\d_]|[\u0900-\u097f]"  # a letter, Devanagari vowel signs included (they are not \w)
_EDGE_L = rf"(?<!{_LETTER}|\d)"
_EDGE_R = rf"(?!{_LETTER}|\d)"
_EMAIL_RX = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 7 or more digits, with the spaces, dashes, dots and brackets people write numbers with (Devanagari digits too)
_PHONE_RX = re.compile(r"\+?[0-9\u0966-\u096f](?:[\s().-]{0,2}[0-9\u0966-\u096f]){6,}")
_DATE_RX = re.compile(r"\d{1,2}[-.]\d{1,2}[-.]\d{2,4}")
# Indian vehicle registrations (UP78 AB 1234, dl-3c-ab-1234, 22 BH 1234 AA): a state's code, the RTO, a series, a
# number. Only the states' codes start one, so "ko 2 log 1000" is left alone.
_STATES = ("AN|AP|AR|AS|BR|CG|CH|DD|DL|DN|GA|GJ|HP|HR|JH|JK|KA|KL|LA|LD|MH|ML|MN|MP|MZ|NL|OD|OR|PB|PY|RJ|SK|TN|TR|"
           "TS|UK|UA|UP|WB")
_VEHICLE_RX = re.compile(rf"(?i)(?<![^\W_])(?:(?:{_STATES})[\s.-]?\d{{1,2}}[\s.-]?(?:[A-Z]{{1,3}}[\s.-]?){{0,2}}"
                         r"\d{3,4}|\d{2}[\s.-]?BH[\s.-]?\d{4}[\s.-]?[A-Z]{1,2})(?![^\W_])")
_WORD = r"[^\s,.;:!?/|()\[\]\"]+"
_NAME = rf"{_WORD}(?:\s+{_WORD}){{0,2}}?"  # one to three words
# "my name is X", "mera naam X hai", "मेरा नाम X है", "naam: X": X is the name (at most three words, fewer where
# the sentence goes on: "hai"/"है" or punctuation ends it).
_INTRO_RX = [
    re.compile(rf"\b(?i:my\s+name\s+is|my\s+name's|i\s+am\s+called|name\s*[:-])\s*({_WORD}(?:\s+[A-Z]{_WORD})"
               r"{0,2})"),  # further words only while capitalised ("Sunita Verma and ..." stops at "and")
    re.compile(rf"(?i)\b(?:mera|meraa|mere|hamara|humara)\s+(?:naam|nam|name)\s+(?:hai\s+|he\s+|h\s+)?"
               rf"({_NAME})(?=\s+(?:hai|he|h|hain|hu|hoon|hun)\b|\s*[,.;!?|]|\s*$)"),
    re.compile(rf"(?i)\b(?:naam|nam)\s*[:-]\s*({_NAME})(?=\s*[,.;!?|]|\s*$|\s+(?:hai|he|h)\b)"),
    re.compile(rf"(?:मेरा|मेरी|हमारा)\s+(?:नाम|name)\s+(?:है\s+)?({_NAME})(?=\s+(?:है|हैं|हूँ|हूं)|\s*[,.;!?।|]|\s*$)"),
    re.compile(rf"नाम\s*[:-]\s*({_NAME})(?=\s*[,.;!?।|]|\s*$|\s+है)"),
]


def redact(text: str | None, name: str | None = None, vehicles: bool = False) -> str:
    """``text`` with a person's identity taken out, each piece replaced by :data:`REDACTED`.

    For readers who may not know who wrote it: a masked officer reading a confidential complainant's own
    words, Open311 clients. Removes
    - ``name`` when given (the whole name, and each of its words of three or more letters, in any case);
    - names the writer gives themselves: "my name is X", "mera naam X hai", "मेरा नाम X है", "naam: X";
    - phone numbers (seven or more digits, written with spaces, dashes, dots or brackets, a leading +;
      Devanagari digits too), but not dates such as 12-03-2025;
    - e-mail addresses;
    - with ``vehicles``, vehicle registration numbers (UP78 AB 1234): the transport registry names each one's
      owner. Open311 asks for this; an officer reading a masked ticket still needs the stolen or offending
      vehicle's number.
    What is left (the story itself) is unchanged. Not a guarantee against every way of naming oneself: a
    name written with no such phrase and not given as ``name`` stays.

    Args:
        text: the text (None is read as "").
        name: the person's name as known (the complaint's complainant name, a profile name), or None.
        vehicles: also take out vehicle registration numbers.

    Returns:
        The redacted text.
    """
    out = _EMAIL_RX.sub(REDACTED, text or "")
    if vehicles:
        out = _VEHICLE_RX.sub(REDACTED, out)
    out = _PHONE_RX.sub(lambda m: m.group(0) if _DATE_RX.fullmatch(m.group(0)) else REDACTED, out)
    for rx in _INTRO_RX:
        out = rx.sub(lambda m: m.group(0)[:m.start(1) - m.start(0)] + REDACTED, out)
    words = {w for w in re.split(r"\s+", (name or "").strip()) if len(w) >= 3 and w != REDACTED}
    parts = sorted(({(name or "").strip()} | words) - {""}, key=len, reverse=True)
    for p in parts:
        out = re.sub(_EDGE_L + re.escape(p) + _EDGE_R, REDACTED, out, flags=re.IGNORECASE)
    return out


def clean_text(s: str | None, limit: int = 5000) -> str:
    """Text as the citizen wrote it: NFC, NUL and other C0 controls (but newline/tab) removed, capped."""
    if not s:
        return ""
    s = unicodedata.normalize("NFC", s)
    s = "".join(ch for ch in s if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return s[:limit]
