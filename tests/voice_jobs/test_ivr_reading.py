"""The IVR's recording is read as speech, like a voice note: near-miss names and Hindi complaint words count.

The transcript here is fixed (a stand-in transcriber returns it) because what matters is how the job reads
it: espeak-ng at 8 kHz gives no stable near-miss to test with. The words are what Whisper "base" really
wrote for espeak-ng's "कन्नौज में मेरे पड़ोसी ने मेरी ज़मीन पर कब्ज़ा कर लिया है" (bench/voice_accuracy.py);
read as typed text they name no district and no category. The full call with real speech and real
Whisper is tests/channels/voice/test_ivr.py.
"""

from __future__ import annotations

from sqlalchemy import select

from models import Complaint
from tests.channels.voice.test_ivr import CALLER, post, recording_url, say
from voice.transcribe import Segment, Transcript

HEARD = "Kanodme Mehme Parosi Nehme Rizomin, Parkamma Karliahai."


class Heard:
    """A transcriber that 'hears' a fixed Hindi transcript."""

    def transcribe(self, audio, *, language=None):
        return Transcript(HEARD, "hi", 0.62, 4.0, (Segment(0.0, 4.0, HEARD, -0.4, 0.05),), 0.9, 1.0, "fixed")


def test_a_call_with_no_district_keyed_takes_place_and_category_from_the_speech(
        twilio, recorder, recorder_server, drain, db, voice_clips, media_dir, monkeypatch):
    import channels.media_jobs

    monkeypatch.setattr(channels.media_jobs, "_transcriber", Heard)
    sid, rsid = "CA" + "7" * 32, "RE" + "7" * 32
    post(twilio, "/twilio/voice", sid, CallStatus="ringing")
    post(twilio, "/twilio/voice/step/language", sid, Digits="1")
    post(twilio, "/twilio/voice/step/district", sid)  # silence, asked again
    t = post(twilio, "/twilio/voice/step/district", sid)  # silence again: on without a district
    assert "<Record" in t, say(t)
    recorder.add_media(rsid, voice_clips["call_mulaw.wav"], "audio/x-wav")
    url = recording_url(recorder_server, rsid)
    post(twilio, "/twilio/voice/step/recorded", sid, RecordingUrl=url, RecordingSid=rsid, RecordingDuration=4,
         Digits="#")
    post(twilio, "/twilio/voice/step/number", sid, Digits="1")
    post(twilio, "/twilio/voice/recording", sid, RecordingSid=rsid, RecordingUrl=url, RecordingStatus="completed",
         RecordingDuration=4)
    post(twilio, "/twilio/voice/status", sid, CallStatus="completed", CallDuration=40)
    drain()
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c is not None and c.channel == "voice" and c.phone == CALLER
        assert (c.district, c.category) == ("kannauj", "land_dispute"), (c.district, c.category, c.description)
        assert c.description == HEARD  # what was heard stays as said; the reading only fills the fields


def test_a_withheld_caller_who_keys_no_number_gets_a_ticket_and_no_sms_to_the_placeholder(
        twilio, recorder, recorder_server, drain, db, voice_clips, media_dir, monkeypatch):
    """Twilio shows a withheld caller ID as +8656696; the IVR does not offer it, and neither may the job."""
    import channels.media_jobs

    monkeypatch.setattr(channels.media_jobs, "_transcriber", Heard)
    shown = "+8656696"
    sid, rsid = "CA" + "8" * 32, "RE" + "8" * 32
    form = {"From": shown, "Caller": shown}
    post(twilio, "/twilio/voice", sid, CallStatus="ringing", **form)
    post(twilio, "/twilio/voice/step/language", sid, Digits="1", **form)
    post(twilio, "/twilio/voice/step/district", sid, Digits="6", **form)
    recorder.add_media(rsid, voice_clips["call_mulaw.wav"], "audio/x-wav")
    url = recording_url(recorder_server, rsid)
    t = post(twilio, "/twilio/voice/step/recorded", sid, RecordingUrl=url, RecordingSid=rsid, RecordingDuration=4,
             **form)
    assert 'numDigits="10"' in t  # straight to keying in a number
    post(twilio, "/twilio/voice/step/number_entry", sid, Digits="12", **form)  # wrong, asked again
    post(twilio, "/twilio/voice/step/number_entry", sid, **form)  # nothing: on without a number
    post(twilio, "/twilio/voice/recording", sid, RecordingSid=rsid, RecordingUrl=url, RecordingStatus="completed",
         RecordingDuration=4, **form)
    post(twilio, "/twilio/voice/status", sid, CallStatus="completed", CallDuration=40, **form)
    drain()
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c is not None and c.channel == "voice" and c.phone is None, (c and c.phone)
    assert recorder.to(shown) == []
