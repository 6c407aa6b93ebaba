"""The message catalogue (zone/messages.yaml, zone.messages): every entry in every language with the same
placeholders; one rule for the language; and no new bilingual table outside it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from zone import messages

ROOT = Path(__file__).resolve().parent.parent
# Tables not yet moved into the catalogue (issue 15): this list may only shrink.
NOT_YET: set[str] = set()
BILINGUAL = re.compile(r"""["']hi["']\s*:\s*["']""")


def test_the_shipped_catalogue_is_complete_and_consistent():
    import channels.telegram.texts  # noqa: F401  (adds the channel's section file)

    data = yaml.safe_load(messages.CATALOGUE.read_text(encoding="utf-8"))
    assert messages.check(data) == []
    assert {"bot", "status", "ivr", "voice_note", "web", "officer", "sms", "console"} <= set(data)
    files = messages.section_files()
    assert files[0] == messages.CATALOGUE and ROOT / "channels/telegram/texts.yaml" in files
    whole = messages.load_files(files)  # every file checked, no key in two of them
    assert "telegram" in whole and "telegram" not in data
    assert messages.t("telegram.contact_saved", "en", phone="+919839012345").startswith("Thank you")


def _files(tmp_path, **texts: str) -> list[Path]:
    out = []
    for name, text in texts.items():
        out.append(tmp_path / f"{name}.yaml")
        out[-1].write_text(text, encoding="utf-8")
    return out


def test_a_key_two_files_define_is_named(tmp_path):
    files = _files(tmp_path, a="x:\n  hello: {hi: नमस्ते, en: Hello}\n",
                   b="x:\n  bye: {hi: अलविदा, en: Bye}\n  hello: {hi: नमस्कार, en: Hi}\n")
    with pytest.raises(messages.CatalogueError) as err:
        messages.load_files(files)
    assert f"x.hello: defined twice ({files[0]} and {files[1]})" in str(err.value)


def test_a_key_written_twice_in_one_file_is_named(tmp_path):
    files = _files(tmp_path, a="x:\n  hello: {hi: नमस्ते, en: Hello}\n  hello: {hi: नमस्कार, en: Hi}\n")
    with pytest.raises(messages.CatalogueError, match=r"a\.yaml: line 3: 'hello' is defined twice"):
        messages.load_files(files)


def test_an_added_section_file_is_checked_with_the_catalogue(tmp_path, monkeypatch):
    monkeypatch.setattr(messages, "_files", list(messages.section_files()))
    messages._load.cache_clear()
    (bad,) = _files(tmp_path, extra="extra:\n  only_hindi: {hi: केवल हिंदी}\n")
    messages.add_section_file(bad)
    try:
        with pytest.raises(messages.CatalogueError, match="extra.yaml: extra.only_hindi: needs text for hi, en"):
            messages.t("bot.welcome", "en")
        bad.write_text("bot:\n  welcome: {hi: नमस्ते, en: Hi}\n", encoding="utf-8")
        messages._load.cache_clear()
        with pytest.raises(messages.CatalogueError, match=r"bot\.welcome: defined twice \(zone/messages\.yaml"):
            messages.t("bot.welcome", "en")
        bad.write_text("extra:\n  hi_there: {hi: 'नमस्ते {name}', en: 'Hello {name}'}\n", encoding="utf-8")
        messages._load.cache_clear()
        assert messages.t("extra.hi_there", "en", name="Asha") == "Hello Asha"
    finally:
        monkeypatch.undo()
        messages._load.cache_clear()


@pytest.mark.parametrize("text,named", [
    ("Bharosa: complaint {Ref} is open. -UP Police", "'{Ref}' is not a DLT variable"),
    ("Bharosa: complaint {ref:>8} is open. -UP Police", "'{ref:>8}' is not a DLT variable"),
    ("Bharosa: {{ref}} is open. -UP Police", "is not a DLT variable"),
    ("  ", "an SMS text is empty"),
])
def test_an_sms_text_its_dlt_template_cannot_match_is_named(text, named):
    data = {"sms": {"opened": {"hi": "भरोसा: शिकायत {ref} खुली है। -UP Police", "en": text}}}
    problems = messages.check(data)
    assert any(p.startswith("sms.opened.en: ") and named in p for p in problems), problems
    assert messages.check({"sms": {"opened": {"hi": "शिकायत {ref}", "en": "complaint {ref}"}}}) == []


def test_a_missing_language_or_a_placeholder_typo_is_named():
    bad = {"bot": {"done": {"hi": "संख्या {ref}", "en": "Your reference: {reff}"}, "x": {"hi": "केवल हिंदी"}}}
    problems = messages.check(bad)
    assert any(p.startswith("bot.done: placeholders differ") for p in problems), problems
    assert "bot.x: needs text for hi, en" in problems


def test_one_rule_for_the_language():
    assert messages.t("bot.welcome", "en").startswith("Hello")
    assert messages.t("bot.welcome", "hi") == messages.entry("bot.welcome")["hi"]
    for unknown in (None, "", "fr", "EN"):
        assert messages.t("bot.welcome", unknown) == messages.entry("bot.welcome")[messages.DEFAULT]
    done = messages.t("bot.done", "en", ref="KNP-7F3K9Q", via="by SMS", deadline="24 hours")
    assert "KNP-7F3K9Q" in done and "{" not in done


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for pkg in
                                        ("bot", "channels", "console", "api", "tickets", "tasks", "voice", "ops")
                                        for p in (ROOT / pkg).rglob("*.py")) + ["app.py", "worker.py"])
def test_no_bilingual_table_outside_the_catalogue(path):
    found = bool(BILINGUAL.search((ROOT / path).read_text(encoding="utf-8")))
    if path in NOT_YET:
        assert found, f"{path} has no bilingual table any more: take it off NOT_YET"
    else:
        assert not found, f"{path} writes its own {{'hi': …}} texts: put them in zone/messages.yaml"


# -- no sentence outside the catalogue ---------------------------------------------------------------------------
PACKAGES = ("bot", "channels", "console", "api", "tickets", "tasks", "voice", "ops", "models", "zone")
PYTHON = sorted(p.relative_to(ROOT).as_posix() for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")) + [
    "app.py", "worker.py"]
# The developers' simulator page (dev mode only) writes its one hint in both languages, as test data does.
DEV_TOOLS = {"channels/templates/simulator.html"}
TEMPLATES = sorted({p.relative_to(ROOT).as_posix() for pkg in ("console", "channels")
                    for p in (ROOT / pkg).rglob("templates/**/*.html")} - DEV_TOOLS)
DEVANAGARI = re.compile(r"[\u0900-\u097F]")
REGEX_SIGNS = re.compile(r"[|()\[\]\\^$*+?]")
# Calls whose strings are not what a user reads: terminal output of the command-line tools, and logs.
NOT_UI_CALLS = {"print", "getpass", "debug", "info", "warning", "error", "exception", "critical"}
# Words of the console's templates that are the same in every language (formats, a hash, a reference's shape).
SAME_IN_EVERY_LANGUAGE = {"CSV", "JSON", "SHA", "sha", "KNP", "XXXXXX"}
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


def _strings(path: str) -> list[tuple[int, str]]:
    """(line, text) of the string constants of a module a user may read: not docstrings, not in print() or log
    calls."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body and \
                isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
        if isinstance(node, ast.Call):
            fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if fn in NOT_UI_CALLS:
                skip |= {id(n) for arg in [*node.args, *(k.value for k in node.keywords)] for n in ast.walk(arg)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip]


def hindi_sentence(text: str) -> bool:
    """Devanagari words the system would say: three or more, or ending in a danda; not a pattern the NLU matches
    (those carry regex signs) and not a word list's single entries."""
    if not DEVANAGARI.search(text) or REGEX_SIGNS.search(text):
        return False
    return len(re.findall(r"[\u0900-\u097F]+", text)) >= 3 or text.strip().endswith("।")


def english_sentence(text: str) -> bool:
    """Two or more English words with spaces between them and nothing that marks a header, a path, a type or a
    query ("attachment; filename=", "text/csv", "private, no-store")."""
    words = re.findall(r"[A-Za-z]{2,}", text)
    header = re.fullmatch(r"[a-z-]+(?:[;,] [a-z-]+(?: '[a-z]+')?)*", text.strip())
    return len(words) >= 2 and " " in text.strip() and not header and not re.search(r"[=/<>{}_]", text)


def visible_words(html: str) -> list[str]:
    """The words a template shows outside its {{ }} / {% %}: its text and its placeholder, aria-label, alt and
    title attributes."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    html = re.sub(r"&[a-z]+;|&#\d+;", " ", JINJA.sub(" ", html))
    shown = re.findall(r">([^<]*)<", html) + re.findall(r'\b(?:placeholder|aria-label|alt|title)="([^"]*)"', html)
    return [w for part in shown for w in re.findall(r"[A-Za-z]{2,}|[\u0900-\u097F]+", part)]


def test_the_sentence_heuristics_tell_texts_from_patterns():
    assert hindi_sentence("आपकी शिकायत दर्ज हो गई है।") and hindi_sentence("धन्यवाद।")
    assert not hindi_sentence("dhamki|धमकी|threat") and not hindi_sentence("समाधान नहीं")
    assert not hindi_sentence("(?:मेरा नाम|नाम)\\s*:?")
    assert english_sentence("Enquiry officer assigned; the citizen will be told by SMS.")
    assert english_sentence("write a note or attach a file") and not english_sentence("sandbox; default-src 'none'")
    assert english_sentence("Note added.") and not english_sentence("console/queue.html")
    assert not english_sentence("private, no-store") and not english_sentence("attachment; filename=x.csv")
    page = '<h1>{{ t("x") }} Queue</h1><input placeholder="Reference or phone"><p>{# note #}&nbsp;CSV</p>'
    assert visible_words(page) == ["Queue", "CSV", "Reference", "or", "phone"]


@pytest.mark.parametrize("path", PYTHON)
def test_no_hindi_sentence_in_code(path):
    found = [(line, text) for line, text in _strings(path) if hindi_sentence(text)]
    assert not found, f"{path} says Hindi outside the catalogue (put it in zone/messages.yaml): {found[:3]}"


@pytest.mark.parametrize("path", [p for p in PYTHON if p.startswith("console/")])
def test_no_english_sentence_in_the_console_code(path):
    found = [(line, text) for line, text in _strings(path) if english_sentence(text)]
    assert not found, f"{path} shows English outside the catalogue (console.t): {found[:3]}"


@pytest.mark.parametrize("path", TEMPLATES)
def test_no_sentence_in_a_template(path):
    words = visible_words((ROOT / path).read_text(encoding="utf-8"))
    hindi = [w for w in words if DEVANAGARI.search(w)]
    assert not hindi, f"{path} shows Hindi outside the catalogue: {hindi[:8]}"
    if path.startswith("console/"):
        english = [w for w in words if not DEVANAGARI.search(w) and w not in SAME_IN_EVERY_LANGUAGE]
        assert not english, f"{path} shows English outside the catalogue (t('key')): {english[:8]}"


def test_one_rule_for_a_localized_name():
    from zone import get_zone

    z = get_zone()
    d, rank = z.districts[0], next(iter(z.ranks.values()))
    assert messages.name(d, "en") == d.name_en and messages.name(d, "hi") == d.name_hi
    assert messages.name(d, "fr") == d.name_hi  # the default language, never a mix
    assert messages.name(rank, "en") == rank.en and messages.name(rank, None) == rank.hi
