"""README's sample conversations are real transcripts of the current build (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.transcripts import markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_conversations_are_what_the_engine_says_now():
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- transcripts: start.*?-->\n(.*?)<!-- transcripts: end -->", text, re.S)
    assert m, "README.md lost its transcripts markers"
    assert m.group(1).strip() == markdown().strip(), (
        "README's conversations differ from the engine's: run `.venv/bin/python -m bot.transcripts` and paste")
