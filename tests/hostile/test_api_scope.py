"""The JSON API from an attacker's side: one posting per token, postings that hold now, no file moves,
no 500 on hostile bodies (issue 14, findings 1, 4, 5, 11, 16)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import Attachment, Complaint, Message, Officer, Posting, Station, utcnow
from tests.tickets.helpers import new_ticket, seeded, ticket
from tickets.seed import issue_token


def _station(db, code: str) -> Station:
    with db.session() as s:
        return s.scalar(select(Station).where(Station.code == code))


def _officer_with_postings(db, *postings: dict) -> tuple[int, list[int]]:
    """A new officer holding each of ``postings`` (role, station code, started/ended offsets)."""
    with db.session() as s:
        o = Officer(username=f"two.hats.{len(postings)}", name="SI Two Hats", phone="+919000000999", gender="F")
        s.add(o)
        s.flush()
        ids = []
        for p in postings:
            st = s.scalar(select(Station).where(Station.code == p["station"])) if p.get("station") else None
            row = Posting(officer_id=o.id, role=p["role"], station_id=st.id if st else None,
                          district=p.get("district") or (st.district if st else None),
                          started_at=utcnow() + p.get("start", -timedelta(days=30)),
                          ended_at=utcnow() + p["end"] if "end" in p else None)
            s.add(row)
            s.flush()
            ids.append(row.id)
        return o.id, ids


def _token(db, posting_id: int) -> dict:
    with db.session() as s:
        return {"Authorization": f"Bearer {issue_token(s.get(Posting, posting_id))}"}


def _confidential_at(db, station_code: str, phone="+919839000777") -> Complaint:
    st = _station(db, station_code)
    cid = new_ticket(db, phone=phone, district=st.district, category="theft_mobile", station_code=station_code,
                     complainant_name="Sunita Devi", confidential=True, description="Sunita Devi, stalked daily")
    c = ticket(db, cid)
    assert c.station_id == st.id and c.confidential
    return c


def test_an_eo_token_does_not_carry_the_same_officers_sho_posting_elsewhere(db, client):
    """Finding 4: EO at station A + SHO at station B. The token of the EO posting sees A's tickets only, the
    complainant masked as for an EO, and may not re-route; the SHO posting's token is a separate token."""
    seeded(db)
    a, b = "JHS-NAVABAD", "JHS-KOTWALI"
    _oid, (eo_post, sho_post) = _officer_with_postings(db, {"role": "eo", "station": a}, {"role": "sho", "station": b})
    at_a = _confidential_at(db, a)
    at_b = _confidential_at(db, b, phone="+919839000778")
    eo = _token(db, eo_post)
    r = client.get("/api/v1/tickets", headers=eo)
    assert r.status_code == 200
    assert [t["ref"] for t in r.json["tickets"]] == [at_a.ref]
    assert r.json["tickets"][0]["complainant_name"] != "Sunita Devi" and r.json["tickets"][0]["identity_masked"]
    one = client.get(f"/api/v1/tickets/{at_a.ref}", headers=eo).get_data(as_text=True)
    assert "Sunita" not in one and "+919839000777" not in one
    assert client.get(f"/api/v1/tickets/{at_b.ref}", headers=eo).status_code == 404
    r = client.post(f"/api/v1/tickets/{at_a.ref}/reroute", json={"station": b, "reason": "x"}, headers=eo)
    assert r.status_code == 403 and ticket(db, at_a.id).station_id == _station(db, a).id
    sho = _token(db, sho_post)  # the SHO posting acts at B, as an SHO (identity shown), and not at A
    r = client.get(f"/api/v1/tickets/{at_b.ref}", headers=sho)
    assert r.status_code == 200 and r.json["complainant_name"] == "Sunita Devi"
    assert client.get(f"/api/v1/tickets/{at_a.ref}", headers=sho).status_code == 404


def test_a_transfer_or_a_posting_not_begun_revokes_the_token(db, client):
    """Findings 4 and 5: the token of an ended posting (or one ending now) is refused; a posting starting
    tomorrow gives nothing today; a current posting with a future end date works."""
    seeded(db)
    st = "JHS-NAVABAD"
    _oid, (ending, future, current) = _officer_with_postings(
        db, {"role": "sho", "station": st, "end": timedelta(days=3)},
        {"role": "sho", "station": "JHS-KOTWALI", "start": timedelta(days=1)},
        {"role": "eo", "station": st, "end": timedelta(days=10)})
    c = ticket(db, new_ticket(db, district="jhansi", station_code=st))
    tok_ending, tok_future, tok_current = _token(db, ending), _token(db, future), _token(db, current)
    assert client.get(f"/api/v1/tickets/{c.ref}", headers=tok_ending).status_code == 200  # ends in 3 days
    assert client.get(f"/api/v1/tickets/{c.ref}", headers=tok_current).status_code == 200
    r = client.get("/api/v1/tickets", headers=tok_future)
    assert r.status_code == 401 and r.json["error"] == "token_revoked"
    with db.session() as s:  # transferred today
        s.get(Posting, ending).ended_at = utcnow() - timedelta(seconds=1)
    r = client.get(f"/api/v1/tickets/{c.ref}", headers=tok_ending)
    assert r.status_code == 401 and r.json["error"] == "token_revoked"


def test_issue_tokens_binds_each_token_to_the_current_posting(db):
    """The seed's tokens go to the posting the officer holds now, never to an ended one."""
    from tickets.seed import issue_tokens

    seeded(db)
    kotwali = _station(db, "JHS-KOTWALI").id
    with db.session() as s:
        o = s.scalar(select(Officer).where(Officer.username == "sho.jhs-navabad"))
        old = o.postings[0]
        old.ended_at = utcnow() - timedelta(days=1)
        s.add(Posting(officer_id=o.id, role="sho", station_id=kotwali, district="jhansi",
                      started_at=utcnow() - timedelta(hours=1)))
    with db.session() as s:
        issue_tokens(s)
        o = s.scalar(select(Officer).where(Officer.username == "sho.jhs-navabad"))
        holders = [p for p in o.postings if p.api_token_hash]
        assert len(holders) == 1 and holders[0].ended_at is None


def test_a_note_cannot_move_another_stations_attachment(db, client):
    """Finding 1: a follow-up photo of a citizen at another station (no ticket link yet) cannot be pulled
    onto the caller's ticket by listing its id, nor can a file of another ticket."""
    seeded(db)
    mine = ticket(db, new_ticket(db, district="jhansi", station_code="JHS-NAVABAD"))
    theirs = ticket(db, new_ticket(db, phone="+919839000555", district="jhansi", station_code="JHS-KOTWALI"))
    with db.session() as s:
        m = Message(sid="MMfollowup0001", direction="in", channel="whatsapp", citizen_id=None, body="",
                    kind="image")
        s.add(m)
        s.flush()
        loose = Attachment(message_id=m.id, kind="image", mime="image/jpeg", status="stored", path="x.jpg")
        other = Attachment(complaint_id=theirs.id, kind="image", mime="image/jpeg", status="stored", path="y.jpg")
        s.add_all([loose, other])
        s.flush()
        loose_id, other_id = loose.id, other.id
    with db.session() as s:
        sho = {"Authorization": f"Bearer {issue_token(s.scalar(select(Officer).where(Officer.username == 'sho.jhs-navabad')).postings[0])}"}  # noqa: E501
    for att in (loose_id, other_id):
        r = client.post(f"/api/v1/tickets/{mine.ref}/notes", json={"text": "mine", "attachment_ids": [att]},
                        headers=sho)
        assert r.status_code == 400 and r.json["error"] == "bad_attachment"
    with db.session() as s:
        assert s.get(Attachment, loose_id).complaint_id is None
        assert s.get(Attachment, other_id).complaint_id == theirs.id


def test_assign_refuses_a_posting_with_no_station(db, client):
    """Finding 16: the console refuses a posting without a station as enquiry officer; so does the API."""
    seeded(db)
    c = ticket(db, new_ticket(db, district="jhansi", station_code="JHS-NAVABAD"))
    with db.session() as s:
        sho = s.scalar(select(Officer).where(Officer.username == "sho.jhs-navabad")).postings[0]
        cell = s.scalar(select(Officer).where(Officer.username == "cell.duty")).postings[0]
        h = {"Authorization": f"Bearer {issue_token(sho)}"}
        cell_id = cell.id
    r = client.post(f"/api/v1/tickets/{c.ref}/assign", json={"posting_id": cell_id}, headers=h)
    assert r.status_code == 409 and r.json["error"] == "wrong_station"
    assert ticket(db, c.id).assigned_posting_id is None


HOSTILE = [
    ("get", "?due_before=0001-01-01T00:00:00Z", None, None),
    ("get", "?due_before=9999-12-31T23:59:59-14:00", None, "due_before"),
    ("get", "?due_before=2026-01-01T00:00:00", None, "due_before"),
    ("assign", None, '{"posting_id": 1e999}', "posting_id"),
    ("assign", None, '{"posting_id": 1000000000000000000000000000000}', "posting_id"),
    ("assign", None, '{"posting_id": "7"}', "posting_id"),
    ("assign", None, '{"posting_id": true}', "posting_id"),
    ("notes", None, '{"text": "x", "attachment_ids": [1000000000000000000000000000000]}', "attachment_ids"),
    ("notes", None, '{"text": "x", "attachment_ids": 5}', "attachment_ids"),
    ("notes", None, '{"text": ["x"]}', "text"),
    ("dispose", None, '{"outcome": "fir", "number": {}}', "number"),
    ("dispose", None, '{"outcome": 5}', "outcome"),
    ("reroute", None, '{"station": ["JHS-KOTWALI"]}', "station"),
    ("merge", None, '{"into": 12}', "into"),
    ("reopen", None, '[1, 2]', "body"),
    ("notes", None, 'not json', "body"),
    # each of these was a 500 (UnicodeEncodeError, RecursionError) from the outside review
    ("notes", None, '{"text": "\\ud800 beaten"}', "text"),
    ("reroute", None, '{"station": "\\udfff"}', "station"),
    ("dispose", None, '{"outcome": "fir", "number": "12/\\ud83d"}', "number"),
    ("notes", None, '[' * 50000 + ']' * 50000, "body"),
]


@pytest.mark.parametrize(("action", "query", "body", "field"), HOSTILE)
def test_hostile_values_are_a_400_naming_the_field(db, client, action, query, body, field):
    """Finding 11: each of these was a 500 (or a silent misuse); each is a 400 that names the field (the
    year-1 bound is a valid time and simply lists nothing)."""
    seeded(db)
    c = ticket(db, new_ticket(db, district="jhansi", station_code="JHS-NAVABAD"))
    with db.session() as s:
        h = {"Authorization": f"Bearer {issue_token(s.scalar(select(Officer).where(Officer.username == 'sho.jhs-navabad')).postings[0])}"}  # noqa: E501
    if action == "get":
        r = client.get(f"/api/v1/tickets{query}", headers=h)
    else:
        r = client.post(f"/api/v1/tickets/{c.ref}/{action}", data=body, headers=h | {"Content-Type":
                                                                                     "application/json"})
    if field is None:
        assert r.status_code == 200 and r.json["tickets"] == []
        return
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.json["error"] == "bad_input" and field in r.json["message"]
    assert ticket(db, c.id).status == "routed"
