"""SMS encoding, segment counting and splitting long texts on word boundaries.

An SMS travels in segments of 140 bytes. Text that fits the GSM 03.38 alphabet is packed 7 bits a
character (160 in one segment, 153 per segment once concatenated, the extension characters
``^{}\\[~]|€`` taking two); anything else, Devanagari included, is sent as UCS-2 — UTF-16 code units,
70 in one segment, 67 per segment when concatenated, a character outside the BMP (emoji) taking two
units and never split across segments. Twilio refuses a Body over 1600 characters, and long
concatenated messages arrive unreliably on basic phones, so a part is also capped in segments.
"""

from __future__ import annotations

import re

GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXT = set("^{}\\[~]|€\f")
SMS_MAX_CHARS = 1600  # Twilio's cap on one Body
SMS_MAX_SEGMENTS = 10  # per part: what basic phones reassemble reliably
WHATSAPP_MAX_CHARS = 1600


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM 03.38 alphabet (basic or extension table)."""
    return all(ch in GSM_BASIC or ch in GSM_EXT for ch in text)


def _units(text: str, gsm: bool) -> list[int]:
    """Per-character cost: septets (GSM-7) or UTF-16 code units (UCS-2)."""
    if gsm:
        return [2 if ch in GSM_EXT else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def segments(text: str) -> tuple[str, int]:
    """How an SMS of ``text`` is encoded and how many segments it takes.

    Returns:
        ``("gsm7" | "ucs2", n)``; an empty text is one segment.
    """
    gsm = is_gsm7(text)
    costs = _units(text, gsm)
    single, multi = (160, 153) if gsm else (70, 67)
    if sum(costs) <= single:
        return ("gsm7" if gsm else "ucs2"), 1
    n, used = 1, 0
    for c in costs:  # a two-unit character is never split across segments
        if used + c > multi:
            n, used = n + 1, 0
        used += c
    return ("gsm7" if gsm else "ucs2"), n


def _fits_sms(text: str, max_chars: int, max_segments: int) -> bool:
    return len(text) <= max_chars and segments(text)[1] <= max_segments


def _split(text: str, fits) -> list[str]:
    """Greedy split on whitespace; a single word too long for one part is cut by characters."""
    text = text.strip()
    if not text:
        return []
    if fits(text):
        return [text]
    parts: list[str] = []
    cur = ""
    for tok in re.findall(r"\S+\s*", text):
        cand = cur + tok
        if fits(cand.rstrip()):
            cur = cand
            continue
        if cur.strip():
            parts.append(cur.rstrip())
        cur = ""
        word = tok
        while not fits(word.rstrip()):  # one word longer than a part: cut it
            lo, hi = 1, len(word)
            while lo < hi:  # the longest prefix that fits
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if fits(word[:mid]) else (lo, mid - 1)
            parts.append(word[:lo])
            word = word[lo:]
        cur = word
    if cur.strip():
        parts.append(cur.rstrip())
    return parts


def split_sms(text: str, max_chars: int = SMS_MAX_CHARS, max_segments: int = SMS_MAX_SEGMENTS) -> list[str]:
    """Split a text into SMS parts of at most ``max_chars`` characters and ``max_segments`` segments each.

    Each part is encoded on its own (an English part stays GSM-7 next to a Hindi one). Splits fall
    between words; only a word longer than a whole part is cut.
    """
    return _split(text, lambda t: _fits_sms(t, max_chars, max_segments))


def split_whatsapp(text: str, max_chars: int = WHATSAPP_MAX_CHARS) -> list[str]:
    """Split a text into WhatsApp messages of at most ``max_chars`` characters, between words."""
    return _split(text, lambda t: len(t) <= max_chars)


def split_for(channel: str, text: str) -> list[str]:
    """Split for a channel (``sms`` or ``whatsapp``)."""
    return split_sms(text) if channel == "sms" else split_whatsapp(text)
