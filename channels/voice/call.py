"""The call's state and its steps: one Message row per call (``sid`` = CallSid, ``payload["ivr"]``).

Each keypad answer, silence or recording moves the call one step (:func:`step`); a wrong key or silence
counts a miss and asks once more, the second miss goes on with what was given. Once the call is over and
its recording (if any) is known, :func:`maybe_queue` hands it to the ``recording`` job
(:func:`channels.media_jobs.recording`) by one outbox row ``recording:<CallSid>``.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from channels.base import BadRequest, raw_form
from channels.voice.twiml import ask_district, ask_language, ask_number, ask_number_entry, ask_record, closing
from models import Message, utcnow
from tasks import outbox
from zone import get_zone, phones

NAME = "voice"
STEPS = ("language", "district", "recorded", "norecord", "number", "number_entry")
ENDED = {"completed", "busy", "failed", "no-answer", "canceled"}
SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
# How Twilio shows a caller ID that is withheld or unknown (ANONYMOUS, RESTRICTED, BLOCKED, UNKNOWN, UNAVAILABLE
# spelled on a keypad): no one's number, so never offered as the alert number.
WITHHELD = {"+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253"}


def call_sid(form: dict[str, str]) -> str:
    """The request's CallSid.

    Raises:
        BadRequest: CallSid is missing or malformed.
    """
    sid = (form.get("CallSid") or "").strip()
    if not SID.match(sid):
        raise BadRequest("CallSid missing or malformed")
    return sid


def load_call(session: Session, form: dict[str, str], create: bool = True) -> Message | None:
    """The call's Message row (unique on CallSid), created on the first request of the call."""
    sid = call_sid(form)
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


def state_of(row: Message) -> dict[str, Any]:
    """A copy of what the call collected so far (its step, language, district, misses, recording)."""
    st = dict((row.payload or {}).get("ivr") or {})
    st["tries"] = dict(st.get("tries") or {})
    return st


def save_state(row: Message, st: dict[str, Any]) -> None:
    """Store ``st`` on the call's row."""
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


def _digits(form: dict[str, str]) -> str:
    return re.sub(r"[^0-9*#]", "", form.get("Digits") or "")[:20]


def step(session: Session, name: str, form: dict[str, str]) -> VoiceResponse:
    """Advance the call by one step and return the TwiML for the next."""
    row = load_call(session, form)
    st = state_of(row)
    lang = st.get("lang") or "hi"
    resp = VoiceResponse()
    digits = _digits(form)
    z = get_zone()
    if name == "language":
        if digits in ("1", "2"):
            st["lang"] = lang = "hi" if digits == "1" else "en"
        elif _retry(st, "language"):
            ask_language(resp, retry=True)
            save_state(row, st)
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
            save_state(row, st)
            return resp
        st["step"] = "record"
        st["recording_expected"] = True
        ask_record(resp, lang)
    elif name == "recorded":
        url = (form.get("RecordingUrl") or "").strip()[:1000]
        dur = form.get("RecordingDuration") or ""
        if url and (not dur.isdigit() or int(dur) > 0):
            note_recording(st, form)
            st["step"] = "number"
            ask_number(resp, lang, bool(st.get("caller")))
        else:
            return step(session, "norecord", form)
    elif name == "norecord":
        if _retry(st, "record"):
            ask_record(resp, lang, retry=True)
            save_state(row, st)
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
            save_state(row, st)
            return resp
        elif _retry(st, "number"):
            ask_number(resp, lang, bool(st.get("caller")), retry=True)
            save_state(row, st)
            return resp
        _finish(session, row, st, resp, lang)
    elif name == "number_entry":
        phone = phones.sender(digits) if len(digits) == 10 and digits[0] in "6789" else None
        if phone:
            st["alert_phone"] = phone
        elif _retry(st, "number_entry"):
            ask_number_entry(resp, lang, retry=True)
            save_state(row, st)
            return resp
        _finish(session, row, st, resp, lang)
    save_state(row, st)
    return resp


def _finish(session: Session, row: Message, st: dict[str, Any], resp: VoiceResponse, lang: str) -> None:
    st.setdefault("alert_phone", st.get("caller"))
    st["step"], st["done"] = "closed", True
    closing(resp, lang)
    maybe_queue(session, row, st)


def note_recording(st: dict[str, Any], form: dict[str, str]) -> None:
    st["recording_url"] = (form.get("RecordingUrl") or "").strip()[:1000]
    st["recording_sid"] = (form.get("RecordingSid") or "").strip()[:64]
    dur = form.get("RecordingDuration") or ""
    st["recording_duration"] = int(dur) if dur.isdigit() else None
