"""The sample conversations README.md shows, replayed through the current engine.

``python -m bot.transcripts`` prints them as README's Markdown. tests/bot/test_transcripts.py fails when
README.md does not hold exactly what this prints, so the examples are real transcripts of the build.
The reference a real conversation gets from the database is shown as ``<district prefix>-7F3K9Q``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from bot.engine import handle
from bot.types import Inbound
from zone import get_zone

IST = timezone(timedelta(hours=5, minutes=30))
START = datetime(2026, 3, 12, 10, 0, tzinfo=IST)
REF = "7F3K9Q"  # a reference's code; its prefix is the complaint's district's

CONVERSATIONS: list[tuple[str, str, list[str]]] = [
    (c["title"], c["channel"], [str(x) for x in c["citizen"]])
    for c in yaml.safe_load((Path(__file__).parent / "data" / "transcripts.yml").read_text(encoding="utf-8"))]


def replay(channel: str, lines: list[str]) -> list[tuple[str, str]]:
    """(who, text) pairs of one conversation through the engine."""
    state: dict = {}
    out: list[tuple[str, str]] = []
    for i, line in enumerate(lines):
        turn = handle(Inbound(channel, START + timedelta(minutes=i), line, phone="+919800000001"), state)
        state = turn.state
        d = get_zone().district_by_key.get(turn.complaint.district or "") if turn.complaint else None
        ref = f"{d.ref_prefix if d else 'KNP'}-{REF}"
        out.append(("citizen", line))
        out += [("bharosa", r.as_text().replace("{ref}", ref)) for r in turn.replies]
    return out


def markdown() -> str:
    """README's "Sample conversations" blocks."""
    parts = []
    for title, channel, lines in CONVERSATIONS:
        body = []
        for who, text in replay(channel, lines):
            head, *rest = text.split("\n")
            body.append(f"{who}: {head}")
            body += [" " * (len(who) + 2) + x for x in rest]
        parts.append(f"#### {title}\n\n```\n" + "\n".join(body) + "\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(markdown(), end="")
