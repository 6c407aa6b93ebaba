"""Text helpers: cleaning, Devanagari transliteration, phonetic keys and language guessing."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Bidi controls (LRE..RLO, LRI..PDI, LRM/RLM/ALM) and other invisible format characters that
# only confuse matching; they are removed from the copy the NLU reads, never from the stored text.
_INVISIBLE = dict.fromkeys(
    [0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
     0x2066, 0x2067, 0x2068, 0x2069, 0x061C, 0xFEFF, 0x00AD], None)
MAX_NLU_CHARS = 600

_CONS = {
    "क": "k", "ख": "kh", "ग": "g", "घ": "gh", "ङ": "n", "च": "ch", "छ": "chh", "ज": "j", "झ": "jh",
    "ञ": "n", "ट": "t", "ठ": "th", "ड": "d", "ढ": "dh", "ण": "n", "त": "t", "थ": "th", "द": "d",
    "ध": "dh", "न": "n", "प": "p", "फ": "ph", "ब": "b", "भ": "bh", "म": "m", "य": "y", "र": "r",
    "ल": "l", "व": "v", "श": "sh", "ष": "sh", "स": "s", "ह": "h", "ळ": "l",
}
_VOWELS = {
    "अ": "a", "आ": "aa", "इ": "i", "ई": "ii", "उ": "u", "ऊ": "uu", "ऋ": "ri", "ए": "e", "ऐ": "ai",
    "ओ": "o", "औ": "au", "ऑ": "o", "ऍ": "e",
}
_MATRAS = {
    "ा": "aa", "ि": "i", "ी": "ii", "ु": "u", "ू": "uu", "ृ": "ri", "े": "e", "ै": "ai", "ो": "o",
    "ौ": "au", "ॉ": "o", "ॅ": "e",
}
_DIGITS = str.maketrans("०१२३४५६७८९", "0123456789")
_VIRAMA, _NUKTA, _ANUSVARA, _CANDRA, _VISARGA = "्", "़", "ं", "ँ", "ः"
_DEVA_RE = re.compile(r"[\u0900-\u097F]")
_LATIN_RE = re.compile(r"[A-Za-z]")
TOKEN_RE = re.compile(r"[\w\u0900-\u097F]+(?:[-'][\w\u0900-\u097F]+)*")


def clean(text: str | None, limit: int | None = MAX_NLU_CHARS) -> str:
    """NFC-normalise, drop NUL, bidi and zero-width characters, collapse whitespace, cap the length.

    ``limit`` caps what the NLU reads; the citizen's own words are kept whole (``limit=None``).
    """
    if not text:
        return ""
    t = unicodedata.normalize("NFC", str(text)).replace("\x00", "").translate(_INVISIBLE)
    t = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in t)
    t = re.sub(r"\s+", " ", t).strip()
    return t if limit is None else t[:limit]


def fold_devanagari(text: str) -> str:
    """Drop nukta, map chandrabindu to anusvara, Devanagari digits to ASCII (spelling variants)."""
    t = unicodedata.normalize("NFD", text).replace(_NUKTA, "")
    t = unicodedata.normalize("NFC", t).replace(_CANDRA, _ANUSVARA)
    return t.translate(_DIGITS)


def has_devanagari(text: str) -> bool:
    """True if the text holds any Devanagari letter."""
    return bool(_DEVA_RE.search(text))


def translit_word(word: str) -> str:
    """Romanise one Devanagari word (rough ITRANS-like, with schwa deletion)."""
    w = fold_devanagari(word)
    syl: list[list[str]] = []  # [consonant, vowel, inherent?]
    for ch in w:
        if ch in _CONS:
            syl.append([_CONS[ch], "a", "1"])
        elif ch in _MATRAS and syl:
            syl[-1][1], syl[-1][2] = _MATRAS[ch], "0"
        elif ch == _VIRAMA and syl:
            syl[-1][1], syl[-1][2] = "", "0"
        elif ch in _VOWELS:
            syl.append(["", _VOWELS[ch], "0"])
        elif ch == _ANUSVARA or ch == _CANDRA:
            syl.append(["n", "", "0"])
        elif ch == _VISARGA:
            syl.append(["h", "", "0"])
        elif ch.isascii():
            syl.append([ch, "", "0"])
    n = len(syl)
    # Schwa deletion, right to left: a final inherent 'a' goes; a medial one goes between two vowels.
    if n > 1 and syl[-1][2] == "1":
        syl[-1][1] = ""
    for i in range(n - 2, 0, -1):
        if syl[i][2] == "1" and syl[i + 1][1] and syl[i - 1][1] and syl[i + 1][0]:
            syl[i][1] = ""
    return "".join(c + v for c, v, _ in syl)


def romanize(text: str) -> str:
    """Romanise every Devanagari word of a text, leaving Latin words alone."""
    if not has_devanagari(text):
        return text
    return re.sub(r"[\u0900-\u097F]+", lambda m: translit_word(m.group(0)), text)


_KEY_RULES = [
    ("chh", "c"), ("ch", "c"), ("sh", "s"), ("ph", "f"), ("kh", "k"), ("gh", "g"), ("jh", "j"),
    ("th", "t"), ("dh", "d"), ("bh", "b"), ("aa", "a"), ("ee", "i"), ("ii", "i"), ("oo", "u"),
    ("uu", "u"), ("w", "v"), ("q", "k"), ("z", "j"), ("x", "ks"), ("ck", "k"), ("ou", "au"),
    ("eo", "ev"), ("y", "i"),
]


@lru_cache(maxsize=50000)
def phonetic_key(text: str) -> str:
    """A spelling-tolerant key: romanised, lower case, letters only, aspirates and long vowels folded."""
    t = romanize(text).lower()
    t = re.sub(r"[^a-z]", "", t)
    for a, b in _KEY_RULES:
        t = t.replace(a, b)
    return re.sub(r"(.)\1+", r"\1", t)


_EN_SUFFIX = re.compile(r"(?<=[a-z]{3})(?:ing|ed|es|s)$")
_HI_SUFFIX = re.compile(r"(?<=[a-z]{3})(?:ion|ian|on|en|ein|ain)$")


def stem_key(word: str) -> str:
    """A word's phonetic key with light stemming: English -ing/-ed/-s, Hindi oblique plural -on/-en/-iyan."""
    k = phonetic_key(word)
    if not k:
        return k
    if word.isascii():
        k = _EN_SUFFIX.sub("", k)
    return _HI_SUFFIX.sub("", k)


def skeleton(key: str) -> str:
    """A key's consonants (its first letter kept): mobile, mobail, moblie and मोबाइल share 'mbl'."""
    return key[:1] + re.sub(r"[aeiou]", "", key[1:]) if key else key


@lru_cache(maxsize=4096)
def normal_form(text: str) -> str:
    """The one normalised form the classifiers read: Devanagari and Latin spellings of a word meet.

    Three parts, space-separated: the text lower-cased and romanised (nukta-folded), each word's
    stemmed phonetic key, and each key's consonant skeleton. "मेरा मोबाइल चोरी", "mera mobail chori" and
    "mra moble chri" share most of their keys and skeletons.
    """
    t = romanize(fold_devanagari(text.lower()))
    words = [w for w in TOKEN_RE.findall(t) if not w.isdigit()]
    keys = [k for k in (stem_key(w) for w in words) if k]
    return " ".join([t, "|", " ".join(keys), "|", " ".join(skeleton(k) for k in keys)])


def tokens(text: str) -> list[str]:
    """Word tokens (Latin, digits or Devanagari)."""
    return TOKEN_RE.findall(text)


_HI_ROMAN = set(
    "hai hain ho hua hui gaya gayi gya gyi mera meri mere mujhe mujhko main mai hum ham kal aaj parso "
    "nahi nahin nhi kya kab kaha kahan kaise kyu kyun ki ka ke ko se me mein pe par aur bhi tha thi "
    "karo kare karna karein kijiye chahiye wala wali raha rahi rahe shikayat shikayet thana chori "
    "sham shaam subah raat dopahar bhai behen bahan ji haan ha hanji accha acha theek thik batao "
    "bataiye naam hamara hamari hamare kisi koi sab apna apni liya diya de do lo".split())
_EN = set(
    "the is are was were my me i you your a an of to in on at near and with someone somebody "
    "please help want file complaint status stolen yesterday today morning evening night was has "
    "have been it this that what where when how who which lost harassing harassment fraud my name "
    "hello hi thanks thank yes no not cancel english".split())


_OTHER_SCRIPTS = re.compile(
    r"[\u0600-\u06FF\u0750-\u077F\u0980-\u09FF\u0A00-\u0A7F\u0A80-\u0AFF\u0B00-\u0B7F\u0B80-\u0BFF"
    r"\u0C00-\u0C7F\u0C80-\u0CFF\u0D00-\u0D7F\u0400-\u04FF\u4E00-\u9FFF]")


def other_script(text: str) -> bool:
    """True when most letters are in a script the zone does not read (Urdu/Arabic, Bengali, Gurmukhi,
    Gujarati, Odia, Tamil, Telugu, Kannada, Malayalam, Cyrillic, Chinese)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return False
    return sum(1 for ch in letters if _OTHER_SCRIPTS.match(ch)) > len(letters) / 2


def guess_language(text: str) -> str | None:
    """'hi' for Devanagari or romanised Hindi, 'en' for English, None when too short to tell."""
    if not text:
        return None
    deva = len(_DEVA_RE.findall(text))
    latin = len(_LATIN_RE.findall(text))
    if deva and deva >= latin:
        return "hi"
    words = [w.lower() for w in tokens(text)]
    hi = sum(w in _HI_ROMAN for w in words)
    en = sum(w in _EN for w in words)
    if deva:
        hi += 2
    if hi == 0 and en == 0:
        return None
    if hi > en:
        return "hi"
    if en > hi:
        return "en"
    return None
