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

Operators: point the number's "A call comes in" webhook at ``/twilio/voice`` and its "Call status
changes" callback at ``/twilio/voice/status`` (both POST). Should that callback never come, the worker's
loop hands the call on after :data:`STALE_AFTER` (:func:`sweep_stale_calls`).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import exists, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from channels import twilio as tw
from channels.base import BadRequest, raw_form
from channels.webhook import TWIML, bad_request, forbidden
from models import Message, Outbox, db, utcnow
from tasks import outbox
from zone import get_zone, messages, phones

log = logging.getLogger(__name__)
NAME = "voice"
bp = Blueprint("voice", __name__)
BASE = "/twilio/voice"
STEPS = ("language", "district", "recorded", "norecord", "number", "number_entry")
ENDED = {"completed", "busy", "failed", "no-answer", "canceled"}
_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
# How Twilio shows a caller ID that is withheld or unknown (ANONYMOUS, RESTRICTED, BLOCKED, UNKNOWN, UNAVAILABLE
# spelled on a keypad): no one's number, so never offered as the alert number.
WITHHELD = {"+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253"}

T: dict[str, dict[str, str]] = messages.section("ivr")


# -- TwiML --------------------------------------------------------------------------------------------

def _say(node, key: str, lang: str, **kw: Any) -> None:
    v = get_zone().voice
    node.say(T[key][lang].format(**kw), language="hi-IN" if lang == "hi" else "en-IN",
             voice=v.say_voice_hi if lang == "hi" else v.say_voice_en)


def _url(step: str) -> str:
    return f"{BASE}/step/{step}"


def _gather(resp: VoiceResponse, step: str, num_digits: int = 1):
    return resp.gather(num_digits=num_digits, action=_url(step), method="POST",
                       timeout=get_zone().voice.gather_timeout_seconds, action_on_empty_result=False)


def _twiml(resp: VoiceResponse) -> Response:
    return Response(str(resp), mimetype=TWIML)


def ask_language(resp: VoiceResponse, retry: bool = False) -> None:
    """The language menu (bilingual, repeated once on silence)."""
    g = _gather(resp, "language")
    if retry:
        _say(g, "again", "hi")
    _say(g, "language", "hi")
    _say(g, "language", "en")
    resp.redirect(_url("language"), method="POST")


def ask_district(resp: VoiceResponse, lang: str, retry: bool = False) -> None:
    """The district menu: one line per district, in keypad order."""
    z = get_zone()
    g = _gather(resp, "district")
    if retry:
        _say(g, "again", lang)
    _say(g, "district_head", lang)
    for d in sorted((d for d in z.districts if 1 <= d.keypad <= 9), key=lambda d: d.keypad):
        _say(g, "district_item", lang, name=messages.name(d, lang), n=d.keypad)
    resp.redirect(_url("district"), method="POST")


def ask_record(resp: VoiceResponse, lang: str, retry: bool = False) -> None:
    """The recording: a beep, up to ``voice.max_record_seconds``, ended by silence or the hash key."""
    v = get_zone().voice
    if retry:
        _say(resp, "no_speech", lang)
    _say(resp, "record", lang)
    resp.record(action=_url("recorded"), method="POST", max_length=v.max_record_seconds,
                timeout=v.record_silence_seconds, finish_on_key="#", play_beep=True, trim="trim-silence",
                recording_status_callback=f"{BASE}/recording", recording_status_callback_method="POST",
                recording_status_callback_event="completed")
    resp.redirect(_url("norecord"), method="POST")  # Twilio goes on here when nothing was recorded


def ask_number(resp: VoiceResponse, lang: str, has_caller: bool, retry: bool = False) -> None:
    """The SMS alert number: this one (1) or another (2); straight to entry when the caller is withheld."""
    if not has_caller:
        ask_number_entry(resp, lang, retry)
        return
    g = _gather(resp, "number")
    if retry:
        _say(g, "again", lang)
    _say(g, "number", lang)
    resp.redirect(_url("number"), method="POST")


def ask_number_entry(resp: VoiceResponse, lang: str, retry: bool = False) -> None:
    g = _gather(resp, "number_entry", num_digits=10)
    if retry:
        _say(g, "again", lang)
    _say(g, "number_entry", lang)
    resp.redirect(_url("number_entry"), method="POST")


def closing(resp: VoiceResponse, lang: str) -> None:
    _say(resp, "closing", lang)
    resp.hangup()


# -- the call's state ---------------------------------------------------------------------------------

def _call_sid(form: dict[str, str]) -> str:
    sid = (form.get("CallSid") or "").strip()
    if not _SID.match(sid):
        raise BadRequest("CallSid missing or malformed")
    return sid


def load_call(session: Session, form: dict[str, str], create: bool = True) -> Message | None:
    """The call's Message row (unique on CallSid), created on the first request of the call."""
    sid = _call_sid(form)
    q = select(Message).where(Message.sid == sid)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()  # the recording and status callbacks may race the caller's key presses
    row = session.scalar(q)
    if row is not None or not create:
        return row
    frm = (form.get("From") or "")[:80]
    caller = None if frm.strip() in WITHHELD else phones.sender(frm)
    row = Message(sid=sid, direction="in", channel=NAME, from_addr=frm, to_addr=(form.get("To") or "")[:80],
                  kind="call", status="received", created_at=utcnow(),
                  payload={"form": raw_form(form), "ivr": {"step": "language", "tries": {},
                                                           "caller": caller}})
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # a concurrent first request for the same call
        row = session.scalar(q)
    return row


def _state(row: Message) -> dict[str, Any]:
    st = dict((row.payload or {}).get("ivr") or {})
    st["tries"] = dict(st.get("tries") or {})
    return st


def _save(row: Message, st: dict[str, Any]) -> None:
    row.payload = {**(row.payload or {}), "ivr": st}  # a new dict: the JSON column sees the change


def _retry(st: dict[str, Any], step: str) -> bool:
    """Count a miss on ``step``; True when the question should be asked once more."""
    n = st["tries"].get(step, 0) + 1
    st["tries"][step] = n
    return n < 2


def maybe_queue(session: Session, row: Message, st: dict[str, Any]) -> bool:
    """Hand the call to the ``recording`` job once it is over and its recording (if any) is known."""
    over = st.get("done") or st.get("ended_at")
    if not over or row.complaint_id is not None:
        return False
    if st.get("recording_expected") and not st.get("recording_ready") and not st.get("ended_at"):
        return False  # the closing step came first: wait for the recording callback or the end of the call
    outbox.add(session, f"recording:{row.sid}", "recording", {"call_sid": row.sid})
    return True


# -- the steps ----------------------------------------------------------------------------------------

def _digits(form: dict[str, str]) -> str:
    return re.sub(r"[^0-9*#]", "", form.get("Digits") or "")[:20]


def step(session: Session, name: str, form: dict[str, str]) -> VoiceResponse:
    """Advance the call by one step and return the TwiML for the next."""
    row = load_call(session, form)
    st = _state(row)
    lang = st.get("lang") or "hi"
    resp = VoiceResponse()
    digits = _digits(form)
    z = get_zone()
    if name == "language":
        if digits in ("1", "2"):
            st["lang"] = lang = "hi" if digits == "1" else "en"
        elif _retry(st, "language"):
            ask_language(resp, retry=True)
            _save(row, st)
            return resp
        else:
            st["lang"] = lang = z.default_language
        st["step"] = "district"
        ask_district(resp, lang)
    elif name == "district":
        d = z.district_by_keypad(int(digits)) if digits.isdigit() and len(digits) == 1 else None
        if d is not None and d.keypad >= 1:
            st["district"] = d.key
        elif _retry(st, "district"):
            ask_district(resp, lang, retry=True)
            _save(row, st)
            return resp
        st["step"] = "record"
        st["recording_expected"] = True
        ask_record(resp, lang)
    elif name == "recorded":
        url = (form.get("RecordingUrl") or "").strip()[:1000]
        dur = form.get("RecordingDuration") or ""
        if url and (not dur.isdigit() or int(dur) > 0):
            _note_recording(st, form)
            st["step"] = "number"
            ask_number(resp, lang, bool(st.get("caller")))
        else:
            return step(session, "norecord", form)
    elif name == "norecord":
        if _retry(st, "record"):
            ask_record(resp, lang, retry=True)
            _save(row, st)
            return resp
        if not st.get("recording_url"):
            st["recording_expected"] = False
        st["step"] = "number"
        ask_number(resp, lang, bool(st.get("caller")))
    elif name == "number":
        if digits == "1" and st.get("caller"):
            st["alert_phone"] = st["caller"]
        elif digits == "2":
            st["step"] = "number_entry"
            ask_number_entry(resp, lang)
            _save(row, st)
            return resp
        elif _retry(st, "number"):
            ask_number(resp, lang, bool(st.get("caller")), retry=True)
            _save(row, st)
            return resp
        _finish(session, row, st, resp, lang)
    elif name == "number_entry":
        phone = phones.sender(digits) if len(digits) == 10 and digits[0] in "6789" else None
        if phone:
            st["alert_phone"] = phone
        elif _retry(st, "number_entry"):
            ask_number_entry(resp, lang, retry=True)
            _save(row, st)
            return resp
        _finish(session, row, st, resp, lang)
    _save(row, st)
    return resp


def _finish(session: Session, row: Message, st: dict[str, Any], resp: VoiceResponse, lang: str) -> None:
    st.setdefault("alert_phone", st.get("caller"))
    st["step"], st["done"] = "closed", True
    closing(resp, lang)
    maybe_queue(session, row, st)


def _note_recording(st: dict[str, Any], form: dict[str, str]) -> None:
    st["recording_url"] = (form.get("RecordingUrl") or "").strip()[:1000]
    st["recording_sid"] = (form.get("RecordingSid") or "").strip()[:64]
    dur = form.get("RecordingDuration") or ""
    st["recording_duration"] = int(dur) if dur.isdigit() else None


def _guarded(fn):
    """Signature check, form check, one transaction; a failure answers politely, never 5xx."""
    if not tw.signature_ok(request):
        return forbidden()
    form = request.form.to_dict()
    try:
        _call_sid(form)
    except BadRequest as exc:
        return bad_request(str(exc))
    try:
        with db.session() as s:
            return fn(s, form)
    except Exception:
        log.exception("voice webhook failed for %s", form.get("CallSid"))
        resp = VoiceResponse()
        _say(resp, "sorry", "hi")
        _say(resp, "sorry", "en")
        resp.hangup()
        return _twiml(resp)


@bp.post(BASE)
def incoming():
    """Twilio posts here when a call comes in: store the call, greet, ask the language."""
    def run(s: Session, form: dict[str, str]):
        row = load_call(s, form)
        st = _state(row)
        resp = VoiceResponse()
        if st.get("done"):
            closing(resp, st.get("lang") or "hi")
            return _twiml(resp)
        _say(resp, "welcome", "hi")
        _say(resp, "welcome", "en")
        ask_language(resp)
        return _twiml(resp)
    return _guarded(run)


@bp.post(f"{BASE}/step/<name>")
def on_step(name: str):
    """One step of the call (the action of a <Gather> or <Record>, or a <Redirect> after silence)."""
    if name not in STEPS:
        return bad_request("unknown step")
    return _guarded(lambda s, form: _twiml(step(s, name, form)))


@bp.post(f"{BASE}/recording")
def recording_status():
    """Twilio's recordingStatusCallback: where the recording is; stored once per RecordingSid."""
    def run(s: Session, form: dict[str, str]):
        rsid = (form.get("RecordingSid") or "").strip()
        if not _SID.match(rsid):
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
        st = _state(row)
        status = (form.get("RecordingStatus") or "completed").lower()
        dur = form.get("RecordingDuration") or ""
        if status == "completed" and form.get("RecordingUrl") and (not dur.isdigit() or int(dur) > 0):
            _note_recording(st, form)
            st["recording_ready"] = True
        elif not st.get("recording_url"):
            st["recording_expected"] = False
        maybe_queue(s, row, st)
        _save(row, st)
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
        st = _state(row)
        if not st.get("ended_at"):
            st["ended_at"] = utcnow().isoformat()
            st["call_status"] = status
            st.setdefault("alert_phone", st.get("caller"))
        maybe_queue(s, row, st)
        _save(row, st)
        return Response("", status=204)
    return _guarded(run)


# A call still open this long after its first request has ended without Twilio telling us (the call
# status callback not configured, or lost): longer than any call this IVR can make.
STALE_AFTER = timedelta(minutes=30)


def sweep_stale_calls(now: datetime | None = None, limit: int = 200) -> int:
    """Hand on calls whose end was never reported, with what the caller gave; returns how many.

    Such a call would otherwise wait forever for the status callback: the keyed district, the caller's
    number and any recording already noted go to the ``recording`` job like an ended call's (a call-back
    ticket when there is no recording). Run by the worker's loop; safe on several nodes at once (rows are
    claimed with ``SKIP LOCKED`` on PostgreSQL, and the job's outbox key is unique per call).
    """
    now = now or utcnow()
    cutoff = now - STALE_AFTER - timedelta(seconds=get_zone().voice.max_record_seconds)
    queued = exists().where(Outbox.key == literal("recording:").concat(Message.sid))
    q = (select(Message).where(Message.kind == "call", Message.direction == "in", Message.complaint_id.is_(None),
                               Message.created_at < cutoff, Message.created_at > now - timedelta(days=7), ~queued)
         .order_by(Message.id).limit(limit))
    n = 0
    with db.session() as s:
        if s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        for row in s.scalars(q).all():
            st = _state(row)
            if not st.get("ended_at"):
                st["ended_at"], st["call_status"] = now.isoformat(), "unreported"
            st.setdefault("alert_phone", st.get("caller"))
            if not st.get("recording_ready"):  # its callback would have come long ago: go with what is noted
                st["recording_expected"] = False
            if maybe_queue(s, row, st):
                n += 1
                log.warning("call %s: no end reported after %s; handed on with what was given", row.sid, STALE_AFTER)
            _save(row, st)
    return n
