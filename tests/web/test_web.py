"""The citizen web page through the Flask test client: filing with a code, tracking, rating, bad input.

Each test goes in as a citizen would (a GET for the form and its CSRF token, a POST with the form and
files) and checks what comes out: the page, the SMS at the Twilio recorder, the rows in the database.
"""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import channels.web.views as web
from models import Attachment, Complaint, Event, Feedback, Message, Outbox, utcnow
from models.tables import WebPending
from tests.web.helpers import count, csrf_of, get_csrf, latest_code
from zone import get_zone, load_zone, set_zone

PHONE = "+919839011111"
OTHER = "+919839022222"
SCRIPT = "<script>alert(1)</script>\"'&"


def submit(client, data: dict, files=(), path: str = "/complaint", field: str = "files", csrf: str | None = None):
    token = csrf if csrf is not None else get_csrf(client, path + "?new=1")
    form = {"csrf": token, "step": "submit", **data}
    form[field] = [(io.BytesIO(b), name, ctype) for b, name, ctype in files]
    return client.post(path, data=form, content_type="multipart/form-data")


def step(client, step_name: str, path: str = "/complaint", **fields):
    token = csrf_of(client.get(path + "?new=1").get_data(as_text=True))
    return client.post(path, data={"csrf": token, "step": step_name, **fields})


def file_one(client, recorder, drain, phone=PHONE, **data):
    data.setdefault("description", "kal raat jhansi kotwali ke paas mera mobile chori ho gaya")
    r = submit(client, {"phone": phone, **data})
    assert r.status_code == 200, r.get_data(as_text=True)
    drain()
    r = step(client, "verify", code=latest_code(recorder, phone))
    assert r.status_code == 303
    page = client.get("/complaint").get_data(as_text=True)
    return re.search(r'id="ref">([A-Z]{3}-[A-Z0-9]{6})<', page).group(1)


def shift_time(monkeypatch, delta: timedelta):
    real = utcnow
    monkeypatch.setattr(web, "utcnow", lambda: real() + delta)


def nothing_stored(db, media_dir: Path) -> None:
    assert count(db, Complaint) == 0 and count(db, Attachment) == 0 and count(db, WebPending) == 0
    assert count(db, Outbox) == 0
    assert not any(p.is_file() for p in media_dir.rglob("*")) if media_dir.exists() else True


# -- pages ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/complaint", "/track", "/video"])
def test_pages_are_light_hindi_first_and_labelled(client, path):
    r = client.get(path)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and '<html lang="hi">' in html
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    total = len(r.data)
    for ref in re.findall(r'(?:href|src)="(/static/[^"]+)"', html):
        total += len(client.get(ref).data)
    assert total < 200 * 1024, f"first load of {path} is {total} bytes"
    assert not re.search(r'(?:href|src)="(?:https?:)?//', html), "no third-party resources"
    # every visible control has a label pointing at it
    for m in re.finditer(r'<(input|select|textarea)\b([^>]*)>', html):
        attrs = m.group(2)
        if 'type="hidden"' in attrs or 'type="radio"' in attrs:
            continue
        ident = re.search(r'id="([^"]+)"', attrs).group(1)
        assert f'<label for="{ident}"' in html, f"{ident} has no label"
    en = client.get(path + "?lang=en")
    assert '<html lang="en">' in en.get_data(as_text=True) and "lang=en" in en.headers["Set-Cookie"]
    assert '<html lang="en">' in client.get(path).get_data(as_text=True)  # the cookie keeps the choice


# -- filing --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/complaint", "/video"])
def test_forms_say_what_happens_to_the_citizens_data(client, path):
    """A privacy notice before the citizen gives a number: who keeps the data, for what, for how long, and
    where to complain about it (DPDP Act s. 5: the Data Protection Board of India)."""
    from zone import get_zone

    days = get_zone().retention.closed_days
    html = client.get(path).get_data(as_text=True)
    notice = re.search(r'<p class="hint" id="privacy">([^<]+)</p>', html)
    assert notice and "पुलिस" in notice.group(1) and f"{days} दिन" in notice.group(1)
    assert "भारतीय डेटा संरक्षण बोर्ड (Data Protection Board of India)" in notice.group(1)
    assert html.index('id="privacy"') < html.index('<button type="submit"')
    en = re.search(r'<p class="hint" id="privacy">([^<]+)</p>', client.get(path + "?lang=en").get_data(as_text=True))
    assert en and f"{days} days" in en.group(1) and "Data Protection Board of India" in en.group(1)


def test_file_with_two_photos_registers_only_after_the_code(db, client, recorder, drain, images, media_dir):
    files = [(images["png"], "one.png", "image/png"), (images["jpeg"], "two.jpg", "image/jpeg")]
    r = submit(client, {"phone": "98390 11111", "when": "kal raat 9 baje", "name": "Ravi",
                        "description": "kal raat jhansi kotwali ke paas mera mobile chori ho gaya"}, files)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'name="code"' in html and "one.png" in html
    assert count(db, Complaint) == 0 and count(db, Attachment) == 0  # nothing registered before the code
    drain()
    code = latest_code(recorder, PHONE)
    with db.session() as s:
        pend = s.scalar(select(WebPending))
        assert code not in (pend.code_hash or "") and len(pend.code_hash) == 64
    r = step(client, "verify", code=code)
    assert r.status_code == 303
    html = client.get("/complaint").get_data(as_text=True)
    ref = re.search(r'id="ref">([A-Z]{3}-[A-Z0-9]{6})<', html).group(1)
    with db.session() as s:
        c = s.scalar(select(Complaint).where(Complaint.ref == ref))
        assert c.channel == "web" and c.phone == PHONE and c.complainant_name == "Ravi"
        assert c.category == "theft_mobile" and c.district == "jhansi"  # understood from the words
        assert c.requested_station == "JHS-KOTWALI" and c.incident_text == "kal raat 9 baje"
        atts = s.scalars(select(Attachment).where(Attachment.complaint_id == c.id)).all()
        assert sorted(a.mime for a in atts) == ["image/jpeg", "image/png"]
        for a, data in ((next(a for a in atts if a.mime == "image/png"), images["png"]),
                        (next(a for a in atts if a.mime == "image/jpeg"), images["jpeg"])):
            assert a.sha256 == hashlib.sha256(data).hexdigest() and Path(a.path).read_bytes() == data
            assert Path(a.path).parent == media_dir
        # the code is masked in the outbox and the message log (from the moment it was sent)
        otp = s.scalar(select(Outbox).where(Outbox.key.like("otp:%")))
        assert otp.payload["values"]["code"] == web.CODE_MASK
        assert all(code not in m.body for m in s.scalars(select(Message)))
        assert c.citizen_id is not None
    assert not (media_dir / "pending").exists() or not any((media_dir / "pending").iterdir())
    drain()
    assert any(ref in m["Body"] for m in recorder.to(PHONE))  # the registration SMS
    # a second confirm (double click) registers nothing more
    step(client, "verify", code=code)
    assert count(db, Complaint) == 1


def test_english_filing_and_chosen_fields_win(db, client, recorder, drain):
    client.get("/complaint?lang=en")
    ref = file_one(client, recorder, drain, description="someone stole my bike", district="lalitpur",
                   category="theft_other", confidential="1")
    with db.session() as s:
        c = s.scalar(select(Complaint).where(Complaint.ref == ref))
        assert c.language == "en" and c.district == "lalitpur" and c.category == "theft_other" and c.confidential
    assert "Bharosa: your code is" in recorder.to(PHONE)[0]["Body"]


def test_wrong_codes_then_cooldown(db, client, recorder, drain, monkeypatch):
    submit(client, {"phone": PHONE, "description": "meri cycle chori ho gayi"})
    drain()
    code = latest_code(recorder, PHONE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        r = step(client, "verify", code=wrong)
        assert r.status_code == 400 and f"{left} प्रयास" in r.get_data(as_text=True)
    r = step(client, "verify", code=wrong)
    assert "15 मिनट" in r.get_data(as_text=True)
    r = step(client, "verify", code=code)  # even the right code, during the cool-down
    assert r.status_code == 400 and "मिनट बाद" in r.get_data(as_text=True)
    assert step(client, "resend").status_code == 429
    assert count(db, Complaint) == 0
    shift_time(monkeypatch, timedelta(minutes=16))
    assert step(client, "resend").status_code == 200
    drain()
    new = latest_code(recorder, PHONE)
    assert step(client, "verify", code=code).status_code == 400 or new == code  # the old code is dead
    assert step(client, "verify", code=new).status_code == 303
    assert count(db, Complaint) == 1


def test_expired_code_and_resend_limits(db, client, recorder, drain, monkeypatch):
    submit(client, {"phone": PHONE, "description": "mere ghar ke bahar jhagda"})
    drain()
    code = latest_code(recorder, PHONE)
    r = step(client, "resend")  # too soon
    assert r.status_code == 429 and "सेकंड" in r.get_data(as_text=True)
    shift_time(monkeypatch, timedelta(minutes=11))
    r = step(client, "verify", code=code)
    assert r.status_code == 400 and "समय-सीमा समाप्त" in r.get_data(as_text=True)
    assert step(client, "verify", code="12ab").status_code == 400
    assert step(client, "resend").status_code == 200
    shift_time(monkeypatch, timedelta(minutes=12))
    assert step(client, "resend").status_code == 200
    shift_time(monkeypatch, timedelta(minutes=13))
    r = step(client, "resend")  # three codes per request at most
    assert r.status_code == 429
    drain()
    assert len(recorder.to(PHONE)) == 3
    assert count(db, Complaint) == 0


def test_codes_per_phone_are_limited(db, client, recorder, drain):
    for _ in range(web.PHONE_SENDS_PER_HOUR):
        assert submit(client, {"phone": PHONE, "description": "test"}).status_code == 200
    r = submit(client, {"phone": PHONE, "description": "test"})
    assert r.status_code == 429
    drain()
    assert len(recorder.to(PHONE)) == web.PHONE_SENDS_PER_HOUR


def test_post_without_csrf_is_refused(db, client, recorder, media_dir):
    client.get("/complaint")
    for form in ({"step": "submit", "phone": PHONE, "description": "x"},
                 {"csrf": "x" * 43, "step": "submit", "phone": PHONE, "description": "x"}):
        r = client.post("/complaint", data=form, content_type="multipart/form-data")
        assert r.status_code == 400 and "कुकी" in r.get_data(as_text=True)
        assert client.post("/track", data={**form, "step": "start"}).status_code == 400
    nothing_stored(db, media_dir)


@pytest.mark.parametrize("name,data,ctype", [
    ("photo.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg"),
    ("scan.pdf", b"PK\x03\x04" + b"\x00" * 200, "application/pdf"),
    ("image.png", b"MZ\x90\x00" + b"\x00" * 200, "image/png"),
    ("empty.png", b"", "image/png"),
])
def test_files_that_lie_are_refused_and_nothing_is_kept(db, client, images, media_dir, name, data, ctype):
    r = submit(client, {"phone": PHONE, "description": "chori"},
               [(images["png"], "good.png", "image/png"), (data, name, ctype)])
    assert r.status_code == 400 and name in r.get_data(as_text=True)
    assert ">chori</textarea>" in r.get_data(as_text=True)  # the form comes back filled
    nothing_stored(db, media_dir)


@pytest.fixture
def small_limits(tmp_path):
    import yaml

    root = Path(__file__).resolve().parents[2]
    raw = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    raw["limits"].update(web_max_files=2, web_max_file_bytes=4096)
    raw["zone"]["stations_file"] = str(root / "data" / "stations.csv")
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    set_zone(load_zone(p))
    yield get_zone().limits
    set_zone(None)


def test_too_many_and_too_large_files(db, client, images, media_dir, small_limits):
    three = [(images["png"], f"p{i}.png", "image/png") for i in range(3)]
    r = submit(client, {"phone": PHONE, "description": "chori"}, three)
    assert r.status_code == 400 and "अधिकतम 2 फ़ाइलें" in r.get_data(as_text=True)
    big = images["png"] + b"\x00" * 5000
    r = submit(client, {"phone": PHONE, "description": "chori"}, [(big, "big.png", "image/png")])
    assert r.status_code == 400 and "big.png" in r.get_data(as_text=True) and "4 KB" in r.get_data(as_text=True)
    huge = b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024)  # past the whole request's cap
    r = submit(client, {"phone": PHONE, "description": "chori"}, [(huge, "huge.png", "image/png")])
    assert r.status_code == 413 and "बहुत बड़ी" in r.get_data(as_text=True)
    nothing_stored(db, media_dir)


def test_bad_fields_get_clear_messages(db, client, media_dir):
    r = submit(client, {"phone": "12", "description": "", "district": "mars", "category": "piracy",
                        "place": "x" * 400})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    for text in ("सही मोबाइल नंबर", "सूची में से ज़िला", "सूची में से प्रकार", "बहुत लंबा"):
        assert text in html
    assert 'aria-invalid="true"' in html and 'href="#f-phone"' in html
    r = submit(client, {"phone": PHONE, "description": "   "})
    assert r.status_code == 400 and "बताइए कि क्या हुआ" in r.get_data(as_text=True)
    nothing_stored(db, media_dir)


def test_script_in_every_field_is_escaped_and_stored_as_written(db, client, recorder, drain, images):
    fields = {"description": SCRIPT + " mobile chori", "place": SCRIPT, "when": SCRIPT, "name": SCRIPT}
    r = submit(client, {"phone": PHONE, **fields}, [(images["png"], SCRIPT + ".png", "image/png")])
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    r = submit(client, {"phone": SCRIPT, **fields})  # and in the error page that echoes the form
    assert r.status_code == 400 and "<script>alert" not in r.get_data(as_text=True)
    r = submit(client, {"phone": PHONE, **fields})
    drain()
    assert step(client, "verify", code=latest_code(recorder, PHONE)).status_code == 303
    assert "<script>alert" not in client.get("/complaint").get_data(as_text=True)
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c.description == SCRIPT + " mobile chori" and c.complainant_name == SCRIPT and c.place == SCRIPT
    r = client.post("/track", data={"csrf": get_csrf(client, "/track?new=1"), "step": "start", "ref": SCRIPT,
                                    "phone": SCRIPT})
    assert r.status_code == 400 and "<script>alert" not in r.get_data(as_text=True)


# -- sign-language video -------------------------------------------------------------------------

def test_sign_language_video(db, client, recorder, drain, images, media_dir):
    r = submit(client, {"phone": PHONE}, [(images["png"], "not-a-video.mp4", "video/mp4")], path="/video",
               field="video")
    assert r.status_code == 400 and "वीडियो नहीं" in r.get_data(as_text=True)
    r = submit(client, {"phone": PHONE, "district": "jalaun"}, [(images["mp4"], "signs.mp4", "video/mp4")],
               path="/video", field="video")
    assert r.status_code == 200
    assert count(db, Complaint) == 0
    drain()
    code = latest_code(recorder, PHONE)
    with db.session() as s:  # the worker's send went out, and nothing else was registered
        assert s.scalar(select(Outbox).where(Outbox.kind == "video")) is None
    assert step(client, "verify", path="/video", code=code).status_code == 303
    assert re.search(r'id="ref">JLN-', client.get("/video").get_data(as_text=True))
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c.needs_interpreter and c.description == web.VIDEO_DESCRIPTION and c.channel == "web"
        att = s.scalar(select(Attachment).where(Attachment.complaint_id == c.id))
        assert att.kind == "video" and att.sha256 == hashlib.sha256(images["mp4"]).hexdigest()
        job = s.scalar(select(Outbox).where(Outbox.kind == "video"))
        assert job.payload == {"attachment_id": att.id} and job.key == f"video:{att.id}"
    drain()  # the video job (channels.media_jobs) takes the video from here: keyframes for the interpreter
    with db.session() as s:
        assert s.get(Outbox, job.id).status == "done"
        assert s.get(Attachment, att.id).keyframes_path


# -- tracking and rating -------------------------------------------------------------------------

def track_start(client, ref: str, phone: str):
    return client.post("/track", data={"csrf": get_csrf(client, "/track?new=1"), "step": "start", "ref": ref,
                                       "phone": phone})


def test_someone_elses_reference_looks_like_a_missing_one(db, client, recorder, drain):
    ref = file_one(client, recorder, drain)
    drain()
    recorder.clear()
    missing = ref[:4] + ("A" if ref[4] != "A" else "B") + ref[5:]
    a = track_start(client, ref, OTHER)
    b = track_start(client, missing, OTHER)
    strip = lambda r: re.sub(r'name="csrf" value="[^"]+"', "", r.get_data(as_text=True))  # noqa: E731
    assert a.status_code == b.status_code == 200 and strip(a) == strip(b)
    drain()
    assert recorder.to(OTHER) == [] and recorder.to(PHONE) == []
    answers = set()
    for _ in range(5):
        r = step(client, "verify", path="/track", code="123456")
        answers.add(r.status_code)
    assert answers == {400} and "15 मिनट" in r.get_data(as_text=True)
    assert ref not in client.get("/track").get_data(as_text=True)


def test_track_timeline_and_rate_after_disposal(db, client, recorder, drain):
    from tickets import actions
    from tickets.seed import seed

    ref = file_one(client, recorder, drain, description="meri bike chori ho gayi jhansi mein")
    drain()
    with db.session() as s:
        seed(s)
        c = s.scalar(select(Complaint).where(Complaint.ref == ref))
        from models import Posting

        eo = s.scalar(select(Posting).where(Posting.station_id == c.station_id, Posting.role == "eo"))
        actions.assign(s, c, eo.id, "officer:1")
        eo_name, eo_phone = eo.officer.name, eo.phone
        s.commit()
    recorder.clear()
    r = track_start(client, ref.lower().replace("-", " "), "09839011111")  # typed loosely
    assert r.status_code == 200
    drain()
    r = step(client, "verify", path="/track", code=latest_code(recorder, PHONE))
    assert r.status_code == 303
    html = client.get("/track").get_data(as_text=True)
    assert ref in html and eo_name in html and eo_phone in html and "शिकायत दर्ज हुई" in html
    assert 'name="rating"' not in html  # not disposed yet
    r = step(client, "rate", path="/track", rating="4", level="co", comment="ok")
    assert r.status_code == 400 and "निस्तारण के बाद" in r.get_data(as_text=True)
    with db.session() as s:
        c = s.scalar(select(Complaint).where(Complaint.ref == ref))
        actions.dispose(s, c, "resolved", "officer:1")
        s.commit()
    html = client.get("/track").get_data(as_text=True)
    assert 'name="rating"' in html and "निस्तारण" in html
    levels = re.findall(r'<option value="([a-z_]+)"', html.split('name="level"')[1].split("</select>")[0])
    assert levels == get_zone().chain_for("jhansi")
    r = step(client, "rate", path="/track", rating="9", level="ssp")
    assert r.status_code == 400
    r = step(client, "rate", path="/track", rating="5", level="ssp", comment=SCRIPT)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "धन्यवाद" in html and "वरिष्ठ पुलिस अधीक्षक" in html
    with db.session() as s:
        fb = s.scalar(select(Feedback))
        assert fb.rating == 5 and fb.addressed_to == "ssp" and fb.comment == SCRIPT.strip()
        assert s.scalar(select(Event).where(Event.kind == "feedback", Event.actor == "citizen")) is not None
    again = step(client, "rate", path="/track", rating="3", level="co")
    assert again.status_code == 400 and count(db, Feedback) == 1
    # tracking lapses after its window
    assert step(client, "forget", path="/track").status_code == 303
    assert ref not in client.get("/track").get_data(as_text=True)
