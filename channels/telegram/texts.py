"""Telegram's texts: its own section file (``texts.yaml`` beside this file) joins the one message catalogue as
section ``telegram``, checked with it and picked by its language rule."""

from __future__ import annotations

from pathlib import Path

from zone import messages

messages.add_section_file(Path(__file__).with_name("texts.yaml"))


def t(key: str, lang: str | None, **values: str) -> str:
    """The catalogue's ``telegram.<key>`` in ``lang`` (:func:`zone.messages.t`)."""
    return messages.t(f"telegram.{key}", lang, **values)
