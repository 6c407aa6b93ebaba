"""The message catalogue: every sentence Bharosa says, to citizens, callers, web visitors and officers.

The texts live in ``zone/messages.yaml`` (section → key → {language: text}) and in the section files packages
add with :func:`add_section_file` (a channel keeps its texts in its own folder: ``channels/telegram/texts.yaml``);
all of them make one catalogue, checked as one. Code asks for a text with :func:`t` (``t("bot.welcome", "en")``)
or takes a section's table. One rule picks the language: the one asked for when the entry has it, else the
zone's default (Hindi). Placeholders are ``str.format`` fields and are the same in every language; an SMS text
(section ``sms``) also keeps to what its DLT template can say (checked by :func:`check`, which ``make test``
runs).
"""

from __future__ import annotations

import re
import string
from functools import cache
from pathlib import Path

import yaml

CATALOGUE = Path(__file__).with_name("messages.yaml")
ROOT = CATALOGUE.parent.parent
LANGUAGES = ("hi", "en")
DEFAULT = "hi"
SMS = "sms"  # the section of texts sent as templated SMS: each needs a DLT template id (config.yaml templates)
DLT_VARIABLE = re.compile(r"\{[a-z_]+\}")  # the only variable a DLT template text may hold
_files: list[Path] = [CATALOGUE]


class CatalogueError(ValueError):
    """The catalogue is malformed: the message names the file and the entry."""


class _UniqueKeys(yaml.SafeLoader):
    """YAML whose mappings may not write a key twice (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise CatalogueError(f"line {key_node.start_mark.line + 1}: '{key}' is defined twice")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def add_section_file(path: str | Path) -> None:
    """Add a package's own section file to the catalogue (once; the next look-up loads it).

    Its sections join the one catalogue and are checked with it: every language, the same placeholders, and
    no ``section.key`` that another file defines too.
    """
    p = Path(path).resolve()
    if p not in _files:
        _files.append(p)
        _load.cache_clear()


def section_files() -> tuple[Path, ...]:
    """The files the catalogue is made of: ``zone/messages.yaml`` first, then the added ones."""
    return tuple(_files)


def read(path: Path) -> dict:
    """One section file's tables (section → key → {language: text}), a key written twice being an error."""
    try:
        data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_UniqueKeys) or {}  # noqa: S506
    except CatalogueError as exc:
        raise CatalogueError(f"{_shown(Path(path))}: {exc}") from None
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{_shown(Path(path))}: not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise CatalogueError(f"{_shown(Path(path))}: the top level must be a table of sections")
    return data


def merge(tables: dict[Path, dict]) -> tuple[dict, list[str]]:
    """Several files' sections as one catalogue, and a problem for each ``section.key`` two files define."""
    data: dict = {}
    where: dict[str, Path] = {}
    problems = []
    for path, sections in tables.items():
        for sec, entries in sections.items():
            if not isinstance(entries, dict):
                continue  # check() names it
            mine = data.setdefault(sec, {})
            for key, entry in entries.items():
                full = f"{sec}.{key}"
                if full in where:
                    problems.append(f"{full}: defined twice ({_shown(where[full])} and {_shown(path)})")
                    continue
                where[full] = path
                mine[key] = entry
    return data, problems


def load_files(paths: tuple[Path, ...] | list[Path]) -> dict[str, dict[str, dict[str, str]]]:
    """The catalogue made of ``paths``, each file checked (:func:`check`) and no key in two of them (:func:`merge`).

    Raises:
        CatalogueError: the first problems, each naming its file and entry.
    """
    tables = {Path(p): read(p) for p in paths}
    data, problems = merge(tables)
    problems += [f"{_shown(p)}: {problem}" for p, sections in tables.items() for problem in check(sections)]
    if problems:
        raise CatalogueError("; ".join(problems[:5]))
    return data


@cache
def _load() -> dict[str, dict[str, dict[str, str]]]:
    return load_files(_files)


def fields(text: str) -> set[str]:
    """The ``{placeholder}`` names in ``text``."""
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def check(data: dict) -> list[str]:
    """Every problem of a catalogue: an entry missing a language, placeholders that differ between them, an SMS
    text its DLT template could not match (:func:`dlt_problem`)."""
    out = []
    for sec, entries in data.items():
        if not isinstance(entries, dict):
            out.append(f"{sec}: not a table")
            continue
        for key, entry in entries.items():
            if not isinstance(key, str):
                out.append(f"{sec}.{key}: the key is not a name (YAML reads yes, no, on, off as true/false: rename it)")
                continue
            if not isinstance(entry, dict) or not all(isinstance(entry.get(lang), str) for lang in LANGUAGES):
                out.append(f"{sec}.{key}: needs text for {', '.join(LANGUAGES)}")
                continue
            names = {lang: fields(entry[lang]) for lang in LANGUAGES}
            if len({frozenset(v) for v in names.values()}) > 1:
                out.append(f"{sec}.{key}: placeholders differ between languages {names}")
            if sec == SMS:
                out += [f"{sec}.{key}.{lang}: {why}" for lang in LANGUAGES if (why := dlt_problem(entry[lang]))]
    return out


def dlt_problem(text: str) -> str | None:
    """Why an SMS text cannot be a DLT template, or None: it must say something, and its only braces are
    variables written ``{name}`` (lower-case letters and ``_``), which its template's pattern can match."""
    if not text.strip():
        return "an SMS text is empty"
    rest = DLT_VARIABLE.sub("", text)
    if "{" in rest or "}" in rest:
        bad = re.search(r"\{[^{}]*\}?|\}", rest)
        return f"'{bad.group(0) if bad else rest}' is not a DLT variable (write {{name}} in lower case, nothing else)"
    return None


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
