"""Tolerant reading of speech transcripts: mis-heard place names and complaint words put right.

Whisper "base" hears the zone's names through telephone codecs and synthetic or accented voices as
near-misses: "Jansi", "Kanod", "Lalun", "Jalaunmei" (postposition glued on), "चोडी" for चोरी, "वमकी" for
धमकी, "मोपाय" for मोबाइल. A text message would never be read this loosely, so this runs only on text whose
source is a transcript (``bot.nlu.extract(..., source="voice")``).

How: every token (and every pair of adjacent tokens, for names split in two: "आलित पुर") is reduced to a
*coarse key*: romanised, the ordinary phonetic key (aspirates and long vowels folded), then the consonants
speech recognisers confuse most merged (b/p/v/f, d/t/r, k/g, c/j). The vocabulary is built from the zone
only (config.yaml district names and variants, data/stations.csv names, every category keyword and Hindi
name, in both scripts): nothing here is typed by hand for a particular sentence. A token is corrected only when

* it is not an ordinary word (function words, common Hindi/English words) nor already a known one,
* its coarse key is at least 5 letters (4 when equal to a vocabulary word's),
* a place: the best match scores >= ``THRESHOLD`` (rapidfuzz ratio on coarse keys), stations only exactly,
  and a near-miss (not exact) needs a locative cue beside it ("in Kanod", "जालुन में", "Jalaunmei"),
* a complaint word: only in Hindi (Devanagari or romanised) transcripts, scoring >= ``CATEGORY_THRESHOLD``,
* and no word of a *different meaning* (another district, station or category) scores within ``MARGIN``.

The correction is appended after the word it corrects ("in Jansi" → "in Jansi Jhansi"): nothing the citizen
said is dropped, and the NLU's ordinary exact matching then does the rest. On the NLU's own held-out typed
utterances voice mode changes 10 of 975 slot answers, all categories (tests/bot/test_voicefix.py bounds it
at 1.5 %).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from bot import lexicon as lexmod
from bot.textutil import _EN, _HI_ROMAN, fold_devanagari, guess_language, has_devanagari, phonetic_key, tokens
from zone import get_zone

# Places need a locative cue beside them. 75 is the lowest threshold that adds no false correction on the NLU's
# typed held-out utterances (70 adds two); it was chosen there, not on the benchmark's clips.
THRESHOLD = 75
CATEGORY_THRESHOLD = 80  # complaint words (Hindi transcripts only)
MARGIN = 6
# A near-miss place name counts only where a place is expected: after "in/at/from/near/to", or before a
# postposition ("Kanod me", "जालुन में"), or with one glued on ("Jalaunmei").
_BEFORE = {"in", "at", "from", "near", "to", "of", "se", "से"}
_AFTER = {"me", "mein", "mai", "main", "ke", "ki", "ka", "se", "par", "pe", "में", "के", "की", "का", "से", "पर", "मे"}
MIN_KEY = 5
# Postpositions that speech recognisers glue onto the word before ("Jalaunmei", "Kanodme", "कानपुरमें").
_GLUED = ("mein", "mei", "me", "main", "mai", "ke", "ki", "ka", "se", "par", "pe", "ne", "में", "के", "की", "का",
          "से", "पर", "ने", "मे")
_COARSE = [("f", "p"), ("b", "p"), ("v", "p"), ("d", "t"), ("r", "t"), ("g", "k"), ("j", "c")]


@lru_cache(maxsize=50000)
def coarse_key(word: str) -> str:
    """A key that ignores the confusions speech recognition makes (see the module docstring)."""
    k = phonetic_key(word)
    for a, b in _COARSE:
        k = k.replace(a, b)
    return re.sub(r"(.)\1+", r"\1", k)


@dataclass(frozen=True)
class Word:
    """A vocabulary word: its spelling, what it means (``district:etawah``, ``category:threat``...)."""

    surface: str
    meaning: str


@lru_cache(maxsize=1)
def vocabulary() -> tuple[dict[str, list[Word]], list[str], frozenset[str]]:
    """(coarse key → words, the keys long enough for fuzzy matching, every known word's phonetic key)."""
    z = get_zone()
    words: list[Word] = []
    for d in z.districts:
        for s in dict.fromkeys((d.name_en, d.name_hi, *d.variants)):
            words.append(Word(s, f"district:{d.key}"))
    for s in z.stations:
        for name in (s.name_en, s.name_hi):
            if phonetic_key(name) not in {phonetic_key(c) for c in lexmod.COMMON_WORDS}:
                words.append(Word(name, f"station:{s.district}:{s.name_en.lower()}"))
    for c in z.categories:
        for kw in (*c.keywords, c.name_hi):
            if len(tokens(kw)) == 1:
                words.append(Word(kw, f"category:{c.key}"))
    by_key: dict[str, list[Word]] = {}
    for w in words:
        k = coarse_key(w.surface)
        if len(k) >= 4 and all(o.surface != w.surface for o in by_key.get(k, [])):
            by_key.setdefault(k, []).append(w)
    known = frozenset(phonetic_key(w.surface) for w in words)
    return by_key, sorted(k for k in by_key if len(k) >= MIN_KEY), known


@lru_cache(maxsize=1)
def _ordinary() -> frozenset[str]:
    """Phonetic keys of everyday words that must never be 'corrected' into a name."""
    common = set(_EN) | set(_HI_ROMAN) | set(lexmod.FUNCTION) | set(lexmod.STATION_CUES)
    common |= set("""police station thana report complaint please money rupees house home market road street
        school college morning evening night yesterday today daughter husband wife brother family friends people
        someone boys girls women man men every local main near from with there their about after before
        kuch koi log ghar raat din paise rupaye bazaar sadak gali ladka ladki aadmi aurat bhai beti beta pita
        mata sasur saas shaam subah pichhle abhi jaldi bahut""".split())
    return frozenset(phonetic_key(w) for w in common)


def _best(key: str, kinds: tuple[str, ...], place_cue: bool = True, deva: bool = False) -> tuple[Word, float] | None:
    """The single vocabulary word a coarse key stands for, or None when unsure.

    Stations are matched only exactly (coarse key equal): there are many of them and their names share
    parts ("-pur", "-ganj", "Gate"), so near-misses would find one too easily.
    """
    by_key, fuzzy, _ = vocabulary()
    if len(key) < MIN_KEY - 1:
        return None
    if key in by_key:
        ws = [w for w in by_key[key] if w.meaning.startswith(kinds)]
        return (_same_script(ws, deva), 100.0) if ws and len({w.meaning for w in by_key[key]}) == 1 else None
    if len(key) < MIN_KEY:
        return None
    hits = process.extract(key, fuzzy, scorer=fuzz.ratio, score_cutoff=THRESHOLD - MARGIN, limit=8)
    hits = [h for h in hits if not all(w.meaning.startswith("station") for w in by_key[h[0]])]
    if not hits or hits[0][1] < THRESHOLD or not by_key[hits[0][0]][0].meaning.startswith(kinds):
        return None
    top = by_key[hits[0][0]][0]
    if top.meaning.startswith("category") and hits[0][1] < CATEGORY_THRESHOLD:
        return None
    if not top.meaning.startswith("category") and not place_cue:
        return None
    if any(w.meaning != top.meaning for w in by_key[hits[0][0]]):
        return None
    for k, score, _ in hits[1:]:
        if score >= hits[0][1] - MARGIN and any(w.meaning != top.meaning for w in by_key[k]):
            return None  # two different names are about as close: do not guess
    return top, float(hits[0][1])


def _same_script(words: list[Word], deva: bool) -> Word:
    """The first word written in the script of the word being corrected (the first word if none is)."""
    return next((w for w in words if has_devanagari(w.surface) == deva), words[0])


def _glued(word: str) -> str | None:
    """A complaint word run together with its neighbour ("Pramirapasport"): an exact coarse match of at least
    5 letters at the start or end of a token of 8 or more, else None."""
    by_key, _, _ = vocabulary()
    k = coarse_key(word)
    if len(k) < 8:
        return None
    for n in range(len(k) - 3, MIN_KEY - 1, -1):
        for part in (k[-n:], k[:n]):
            ws = [w for w in by_key.get(part, []) if w.meaning.startswith("category")]
            if ws and len({w.meaning for w in by_key[part]}) == 1:
                return _same_script(ws, has_devanagari(word)).surface
    return None


def _stem(tok: str) -> str:
    low = tok.lower()
    for suf in _GLUED:
        if low.endswith(suf) and len(phonetic_key(low[: -len(suf)])) >= 4:
            return tok[: -len(suf)]
    return tok


def repair(text: str) -> str:
    """The transcript with confidently recognised near-miss names and keywords added in their known spelling.

    The original words stay (so nothing the citizen said is lost); each confident correction is appended
    after the word it corrects, e.g. ``"stolen in Jansi"`` → ``"stolen in Jansi Jhansi"``. Returns the text
    unchanged when nothing is corrected.
    """
    _, _, known = vocabulary()
    ordinary = _ordinary()
    # English transcripts are read well except for names: only places are corrected there. Hindi (Devanagari
    # or romanised) is heard far worse, and its complaint words are corrected too.
    kinds = ("district", "station", "category") if guess_language(text) != "en" else ("district", "station")
    toks = [m for m in re.finditer(r"[\w\u0900-\u097F]+", fold_devanagari(text))]
    out: list[str] = []
    last = 0
    src = fold_devanagari(text)
    def cue(i: int, after: str) -> bool:
        return (i > 0 and toks[i - 1].group(0).lower() in _BEFORE) or after in _AFTER

    i = 0
    while i < len(toks):
        m = toks[i]
        word = m.group(0)
        pk = phonetic_key(word)
        fix = None
        span_end = m.end()
        if pk not in ordinary and pk not in known and not word.isdigit():
            # a name split in two ("आलित पुर", "Lalit pur") is tried joined first
            if i + 1 < len(toks):
                nxt = toks[i + 1].group(0)
                if phonetic_key(nxt) not in ordinary:
                    after = toks[i + 2].group(0).lower() if i + 2 < len(toks) else ""
                    hit = _best(coarse_key(word + nxt), ("district", "station"), cue(i, after), has_devanagari(word))
                    if hit and hit[0].meaning.startswith(("district", "station")):
                        fix, span_end = hit[0].surface, toks[i + 1].end()
                        i += 1
            if fix is None:
                stem = _stem(word)
                if stem != word and phonetic_key(stem) in known:
                    fix = stem
                else:
                    after = toks[i + 1].group(0).lower() if i + 1 < len(toks) else ""
                    hit = _best(coarse_key(stem), kinds, stem != word or cue(i, after), has_devanagari(word))
                    if hit:
                        fix = hit[0].surface
                    elif kinds[-1] == "category":
                        fix = _glued(stem)
        out.append(src[last:span_end])
        if fix and phonetic_key(fix) != pk:
            out.append(" " + fix)
        last = span_end
        i += 1
    out.append(src[last:])
    fixed = "".join(out)
    return fixed if fixed != src else text
