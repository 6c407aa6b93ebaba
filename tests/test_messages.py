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
    data = yaml.safe_load(messages.CATALOGUE.read_text(encoding="utf-8"))
    assert messages.check(data) == []
    assert {"bot", "status", "ivr", "voice_note", "web", "officer"} <= set(data)


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
