"""Relative and absolute incident times in Hindi, Hinglish and English, resolved in Asia/Kolkata."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.textutil import fold_devanagari

IST = ZoneInfo("Asia/Kolkata")
_B = r"(?<![\w\u0900-\u097F])"
_E = r"(?![\w\u0900-\u097F])"

_DAY_WORDS = [
    (r"aaj|aj|today|tonight|आज", 0),
    (r"kal|kl|kall|yesterday|yestarday|yesterdy|कल|बीते कल", -1),
    (r"parso|parson|parsoon|parsun|day before yesterday|परसों|परसो", -2),
    (r"narso|नरसों", -3),
]
_PARTS = [
    (r"subah|subha|suba|subeh|savere|morning|सुबह|सवेरे|प्रातः", 9),
    (r"dopahar|dopaher|dophar|dupahar|afternoon|noon|दोपहर", 14),
    (r"shaam|sham|shām|evening|शाम", 18),
    (r"raat|rat|night|रात|midnight|आधी रात", 22),
]
_WEEKDAYS = [
    (r"monday|somvar|somwar|सोमवार", 0), (r"tuesday|mangalvar|mangalwar|मंगलवार", 1),
    (r"wednesday|budhvar|budhwar|बुधवार", 2), (r"thursday|guruvar|guruwar|brihaspativar|गुरुवार|बृहस्पतिवार", 3),
    (r"friday|shukravar|shukrawar|शुक्रवार", 4), (r"saturday|shanivar|shaniwar|शनिवार", 5),
    (r"sunday|ravivar|raviwar|itwar|रविवार|इतवार", 6),
]
_MONTHS = {
    "jan": 1, "january": 1, "जनवरी": 1, "feb": 2, "february": 2, "फरवरी": 2, "mar": 3, "march": 3, "मार्च": 3,
    "apr": 4, "april": 4, "अप्रैल": 4, "may": 5, "मई": 5, "jun": 6, "june": 6, "जून": 6, "jul": 7, "july": 7,
    "जुलाई": 7, "aug": 8, "august": 8, "अगस्त": 8, "sep": 9, "sept": 9, "september": 9, "सितंबर": 9,
    "सितम्बर": 9, "oct": 10, "october": 10, "अक्टूबर": 10, "nov": 11, "november": 11, "नवंबर": 11,
    "नवम्बर": 11, "dec": 12, "december": 12, "दिसंबर": 12, "दिसम्बर": 12,
}
_NUMWORDS = {
    "ek": 1, "one": 1, "एक": 1, "do": 2, "two": 2, "दो": 2, "teen": 3, "three": 3, "तीन": 3, "char": 4,
    "chaar": 4, "four": 4, "चार": 4, "paanch": 5, "panch": 5, "five": 5, "पांच": 5, "पाँच": 5, "chhe": 6,
    "six": 6, "छह": 6, "saat": 7, "seven": 7, "सात": 7, "aath": 8, "eight": 8, "आठ": 8, "nau": 9, "nine": 9,
    "नौ": 9, "das": 10, "ten": 10, "दस": 10, "a": 1, "an": 1,
}
_NUM = r"(\d{1,2}|" + "|".join(sorted(map(re.escape, _NUMWORDS), key=len, reverse=True)) + r")"


def _rx(alts: str) -> re.Pattern[str]:
    return re.compile(_B + r"(?:" + alts + r")" + _E, re.I)


_DAY_RX = [(_rx(a), d) for a, d in _DAY_WORDS]
_PART_RX = [(_rx(a), h) for a, h in _PARTS]
_WD_RX = [(_rx(a), d) for a, d in _WEEKDAYS]
_AGO_RX = re.compile(_B + _NUM + r"\s*(din|dino|dinon|days?|दिन|दिनों|ghante?|ghanta|hours?|hrs?|घंटे|घंटा|"
                     r"hafte?|hafta|weeks?|हफ्ते|हफ़्ते|saptah|mahine?|months?|महीने)\s*"
                     r"(pehle|pahle|phle|pehele|ago|before|पहले|back)" + _E, re.I)
_LAST_RX = re.compile(_B + r"(last|pichhle|pichle|पिछले)\s+(week|hafte|month|mahine|हफ्ते|महीने)" + _E, re.I)
_CLOCK_RX = re.compile(
    _B + r"(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.|baje|bje|baj|बजे|o'?clock|hrs)" + _E, re.I)
_NOW_RX = _rx(r"abhi|abhi abhi|just now|right now|now|thodi der pehle|kuch der pehle|अभी|अभी अभी|थोड़ी देर पहले|"
              r"थोडी देर पहले|a while ago|few minutes ago")
_DATE_RX = re.compile(_B + r"(\d{1,2})[/\-.](\d{1,2})(?:[/\-.](\d{2,4}))?" + _E)
_DMON_RX = re.compile(_B + r"(\d{1,2})\s*(?:st|nd|rd|th)?\s+(" + "|".join(sorted(_MONTHS, key=len, reverse=True))
                      + r")" + _E, re.I)


@dataclass
class TimeResult:
    """A resolved time and the words it came from."""

    at: datetime
    text: str


def parse_time(text: str, now: datetime) -> TimeResult | None:
    """Resolve the incident time a message mentions.

    Args:
        text: the message (any script).
        now: the message time (aware); naive times are taken as UTC.

    Returns:
        The time in Asia/Kolkata and the matched words, or None when no time is mentioned.
        A time of day that would lie in the future is moved to the day before.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=ZoneInfo("UTC"))
    local = now.astimezone(IST)
    t = fold_devanagari(text)
    spans: list[str] = []
    day: datetime | None = None
    hour: int | None = None
    minute = 0
    exact = False

    m = _AGO_RX.search(t)
    if m:
        n = int(m.group(1)) if m.group(1).isdigit() else _NUMWORDS.get(m.group(1).lower(), 1)
        unit = m.group(2).lower()
        spans.append(m.group(0))
        if unit.startswith(("gh", "hour", "hr", "घ")):
            return TimeResult(local - timedelta(hours=n), m.group(0))
        weeks = unit.startswith(("haft", "week", "हफ", "sapt"))
        days = n * (7 if weeks else 30 if unit.startswith(("mah", "mon", "मह")) else 1)
        day = local - timedelta(days=days)
    if day is None:
        m = _DMON_RX.search(t)
        if m:
            mon = _MONTHS[m.group(2).lower()]
            try:
                day = local.replace(month=mon, day=int(m.group(1)))
                if day > local:
                    day = day.replace(year=day.year - 1)
                spans.append(m.group(0))
            except ValueError:
                day = None
    if day is None:
        m = _DATE_RX.search(t)
        if m and not _CLOCK_RX.search(m.group(0)):
            try:
                d, mo = int(m.group(1)), int(m.group(2))
                y = int(m.group(3)) if m.group(3) else local.year
                y = y + 2000 if y < 100 else y
                day = local.replace(year=y, month=mo, day=d)
                if day > local and not m.group(3):
                    day = day.replace(year=y - 1)
                spans.append(m.group(0))
            except ValueError:
                day = None
    if day is None:
        m = _LAST_RX.search(t)
        if m:
            unit = m.group(2).lower()
            day = local - timedelta(days=30 if unit.startswith(("mon", "mah", "मह")) else 7)
            spans.append(m.group(0))
    if day is None:
        for rx, off in sorted(_DAY_RX, key=lambda x: x[1]):
            m = rx.search(t)
            if m:
                day = local + timedelta(days=off)
                spans.append(m.group(0))
                break
    if day is None:
        for rx, wd in _WD_RX:
            m = rx.search(t)
            if m:
                back = (local.weekday() - wd) % 7 or 7
                day = local - timedelta(days=back)
                spans.append(m.group(0))
                break
    m = _CLOCK_RX.search(t)
    if m:
        hour, minute, exact = int(m.group(1)) % 24, int(m.group(2) or 0), True
        spans.append(m.group(0))
        suffix = m.group(3).lower().replace(".", "")
        if suffix == "pm" and hour < 12:
            hour += 12
        elif suffix == "am" and hour == 12:
            hour = 0
    part = None
    for rx, h in _PART_RX:
        m = rx.search(t)
        if m:
            part = h
            spans.append(m.group(0))
            break
    if part is not None:
        if hour is None:
            hour = part
        elif hour < 12 and part >= 14 and not (part == 22 and hour <= 4):
            hour += 12
        if re.search(r"last night|pichhli raat|pichli raat|पिछली रात", t, re.I) and day is None:
            day = local - timedelta(days=1)
    elif hour is not None and exact and hour < 12 and not re.search(r"am|a\.m", t, re.I) and hour <= 7:
        hour += 12  # "8 baje" with no part of day: citizens mean the evening more often than the small hours
    if day is None and hour is None:
        m = _NOW_RX.search(t)
        if m:
            return TimeResult(local.replace(second=0, microsecond=0), m.group(0))
        return None
    base = day or local
    if hour is not None:
        res = base.replace(hour=hour, minute=minute, second=0, microsecond=0)
    else:
        res = base.replace(hour=12, minute=0, second=0, microsecond=0) if day and day.date() != local.date() \
            else local.replace(second=0, microsecond=0)
    if res > local:
        res = res - timedelta(days=1) if day is None or day.date() == local.date() else res
        if res > local:
            res = local.replace(second=0, microsecond=0)
    order = sorted(spans, key=lambda s: t.find(s))
    return TimeResult(res, " ".join(order))
