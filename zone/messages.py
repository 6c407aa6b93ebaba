"""The message catalogue: every sentence Bharosa says, to citizens, callers, web visitors and officers.

The texts live in ``zone/messages.yaml`` (section → key → {language: text}); code asks for one with
:func:`t` (``t("bot.welcome", "en")``) or takes a section's table. One rule picks the language: the one asked
for when the entry has it, else the zone's default (Hindi). Placeholders are ``str.format`` fields and are the
same in every language (checked by :func:`check`, which ``make test`` runs).
"""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

import yaml

CATALOGUE = Path(__file__).with_name("messages.yaml")
LANGUAGES = ("hi", "en")
DEFAULT = "hi"


class CatalogueError(ValueError):
    """The catalogue file is malformed: the message names the entry."""


@cache
def _load() -> dict[str, dict[str, dict[str, str]]]:
    data = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8")) or {}
    problems = check(data)
    if problems:
        raise CatalogueError(f"{CATALOGUE.name}: " + "; ".join(problems[:5]))
    return data


def fields(text: str) -> set[str]:
    """The ``{placeholder}`` names in ``text``."""
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def check(data: dict) -> list[str]:
    """Every problem of a catalogue: an entry missing a language, or placeholders that differ between them."""
    out = []
    for sec, entries in data.items():
        if not isinstance(entries, dict):
            out.append(f"{sec}: not a table")
            continue
        for key, entry in entries.items():
            if not isinstance(entry, dict) or not all(isinstance(entry.get(lang), str) for lang in LANGUAGES):
                out.append(f"{sec}.{key}: needs text for {', '.join(LANGUAGES)}")
                continue
            names = {lang: fields(entry[lang]) for lang in LANGUAGES}
            if len({frozenset(v) for v in names.values()}) > 1:
                out.append(f"{sec}.{key}: placeholders differ between languages {names}")
    return out


def language(lang: str | None) -> str:
    """The one rule for which language to answer in: the one asked for if the catalogue has it, else the default."""
    return lang if lang in LANGUAGES else DEFAULT


def section(name: str) -> dict[str, dict[str, str]]:
    """One section's table: key → {language: text}."""
    return _load()[name]


def by_language(name: str) -> dict[str, dict[str, str]]:
    """One section turned round: language → {key: text} (the web page's templates look words up this way)."""
    sec = section(name)
    return {lang: {k: v[lang] for k, v in sec.items()} for lang in LANGUAGES}


def entry(path: str) -> dict[str, str]:
    """One entry by ``section.key``: {language: text}."""
    sec, _, key = path.partition(".")
    return section(sec)[key]


def t(path: str, lang: str | None, **values: object) -> str:
    """The sentence ``section.key`` in ``lang`` (see :func:`language`), its placeholders filled from ``values``."""
    text = entry(path)[language(lang)]
    return text.format(**values) if values else text


def name(obj: object, lang: str | None) -> str:
    """A localized name from the zone (district, station, category, rank, outcome): ``name_<lang>`` or ``<lang>``
    in the language :func:`language` picks, else the default language's."""
    for code in (language(lang), DEFAULT):
        for attr in (f"name_{code}", code):
            value = getattr(obj, attr, None)
            if isinstance(value, str) and value:
                return value
    return ""
