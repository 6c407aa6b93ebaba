"""Telegram's own texts (``texts.yaml`` beside this file), checked like the catalogue and picked by its rule."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from zone import messages

_FILE = Path(__file__).with_name("texts.yaml")


@cache
def _load() -> dict:
    data = yaml.safe_load(_FILE.read_text(encoding="utf-8")) or {}
    problems = messages.check(data)
    if problems:
        raise messages.CatalogueError(f"channels/telegram/{_FILE.name}: " + "; ".join(problems[:5]))
    return data["telegram"]


def t(key: str, lang: str | None, **values: str) -> str:
    return _load()[key][messages.language(lang)].format(**values)
