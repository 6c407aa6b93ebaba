"""Sign-language videos: the 'video' job checks the file, makes a contact sheet, transcribes any speech and
puts the ticket in the interpreter queue while its clock runs; a 'video' that is really a zip is refused
politely and the ticket stays."""

from __future__ import annotations

from sqlalchemy import select

from bot.types import ComplaintDraft
from models import Attachment, Complaint, Event
from tasks import outbox
from tickets.actions import register_complaint

PHONE = "+919839022222"


def web_video(db, media_dir, data: bytes, name: str) -> tuple[int, int]:
    """What the /video page does: store the upload, register the ticket, queue the 'video' job."""
    media_dir.mkdir(parents=True, exist_ok=True)
    path = media_dir / name
    path.write_bytes(data)
    with db.session() as s:
        att = Attachment(kind="video", mime="video/mp4", size=len(data), sha256="0" * 64, path=str(path),
                         status="stored")
        s.add(att)
        s.flush()
        c = register_complaint(s, ComplaintDraft(description="sign-language video awaiting interpreter",
                                                 language="en", district="jhansi", attachment_ids=[att.id]),
                               channel="web", phone=PHONE)
        outbox.add(s, f"video:{att.id}", "video", {"attachment_id": att.id})
        return c.id, att.id


def test_sign_language_video_reaches_the_interpreter_queue(db, drain, recorder, voice_clips, whisper, media_dir):
    cid, aid = web_video(db, media_dir, voice_clips["sign.mp4"], "sign.mp4")
    with db.session() as s:
        due = s.get(Complaint, cid).due_at
    drain()
    with db.session() as s:
        c, att = s.get(Complaint, cid), s.get(Attachment, aid)
        assert c.needs_interpreter and c.due_at == due and c.status != "disposed"  # the clock runs on
        png = media_dir / "keyframes"
        assert att.keyframes_path and att.keyframes_path.startswith(str(png))
        with open(att.keyframes_path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
        assert att.duration and 3 < att.duration < 5
        assert "lalitpur" in (att.transcript or "").lower()  # the speech in its audio track
        assert s.scalar(select(Event).where(Event.complaint_id == cid, Event.kind == "video_ready")) is not None


def test_a_zip_posing_as_a_video_is_refused_politely(db, drain, recorder, voice_clips, media_dir):
    cid, aid = web_video(db, media_dir, voice_clips["zip"], "evil.mp4")
    drain()
    with db.session() as s:
        c, att = s.get(Complaint, cid), s.get(Attachment, aid)
        assert att.status == "rejected" and att.reject_reason.startswith("unsupported_type")
        assert c.needs_interpreter and c.status in ("received", "routed")  # still registered, a person looks
        ref = c.ref
    bodies = [m["Body"] for m in recorder.to(PHONE)]
    assert any("could not open the video" in b and ref in b for b in bodies), bodies


def test_whatsapp_video_gets_a_contact_sheet(twilio, recorder, recorder_server, fixture_form, drain, db, voice_clips,
                                             media_dir):
    """A video on WhatsApp: stored, then a contact sheet for staff; the engine asks whether it is sign language."""
    phone = "+919839033333"
    recorder.add_media("v.mp4", voice_clips["mute.mp4"], "video/mp4")
    form = fixture_form("whatsapp", "video", MediaUrl0=f"{recorder_server.url}/media/v.mp4",
                        MediaContentType0="video/mp4", From=f"whatsapp:{phone}", WaId=phone[1:])
    r = twilio.post("/twilio/whatsapp", form)
    assert r.status_code == 200
    drain()
    with db.session() as s:
        att = s.scalar(select(Attachment))
        assert att.kind == "video" and att.status == "stored" and att.keyframes_path
        with open(att.keyframes_path, "rb") as fh:
            assert fh.read(4) == b"\x89PNG"
