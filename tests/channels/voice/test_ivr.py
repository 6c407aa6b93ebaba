"""The helpline IVR: signed Twilio voice webhooks in, TwiML out, and a ticket made from the caller's speech.

The recording is real speech (espeak-ng, 8 kHz μ-law like Twilio's), served by the Twilio recorder at
/2010-04-01/Accounts/<sid>/Recordings/<RE...>; the 'recording' job fetches it with the account's
credentials, transcribes it and registers the ticket; the reference reaches the caller by SMS.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from models import Attachment, Complaint, Message, Outbox
from tests.conftest import ACCOUNT
from tests.voice_jobs import conftest as voice_fixtures

# The speech clips, the Whisper model (loaded once per session) and the media folder, shared with tests/voice_jobs.
voice_clips, whisper, media_dir = voice_fixtures.voice_clips, voice_fixtures.whisper, voice_fixtures.media_dir

CALLER = "+919839011111"
HELPLINE = "+915120000000"


def call_form(sid: str, **extra) -> dict:
    form = {"AccountSid": ACCOUNT, "ApiVersion": "2010-04-01", "CallSid": sid, "CallStatus": "in-progress",
            "Called": HELPLINE, "Caller": CALLER, "Direction": "inbound", "From": CALLER, "To": HELPLINE,
            "FromCountry": "IN", "ToCountry": "IN"}
    form.update({k: str(v) for k, v in extra.items()})
    return form


def say(twiml: str) -> str:
    """All the words spoken in a TwiML answer."""
    return " ".join(re.findall(r"<Say[^>]*>(.*?)</Say>", twiml, re.S))


def post(twilio, path: str, sid: str, **extra) -> str:
    r = twilio.post(path, call_form(sid, **extra))
    assert r.status_code in (200, 204), (path, r.status_code, r.get_data(as_text=True))
    if r.status_code == 200:
        assert r.mimetype == "application/xml"
    return r.get_data(as_text=True)


def recording_url(recorder_server, rsid: str) -> str:
    return f"{recorder_server.url}/2010-04-01/Accounts/{ACCOUNT}/Recordings/{rsid}"


def test_full_call_ends_in_a_ticket_from_the_speech(twilio, recorder, recorder_server, drain, db, voice_clips,
                                                     whisper, media_dir):
    """Greeting, English, silence then Lalitpur keyed, the complaint spoken, this number for SMS."""
    sid, rsid = "CA" + "1" * 32, "RE" + "1" * 32
    t = post(twilio, "/twilio/voice", sid, CallStatus="ringing")
    assert 'language="hi-IN"' in t and 'language="en-IN"' in t and "recorded" in say(t)
    assert 'action="/twilio/voice/step/language"' in t and 'numDigits="1"' in t
    t = post(twilio, "/twilio/voice/step/language", sid, Digits="2")
    assert "For Lalitpur, press 9." in say(t) and "For Kanpur Nagar, press 1." in say(t)
    t = post(twilio, "/twilio/voice/step/district", sid)  # silence: asked once more
    assert "did not get that" in say(t) and "For Jhansi, press 8." in say(t)
    t = post(twilio, "/twilio/voice/step/district", sid, Digits="9")
    assert "<Record" in t and 'maxLength="120"' in t and 'recordingStatusCallback="/twilio/voice/recording"' in t
    recorder.add_media(rsid, voice_clips["call_mulaw.wav"], "audio/x-wav")
    url = recording_url(recorder_server, rsid)
    t = post(twilio, "/twilio/voice/step/recorded", sid, RecordingUrl=url, RecordingSid=rsid, RecordingDuration=5,
             Digits="#")
    assert "press 1" in say(t)
    t = post(twilio, "/twilio/voice/step/number", sid, Digits="1")
    assert "reference number by SMS" in say(t) and "<Hangup" in t
    assert post(twilio, "/twilio/voice/recording", sid, RecordingSid=rsid, RecordingUrl=url,
                RecordingStatus="completed", RecordingDuration=5, RecordingSource="RecordVerb") == ""
    post(twilio, "/twilio/voice/recording", sid, RecordingSid=rsid, RecordingUrl=url, RecordingStatus="completed",
         RecordingDuration=5)  # Twilio retried the callback: stored once
    post(twilio, "/twilio/voice/status", sid, CallStatus="completed", CallDuration=70)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.sid == sid)) == 1
        assert s.scalar(select(func.count()).select_from(Message).where(Message.sid == rsid)) == 1
        assert s.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "recording")) == 1
        assert s.scalar(select(Complaint)) is None  # nothing was transcribed in the webhook
    drain()
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c is not None and c.channel == "voice" and c.phone == CALLER and c.language == "en"
        assert c.category == "theft_mobile" and c.district == "lalitpur", (c.category, c.district, c.description)
        assert "railway station" in (c.place or "").lower() and c.incident_at is not None  # "yesterday evening"
        assert "stole my mobile phone" in c.description.lower() and c.transcript_confidence > 0
        att = s.scalar(select(Attachment).where(Attachment.complaint_id == c.id))
        assert att is not None and len(att.sha256) == 64 and att.status == "transcribed"
        ref = c.ref
    gets = [r for r in recorder.requests if r.get("path", "").endswith(rsid)]
    assert gets and all(g["auth"] == ACCOUNT for g in gets)  # credentials went to the API host
    sms = recorder.to(CALLER)
    assert any(ref in m["Body"] for m in sms), sms


def test_signature_and_form_are_checked(twilio, db):
    sid = "CA" + "2" * 32
    assert twilio.post("/twilio/voice", call_form(sid), signature="bad").status_code == 403
    assert twilio.post("/twilio/voice/step/language", call_form(sid, Digits="1"), token="wrong").status_code  # noqa: S106 == 403
    assert twilio.post("/twilio/voice/recording", call_form(sid), signature="").status_code == 403
    form = call_form(sid)
    form.pop("CallSid")
    assert twilio.post("/twilio/voice", form).status_code == 400
    assert twilio.post("/twilio/voice/step/nope", call_form(sid)).status_code == 400
    with db.session() as s:
        assert s.scalar(select(Message)) is None


def test_wrong_keys_repeat_once_then_go_on_in_hindi(twilio, db):
    sid = "CA" + "3" * 32
    post(twilio, "/twilio/voice", sid)
    post(twilio, "/twilio/voice", sid)  # Twilio retried the first request: one call row
    t = post(twilio, "/twilio/voice/step/language", sid, Digits="7")
    assert "क्षमा करें" in say(t) and "For English, press 2." in say(t)
    t = post(twilio, "/twilio/voice/step/language", sid, Digits="*")
    assert 'language="hi-IN"' in t and "ललितपुर के लिए 9 दबाएं।" in say(t)
    t = post(twilio, "/twilio/voice/step/district", sid, Digits="0")
    assert "क्षमा करें" in say(t)
    t = post(twilio, "/twilio/voice/step/district", sid, Digits="4")
    assert "<Record" in t
    with db.session() as s:
        row = s.scalar(select(Message).where(Message.sid == sid))
        assert row.payload["ivr"]["lang"] == "hi" and row.payload["ivr"]["district"] == "etawah"
        assert s.scalar(select(func.count()).select_from(Message)) == 1


def test_hang_up_before_recording_still_registers_a_callback_ticket(twilio, recorder, drain, db, monkeypatch):
    """The caller keys the language and district, then hangs up at the beep: a ticket for a call-back.

    The job waits ``RECORDING_WAIT_S`` after the call's end for a recording callback that may still come;
    here that wait is over.
    """
    import channels.media_jobs

    monkeypatch.setattr(channels.media_jobs, "RECORDING_WAIT_S", 0)
    sid = "CA" + "4" * 32
    post(twilio, "/twilio/voice", sid)
    post(twilio, "/twilio/voice/step/language", sid, Digits="1")
    post(twilio, "/twilio/voice/step/district", sid, Digits="1")
    post(twilio, "/twilio/voice/status", sid, CallStatus="completed", CallDuration=20)
    drain()
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c is not None and c.needs_callback and c.channel == "voice"
        assert c.district == "kanpur_nagar" and c.phone == CALLER
        ref = c.ref
    assert any(ref in m["Body"] for m in recorder.to(CALLER))


def test_silent_recording_and_another_number(twilio, recorder, recorder_server, drain, db, voice_clips, media_dir):
    """A recording with no sound: the ticket is still made (marked for a call-back), alerts to the keyed number."""
    sid, rsid = "CA" + "5" * 32, "RE" + "5" * 32
    post(twilio, "/twilio/voice", sid)
    post(twilio, "/twilio/voice/step/language", sid, Digits="2")
    post(twilio, "/twilio/voice/step/district", sid, Digits="9")
    t = post(twilio, "/twilio/voice/step/norecord", sid)  # Twilio heard nothing: once more
    assert "could not hear anything" in say(t) and "<Record" in t
    recorder.add_media(rsid, voice_clips["silent_mulaw.wav"], "audio/x-wav")
    url = recording_url(recorder_server, rsid)
    post(twilio, "/twilio/voice/step/recorded", sid, RecordingUrl=url, RecordingSid=rsid, RecordingDuration=4)
    t = post(twilio, "/twilio/voice/step/number", sid, Digits="2")
    assert 'numDigits="10"' in t
    t = post(twilio, "/twilio/voice/step/number_entry", sid, Digits="12345")  # not a mobile number: once more
    assert "did not get that" in say(t)
    t = post(twilio, "/twilio/voice/step/number_entry", sid, Digits="9876543210")
    assert "<Hangup" in t
    with db.session() as s:
        assert s.scalar(select(Outbox).where(Outbox.kind == "recording")) is None  # waits for the recording
    post(twilio, "/twilio/voice/recording", sid, RecordingSid=rsid, RecordingUrl=url, RecordingStatus="completed",
         RecordingDuration=4)
    drain()
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c is not None and c.needs_callback and c.district == "lalitpur" and c.phone == "+919876543210"
        att = s.scalar(select(Attachment))
        assert att.status == "rejected" and att.reject_reason.startswith("silent") and att.complaint_id == c.id
        ref = c.ref
    assert any(ref in m["Body"] for m in recorder.to("+919876543210"))


@pytest.mark.parametrize("name", ["empty.ogg", "zip"])
def test_bad_recording_files_never_lose_the_call(name, twilio, recorder, recorder_server, drain, db, voice_clips,
                                                 media_dir):
    """A 0-byte or non-audio 'recording' is refused, and the call still becomes a ticket for a call-back."""
    sid, rsid = "CA" + "6" * 32, "RE" + "6" * 32
    post(twilio, "/twilio/voice", sid)
    post(twilio, "/twilio/voice/step/language", sid, Digits="2")
    post(twilio, "/twilio/voice/step/district", sid, Digits="5")
    recorder.add_media(rsid, voice_clips[name], "audio/x-wav")
    url = recording_url(recorder_server, rsid)
    post(twilio, "/twilio/voice/step/recorded", sid, RecordingUrl=url, RecordingSid=rsid, RecordingDuration=3)
    post(twilio, "/twilio/voice/step/number", sid, Digits="1")
    post(twilio, "/twilio/voice/recording", sid, RecordingSid=rsid, RecordingUrl=url, RecordingStatus="completed",
         RecordingDuration=3)
    drain()
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c is not None and c.needs_callback and c.district == "kannauj"
        assert s.scalar(select(Attachment)).status == "rejected"
    assert any(c.ref in m["Body"] for m in recorder.to(CALLER))


def test_call_whose_end_is_never_reported_is_swept_into_a_ticket(twilio, recorder, drain, db, monkeypatch):
    """No call status callback (not configured, or lost): the worker's sweep hands the call on after
    ``STALE_AFTER`` with what the caller keyed, and only once."""
    from datetime import timedelta

    import channels.media_jobs
    from channels.voice import STALE_AFTER, sweep_stale_calls
    from models import utcnow

    monkeypatch.setattr(channels.media_jobs, "RECORDING_WAIT_S", 0)
    sid = "CA" + "6" * 32
    post(twilio, "/twilio/voice", sid)
    post(twilio, "/twilio/voice/step/language", sid, Digits="2")
    post(twilio, "/twilio/voice/step/district", sid, Digits="1")
    assert sweep_stale_calls() == 0  # still within any call's length
    later = utcnow() + STALE_AFTER + timedelta(minutes=5)
    assert sweep_stale_calls(now=later) == 1
    assert sweep_stale_calls(now=later) == 0  # handed on once
    drain()
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c is not None and c.channel == "voice" and c.needs_callback
        assert c.district == "kanpur_nagar" and c.phone == CALLER and c.language == "en"
        call = s.scalar(select(Message).where(Message.sid == sid))
        assert call.complaint_id == c.id and call.payload["ivr"]["call_status"] == "unreported"
        ref = c.ref
    assert any(ref in m["Body"] for m in recorder.to(CALLER))
    assert sweep_stale_calls(now=later + timedelta(hours=1)) == 0


@pytest.mark.parametrize("shown", ["+86282452253", "+8656696", "+266696687", "+7378742833", "+2562533"])
def test_withheld_caller_id_is_not_offered_as_the_alert_number(twilio, db, shown):
    """Twilio shows a withheld or unavailable caller ID as one of these numbers: no SMS may go there."""
    sid, rsid = "CA" + "7" * 32, "RE" + "7" * 32
    form = {"From": shown, "Caller": shown}
    twilio.post("/twilio/voice", call_form(sid, **form))
    twilio.post("/twilio/voice/step/language", call_form(sid, Digits="1", **form))
    twilio.post("/twilio/voice/step/district", call_form(sid, Digits="1", **form))
    t = twilio.post("/twilio/voice/step/recorded", call_form(sid, RecordingUrl="https://api.twilio.com/x",
                                                             RecordingSid=rsid, RecordingDuration=5, **form))
    assert 'numDigits="10"' in t.get_data(as_text=True)  # straight to keying in a number
    t = twilio.post("/twilio/voice/step/number", call_form(sid, Digits="1", **form))
    with db.session() as s:
        assert s.scalar(select(Message).where(Message.sid == sid)).payload["ivr"].get("alert_phone") is None
