"""The citizen web page's words: the ``web`` section of the message catalogue (zone/messages.yaml), by language."""

from __future__ import annotations

from zone import messages

STRINGS: dict[str, dict[str, str]] = messages.by_language("web")
