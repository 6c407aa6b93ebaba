"""The voice outbox jobs: voice notes, sign-language videos and helpline recordings (rq queue 'media').

* ``transcribe`` (payload ``{attachment_id}``, queued by :func:`channels.media.process_media` for every
  stored audio or video attachment): a voice note becomes a transcript on its Attachment and is fed to
  the dialogue engine *as if typed* (an :class:`channels.base.Incoming` of kind ``transcript`` with its
  confidence and language, sid ``<MessageSid>:transcript``); the engine's replies go out as a follow-up
  message. A video attachment gets the video treatment below, without the interpreter flag (a WhatsApp
  video may be evidence; the engine asks whether it is sign language).
* ``video`` (payload ``{attachment_id}``, queued by the citizen web page's ``/video`` upload): the
  video is checked (container, duration, size), a contact sheet of keyframes is made for staff, any
  speech in it is transcribed, and its ticket is marked ``needs_interpreter``; the clock runs.
* ``recording`` (payload ``{call_sid}``, queued by the helpline IVR in :mod:`channels.voice`): the
  call's recording is fetched from Twilio, transcribed, run through :func:`bot.nlu.extract`, and a
  ticket is registered with what the caller keyed and said; the caller gets the reference by SMS
  through the normal routing notifications. A call without a usable recording still registers a
  ticket, marked for the 1 Number cell to call back.

Every job is idempotent (rq delivers at least once): each checks the attachment's or the call's state
first. Bad media never loses a complaint: the file is marked ``rejected`` with its reason, the citizen
gets a polite message, and a ticket that exists stays registered (marked for a human).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from channels import twilio as tw
from channels.base import Incoming, address_of
from channels.followup import answer, queue_followup
from models import Attachment, Citizen, Complaint, Message, Outbox, utcnow
from tasks import outbox as ob
from voice.errors import FetchFailed, MediaRejected
from voice.media import media_dir
from zone import messages, phones

log = logging.getLogger(__name__)

# Below this confidence (or with no words at all) a voice note is not fed to the engine: what Whisper
# makes of noise (measured on espeak-ng speech: 0.40-0.85; brown noise: 0.09, white noise: 0 and no text).
NOT_UNDERSTOOD = 0.25
# After this many relay deliveries a recording that cannot be fetched is given up (the ticket is still made).
FETCH_ATTEMPTS = 3
# How long after a call ends to wait for Twilio's recording callback before registering without it.
RECORDING_WAIT_S = 90

TEXTS = messages.section("voice_note")
WHY = messages.section("media_why")
CALL_DESCRIPTION = messages.entry("officer.call_not_recorded")


def _aware(dt: datetime | None) -> datetime:
    if dt is None:
        return utcnow()
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _lang(cit: Citizen | None, default: str = "hi") -> str:
    return cit.language if cit is not None and cit.language in ("hi", "en") else default


def _tell(session: Session, key: str, msg: Message, cit: Citizen | None, text: str) -> None:
    """Queue a free-form message back to whoever sent ``msg`` (its chat, or the citizen's phone), once per ``key``."""
    answer(session, key, msg, cit, text, _lang(cit))


def _transcriber():
    from voice.transcribe import get_transcriber

    return get_transcriber()


def _decode(path: str):
    from voice.audio import AudioLimits, decode

    return decode(path, limits=AudioLimits.from_zone())


# -- voice notes --------------------------------------------------------------------------------------

def transcribe(session: Session, row: Outbox) -> None:
    """The outbox job ``transcribe``: a stored voice note → transcript → the dialogue engine, as if typed.

    The transcript, its language and confidence are kept on the Attachment (whose sha256 stays the
    evidence). The engine sees an Incoming of kind ``transcript`` with the confidence; below the zone's
    ``conversation.low_confidence`` the reply starts by reading back what was heard. A clip with no words
    (noise) is not fed to the engine: the citizen is asked to type or resend, and the note stays for staff.
    Audio that cannot be decoded (silent, truncated, too long) is marked ``rejected`` with a polite message.

    Args:
        session: the job's session (committed by :func:`tasks.jobs.run_outbox`).
        row: the outbox row; payload ``{attachment_id}``.
    """
    att = session.get(Attachment, row.payload["attachment_id"])
    if att is None or att.status != "stored" or not att.path:
        return  # already done, rejected, or never stored
    if att.kind == "video":
        _video(session, att, sign=False)
        return
    msg = session.get(Message, att.message_id) if att.message_id else None
    cit = session.get(Citizen, msg.citizen_id) if msg is not None and msg.citizen_id else None
    try:
        audio = _decode(att.path)
    except MediaRejected as exc:
        att.status, att.reject_reason = "rejected", f"{exc.reason}: {exc.detail}"[:200]
        log.info("voice note %s rejected: %s", att.id, exc)
        if msg is not None:
            lang = _lang(cit)
            why = WHY.get(exc.reason, WHY["unreadable"])[lang]
            _tell(session, f"voice_rejected:{att.id}", msg, cit, TEXTS["bad_audio"][lang].format(why=why))
        return
    tr = _transcriber().transcribe(audio.samples)
    att.transcript, att.transcript_language = tr.text, tr.language
    att.transcript_confidence = round(tr.confidence, 3)
    att.duration = att.duration or audio.duration
    att.status = "transcribed"
    log.info("voice note %s: %.1f s, %s, confidence %.2f", att.id, audio.duration, tr.language, tr.confidence)
    if msg is None:
        return  # an upload with no conversation: the transcript is kept for staff
    if not tr.text.strip() or tr.confidence < NOT_UNDERSTOOD:
        att.reject_reason = "not_understood: needs a listener"
        _tell(session, f"voice_unclear:{att.id}", msg, cit, TEXTS["not_understood"][_lang(cit, tr.language)])
        return
    feed_transcript(session, msg, cit, att, tr.text, tr.confidence, tr.language)


def feed_transcript(session: Session, msg: Message, cit: Citizen | None, att: Attachment, text: str,
                    confidence: float, language: str) -> list[str]:
    """Run a transcript through the dialogue engine as if the citizen had typed it, and queue the replies.

    Args:
        session: the caller's session.
        msg: the inbound message that carried the voice note.
        cit: its citizen.
        att: the voice note.
        text: what was said.
        confidence: the transcriber's confidence.
        language: the spoken language.

    Returns:
        The reply texts queued.
    """
    from channels.inbound import process
    from zone import get_zone

    address = address_of(msg.channel, msg.from_addr)
    path = address.partition(":")[2] if address else ""
    phone = cit.phone if cit is not None else (phones.sender(path) if path.startswith("+") else None)
    incoming = Incoming(sid=f"{msg.sid}:transcript"[:64], channel=msg.channel, from_addr=msg.from_addr or "",
                        to_addr=msg.to_addr or "", phone=phone, address=address, body=text, kind="transcript",
                        at=_aware(msg.created_at), confidence=confidence, language=language,
                        raw={"transcript_of": msg.sid, "attachment_id": att.id})
    texts = process(session, incoming, limit=False)  # the voice note itself was counted by the flood limit
    if confidence < get_zone().conversation.low_confidence:
        lang = language if language in ("hi", "en") else _lang(cit)
        texts = [TEXTS["heard"][lang].format(text=text[:600])] + texts
    if texts:
        queue_followup(session, incoming, texts)
    return texts


# -- sign-language and other videos --------------------------------------------------------------------

def video(session: Session, row: Outbox) -> None:
    """The outbox job ``video``: a sign-language video for the interpreter queue.

    Checks the container, duration and size (:func:`voice.media.probe`), makes a contact sheet of
    keyframes (:func:`voice.keyframes.contact_sheet`), transcribes any speech in its audio, and marks its
    ticket ``needs_interpreter`` (the clock keeps running). A file that is not a usable video is marked
    ``rejected`` and the citizen told politely; the ticket stays registered and flagged for a human.

    Args:
        session: the job's session.
        row: the outbox row; payload ``{attachment_id}``.
    """
    att = session.get(Attachment, row.payload["attachment_id"])
    if att is None or att.status not in ("stored", "pending") or att.keyframes_path:
        return
    _video(session, att, sign=True)


def _complaint_of(session: Session, att: Attachment) -> tuple[Complaint | None, Message | None]:
    msg = session.get(Message, att.message_id) if att.message_id else None
    cid = att.complaint_id or (msg.complaint_id if msg is not None else None)
    return (session.get(Complaint, cid) if cid else None), msg


def _video(session: Session, att: Attachment, *, sign: bool) -> None:
    from tickets.actions import event
    from voice.keyframes import contact_sheet
    from voice.media import ProbeLimits, probe

    c, msg = _complaint_of(session, att)
    if sign and c is not None and not c.needs_interpreter:
        c.needs_interpreter = True  # first: whatever the file turns out to be, a person must look at it
    try:
        if not att.path or not Path(att.path).exists():
            raise MediaRejected("empty", "no stored file")
        info = probe(att.path, limits=ProbeLimits.from_zone())
        if info.kind != "video" or not info.has_video:
            raise MediaRejected("not_media", f"not a video ({info.mime})")
        sheet = contact_sheet(att.path, media_dir() / "keyframes" / f"{att.sha256 or att.id}.png", info=info)
    except MediaRejected as exc:
        att.status, att.reject_reason = "rejected", f"{exc.reason}: {exc.detail}"[:200]
        log.info("video %s rejected: %s", att.id, exc)
        if c is not None:
            event(session, c, "media_rejected", "worker", attachment=att.id, reason=exc.reason)
        _tell_video(session, att, c, msg)
        return
    att.keyframes_path, att.duration, att.mime = str(sheet.path), info.duration, att.mime or info.mime
    if info.has_audio:
        try:
            audio = _decode(att.path)
            tr = _transcriber().transcribe(audio.samples)
            if tr.text.strip():
                att.transcript, att.transcript_language = tr.text, tr.language
                att.transcript_confidence = round(tr.confidence, 3)
        except MediaRejected as exc:  # a silent or odd audio track: the video itself is still fine
            log.info("video %s: no speech (%s)", att.id, exc.reason)
    att.status = "transcribed" if att.transcript else "stored"
    if c is not None:
        event(session, c, "video_ready", "worker", attachment=att.id, tiles=sheet.tiles,
              speech=bool(att.transcript), interpreter=sign)


def _tell_video(session: Session, att: Attachment, c: Complaint | None, msg: Message | None) -> None:
    if c is not None:
        lang = c.language if c.language in ("hi", "en") else "hi"
        payload = {"to_phone": c.phone, "to_chat": c.chat_address if not c.phone else None, "audience": "citizen",
                   "text": TEXTS["bad_video"][lang].format(ref=c.ref), "template": None, "lang": lang,
                   "complaint_id": c.id}
        if payload["to_phone"] or payload["to_chat"]:
            ob.add(session, f"video_rejected:{att.id}", "send", payload)
    elif msg is not None:
        cit = session.get(Citizen, msg.citizen_id) if msg.citizen_id else None
        _tell(session, f"video_rejected:{att.id}", msg, cit, TEXTS["bad_video_noref"][_lang(cit)])


# -- helpline recordings ------------------------------------------------------------------------------

class RecordingPending(Exception):
    """The call has ended but Twilio has not yet said where its recording is: retry shortly."""

    retryable = True


def recording(session: Session, row: Outbox) -> None:
    """The outbox job ``recording``: a helpline call → a registered ticket.

    The call's state (language, district key, alert number, recording) is on its Message (sid = CallSid,
    see :mod:`channels.voice`). The recording is fetched with the account's credentials from the
    ``TWILIO_API_BASE_URL`` host only (:func:`voice.media.fetch`), decoded and transcribed; the NLU fills
    category, place, time and (unless keyed) district from the speech. Without a usable recording (the
    caller hung up, stayed silent, or the file is bad) the ticket is still registered, described as
    such and marked ``needs_callback`` for the 1 Number cell.

    Args:
        session: the job's session.
        row: the outbox row; payload ``{call_sid}``.

    Raises:
        RecordingPending: the call recorded something whose URL has not arrived yet (retryable).
        voice.errors.FetchFailed: a transient download failure (retryable), for the first attempts.
    """
    from bot.nlu import extract
    from bot.types import ComplaintDraft
    from models.conversations import find_citizen
    from tickets.actions import event, register_complaint
    from zone import get_zone

    call = session.scalar(_call_query(row.payload["call_sid"]))
    if call is None or call.complaint_id is not None:
        return
    st = dict((call.payload or {}).get("ivr") or {})
    z = get_zone()
    lang = st.get("lang") if st.get("lang") in z.languages else z.default_language
    rec_url = st.get("recording_url")
    if st.get("recording_expected") and not st.get("recording_ready"):
        ended = st.get("ended_at")
        if ended and (utcnow() - datetime.fromisoformat(ended)).total_seconds() < RECORDING_WAIT_S:
            raise RecordingPending(f"call {call.sid}: recording not reported yet")
    att, text, conf, why, tlang = None, "", None, "no_recording", lang
    if rec_url:
        att = _recording_attachment(session, call, st)
        try:
            if att.status == "pending":
                _fetch_recording(att, rec_url, row)
            audio = _decode(att.path)
            tr = _transcriber().transcribe(audio.samples)
            att.transcript, att.transcript_language = tr.text, tr.language
            att.transcript_confidence = round(tr.confidence, 3)
            att.duration, att.status = audio.duration, "transcribed"
            text, conf, tlang = tr.text.strip(), tr.confidence, tr.language
            why = "" if text and conf >= NOT_UNDERSTOOD else "not_understood"
        except MediaRejected as exc:
            att.status, att.reject_reason = "rejected", f"{exc.reason}: {exc.detail}"[:200]
            why = exc.reason
    # the IVR left "caller" empty for a withheld caller ID (Twilio shows one as a placeholder number)
    caller = st["caller"] if "caller" in st else phones.sender(call.from_addr)
    phone = st.get("alert_phone") or caller
    at = _aware(call.created_at)
    # read as speech (near-miss names and words, bot.voicefix), as the voice-note path does; the district the
    # caller keyed settles station names that exist in several districts
    r = extract(text, at, hint_district=st.get("district"), source="voice") if text and not why else None
    district = st.get("district") or (r.district if r else None)
    if why:
        description = CALL_DESCRIPTION[lang].format(why=why)
        if text:
            description += f"\n{text}"
    else:
        description = text
    draft = ComplaintDraft(
        description=description, language=lang if st.get("lang") else (tlang if tlang in z.languages else lang),
        category=r.category if r else None, district=district, place=r.place if r else None,
        station_code=r.station if r else None, incident_at=r.incident_at if r else None,
        incident_text=r.incident_text if r else None,
        transcript_confidence=round(conf, 3) if conf is not None else None,
        attachment_ids=[att.id] if att is not None else [], extra={"source": "ivr", "call_sid": call.sid})
    cit = find_citizen(session, caller or phone, None) if (caller or phone) else None
    if cit is not None:
        cit.language = lang
        call.citizen_id = cit.id
        if phone and phone != caller:
            cit.sms_ok = True
    c = register_complaint(session, draft, channel="voice", citizen=cit, phone=phone, now=at)
    call.complaint_id = c.id
    if why or (conf is not None and conf < z.conversation.low_confidence):
        c.needs_callback = True
        event(session, c, "needs_callback", "worker", reason=why or "low_confidence")
    st["registered"] = c.ref
    call.payload = {**(call.payload or {}), "ivr": st}
    log.info("call %s registered as %s (%s)", call.sid, c.ref, why or f"confidence {conf:.2f}")


def _call_query(call_sid: str):
    from sqlalchemy import select

    return select(Message).where(Message.sid == call_sid, Message.channel == "voice")


def _recording_attachment(session: Session, call: Message, st: dict) -> Attachment:
    from sqlalchemy import select

    att = session.scalar(select(Attachment).where(Attachment.message_id == call.id,
                                                  Attachment.source_url == st["recording_url"]))
    if att is None:
        att = Attachment(message_id=call.id, source_url=st["recording_url"], claimed_type="audio/wav", kind="audio",
                         status="pending")
        session.add(att)
        session.flush()
    return att


def _fetch_recording(att: Attachment, url: str, row: Outbox) -> None:
    import os

    from voice.media import fetch
    from zone import get_zone

    try:
        got = fetch(url, media_dir() / "incoming", api_base_url=tw.api_base_url(), auth=tw.credentials(),
                    max_bytes=get_zone().limits.media_max_bytes)
    except FetchFailed:
        if (row.attempts or 0) < FETCH_ATTEMPTS:
            raise
        raise MediaRejected("http_error", "recording could not be fetched") from None
    final = media_dir() / got.sha256[:2] / got.path.name
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(got.path, final)
    att.path, att.sha256, att.size, att.mime, att.kind = str(final), got.sha256, got.size, got.mime, got.kind
    att.status = "stored"
