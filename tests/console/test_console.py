"""The queue, the ticket and its actions, scoping, masking, walk-in registration, exports, dashboard."""

import io
import json
import zipfile
from datetime import timedelta

from sqlalchemy import func, select

from models import Attachment, Complaint, Event, Outbox, Posting, utcnow
from models.tables import StatDaily
from tests.console.conftest import CITIZEN


def _posting(db, username):
    from models import Officer

    with db.session() as s:
        o = s.scalar(select(Officer).where(Officer.username == username))
        return s.scalar(select(Posting.id).where(Posting.officer_id == o.id))


def test_queue_sorted_by_time_left_with_colours(db, client, officers, login, ticket):
    _, later = ticket()
    _, sooner = ticket()
    _, breached = ticket()
    with db.session() as s:
        now = utcnow()
        s.execute(Complaint.__table__.update().where(Complaint.ref == sooner).values(due_at=now + timedelta(hours=2)))
        s.execute(Complaint.__table__.update().where(Complaint.ref == breached).values(due_at=now - timedelta(hours=1)))
    login(officers["sho.knp-kotwali"])
    html = client.get("/console/").get_data(as_text=True)
    pos = [html.index(r) for r in (breached, sooner, later)]
    assert pos == sorted(pos)
    assert f'class="row breached" data-ref="{breached}"' in html
    assert f'class="row soon" data-ref="{sooner}"' in html
    assert f'class="row ok" data-ref="{later}"' in html
    assert "data-due=" in html


def test_another_station_gets_404_and_scope_follows_the_posting(db, client, app, officers, login, ticket):
    cid, ref = ticket()
    login(officers["sho.knp-colonelganj"])
    assert client.get(f"/console/t/{ref}").status_code == 404
    assert ref not in client.get("/console/").get_data(as_text=True)
    assert f'data-ref="{ref}"' not in client.get(f"/console/?q={ref}").get_data(as_text=True)
    # senior ranks see their area: the ACP of Kotwali circle, the DCP of Kanpur Nagar, the IG the zone
    for user in ("acp.kanpur_nagar.kotwali", "dcp.kanpur_nagar", "ig.kanpur_zone"):
        c2 = app.test_client()
        from tests.console.conftest import sign_in

        assert sign_in(c2, officers[user]).status_code == 302
        assert c2.get(f"/console/t/{ref}").status_code == 200, user
    c3 = app.test_client()
    from tests.console.conftest import sign_in

    sign_in(c3, officers["co.jhansi.kotwali"] if "co.jhansi.kotwali" in officers else officers["sho.jhs-kotwali"])
    assert c3.get(f"/console/t/{ref}").status_code == 404


def test_assign_tells_the_citizen_and_every_view_is_audited(db, client, officers, login, ticket, drain, recorder):
    cid, ref = ticket()
    sho = officers["sho.knp-kotwali"]
    tok = login(sho)
    assert client.get(f"/console/t/{ref}").status_code == 200
    eo = _posting(db, "eo1.knp-kotwali")
    r = client.post(f"/console/t/{ref}/assign", data={"csrf_token": tok(), "posting_id": eo})
    assert r.status_code == 302
    drain()
    with db.session() as s:
        c = s.get(Complaint, cid)
        assert c.status == "assigned" and c.assigned_posting_id == eo
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.complaint_id == cid))]
        assert "viewed" in kinds and "assigned" in kinds
        viewed = s.scalar(select(Event).where(Event.complaint_id == cid, Event.kind == "viewed"))
        assert viewed.actor == f"officer:{sho.officer_id}"
    sms = [m["Body"] for m in recorder.to(CITIZEN)]
    assert any(ref in b and "SI Kotwali 1" in b for b in sms)


def test_refused_action_is_a_4xx_with_the_reason_and_changes_nothing(db, client, officers, login, ticket):
    cid, ref = ticket()
    tok = login(officers["eo1.knp-kotwali"])
    r = client.post(f"/console/t/{ref}/dispose", data={"csrf_token": tok(), "outcome": "fir", "number": ""})
    assert r.status_code == 400 and "needs its number" in r.get_data(as_text=True)
    r = client.post(f"/console/t/{ref}/dispose", data={"csrf_token": tok(), "outcome": "nonsense"})
    assert r.status_code == 400
    r = client.post(f"/console/t/{ref}/assign", data={"csrf_token": tok(), "posting_id": "1"})
    assert r.status_code == 403  # an EO does not assign
    r = client.post(f"/console/t/{ref}/dispose", data={"csrf_token": "forged", "outcome": "resolved"})
    assert r.status_code == 400
    with db.session() as s:
        assert s.get(Complaint, cid).status == "routed"
    r = client.post(f"/console/t/{ref}/dispose", data={"csrf_token": tok(), "outcome": "fir", "number": "12/2025"})
    assert r.status_code == 302
    with db.session() as s:
        c = s.get(Complaint, cid)
        assert (c.status, c.outcome, c.outcome_number) == ("disposed", "fir", "12/2025")


def test_hostile_text_is_escaped_and_bidi_neutralised_urdu_intact(db, client, officers, login, ticket):
    urdu = "میرا موبائل چوری ہو گیا"
    evil = "<script>alert(1)</script> ' OR 1=1 -- \u202etxt.exe\u2066x\u2069 " + urdu
    cid, ref = ticket(description=evil)
    tok = login(officers["sho.knp-kotwali"])
    r = client.post(f"/console/t/{ref}/note", data={"csrf_token": tok(), "text": "<img src=x onerror=alert(2)>"})
    assert r.status_code == 302
    html = client.get(f"/console/t/{ref}").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        assert ch not in html
    assert "[RLO]" in html and "[LRI]" in html and "[PDI]" in html
    assert urdu in html and '<bdi dir="auto"' in html
    # search with SQL is just a 400, never executed
    assert client.get("/console/?q=%27%20OR%201%3D1%20--").status_code == 400
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 1


def test_search_filters_and_page_bounds(db, client, officers, login, ticket):
    _, a = ticket(phone="+919839000001", channel="whatsapp")
    _, b = ticket(phone="+919839000002", category="land_dispute")
    login(officers["sho.knp-kotwali"])
    assert a in client.get(f"/console/?q={a.lower()}").get_data(as_text=True)
    page = client.get("/console/?q=9839000002").get_data(as_text=True)
    assert b in page and a not in page
    page = client.get("/console/?channel=whatsapp").get_data(as_text=True)
    assert a in page and b not in page
    page = client.get("/console/?category=land_dispute").get_data(as_text=True)
    assert b in page and a not in page
    assert client.get("/console/?page=99999999999").status_code in (400, 404)
    assert client.get("/console/?page=5").status_code == 404
    assert client.get("/console/?page=abc").status_code == 400
    assert client.get("/console/?status=nope").status_code == 400
    assert client.get("/console/?category=nope").status_code == 400


def test_confidential_identity_masked_for_roles_config_does_not_allow(db, client, app, officers, login, ticket):
    cid, ref = ticket(confidential=True, complainant_name="Sunita Devi", phone="+919839000077")
    login(officers["eo1.knp-kotwali"])  # eo is not in confidential_viewer_roles
    for path in ("/console/", f"/console/t/{ref}", "/console/export.csv", "/console/export.json"):
        body = client.get(path).get_data(as_text=True)
        assert "Sunita" not in body and "9839000077" not in body, path
    # nor may searching by the number tell the EO that this citizen filed it
    assert ref not in client.get("/console/?q=9839000077").get_data(as_text=True)
    from tests.console.conftest import sign_in

    c2 = app.test_client()
    sign_in(c2, officers["sho.knp-kotwali"])
    body = c2.get(f"/console/t/{ref}").get_data(as_text=True)
    assert "Sunita Devi" in body and "+919839000077" in body
    assert ref in c2.get("/console/?q=9839000077").get_data(as_text=True)  # the SHO may find it by number


def test_walkin_registration_with_upload_routes_and_alerts(db, client, officers, login, drain, recorder):
    tok = login(officers["sho.knp-kotwali"])
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    data = {"csrf_token": tok("/console/new"), "channel": "post", "phone": "98390 55555", "name": "Ram Lal",
            "description": "चिट्ठी: पड़ोसी ने दीवार तोड़ी", "category": "land_dispute", "district": "kanpur_nagar",
            "station_code": "KNP-KOTWALI", "files": [(io.BytesIO(png), "scan.png", "application/pdf")]}
    r = client.post("/console/new", data=data, content_type="multipart/form-data")
    assert r.status_code == 302
    drain()
    with db.session() as s:
        c = s.scalar(select(Complaint))
        assert c.channel == "post" and c.phone == "+919839055555" and c.station.code == "KNP-KOTWALI"
        att = s.scalar(select(Attachment).where(Attachment.complaint_id == c.id))
        assert att.mime == "image/png" and att.claimed_type == "application/pdf" and len(att.sha256) == 64
        ref = c.ref
    assert any(ref in m["Body"] for m in recorder.to("+919839055555"))
    # bad input: a walk-in without a phone, an unknown category
    r = client.post("/console/new", data={"csrf_token": tok("/console/new"), "channel": "walkin",
                                          "description": "x"})
    assert r.status_code == 400
    r = client.post("/console/new", data={"csrf_token": tok("/console/new"), "channel": "post", "category": "zzz",
                                          "description": "x"})
    assert r.status_code == 400
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 1


def test_interpreter_writes_the_description(db, client, officers, login, ticket):
    cid, ref = ticket(description="", needs_interpreter=True, category=None)
    tok = login(officers["interpreter.1"])
    assert ref in client.get("/console/interpreter").get_data(as_text=True)
    r = client.post(f"/console/t/{ref}/interpret", data={"csrf_token": tok(), "text": "My bicycle was stolen"})
    assert r.status_code == 302
    with db.session() as s:
        c = s.get(Complaint, cid)
        assert c.description == "My bicycle was stolen" and not c.needs_interpreter
    assert client.get(f"/console/t/{ref}").status_code == 404  # no longer the interpreter's


def test_evidence_bundle_lists_files_with_sha256(db, client, officers, login, ticket):
    cid, ref = ticket()
    tok = login(officers["sho.knp-kotwali"])
    payload = b"%PDF-1.4 enquiry report"
    r = client.post(f"/console/t/{ref}/note", data={"csrf_token": tok(), "text": "report attached",
                                                    "files": [(io.BytesIO(payload), "r.pdf")]},
                    content_type="multipart/form-data")
    assert r.status_code == 302
    z = zipfile.ZipFile(io.BytesIO(client.get(f"/console/t/{ref}/evidence.zip").data))
    man = json.loads(z.read("manifest.json"))
    import hashlib

    assert len(man["files"]) == 1 and man["files"][0]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert man["files"][0]["matches"] is True
    assert z.read(man["files"][0]["name"]) == payload
    assert hashlib.sha256(payload).hexdigest() in z.read("certificate.html").decode()
    login_other = client.get(f"/console/t/{ref}/evidence.zip")
    assert login_other.status_code == 200


def test_export_is_scoped_and_audited(db, client, officers, login, ticket):
    _, mine = ticket()
    _, other = ticket(station_code="KNP-COLONELGANJ")
    login(officers["sho.knp-kotwali"])
    body = client.get("/console/export.csv?status=all").get_data(as_text=True)
    assert mine in body and other not in body
    rows = json.loads(client.get("/console/export.json").data)["tickets"]
    assert [r["ref"] for r in rows] == [mine]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "exported")) == 2


def test_dashboard_aggregates_follow_events_and_match_a_rebuild(db, client, officers, login, ticket):
    from tickets.stats import rebuild

    cid, ref = ticket()
    ticket(channel="whatsapp")
    ticket(station_code="KNP-COLONELGANJ")
    tok = login(officers["eo1.knp-kotwali"])
    client.post(f"/console/t/{ref}/dispose", data={"csrf_token": tok(), "outcome": "fir", "number": "1/25"})
    with db.session() as s:
        before = {(r.station_id, r.channel): (r.received, r.disposed, r.in_sla, r.fir)
                  for r in s.scalars(select(StatDaily)) if r.received or r.disposed}
        rebuild(s)
    with db.session() as s:
        after = {(r.station_id, r.channel): (r.received, r.disposed, r.in_sla, r.fir)
                 for r in s.scalars(select(StatDaily)) if r.received or r.disposed}
    assert before == after
    html = client.get("/console/dashboard").get_data(as_text=True)
    assert 'class="n-received">2<' in html and 'class="n-fir">1<' in html and 'class="n-in-sla">1<' in html
    assert client.get("/console/dashboard?days=9999").status_code == 400
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Outbox)) > 0


def test_export_and_ticket_page_show_india_time_across_midnight(db, client, officers, login, ticket):
    """A complaint made at 00:30 in India is 19:00 UTC the day before: the export (for data entry into CCTNS and
    IGRS) and the ticket page must give the Indian date and time, as the citizen's SMS does."""
    import csv
    from datetime import UTC, datetime

    cid, ref = ticket()
    at = datetime(2025, 3, 1, 19, 0, tzinfo=UTC)  # 2 March 2025, 00:30 IST
    with db.session() as s:
        s.execute(Complaint.__table__.update().where(Complaint.id == cid)
                  .values(registered_at=at, due_at=at + timedelta(hours=24)))
    login(officers["sho.knp-kotwali"])
    body = client.get("/console/export.csv").get_data(as_text=True)
    row = next(r for r in csv.DictReader(io.StringIO(body.lstrip("\ufeff"))) if r["ref"] == ref)
    assert row["registered_at"].startswith("2025-03-02T00:30") and row["due_at"].startswith("2025-03-03T00:30")
    assert datetime.fromisoformat(row["registered_at"]) == at  # still an exact instant
    rows = json.loads(client.get("/console/export.json").data)["tickets"]
    assert next(r for r in rows if r["ref"] == ref)["registered_at"].startswith("2025-03-02T00:30")
    html = client.get(f"/console/t/{ref}").get_data(as_text=True)
    assert "2025-03-02 00:30" in html and "2025-03-03 00:30" in html
    assert "2025-03-01 19:00" not in html


def test_ticket_page_says_when_the_citizen_sent_stop(db, client, officers, login, ticket):
    """SMS alerts no longer reach a citizen who sent STOP: the officer sees it beside the number, to call instead."""
    from models import Citizen

    _, ref = ticket()
    login(officers["sho.knp-kotwali"])
    assert "sent STOP" not in client.get(f"/console/t/{ref}").get_data(as_text=True)
    with db.session() as s:
        cit = s.scalar(select(Citizen).where(Citizen.phone == CITIZEN))
        if cit is None:
            s.add(Citizen(phone=CITIZEN, sms_opt_out=True))
        else:
            cit.sms_opt_out = True
    assert "sent STOP" in client.get(f"/console/t/{ref}").get_data(as_text=True)


def test_ids_too_big_for_the_database_are_a_400_or_404_not_a_500(db, client, officers, login, ticket):
    """The outside review: posting_id=10**30 or 2**63 and /attachment/10**30 raised OverflowError (a 500)."""
    cid, ref = ticket()
    tok = login(officers["sho.knp-kotwali"])
    for big in (str(10**30), str(2**63), "-1", "0"):
        r = client.post(f"/console/t/{ref}/assign", data={"csrf_token": tok(), "posting_id": big})
        assert r.status_code == 400, (big, r.status_code)
    for path in (f"/console/attachment/{10**30}", f"/console/attachment/{2**63}/keyframes",
                 f"/console/attachment/{2**53 + 1}"):
        assert client.get(path).status_code == 404, path
    with db.session() as s:
        assert s.get(Complaint, cid).status == "routed"


def test_an_officers_evidence_is_named_by_the_one_sniffer_whatever_its_type():
    """console.media.sniff is voice.media.sniff with any_type (office documents, archives, other images), then
    plain text, then bytes kept as they are — never the type the browser claimed."""
    from console.media import kind_of, sniff

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ("[Content_Types].xml", "_rels/.rels", "word/document.xml"):
            z.writestr(name, "<x/>" * 40)
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert sniff(buf.getvalue()) == docx and kind_of(docx) == "document"
    assert sniff(b"\0\0\0\x18ftypheic\0\0\0\0") == "image/heic"
    assert sniff(b"\xff\xd8\xff\xe0\0\x10JFIF") == "image/jpeg" and sniff(b"%PDF-1.7\n") == "application/pdf"
    assert sniff("शिकायत का ब्योरा".encode()) == "text/plain"
    assert sniff(b"\x80\x81\x82 binary") == "application/octet-stream"
