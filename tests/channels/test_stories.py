"""The bot's held-out stories, played as a citizen would: signed SMS / WhatsApp webhooks in, and the
stored Complaint row (category, district) checked. A story the engine alone also gets wrong is an
engine miss (xfail, reported by the bot's own tests); a story the engine gets right but the
webhook path does not is a channel bug (fail)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot import engine as real_engine
from models import Complaint

STORIES = Path(__file__).resolve().parents[1] / "bot" / "testset" / "stories.yml"
ALL = yaml.safe_load(STORIES.read_text(encoding="utf-8")) if STORIES.exists() else []
PLAYABLE = [(i, s) for i, s in enumerate(ALL) if s.get("channel", "whatsapp") in ("whatsapp", "sms")
            and all(set(t) & {"user", "button", "location", "media"} for t in s["turns"])]



def _form(channel: str, sender: str, turn: dict, n: int, story: int, fixture_form) -> dict:
    sid = f"SM{story:06d}{n:06d}" + "0" * 20
    base = "text"
    over: dict = {"MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid}
    if channel == "whatsapp":
        over.update(From=f"whatsapp:{sender}", WaId=sender.lstrip("+"), Body="")
        if "button" in turn:
            base = "button_reply"
            over.update(ButtonPayload=turn["button"], ButtonText=turn["button"], Body=turn["button"])
        elif "location" in turn:
            base = "location"
            over.update(Latitude=str(turn["location"][0]), Longitude=str(turn["location"][1]), Address="", Label="")
        elif "media" in turn:
            base = "media_image"
        else:
            over["Body"] = str(turn["user"])
    else:
        over.update(From=sender, Body=str(turn.get("user", turn.get("button", ""))))
    form = fixture_form(channel, base, **over)
    return form


def _direct(story: dict) -> Complaint | None:
    """The engine alone, without any channel: what it hands over."""
    from bot.types import Inbound, Media

    state: dict = {}
    at = datetime.now(UTC)
    channel = story.get("channel", "whatsapp")
    phone = None if story.get("phone", "x") is None else "+919839000000"
    for k, turn in enumerate(story["turns"]):
        msg = Inbound(channel=channel, at=at + timedelta(seconds=k), phone=phone)
        if "button" in turn:
            msg.kind, msg.button, msg.text = "button", turn["button"], turn["button"]
        elif "location" in turn:
            msg.kind, (msg.lat, msg.lon) = "location", turn["location"]
        elif "media" in turn:
            msg.kind, msg.media = "media", [Media(kind=turn["media"], content_type="image/jpeg", attachment_id=1)]
        else:
            msg.text = str(turn["user"])
        t = real_engine.handle(msg, state, None)
        state = t.state
        if t.complaint is not None:
            return t.complaint
    return None


@pytest.mark.parametrize("idx,story", PLAYABLE, ids=[s["name"] for _, s in PLAYABLE])
def test_story_through_signed_webhooks(db, app, twilio, fixture_form, idx, story):
    channel = story.get("channel", "whatsapp")
    sender = f"IN.story{idx:04d}" if story.get("phone", "x") is None else (story.get("phone") or f"+91983{idx:07d}")
    for n, turn in enumerate(story["turns"]):
        r = twilio.post(f"/twilio/{channel}", _form(channel, sender, turn, n, idx, fixture_form))
        assert r.status_code == 200 and "<Message>" in r.get_data(as_text=True)
    exp = story.get("expect") or {}
    with db.session() as s:
        rows = s.scalars(select(Complaint)).all()
    if exp.get("complaint") is False:
        assert rows == []
        return
    got = {"category": rows[0].category, "district": rows[0].district} if len(rows) == 1 else None
    want = {k: exp[k] for k in ("category", "district") if k in exp}
    if got is None or any(got[k] != v for k, v in want.items()):
        d = _direct(story)
        if d is None or any(getattr(d, k) != v for k, v in want.items()):
            pytest.xfail(f"the engine alone misses this story too: {d and (d.category, d.district)}")
    assert got is not None, f"no complaint stored (rows: {len(rows)})"
    assert {k: got[k] for k in want} == want
    assert rows[0].channel == channel
