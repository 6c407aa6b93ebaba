"""Look-up tables for districts, stations and categories, generated from the zone config.

config.yaml and data/stations.csv are the source of truth: every surface form here is derived
from them (English and Hindi names, configured variants, romanised Hindi), never typed twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz, process

from bot.textutil import fold_devanagari, has_devanagari, phonetic_key, romanize, tokens
from zone import Zone, get_zone

# Station names that are also everyday words: they count only next to a word like "thana".
COMMON_WORDS = {"moth", "bela", "pali", "ait", "mahila", "cyber"}
# Function words never start or end a fuzzy place window.
FUNCTION = {"ke", "ki", "ka", "me", "mein", "mai", "se", "pe", "par", "ko", "hai", "the", "in", "at", "near", "of",
            "के", "की", "का", "में", "से", "पे", "पर", "को", "है", "ne", "ho", "aur", "and", "thana", "thane"}
STATION_CUES = {"thana", "thane", "thaane", "ps", "kotwali", "chowki", "station", "थाना", "थाने", "कोतवाली", "चौकी"}
# Places outside the zone that citizens name: explained, never accepted as a district.
OUTSIDE = [
    "lucknow", "लखनऊ", "delhi", "dilli", "दिल्ली", "agra", "आगरा", "prayagraj", "allahabad", "प्रयागराज",
    "varanasi", "banaras", "वाराणसी", "gorakhpur", "गोरखपुर", "bareilly", "बरेली", "meerut", "मेरठ",
    "aligarh", "अलीगढ़", "mathura", "मथुरा", "unnao", "उन्नाव", "hamirpur", "हमीरपुर", "fatehpur", "फतेहपुर",
    "mainpuri", "मैनपुरी", "firozabad", "फिरोजाबाद", "banda", "बांदा", "mahoba", "महोबा", "noida", "नोएडा",
    "ghaziabad", "गाजियाबाद", "mumbai", "मुंबई", "bhopal", "gwalior", "ग्वालियर", "etah", "एटा", "hardoi", "हरदोई",
    "shahjahanpur", "शाहजहांपुर", "bihar", "बिहार", "patna", "पटना", "jaipur", "जयपुर",
]


@dataclass
class Entry:
    """One surface form: kind is district, station or outside; value the key/code/name."""

    kind: str
    value: str
    surface: str
    key: str
    district: str | None = None
    words: int = 1


@dataclass
class Lexicon:
    """Gazetteer of the zone, keyed by phonetic key."""

    entries: list[Entry] = field(default_factory=list)
    by_key: dict[str, list[Entry]] = field(default_factory=dict)
    fuzzy_keys: list[str] = field(default_factory=list)
    station_names: dict[str, list[str]] = field(default_factory=dict)  # lowercase name -> codes
    category_keywords: dict[str, list[str]] = field(default_factory=dict)
    cat_kw_keys: dict[str, str] = field(default_factory=dict)  # phonetic key of one-word keyword -> category
    cat_phrases: list[tuple[str, str]] = field(default_factory=list)  # (folded phrase, category)

    def add(self, kind: str, value: str, surface: str, district: str | None = None) -> None:
        """Add one surface form (skips empty keys)."""
        key = phonetic_key(surface)
        if len(key) < 2:
            return
        if any(o.kind == kind and o.value == value for o in self.by_key.get(key, [])):
            return
        e = Entry(kind, value, surface, key, district, max(1, len(tokens(surface))))
        self.entries.append(e)
        self.by_key.setdefault(key, []).append(e)


def _station_surfaces(name_en: str, name_hi: str) -> list[str]:
    out = [name_en, name_hi]
    low = name_en.lower()
    for pre in ("kotwali ",):
        if low.startswith(pre):
            out.append(name_en[len(pre):] + " kotwali")
    if " nagar" in low:
        out.append(low.replace(" nagar", "nagar"))
    return out


def build(z: Zone | None = None) -> Lexicon:
    """Build the gazetteer from a zone (default: the process-wide one)."""
    z = z or get_zone()
    lx = Lexicon()
    for d in z.districts:
        for s in {d.name_en, d.name_hi, d.key.replace("_", " "), *d.variants}:
            lx.add("district", d.key, s)
    station_district_names = {}
    for s in z.stations:
        for surf in _station_surfaces(s.name_en, s.name_hi):
            lx.add("station", s.code, surf, s.district)
        station_district_names.setdefault(s.name_en.lower(), []).append(s.code)
    lx.station_names = station_district_names
    known = {e.key for e in lx.entries}
    for o in OUTSIDE:
        if phonetic_key(o) not in known:
            lx.add("outside", o, o)
    for c in z.categories:
        kws = [c.name_en.lower(), *[k.lower() for k in c.keywords]]
        lx.category_keywords[c.key] = kws
        for kw in kws:
            f = fold_devanagari(kw)
            if len(tokens(f)) == 1 and len(phonetic_key(f)) >= 4:
                # Devanagari keywords too: "saikil" typed in Latin letters is साइकिल
                lx.cat_kw_keys.setdefault(phonetic_key(f), c.key)
            lx.cat_phrases.append((f, c.key))
    lx.fuzzy_keys = sorted({e.key for e in lx.entries if len(e.key) >= 5})
    return lx


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The process-wide gazetteer."""
    return build()


@lru_cache(maxsize=1)
def _common_keys() -> frozenset[str]:
    return frozenset(phonetic_key(c) for c in COMMON_WORDS)


@dataclass
class Match:
    """A gazetteer hit in a text: token span [start, end), score 0-100."""

    entry: Entry
    start: int
    end: int
    score: float
    text: str


def find_places(text: str, lx: Lexicon | None = None) -> list[Match]:
    """Find district, station and outside-zone mentions, best non-overlapping spans first.

    Args:
        text: cleaned message text.
        lx: the gazetteer (default: the zone's).

    Returns:
        Matches sorted by position; exact phonetic hits beat fuzzy ones, longer spans beat shorter.
    """
    lx = lx or lexicon()
    toks = tokens(text)
    keys = [phonetic_key(t) for t in toks]
    low = [fold_devanagari(t.lower()) for t in toks]
    cands: list[Match] = []
    n = len(toks)
    for i in range(n):
        for w in (3, 2, 1):
            j = i + w
            if j > n:
                continue
            k = "".join(keys[i:j])
            if len(k) < 3:
                continue
            hits = lx.by_key.get(k)
            score = 100.0
            if not hits and len(k) >= 6 and w <= 2 and not ({low[i], low[j - 1]} & FUNCTION):
                best = process.extractOne(k, lx.fuzzy_keys, scorer=fuzz.ratio, score_cutoff=86)
                if best:
                    # A small edit on a short word must not turn an ordinary word into a place.
                    if len(k) < 8 and best[1] < 88:
                        continue
                    hits, score = lx.by_key[best[0]], best[1]
            if not hits:
                continue
            surf = " ".join(toks[i:j])
            for e in hits:
                if e.kind == "station" and e.key in _common_keys() and w == 1:
                    ctx = set(low[max(0, i - 1):i]) | set(low[j:j + 1])
                    if not ctx & STATION_CUES:
                        continue
                cands.append(Match(e, i, j, score + w * 0.5, surf))
    cands.sort(key=lambda m: (-m.score, -(m.end - m.start), m.start))
    taken: set[int] = set()
    out: list[Match] = []
    for m in cands:
        span = set(range(m.start, m.end))
        if span & taken:
            # the same span may carry several entries (a district and a station of the same name)
            if any(o.start == m.start and o.end == m.end for o in out):
                out.append(m)
            continue
        taken |= span
        out.append(m)
    out.sort(key=lambda m: m.start)
    return out


_WB = r"(?<![\w\u0900-\u097F])"
_WE = r"(?![\w\u0900-\u097F])"


@lru_cache(maxsize=1)
def _category_index() -> tuple[dict[str, list[str]], list[tuple[re.Pattern[str], str, bool]], list[str]]:
    lx = lexicon()
    single: dict[str, list[str]] = {}
    multi: list[tuple[re.Pattern[str], str, bool]] = []
    for phrase, cat in lx.cat_phrases:
        if len(tokens(phrase)) == 1 and tokens(phrase)[0] == phrase:
            single.setdefault(phrase, []).append(cat)
        else:
            multi.append((re.compile(_WB + re.escape(phrase) + _WE), cat, has_devanagari(phrase)))
    return single, multi, list(lx.cat_kw_keys)


def find_category_keywords(text: str, lx: Lexicon | None = None) -> dict[str, float]:
    """Score categories by keyword hits (whole words or phrases; one-word keywords fuzzily)."""
    lx = lx or lexicon()
    single, multi, fkeys = _category_index()
    t = fold_devanagari(text.lower())
    rom = romanize(t).lower() if has_devanagari(t) else t
    toks = list(dict.fromkeys(tokens(t) + tokens(rom)))  # ordered: the same scores in every process
    scores: dict[str, float] = {}
    for tok in toks:
        for cat in single.get(tok, ()):
            scores[cat] = scores.get(cat, 0) + 1.3
    for rx, cat, deva in multi:
        if rx.search(t) or (not deva and rom is not t and rx.search(rom)):
            scores[cat] = scores.get(cat, 0) + 1 + 0.3 * len(rx.pattern.split())
    for tok in toks:
        if len(tok) >= 6 and tok.isascii() and tok not in single and len(phonetic_key(tok)) >= 6:
            best = process.extractOne(phonetic_key(tok), fkeys, scorer=fuzz.ratio, score_cutoff=88)
            if best:
                cat = lx.cat_kw_keys[best[0]]
                # the same word spelt another way (or a Devanagari keyword typed in Latin letters) is a hit
                scores[cat] = scores.get(cat, 0) + (1.3 if best[1] == 100 else 0.6)
    return scores
