"""The message catalogue (zone/messages.yaml, zone.messages): every entry in every language with the same
placeholders; one rule for the language; and no new bilingual table outside it."""

from __future__ import annotations

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
    assert {"bot", "status", "ivr", "voice_note", "web", "officer", "sms"} <= set(data)
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
    assert "KNP-7F3K9Q" in messages.t("bot.done", "en", ref="KNP-7F3K9Q")


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for pkg in
                                        ("bot", "channels", "console", "api", "tickets", "tasks", "voice", "ops")
                                        for p in (ROOT / pkg).rglob("*.py")) + ["app.py", "worker.py"])
def test_no_bilingual_table_outside_the_catalogue(path):
    found = bool(BILINGUAL.search((ROOT / path).read_text(encoding="utf-8")))
    if path in NOT_YET:
        assert found, f"{path} has no bilingual table any more: take it off NOT_YET"
    else:
        assert not found, f"{path} writes its own {{'hi': …}} texts: put them in zone/messages.yaml"


def test_one_rule_for_a_localized_name():
    from zone import get_zone

    z = get_zone()
    d, rank = z.districts[0], next(iter(z.ranks.values()))
    assert messages.name(d, "en") == d.name_en and messages.name(d, "hi") == d.name_hi
    assert messages.name(d, "fr") == d.name_hi  # the default language, never a mix
    assert messages.name(rank, "en") == rank.en and messages.name(rank, None) == rank.hi
