"""The helpline IVR: ``POST /twilio/voice`` (an incoming call) and its steps, answered with TwiML.

The call: a greeting that says the call is recorded → language by keypad (1 Hindi, 2 English) →
district by keypad (1–9, from config's ``districts[].keypad``) → the complaint spoken after a beep
(``<Record>``, ``voice.max_record_seconds``) → the number for SMS alerts (1 = this number, 2 = key in
another ten-digit number) → a closing message saying what happens next.

Silence or a wrong key repeats the question once; the second time the call moves on with what was
given (Hindi, district unknown, no recording, the calling number). Every request is signature-checked
(403 otherwise) and answered at once; the call's state lives on its Message row (``sid`` = CallSid,
``payload["ivr"]``), so a hang-up anywhere leaves what was collected. The recording is never
transcribed here: once the call is over (closing step or the call status callback) and Twilio has said
where the recording is (``recordingStatusCallback``), one outbox row ``recording:<CallSid>`` hands it
to :func:`channels.media_jobs.recording`, which registers the ticket; the caller gets the reference by SMS.
A call that ends before anything was recorded still becomes a ticket, marked for a call-back.

The folder: :mod:`channels.voice.twiml` says each question, :mod:`channels.voice.call` keeps the call's
state and moves it a step, :mod:`channels.voice.sweep` hands on calls whose end was never reported; this
module holds the signed routes.

Operators: point the number's "A call comes in" webhook at ``/twilio/voice`` and its "Call status
changes" callback at ``/twilio/voice/status`` (both POST). Should that callback never come, the worker's
loop hands the call on after :data:`STALE_AFTER` (:func:`sweep_stale_calls`).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from channels import twilio as tw
from channels.base import BadRequest, raw_form
from channels.voice.call import (
    ENDED,
    NAME,
    SID,
    STEPS,
    WITHHELD,
    call_sid,
    load_call,
    maybe_queue,
    note_recording,
    save_state,
    state_of,
    step,
)
from channels.voice.sweep import STALE_AFTER, sweep_stale_calls
from channels.voice.twiml import BASE, ask_language, closing, say, twiml
from channels.webhook import bad_request, forbidden
from models import Message, db, utcnow

__all__ = ["NAME", "STALE_AFTER", "STEPS", "WITHHELD", "bp", "load_call", "step", "sweep_stale_calls"]
log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__)


def _guarded(fn):
    """Signature check, form check, one transaction; a failure answers politely, never 5xx."""
    if not tw.signature_ok(request):
        return forbidden()
    form = request.form.to_dict()
    try:
        call_sid(form)
    except BadRequest as exc:
        return bad_request(str(exc))
    try:
        with db.session() as s:
            return fn(s, form)
    except Exception:
        log.exception("voice webhook failed for %s", form.get("CallSid"))
        resp = VoiceResponse()
        say(resp, "sorry", "hi")
        say(resp, "sorry", "en")
        resp.hangup()
        return twiml(resp)


@bp.post(BASE)
def incoming():
    """Twilio posts here when a call comes in: store the call, greet, ask the language."""
    def run(s: Session, form: dict[str, str]):
        row = load_call(s, form)
        st = state_of(row)
        resp = VoiceResponse()
        if st.get("done"):
            closing(resp, st.get("lang") or "hi")
            return twiml(resp)
        say(resp, "welcome", "hi")
        say(resp, "welcome", "en")
        ask_language(resp)
        return twiml(resp)
    return _guarded(run)


@bp.post(f"{BASE}/step/<name>")
def on_step(name: str):
    """One step of the call (the action of a <Gather> or <Record>, or a <Redirect> after silence)."""
    if name not in STEPS:
        return bad_request("unknown step")
    return _guarded(lambda s, form: twiml(step(s, name, form)))


@bp.post(f"{BASE}/recording")
def recording_status():
    """Twilio's recordingStatusCallback: where the recording is; stored once per RecordingSid."""
    def run(s: Session, form: dict[str, str]):
        rsid = (form.get("RecordingSid") or "").strip()
        if not SID.match(rsid):
            return bad_request("RecordingSid missing or malformed")
        row = load_call(s, form)
        rec = Message(sid=rsid, direction="in", channel=NAME, kind="recording", from_addr=row.from_addr,
                      payload=raw_form(form), created_at=utcnow())
        try:
            with s.begin_nested():
                s.add(rec)
                s.flush()
        except IntegrityError:
            return Response("", status=204)  # a repeated callback
        st = state_of(row)
        status = (form.get("RecordingStatus") or "completed").lower()
        dur = form.get("RecordingDuration") or ""
        if status == "completed" and form.get("RecordingUrl") and (not dur.isdigit() or int(dur) > 0):
            note_recording(st, form)
            st["recording_ready"] = True
        elif not st.get("recording_url"):
            st["recording_expected"] = False
        maybe_queue(s, row, st)
        save_state(row, st)
        return Response("", status=204)
    return _guarded(run)


@bp.post(f"{BASE}/status")
def call_status():
    """The call status callback: a call that ended (even mid-way) is handed on, never lost."""
    def run(s: Session, form: dict[str, str]):
        status = (form.get("CallStatus") or "").lower()
        row = load_call(s, form, create=status in ENDED)
        if row is None or status not in ENDED:
            return Response("", status=204)
        st = state_of(row)
        if not st.get("ended_at"):
            st["ended_at"] = utcnow().isoformat()
            st["call_status"] = status
            st.setdefault("alert_phone", st.get("caller"))
        maybe_queue(s, row, st)
        save_state(row, st)
        return Response("", status=204)
    return _guarded(run)
