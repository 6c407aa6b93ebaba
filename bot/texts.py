"""The engine's sentences: the ``bot`` and ``status`` sections of the message catalogue (zone/messages.yaml).
Short: citizens read these on SMS."""

from __future__ import annotations

from zone import messages

T: dict[str, dict[str, str]] = messages.section("bot")
STATUS: dict[str, dict[str, str]] = messages.section("status")


def t(key: str, lang: str, **kw: object) -> str:
    """The engine's sentence ``key`` in the language (the catalogue's one rule), with {placeholders} filled."""
    return messages.t(f"bot.{key}", lang, **kw)
