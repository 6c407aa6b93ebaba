"""Confidentiality on the ticket page, its conversation panel, attachments, exports and evidence, tried from
the attacker's side (issue 14: findings 2, 3, 6, 19 and the console's side of "one rule").

One citizen (WhatsApp, profile name "Sunita V") files, through signed webhooks and the real dialogue engine,
a confidential harassment complaint (ticket B, routed to the women's desk KNP-MAHILA, her name in her own
words, a photo) and a mobile theft at Kotwali (ticket A). Officers of Kotwali must learn nothing of B from
A's page, its files or its evidence zip; masked viewers of B must not learn who she is until a posting of a
role config allows reveals it, with a reason; exports and the evidence zip mask exactly as the page does.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import struct
import zipfile
import zlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import Attachment, Complaint, Event, Message, Note, utcnow
from tests.console.conftest import sign_in

SENDER = "+919839011111"
PROFILE = "Sunita V"
B_TURNS = ["mera naam Sunita Verma hai, colonelganj kanpur me ek ladka roz mera peecha karta hai aur chhedkhani "
           "karta hai", "<photo>", "kal shaam 7 baje", "Sunita Verma", "haan"]
A_TURNS = ["mera mobile phone chori ho gaya kotwali kanpur me", "aaj subah", "Ramesh", "haan"]
B_WORDS = ("peecha", "chhedkhani", "Sunita", "kal shaam 7 baje")
_sid = itertools.count(1)


def _png(seed: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + bytes([seed % 256, 0, 0]) * 4 for _ in range(3))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 3, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _say(twilio, fixture_form, recorder, recorder_server, text: str):
    n = next(_sid)
    sid = f"SM{n:032d}"
    over = {"MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid, "From": f"whatsapp:{SENDER}",
            "WaId": SENDER.lstrip("+"), "ProfileName": PROFILE}
    if text == "<photo>":
        name = f"ME{n:032d}"
        recorder.media[name] = (_png(n), "image/png", 200)
        form = fixture_form("whatsapp", "media_image", MediaUrl0=f"{recorder_server.url}/media/{name}",
                            MediaContentType0="image/png", Body="", **over)
    else:
        form = fixture_form("whatsapp", "text", Body=text, **over)
    r = twilio.post("/twilio/whatsapp", form)
    assert r.status_code == 200, r.get_data(as_text=True)


def _file(db, twilio, fixture_form, recorder, recorder_server, turns) -> str:
    with db.session() as s:
        before = set(s.scalars(select(Complaint.ref)))
    for t in turns:
        _say(twilio, fixture_form, recorder, recorder_server, t)
    with db.session() as s:
        [ref] = set(s.scalars(select(Complaint.ref))) - before
    return ref


@pytest.fixture
def staff(db, officers):
    """The sample officers, with the women's desk of Kanpur Nagar (where B is routed) signed up too."""
    import pyotp

    from models import Officer, Posting
    from tests.console.conftest import _HASH, Cred

    with db.session() as s:
        for username in ("sho.knp-mahila", "eo1.knp-mahila"):
            o = s.scalar(select(Officer).where(Officer.username == username))
            o.password_hash, o.totp_secret, o.totp_last_step = _HASH[0], pyotp.random_base32(), None
            p = s.scalar(select(Posting).where(Posting.officer_id == o.id).order_by(Posting.id))
            officers[username] = Cred(username, o.id, p.id, o.totp_secret)
    return officers


@pytest.fixture
def two(db, app, twilio, fixture_form, recorder, recorder_server, media_dir, staff, drain):
    """File B (confidential, women's desk, a photo) then A (Kotwali) from one WhatsApp number; route both."""

    def _make(order=("B", "A")):
        turns = {"A": A_TURNS, "B": B_TURNS}
        refs = {k: _file(db, twilio, fixture_form, recorder, recorder_server, turns[k]) for k in order}
        drain()
        with db.session() as s:
            a = s.scalar(select(Complaint).where(Complaint.ref == refs["A"]))
            b = s.scalar(select(Complaint).where(Complaint.ref == refs["B"]))
            assert b.confidential and b.station.code == "KNP-MAHILA", (b.category, b.station_id)
            assert not a.confidential and a.station.code == "KNP-KOTWALI"
            assert b.complainant_name == "Sunita Verma" and "Sunita" in b.description
        return refs["A"], refs["B"]

    return _make


def _client(app, staff, username):
    c = app.test_client()
    assert sign_in(c, staff[username]).status_code == 302
    return c


def _csrf(c, path):
    from tests.console.conftest import csrf_of

    return csrf_of(c.get(path).get_data(as_text=True))


# -- finding 2: the conversation panel and attachments show only this ticket's turns --------------------------
@pytest.mark.parametrize("order", [("B", "A"), ("A", "B")], ids=["confidential-first", "confidential-after"])
def test_ticket_page_shows_only_its_own_turns_not_the_citizens_confidential_complaint(app, staff, two, order):
    a, b = two(order)
    kotwali = _client(app, staff, "sho.knp-kotwali")  # a role that sees identities, at the other station
    html = kotwali.get(f"/console/t/{a}").get_data(as_text=True)
    assert "mera mobile phone chori ho gaya kotwali" in html and "aaj subah" in html  # A's own dialogue
    for w in B_WORDS:
        assert w not in html, w
    assert b not in html
    colonelganj = _client(app, staff, "sho.knp-mahila")
    html = colonelganj.get(f"/console/t/{b}").get_data(as_text=True)
    assert "chhedkhani" in html and "kal shaam 7 baje" in html  # B's own dialogue, on B's page
    assert "mera mobile phone chori" not in html and "aaj subah" not in html


def test_dialogue_turns_are_linked_to_the_ticket_they_led_to(db, two):
    a, b = two()
    with db.session() as s:
        ids = {r: s.scalar(select(Complaint.id).where(Complaint.ref == r)) for r in (a, b)}
        rows = list(s.scalars(select(Message).where(Message.direction == "in").order_by(Message.id)))
    assert [m.complaint_id for m in rows] == [ids[b]] * len(B_TURNS) + [ids[a]] * len(A_TURNS)


def test_our_separate_replies_during_the_dialogue_are_linked_with_it(db, app, twilio, fixture_form, recorder,
                                                                      recorder_server, media_dir, staff, drain):
    """A photo that cannot be opened gets its own reply row (sent by the media job, mid-dialogue): it is B's,
    shown on B's page and not on A's."""
    _say(twilio, fixture_form, recorder, recorder_server, B_TURNS[0])
    name = "ME" + "9" * 32
    recorder.media[name] = (b"not a photo at all", "image/jpeg", 200)
    form = fixture_form("whatsapp", "media_image", MediaUrl0=f"{recorder_server.url}/media/{name}",
                        MediaContentType0="image/jpeg", Body="", MessageSid="MM" + "9" * 32,
                        SmsSid="MM" + "9" * 32, SmsMessageSid="MM" + "9" * 32, From=f"whatsapp:{SENDER}",
                        WaId=SENDER.lstrip("+"), ProfileName=PROFILE)
    assert twilio.post("/twilio/whatsapp", form).status_code == 200
    drain()  # the media job refuses it and the worker sends the citizen a reply: a row of its own
    with db.session() as s:
        [out] = s.scalars(select(Message).where(Message.direction == "out")).all()
        assert out.complaint_id is None and ("could not open" in out.body or "खोल नहीं" in out.body)
        reply = out.body
    b = _file(db, twilio, fixture_form, recorder, recorder_server, B_TURNS[2:])
    a = _file(db, twilio, fixture_form, recorder, recorder_server, A_TURNS)
    drain()
    with db.session() as s:
        assert s.scalar(select(Message.complaint_id).where(Message.body == reply)) == \
            s.scalar(select(Complaint.id).where(Complaint.ref == b))
    assert reply in _client(app, staff, "sho.knp-mahila").get(f"/console/t/{b}").get_data(as_text=True)
    assert reply not in _client(app, staff, "sho.knp-kotwali").get(f"/console/t/{a}").get_data(as_text=True)


def test_attachment_is_served_only_through_its_own_ticket(db, app, staff, two):
    """A photo the citizen sent outside any dialogue (hours before) is no ticket's: the Kotwali officer of the
    citizen's next ticket may not fetch it by id (it was found 'through the citizen' before)."""
    from console import media

    with db.session() as s:
        m = Message(sid="SM-old-photo", direction="in", channel="whatsapp", body="", kind="media",
                    from_addr=f"whatsapp:{SENDER}", created_at=utcnow() - timedelta(hours=5))
        s.add(m)
        s.flush()
        p = media.media_dir()
        p.mkdir(parents=True, exist_ok=True)
        (p / "old.png").write_bytes(_png(200))
        att = Attachment(message_id=m.id, kind="image", mime="image/png", status="stored", path=str(p / "old.png"))
        s.add(att)
        s.flush()
        att_id, mid = att.id, m.id
    a, b = two(("A", "B"))  # A is the citizen's first ticket after the photo
    with db.session() as s:
        cit = s.scalar(select(Complaint).where(Complaint.ref == a)).citizen_id
        s.get(Message, mid).citizen_id = cit
    kotwali = _client(app, staff, "sho.knp-kotwali")
    assert kotwali.get(f"/console/attachment/{att_id}").status_code == 404
    # B's own photo: its ticket's officers get it, Kotwali's do not
    with db.session() as s:
        bid = s.scalar(select(Complaint.id).where(Complaint.ref == b))
        [bphoto] = s.scalars(select(Attachment.id).where(Attachment.complaint_id == bid)).all()
    assert kotwali.get(f"/console/attachment/{bphoto}").status_code == 404
    assert _client(app, staff, "sho.knp-mahila").get(f"/console/attachment/{bphoto}").status_code == 200


# -- finding 3: the evidence zip holds this ticket's files only ------------------------------------------------
def test_evidence_zip_holds_only_this_tickets_files(db, app, staff, two):
    a, b = two()
    with db.session() as s:
        bid = s.scalar(select(Complaint.id).where(Complaint.ref == b))
        [bphoto] = s.scalars(select(Attachment).where(Attachment.complaint_id == bid)).all()
        bsha, bpath = bphoto.sha256, bphoto.path
    bbytes = open(bpath, "rb").read()
    kotwali = _client(app, staff, "sho.knp-kotwali")
    report = b"%PDF-1.4 Kotwali enquiry report"
    r = kotwali.post(f"/console/t/{a}/note", data={"csrf_token": _csrf(kotwali, f"/console/t/{a}"),
                                                   "text": "report", "files": [(io.BytesIO(report), "r.pdf")]},
                     content_type="multipart/form-data")
    assert r.status_code == 302
    z = zipfile.ZipFile(io.BytesIO(kotwali.get(f"/console/t/{a}/evidence.zip").data))
    man = json.loads(z.read("manifest.json"))
    assert [f["sha256"] for f in man["files"]] == [hashlib.sha256(report).hexdigest()]
    assert all(z.read(n) != bbytes for n in z.namelist()) and bsha not in z.read("SHA256SUMS").decode()
    zb = zipfile.ZipFile(io.BytesIO(_client(app, staff, "sho.knp-mahila").get(
        f"/console/t/{b}/evidence.zip").data))
    assert [f["sha256"] for f in json.loads(zb.read("manifest.json"))["files"]] == [bsha]


# -- finding 6: a masked viewer reads the conversation without the complainant's identity ----------------------
def test_masked_viewer_reads_the_conversation_without_her_name_or_number(db, app, staff, two):
    a, b = two()
    eo = _client(app, staff, "eo1.knp-mahila")  # eo: not in confidential_viewer_roles
    html = eo.get(f"/console/t/{b}").get_data(as_text=True)
    assert "chhedkhani" in html and "kal shaam 7 baje" in html  # the story is there to act on
    for leak in ("Sunita", "Verma", PROFILE, "9839011111", "whatsapp:"):
        assert leak not in html, leak
    sho = _client(app, staff, "sho.knp-mahila")
    assert "Sunita Verma" in sho.get(f"/console/t/{b}").get_data(as_text=True)


# -- finding 19: reveal with a reason, audited; exports and evidence mask exactly as the page -----------------
def test_unmask_needs_an_allowed_role_and_a_reason_and_is_in_the_timeline(db, app, staff, two):
    a, b = two()
    dcp = _client(app, staff, "dcp.kanpur_nagar")  # may reveal (confidential_unmask_roles), masked until then
    page = dcp.get(f"/console/t/{b}").get_data(as_text=True)
    assert "Sunita" not in page and "Reveal identity" in page
    tok = _csrf(dcp, f"/console/t/{b}")
    r = dcp.post(f"/console/t/{b}/unmask", data={"csrf_token": tok, "reason": "  "})
    assert r.status_code == 400 and "reason" in r.get_data(as_text=True)
    assert "Sunita" not in dcp.get(f"/console/t/{b}").get_data(as_text=True)
    r = dcp.post(f"/console/t/{b}/unmask", data={"csrf_token": tok, "reason": "must call her about a threat"})
    assert r.status_code == 302
    page = dcp.get(f"/console/t/{b}").get_data(as_text=True)
    assert "Sunita Verma" in page and "+919839011111" in page
    assert "Identity revealed" in page and "must call her about a threat" in page
    with db.session() as s:
        [ev] = s.scalars(select(Event).where(Event.kind == "identity_unmasked")).all()
        assert ev.actor == f"officer:{staff['dcp.kanpur_nagar'].officer_id}"
        assert ev.data["posting"] == staff["dcp.kanpur_nagar"].posting_id
        assert "reason" not in ev.data  # Events hold no free text: the reason is a Note (erased by retention)
        assert s.get(Note, ev.data["note"]).text == "Identity revealed: must call her about a threat"
    # the reveal is this posting's: another masked viewer still sees nothing
    eo = _client(app, staff, "eo1.knp-mahila")
    assert "Sunita" not in eo.get(f"/console/t/{b}").get_data(as_text=True)
    # a role config does not allow, and a ticket that is not confidential, are refused and change nothing
    r = eo.post(f"/console/t/{b}/unmask", data={"csrf_token": _csrf(eo, f"/console/t/{b}"), "reason": "x"})
    assert r.status_code == 403
    r = dcp.post(f"/console/t/{a}/unmask", data={"csrf_token": tok, "reason": "curious"})
    assert r.status_code == 409
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "identity_unmasked")) == 1


def test_unmask_identity_action_refuses_other_roles_and_ordinary_tickets(db, two, staff):
    from tickets.actions import ActionError, unmask_identity

    a, b = two()
    with db.session() as s:
        ca = s.scalar(select(Complaint).where(Complaint.ref == a))
        cb = s.scalar(select(Complaint).where(Complaint.ref == b))
        eo, dcp = staff["eo1.knp-mahila"], staff["dcp.kanpur_nagar"]
        with pytest.raises(ActionError) as e:
            unmask_identity(s, cb, f"officer:{eo.officer_id}", eo.posting_id, "x")
        assert e.value.code == "not_allowed"
        with pytest.raises(ActionError) as e:
            unmask_identity(s, ca, f"officer:{dcp.officer_id}", dcp.posting_id, "x")
        assert e.value.code == "not_confidential"
        with pytest.raises(ActionError) as e:
            unmask_identity(s, cb, f"officer:{dcp.officer_id}", dcp.posting_id, " ")
        assert e.value.code == "reason_required"
        with pytest.raises(ActionError) as e:  # someone else's posting
            unmask_identity(s, cb, f"officer:{eo.officer_id}", dcp.posting_id, "x")
        assert e.value.code == "not_allowed"


def _export(c, fmt="json"):
    r = c.get(f"/console/export.{fmt}?status=all")
    assert r.status_code == 200
    return r.get_data(as_text=True)


def test_exports_and_evidence_mask_exactly_as_the_page_does(db, app, staff, two):
    a, b = two()
    eo = _client(app, staff, "eo1.knp-mahila")
    for fmt in ("json", "csv"):
        body = _export(eo, fmt)
        assert b in body and "Sunita" not in body and "9839011111" not in body and "chhedkhani" not in body, fmt
    [row] = [r for r in json.loads(_export(eo))["tickets"] if r["ref"] == b]
    assert row["description"] == row["place"] == row["complainant_name"] == row["phone"] == "(confidential)"
    cert = zipfile.ZipFile(io.BytesIO(eo.get(f"/console/t/{b}/evidence.zip").data)).read("certificate.html").decode()
    assert "Sunita" not in cert and "9839011111" not in cert and "(confidential)" in cert
    # the SHO of the station sees the identity: so do the exports and the certificate
    sho = _client(app, staff, "sho.knp-mahila")
    [row] = [r for r in json.loads(_export(sho))["tickets"] if r["ref"] == b]
    assert row["complainant_name"] == "Sunita Verma" and row["phone"] == SENDER and "chhedkhani" in row["description"]
    cert = zipfile.ZipFile(io.BytesIO(sho.get(f"/console/t/{b}/evidence.zip").data)).read("certificate.html").decode()
    assert "Sunita Verma" in cert
    # a DCP is masked until the reveal, then sees what the page shows (queue search by number too)
    dcp = _client(app, staff, "dcp.kanpur_nagar")
    assert "Sunita" not in _export(dcp) and f'data-ref="{b}"' not in dcp.get("/console/?q=9839011111").get_data(
        as_text=True)
    r = dcp.post(f"/console/t/{b}/unmask", data={"csrf_token": _csrf(dcp, f"/console/t/{b}"), "reason": "call her"})
    assert r.status_code == 302
    [row] = [r for r in json.loads(_export(dcp))["tickets"] if r["ref"] == b]
    assert row["complainant_name"] == "Sunita Verma" and row["phone"] == SENDER
    assert "Sunita Verma" in _export(dcp, "csv")
    assert f'data-ref="{b}"' in dcp.get("/console/?q=9839011111").get_data(as_text=True)
    cert = zipfile.ZipFile(io.BytesIO(dcp.get(f"/console/t/{b}/evidence.zip").data)).read("certificate.html").decode()
    assert "Sunita Verma" in cert


def test_dashboard_feedback_follows_the_same_rule(db, app, staff, two):
    from tickets import actions

    a, b = two()
    with db.session() as s:
        cb = s.scalar(select(Complaint).where(Complaint.ref == b))
        actions.dispose(s, cb, "resolved", "officer:1")
        actions.rate(s, cb, 3, "Sunita ko ab bhi dhamki mil rahi hai", "dcp", actor="citizen")
    dcp = _client(app, staff, "dcp.kanpur_nagar")
    assert "dhamki" not in dcp.get("/console/dashboard").get_data(as_text=True)
    r = dcp.post(f"/console/t/{b}/unmask", data={"csrf_token": _csrf(dcp, f"/console/t/{b}"), "reason": "feedback"})
    assert r.status_code == 302
    assert "Sunita ko ab bhi dhamki" in dcp.get("/console/dashboard").get_data(as_text=True)


def test_a_name_she_gave_on_her_earlier_ticket_is_redacted_too(db, app, twilio, fixture_form, recorder,
                                                              recorder_server, media_dir, staff, drain):
    """Her first ticket names her "Sunita Verma"; on the confidential one she gives only "Sunita" at the name
    step but says her full name in the story: a masked viewer must not read the surname either."""
    a_turns = ["mera mobile phone chori ho gaya kotwali kanpur me", "aaj subah", "Sunita Verma", "haan"]
    b_turns = ["main Sunita Verma, colonelganj kanpur me ek ladka roz mera peecha karta hai aur chhedkhani karta hai",
               "kal shaam 7 baje", "Sunita", "haan"]
    _file(db, twilio, fixture_form, recorder, recorder_server, a_turns)
    b = _file(db, twilio, fixture_form, recorder, recorder_server, b_turns)
    drain()
    with db.session() as s:
        c = s.scalar(select(Complaint).where(Complaint.ref == b))
        assert c.confidential and c.complainant_name != "Sunita Verma", c.complainant_name
    html = _client(app, staff, "eo1.knp-mahila").get(f"/console/t/{b}").get_data(as_text=True)
    assert "chhedkhani" in html
    for leak in ("Sunita", "Verma"):
        assert leak not in html, leak


def test_masked_viewer_does_not_read_the_place(db, app, staff, two):
    """The API and the exports mask a confidential ticket's place; the ticket page must too (and its map point)."""
    a, b = two()
    with db.session() as s:
        c = s.scalar(select(Complaint).where(Complaint.ref == b))
        c.place, c.lat, c.lon = "House 12, Gali Number 4, Colonelganj", 26.47712, 80.34213
    masked = _client(app, staff, "eo1.knp-mahila").get(f"/console/t/{b}").get_data(as_text=True)
    assert "Gali Number 4" not in masked and "26.47712" not in masked
    full = _client(app, staff, "sho.knp-mahila").get(f"/console/t/{b}").get_data(as_text=True)
    assert "Gali Number 4" in full and "26.47712" in full
