"""Media: a WhatsApp attachment is downloaded by the 'media' job only from allowed hosts, sniffed,
probed, stored with its sha256; voice notes and videos are handed to voice/; rejected media gets a
polite message and never holds back the complaint."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Attachment, Complaint, Message, Outbox
from tasks.jobs import run_outbox
from tests.conftest import ACCOUNT


def _png(w: int = 4, h: int = 3) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("clips")
    out = {"png": _png()}
    cmds = {
        "ogg": ["-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "libopus", "-b:a", "16k"],
        "mp4": ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=5:duration=1", "-pix_fmt", "yuv420p",
                "-c:v", "libx264", "-preset", "ultrafast"],
    }
    for ext, args in cmds.items():
        p = Path(d) / f"clip.{ext}"
        subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(p)], check=True, timeout=60)
        out[ext] = p.read_bytes()
    return out


def _media_url(recorder_server, name: str) -> str:
    return f"{recorder_server.url}/media/{name}"  # the recorder serves media here, on the API origin


def _post_media(twilio, fixture_form, url: str, ctype: str, fixture="media_image", body="", sid=None):
    form = fixture_form("whatsapp", fixture, MediaUrl0=url, MediaContentType0=ctype, Body=body)
    if sid:
        form.update(MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    r = twilio.post("/twilio/whatsapp", form)
    assert r.status_code == 200
    return r


def _run_media_jobs(db) -> list[Attachment]:
    with db.session() as s:
        ids = [o.id for o in s.scalars(select(Outbox).where(Outbox.kind == "media"))]
    for oid in ids:
        run_outbox(oid)
    with db.session() as s:
        return list(s.scalars(select(Attachment).order_by(Attachment.id)))


def test_image_is_fetched_with_credentials_sniffed_and_stored(db, app, twilio, fixture_form, recorder,
                                                              recorder_server, media_dir, fake_engine, clips):
    recorder.media["ME" + "a" * 32] = (clips["png"], "image/jpeg", 200)  # the header lies: the bytes are PNG
    _post_media(twilio, fixture_form, _media_url(recorder_server, "ME" + "a" * 32), "image/jpeg")
    [att] = _run_media_jobs(db)
    assert att.status == "stored" and att.mime == "image/png" and att.kind == "image"
    assert att.sha256 == hashlib.sha256(clips["png"]).hexdigest() and att.size == len(clips["png"])
    assert Path(att.path).read_bytes() == clips["png"] and Path(att.path).is_relative_to(media_dir)
    gets = [r for r in recorder.requests if r["kind"] == "get" and r["path"].startswith("/media/")]
    assert gets and gets[0]["auth"] == ACCOUNT  # credentials to the API host
    with db.session() as s:
        assert not s.scalars(select(Outbox).where(Outbox.kind.in_(("transcribe", "send")))).all()
    assert run_outbox(_first_media_row(db)) == {"done": 1}  # again: nothing changes
    assert len([r for r in recorder.requests if r["kind"] == "get"]) == len(gets)


def _first_media_row(db) -> int:
    with db.session() as s:
        return s.scalar(select(Outbox.id).where(Outbox.kind == "media"))


@pytest.mark.parametrize("ext,fixture,kind", [("ogg", "voice_note", "audio"), ("mp4", "video", "video")])
def test_voice_notes_and_videos_go_to_transcription(db, app, twilio, fixture_form, recorder, recorder_server,
                                                    media_dir, fake_engine, clips, ext, fixture, kind):
    recorder.media["ME" + "b" * 32] = (clips[ext], "application/octet-stream", 200)
    _post_media(twilio, fixture_form, _media_url(recorder_server, "ME" + "b" * 32), f"{kind}/x", fixture=fixture)
    [att] = _run_media_jobs(db)
    assert att.status == "stored" and att.kind == kind and att.duration and att.duration > 0.5
    with db.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.kind == "transcribe")).all()
        assert len(rows) == 1 and rows[0].payload == {"attachment_id": att.id}


BAD_URLS = [
    ("metadata", "http://169.254.169.254/latest/meta-data/"),
    ("other-host", "https://evil.example.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"),
    ("userinfo", "https://api.twilio.com@evil.example.com/x"),
    ("private", "http://10.0.0.1/x"),
    ("cdn-over-http", "http://media.twiliocdn.com/x"),
]


@pytest.mark.parametrize("name,url", BAD_URLS, ids=[b[0] for b in BAD_URLS])
def test_media_from_elsewhere_is_not_fetched_and_complaint_still_recorded(
        db, app, twilio, fixture_form, recorder, media_dir, fake_engine, name, url):
    _post_media(twilio, fixture_form, url, "image/jpeg", body="register kanpur_nagar theft_other")
    [att] = _run_media_jobs(db)
    assert att.status == "rejected" and att.path is None
    assert att.reject_reason.split(":")[0] in ("host_not_allowed", "bad_url", "private_address")
    assert not [r for r in recorder.requests if r["kind"] == "get"]  # nothing fetched, no credentials anywhere
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c is not None and c.district == "kanpur_nagar"
        assert s.scalar(select(Attachment.complaint_id)) == c.id
        polite = s.scalar(select(Outbox).where(Outbox.kind == "send", Outbox.key.like("media_rejected:%")))
        assert polite.payload["to_chat"] == "whatsapp:+919839012345" and "शिकायत दर्ज है" in polite.payload["text"]


def test_redirect_to_a_private_address_is_refused(db, app, twilio, fixture_form, recorder, recorder_server,
                                                 media_dir, fake_engine):
    recorder.media["ME" + "c" * 32] = (b"http://10.0.0.1/secret", "text/plain", 302)
    _post_media(twilio, fixture_form, _media_url(recorder_server, "ME" + "c" * 32), "image/jpeg")
    [att] = _run_media_jobs(db)
    assert att.status == "rejected" and att.reject_reason.startswith("host_not_allowed")


@pytest.mark.parametrize("name,data,reason", [
    ("zip-claiming-image", b"PK\x03\x04" + b"\x00" * 200, "unsupported_type"),
    ("html", b"<html><script>alert(1)</script></html>", "unsupported_type"),
    ("empty", b"", "empty"),
])
def test_lying_or_empty_media_is_rejected_politely(db, app, twilio, fixture_form, recorder, recorder_server,
                                                   media_dir, fake_engine, drain, name, data, reason):
    recorder.media["ME" + "d" * 32] = (data, "image/jpeg", 200)
    _post_media(twilio, fixture_form, _media_url(recorder_server, "ME" + "d" * 32), "image/jpeg")
    [att] = _run_media_jobs(db)
    assert att.status == "rejected" and att.reject_reason.startswith(reason)
    assert not list(media_dir.rglob("*.*"))  # nothing kept
    drain()
    [msg] = recorder.to("+919839012345")
    assert msg["To"] == "whatsapp:+919839012345" and "फ़ाइल" in msg["Body"]


def test_media_over_the_size_cap_is_rejected(db, app, twilio, fixture_form, recorder, recorder_server,
                                            media_dir, fake_engine, clips):
    from zone import get_zone, set_zone

    z = get_zone()
    set_zone(z.model_copy(update={"limits": z.limits.model_copy(update={"media_max_bytes": 64})}))
    try:
        recorder.media["ME" + "e" * 32] = (clips["png"] + b"\x00" * 100, "image/png", 200)
        _post_media(twilio, fixture_form, _media_url(recorder_server, "ME" + "e" * 32), "image/png")
        [att] = _run_media_jobs(db)
    finally:
        set_zone(z)
    assert att.status == "rejected" and att.reject_reason.startswith("too_large")
    with db.session() as s:
        assert "बहुत बड़ी" in s.scalar(select(Outbox.payload).where(Outbox.kind == "send"))["text"]


def test_transient_download_failure_is_retried(db, app, twilio, fixture_form, recorder, recorder_server,
                                              media_dir, fake_engine, clips):
    recorder.media["ME" + "f" * 32] = (b"", "text/plain", 503)
    _post_media(twilio, fixture_form, _media_url(recorder_server, "ME" + "f" * 32), "image/png")
    oid = _first_media_row(db)
    with pytest.raises(Exception) as exc:
        run_outbox(oid)
    assert exc.value.retryable
    recorder.media["ME" + "f" * 32] = (clips["png"], "image/png", 200)
    assert run_outbox(oid) == {"done": 1}
    with db.session() as s:
        assert s.scalar(select(Attachment.status)) == "stored"
        assert s.scalar(select(Message.status)) == "received"
