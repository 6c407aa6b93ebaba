"""Channel tests: a small stand-in dialogue engine, so webhook behaviour is tested apart from the bot.

The stand-in answers every message with what it understood (``echo[kind]: text``), and hands over
a complaint when the text starts with ``register <district> <category>`` (with the message's
attachments). Tests that need the real engine (the stories) do not use this fixture.
"""

from __future__ import annotations

import pytest

from bot.types import ComplaintDraft, Reply, Turn


def fake_handle(msg, state, tickets):
    state = dict(state)
    state["turns"] = state.get("turns", 0) + 1
    if msg.kind == "location":
        return Turn([Reply(f"loc:{msg.lat:.4f},{msg.lon:.4f}")], state)
    if msg.kind == "button":
        return Turn([Reply(f"button:{msg.button}")], state)
    words = (msg.text or "").split()
    if words[:1] == ["register"]:
        draft = ComplaintDraft(description=msg.text, district=words[1] if len(words) > 1 else None,
                               category=words[2] if len(words) > 2 else None,
                               attachment_ids=[m.attachment_id for m in msg.media if m.attachment_id],
                               extra={"alert_phone": state.get("alert_phone")} if state.get("alert_phone") else {})
        return Turn([Reply("registered {ref}")], state, complaint=draft)
    if words[:1] == ["phone"] and len(words) > 1:
        state["alert_phone"] = words[1]
    if msg.kind == "media":
        return Turn([Reply(f"echo[media]: {len(msg.media)} {msg.media[0].kind}")], state)
    return Turn([Reply(f"echo[{msg.kind}]: {msg.text}")], state, language="en" if msg.text.isascii() else "hi")


@pytest.fixture
def fake_engine(monkeypatch):
    """Give the channels the stand-in engine for this test (the seam the entry points use)."""
    from channels import inbound

    monkeypatch.setattr(inbound, "_engine", fake_handle)
    return fake_handle


@pytest.fixture
def spool_dir(tmp_path, settings_env):
    d = tmp_path / "spool"
    settings_env(BHAROSA_SPOOL_DIR=d)
    return d




