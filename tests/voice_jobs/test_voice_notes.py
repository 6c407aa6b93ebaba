"""WhatsApp voice notes: transcribed by the 'transcribe' job and fed to the real dialogue engine as if typed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Attachment, Complaint, Message

WA = "+919839012345"


def post_note(twilio, recorder, recorder_server, fixture_form, name: str, data: bytes, sid: str, phone: str = WA):
    """A signed WhatsApp webhook carrying one voice note served by the Twilio recorder."""
    recorder.add_media(name, data, "audio/ogg")
    form = fixture_form("whatsapp", "voice_note", MediaUrl0=f"{recorder_server.url}/media/{name}",
                        MessageSid=sid, SmsSid=sid, SmsMessageSid=sid, From=f"whatsapp:{phone}",
                        WaId=phone.lstrip("+"))
    r = twilio.post("/twilio/whatsapp", form)
    assert r.status_code == 200
    return r


def post_text(twilio, fixture_form, text: str, sid: str, phone: str = WA):
    form = fixture_form("whatsapp", "text", Body=text, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid,
                        From=f"whatsapp:{phone}", WaId=phone.lstrip("+"))
    r = twilio.post("/twilio/whatsapp", form)
    assert r.status_code == 200
    return r.get_data(as_text=True)


def answer(reply: str) -> str:
    """What a citizen types to the engine's next question (the voice note already said what and where)."""
    low = reply.lower()
    if "submit" in low or "confirm" in low:
        return "1"
    if "when" in low:
        return "yesterday 7 pm"
    if "name" in low:
        return "Ramesh Kumar"
    if "where" in low or "place" in low:
        return "near the railway station"
    return "skip"


def finish_by_text(twilio, fixture_form, first_reply: str, phone: str = WA) -> None:
    """Answer the engine's remaining questions by typing, until it registers the complaint."""
    reply = first_reply
    for i in range(8):
        twiml = post_text(twilio, fixture_form, answer(reply), f"MMtext{phone[-4:]}{i:04d}", phone)
        if "registered" in twiml.lower() or "-" in twiml and "Reference" in twiml:
            return
        reply = twiml
    raise AssertionError(f"the engine never registered the complaint; last reply: {reply}")


def last_body(recorder, number: str) -> str:
    msgs = recorder.to(number)
    assert msgs, f"nothing was sent to {number}"
    return msgs[-1]["Body"]


def test_spoken_district_and_category_fill_the_form(twilio, recorder, recorder_server, fixture_form, drain, db,
                                                     voice_clips, whisper, media_dir):
    """District and category only spoken in the voice note: the ticket lands in Lalitpur as a mobile theft."""
    r = post_note(twilio, recorder, recorder_server, fixture_form, "n1.ogg", voice_clips["lalitpur.ogg"],
                  "MMvoice0001")
    assert "<Message>" in r.get_data(as_text=True)  # the webhook answered at once
    drain()
    with db.session() as s:
        att = s.scalar(select(Attachment))
        assert att.status == "transcribed"
        assert "lalitpur" in att.transcript.lower() and att.transcript_language == "en"
        assert 0 < att.transcript_confidence <= 1 and len(att.sha256) == 64
        tmsg = s.scalar(select(Message).where(Message.sid == "MMvoice0001:transcript"))
        assert tmsg is not None and tmsg.kind == "transcript"
    follow = last_body(recorder, WA)  # the engine's answer to the transcript, sent as a follow-up
    finish_by_text(twilio, fixture_form, follow)
    drain()
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c.district == "lalitpur" and c.category == "theft_mobile", (c.district, c.category)
        assert c.channel == "whatsapp" and c.transcript_confidence is not None
        att = s.scalar(select(Attachment))
        assert att.complaint_id == c.id  # the audio stays with the ticket as evidence
    assert any(c.ref in m["Body"] for m in recorder.to(WA))


def test_noise_takes_the_low_confidence_path(twilio, recorder, recorder_server, fixture_form, drain, db,
                                             voice_clips, whisper, media_dir):
    """A noise-only clip is not fed to the engine as words: the citizen is asked to type; staff can listen."""
    phone = "+919839000002"
    post_note(twilio, recorder, recorder_server, fixture_form, "noise.ogg", voice_clips["noise.ogg"], "MMnoise0001",
              phone)
    drain()
    with db.session() as s:
        att = s.scalar(select(Attachment))
        assert att.status == "transcribed" and att.reject_reason.startswith("not_understood")
        assert (att.transcript_confidence or 0) < 0.25
        assert s.scalar(select(Message).where(Message.sid == "MMnoise0001:transcript")) is None
        assert s.scalar(select(Complaint)) is None
    body = last_body(recorder, phone)
    assert "could not make out" in body or "समझ नहीं पाए" in body


@pytest.mark.parametrize("name,why", [("empty.ogg", ("could not", "नहीं सके")),
                                      ("truncated.ogg", ("cut short", "अधूरा")),
                                      ("claims10h.ogg", ("too long", "लंबी"))])
def test_bad_voice_notes_get_a_polite_answer(name, why, twilio, recorder, recorder_server, fixture_form, drain, db,
                                            voice_clips, media_dir):
    """0 bytes, a truncated OGG, a file that claims 10 hours: rejected with a polite message, nothing lost."""
    phone = "+919839000003"
    post_note(twilio, recorder, recorder_server, fixture_form, name, voice_clips[name], "MMbad" + name[:5], phone)
    drain()
    with db.session() as s:
        att = s.scalar(select(Attachment))
        assert att.status == "rejected" and att.reject_reason
        msg = s.scalar(select(Message).where(Message.sid == "MMbad" + name[:5]))
        assert msg is not None  # the citizen's message is kept
    body = last_body(recorder, phone)
    assert any(w in body for w in why), body
