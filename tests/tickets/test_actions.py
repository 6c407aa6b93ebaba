"""Ticket actions as the console, the citizen page and the bot call them; routing rules; the JSON API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Complaint, Feedback, Officer, Posting, Station
from tests.tickets.helpers import T0, H, events, new_ticket, outbox_keys, seeded, ticket
from tickets import actions, clock
from tickets.actions import ActionError
from tickets.seed import issue_tokens


def posting(db, station_code: str, role: str = "eo", gender: str | None = None) -> int:
    with db.session() as s:
        q = (select(Posting.id).join(Station, Station.id == Posting.station_id).join(Officer)
             .where(Station.code == station_code, Posting.role == role))
        if gender:
            q = q.where(Officer.gender == gender)
        return s.scalars(q).first()


def act(db, cid, fn, *a, **k):
    with db.session() as s:
        return fn(s, s.get(Complaint, cid), *a, **k)


# -- routing rules ---------------------------------------------------------------------------------
@pytest.mark.parametrize("draft, code, reason", [
    (dict(district="jhansi", station_code="JHS-NAVABAD"), "JHS-NAVABAD", "named"),
    (dict(district="kanpur_nagar", category="harassment", station_code="KNP-KOTWALI"), None, "unit"),
    (dict(district="kanpur_nagar", category="cyber_fraud"), None, "unit"),
    (dict(district="jhansi", category="land_dispute"), "JHS-KOTWALI", "nodal"),
])
def test_routing_rules(db, draft, code, reason):
    with db.session() as s:
        codes = {st.code for st in s.scalars(select(Station))}
    if code and code not in codes:
        pytest.skip(f"{code} not in stations.csv")
    cid = new_ticket(db, **draft)
    ev = events(db, cid, "routed")[0]
    assert ev.data["reason"] == reason
    c = ticket(db, cid)
    with db.session() as s:
        st = s.get(Station, c.station_id)
        if code:
            assert st.code == code
        if reason == "unit":
            assert st.kind == ("women_desk" if draft["category"] == "harassment" else "cyber_cell")
            assert st.district == draft["district"]
    assert c.needs_reroute is (reason == "nodal")


def test_pin_picks_the_nearest_station_of_its_district_and_outside_the_zone_is_ignored(db):
    with db.session() as s:
        target = s.scalars(select(Station).where(Station.district == "jalaun", Station.kind == "thana",
                                                 Station.nodal.is_(False))).first()
        lat, lon = target.lat + 0.001, target.lon - 0.001
    cid = new_ticket(db, district="jalaun", category="land_dispute", lat=lat, lon=lon)
    assert ticket(db, cid).station_id == target.id
    assert events(db, cid, "routed")[0].data["reason"] == "pin"
    cid2 = new_ticket(db, phone="+919839000002", district="jalaun", category="land_dispute", lat=19.07, lon=72.87)
    assert events(db, cid2, "pin_outside_zone") and events(db, cid2, "routed")[0].data["reason"] == "nodal"


def test_place_text_names_a_station(db):
    with db.session() as s:
        st = s.scalars(select(Station).where(Station.district == "kanpur_nagar", Station.kind == "thana",
                                             Station.nodal.is_(False))).first()
    cid = new_ticket(db, district="kanpur_nagar", category="land_dispute", place=f"near {st.name_en} market")
    assert ticket(db, cid).station_id == st.id
    assert events(db, cid, "routed")[0].data["reason"] == "place"


def test_district_with_no_active_station_goes_to_the_zone_with_an_event(db):
    with db.session() as s:
        for st in s.scalars(select(Station).where(Station.district == "lalitpur")):
            st.active = False
    from tickets.router import clear_cache

    clear_cache()
    cid = new_ticket(db, district="lalitpur", category="theft_other")
    assert events(db, cid, "no_active_station")
    assert ticket(db, cid).needs_reroute


def test_police_conduct_starts_at_the_co(db):
    seeded(db)
    cid = new_ticket(db, district="jhansi", category="police_conduct")
    c = ticket(db, cid)
    assert c.escalation_level == 1 and c.sla_base_level == 1
    assert events(db, cid, "escalated")[0].data["rank"] == "co"
    clock.sweep(now=T0 + 24 * H)  # its breach climbs from the CO to the SP
    assert events(db, cid, "escalated")[-1].data["rank"] == "ssp"  # Jhansi: SHO → CO → SSP → IG


# -- actions -----------------------------------------------------------------------------------------
def test_assign_tells_the_citizen_the_officers_name_and_phone(db):
    seeded(db)
    cid = new_ticket(db)
    c = ticket(db, cid)
    with db.session() as s:
        code = s.get(Station, c.station_id).code
    pid = posting(db, code)
    act(db, cid, actions.assign, pid, "officer:1")
    c = ticket(db, cid)
    assert c.status == "assigned" and c.assigned_posting_id == pid and c.next_check_at is not None
    assert len(outbox_keys(db, f"send:assigned:{cid}:%")) == 1
    # a posting at another station is refused, with an Event
    other = posting(db, "JHS-NAVABAD") or posting(db, "KNP-KOTWALI")
    with pytest.raises(ActionError) as e:
        act(db, cid, actions.assign, other, "officer:1")
    assert e.value.code == "wrong_station"


def test_woman_officer_rule(db):
    seeded(db)
    cid = new_ticket(db, district="kanpur_nagar", category="domestic_dispute")
    with db.session() as s:
        code = s.get(Station, ticket(db, cid).station_id).code
    with pytest.raises(ActionError) as e:
        act(db, cid, actions.assign, posting(db, code, gender="M"), "officer:1")
    assert e.value.code == "woman_officer_required"
    act(db, cid, actions.assign, posting(db, code, gender="F"), "officer:1")


def test_dispose_needs_an_outcome_and_a_number_for_fir(db):
    seeded(db)
    cid = new_ticket(db)
    for outcome, number, code in (("", None, "bad_outcome"), ("fir", None, "number_required")):
        with db.session() as s:
            with pytest.raises(ActionError) as e:
                actions.dispose(s, s.get(Complaint, cid), outcome, "officer:1", number)
            assert e.value.code == code
            s.commit()  # the refusal is kept in the timeline
    assert [e.data["code"] for e in events(db, cid, "action_refused")] == ["bad_outcome", "number_required"]
    act(db, cid, actions.dispose, "fir", "officer:1", "0123/2025")
    c = ticket(db, cid)
    assert c.status == "disposed" and c.outcome_number == "0123/2025" and c.next_check_at is None
    with db.session() as s:
        from models import Outbox

        row = s.scalar(select(Outbox).where(Outbox.key.like(f"send:disposed:{cid}:%")))
        assert "0123/2025" in row.payload["values"]["outcome"]


def test_rating_reaches_the_chosen_level_and_a_bad_one_reopens_and_escalates(db):
    seeded(db)
    cid = new_ticket(db)
    with db.session() as s:
        c = s.get(Complaint, cid)
        assert actions.rate(s, c, 5, "", None, "citizen") == "not_disposed"
    act(db, cid, actions.dispose, "resolved", "officer:1")
    with db.session() as s:
        c = s.get(Complaint, cid)
        assert actions.rate(s, c, 0, "", None, "citizen") == "invalid"
        assert actions.rate(s, c, 7, "", None, "citizen") == "invalid"
        assert actions.rate(s, c, 2, "nahi hua kuch", "ssp", "citizen") == "ok"
        assert actions.rate(s, c, 2, "", None, "citizen") == "not_disposed"  # it was reopened
    fb = events(db, cid, "feedback")[0]
    assert fb.data["to"] == "ssp" and fb.data["posting"]
    assert len(outbox_keys(db, f"send:feedback_received:{cid}:%")) == 1
    c = ticket(db, cid)
    assert c.status == "routed" and c.reopen_count == 1 and c.escalation_level == 1
    assert events(db, cid, "escalated")[-1].data["reason"] == "feedback"
    with db.session() as s:
        f = s.scalar(select(Feedback).where(Feedback.complaint_id == cid))
        assert f.rating == 2 and f.resolved is False and f.station_id == c.station_id


def test_rating_once_per_disposal(db):
    seeded(db)
    cid = new_ticket(db)
    act(db, cid, actions.dispose, "resolved", "officer:1")
    assert act(db, cid, actions.rate, 4, "", None, "citizen") == "ok"
    assert act(db, cid, actions.rate, 5, "", None, "citizen") == "already"
    fb = events(db, cid, "feedback")[0]
    assert fb.data["to"] == "co"  # default: the SHO's next level


def test_note_reroute_merge_close(db):
    seeded(db)
    cid = new_ticket(db)
    ev = act(db, cid, actions.add_note, "called the complainant; spoke to Ramesh", "officer:1")
    assert ev.kind == "note" and "Ramesh" not in str(ev.data)
    with db.session() as s:
        here = s.get(Complaint, cid).station.code
    act(db, cid, actions.reroute, "JHS-NAVABAD" if here != "JHS-NAVABAD" else "JHS-KOTWALI", "officer:1", "wrong area")
    assert events(db, cid, "rerouted")[0].data["from"]
    other = new_ticket(db, phone="+919839000009")
    with db.session() as s:
        actions.merge(s, s.get(Complaint, other), s.get(Complaint, cid), "officer:1")
    assert ticket(db, other).status == "closed" and ticket(db, other).merged_into_id == cid
    with pytest.raises(ActionError):
        act(db, cid, actions.close, "officer:1")
    act(db, cid, actions.dispose, "resolved", "officer:1")
    late = new_ticket(db, phone="+919839000010")
    with db.session() as s, pytest.raises(ActionError) as refused:  # the late citizen would get nothing
        actions.merge(s, s.get(Complaint, late), s.get(Complaint, cid), "officer:1")
    assert refused.value.code == "not_open" and ticket(db, late).status != "closed"
    # config asks for the cell's verification call first: refused, with the reason in the timeline
    with pytest.raises(ActionError) as err:
        act(db, cid, actions.close, "officer:1")
    assert err.value.code == "verification_required"
    act(db, cid, actions.verify_call, "officer:2", False)  # no answer: still not verified
    with pytest.raises(ActionError):
        act(db, cid, actions.close, "officer:1")
    act(db, cid, actions.verify_call, "officer:2", True, True, "citizen confirms the phone was returned")
    act(db, cid, actions.close, "officer:1")
    assert ticket(db, cid).status == "closed"
    calls = events(db, cid, "verification_call")
    assert [e.data["reached"] for e in calls] == [False, True] and "Ramesh" not in str(calls[1].data)


def test_verification_call_citizen_not_satisfied_reopens(db):
    seeded(db)
    cid = new_ticket(db)
    act(db, cid, actions.dispose, "resolved", "officer:1")
    act(db, cid, actions.verify_call, "officer:2", True, False)
    t = ticket(db, cid)
    assert t.reopen_count == 1 and t.status not in ("disposed", "closed")


def test_find_posting_for_rank(db):
    seeded(db)
    cid = new_ticket(db, district="kanpur_nagar", category="land_dispute")
    with db.session() as s:
        c = s.get(Complaint, cid)
        for rank in ("sho", "acp", "dcp", "jcp", "cp"):
            p = actions.find_posting_for_rank(s, c, rank)
            assert p is not None and p.role == rank and p.phone
        assert actions.find_posting_for_rank(s, c, "co") is None
        ig = actions.find_posting_for_rank(s, c, "ig_zone")
        assert ig.district is None


# -- the JSON API -------------------------------------------------------------------------------------
def _api_ticket(db):
    """A seeded zone, one routed ticket, every officer's API token: (id, ticket, tokens, its station)."""
    seeded(db)
    cid = new_ticket(db)
    c = ticket(db, cid)
    with db.session() as s:
        return cid, c, issue_tokens(s), s.get(Station, c.station_id)


def test_api_needs_a_token_and_scopes_tickets(db, client):
    cid, c, toks, st = _api_ticket(db)
    ref = c.ref
    assert client.get("/api/v1/tickets").status_code == 401
    assert client.get("/api/v1/tickets", headers={"Authorization": "Bearer nope-nope-nope"}).status_code == 401
    sho = {"Authorization": f"Bearer {toks['sho.' + st.code.lower()]}"}
    other = {"Authorization": f"Bearer {toks['sho.knp-kotwali']}"}
    r = client.get("/api/v1/tickets", headers=sho)
    assert r.status_code == 200 and [t["ref"] for t in r.json["tickets"]] == [ref]
    assert client.get(f"/api/v1/tickets/{ref}", headers=other).status_code == 404
    r = client.post(f"/api/v1/tickets/{ref}/dispose", json={"outcome": "ncr"}, headers=sho)
    assert r.status_code == 400 and r.json["error"] == "number_required"
    r = client.post(f"/api/v1/tickets/{ref}/dispose", json={"outcome": "ncr", "number": "77/25"}, headers=sho)
    assert r.status_code == 200 and r.json["status"] == "disposed"
    r = client.get(f"/api/v1/tickets/{ref}", headers=sho)
    kinds = [e["kind"] for e in r.json["events"]]
    assert "action_refused" in kinds and kinds[-1] == "disposed"
    assert all(e["actor"].startswith(("officer:", "system", "citizen")) for e in r.json["events"])


def test_api_is_rate_limited_per_token_and_per_address(db, client):
    """Over ``limits.api_per_minute`` a token gets 429 with Retry-After; other tokens go on; so does an
    address guessing tokens."""
    from zone import get_zone, set_zone

    seeded(db)
    with db.session() as s:
        toks = issue_tokens(s)  # fresh tokens: their counters start at zero
    z = get_zone()
    set_zone(z.model_copy(update={"limits": z.limits.model_copy(update={"api_per_minute": 3})}))
    try:
        mine = {"Authorization": f"Bearer {toks['sho.knp-kotwali']}"}
        other = {"Authorization": f"Bearer {next(v for k, v in toks.items() if k != 'sho.knp-kotwali')}"}
        assert [client.get("/api/v1/tickets", headers=mine).status_code for _ in range(3)] == [200] * 3
        r = client.get("/api/v1/tickets", headers=mine)
        assert r.status_code == 429 and r.json["error"] == "rate_limited" and 1 <= int(r.headers["Retry-After"]) <= 60
        assert client.get("/api/v1/tickets", headers=other).status_code == 200
        guesser = {"REMOTE_ADDR": "203.0.113.77"}
        codes = [client.get("/api/v1/tickets", headers={"Authorization": f"Bearer guess-{i:08d}"},
                            environ_base=guesser).status_code for i in range(4)]
        assert codes == [401, 401, 401, 429]
    finally:
        set_zone(z)


def test_api_tokens_expire(db, client):
    """Tokens are issued for ``limits.api_token_days``; after that the API answers 401 token_expired."""
    from datetime import timedelta

    from models import Officer, utcnow
    from zone import get_zone

    seeded(db)
    with db.session() as s:
        toks = issue_tokens(s)
        o = s.scalar(select(Officer).where(Officer.username == "sho.knp-kotwali"))
        left = o.postings[0].api_token_expires_at - utcnow()
        assert timedelta(days=get_zone().limits.api_token_days) - left < timedelta(minutes=5)
    auth = {"Authorization": f"Bearer {toks['sho.knp-kotwali']}"}
    assert client.get("/api/v1/tickets", headers=auth).status_code == 200
    with db.session() as s:
        s.scalar(select(Officer).where(Officer.username == "sho.knp-kotwali")).postings[0].api_token_expires_at = (
            utcnow() - timedelta(seconds=1))
    r = client.get("/api/v1/tickets", headers=auth)
    assert r.status_code == 401 and r.json["error"] == "token_expired"
    with db.session() as s:
        fresh = issue_tokens(s)["sho.knp-kotwali"]  # a new token works again
    assert client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_api_enforces_the_consoles_roles(db, client):
    """An enquiry officer's token may dispose and add notes (as in the console) but not re-route, reopen,
    close, assign or merge: those are the SHO's and the senior ranks' (403, nothing changes)."""
    cid, c, toks, st = _api_ticket(db)
    eo = {"Authorization": f"Bearer {toks['eo1.' + st.code.lower()]}"}
    sho = {"Authorization": f"Bearer {toks['sho.' + st.code.lower()]}"}
    other = "JHS-NAVABAD" if st.code != "JHS-NAVABAD" else "JHS-KOTWALI"
    r = client.post(f"/api/v1/tickets/{c.ref}/reroute", json={"station": other}, headers=eo)
    assert r.status_code == 403 and r.json["error"] == "forbidden"
    r = client.post(f"/api/v1/tickets/{c.ref}/assign", json={"posting_id": posting(db, st.code)}, headers=eo)
    assert r.status_code == 403
    assert ticket(db, cid).station_id == st.id and ticket(db, cid).assigned_posting_id is None
    assert client.post(f"/api/v1/tickets/{c.ref}/notes", json={"text": "visited"}, headers=eo).status_code == 200
    r = client.post(f"/api/v1/tickets/{c.ref}/dispose", json={"outcome": "resolved"}, headers=eo)
    assert r.status_code == 200 and r.json["status"] == "disposed"
    for action in ("reopen", "close"):
        assert client.post(f"/api/v1/tickets/{c.ref}/{action}", json={}, headers=eo).status_code == 403
    assert ticket(db, cid).status == "disposed"
    r = client.post(f"/api/v1/tickets/{c.ref}/reopen", json={}, headers=sho)
    assert r.status_code == 200 and r.json["status"] in ("routed", "assigned")


def test_api_due_before_without_a_zone_is_a_400(db, client):
    seeded(db)
    new_ticket(db)
    with db.session() as s:
        auth = {"Authorization": f"Bearer {issue_tokens(s)['ig.kanpur_zone']}"}
    r = client.get("/api/v1/tickets?due_before=2025-03-02T06:00:00", headers=auth)
    assert r.status_code == 400 and r.json["error"] == "bad_input"
    r = client.get("/api/v1/tickets?due_before=2030-03-02T06:00:00%2B05:30", headers=auth)
    assert r.status_code == 200 and len(r.json["tickets"]) == 1


def test_api_list_is_the_open_tickets(db, client):
    """``GET /api/v1/tickets`` lists open tickets (a station's disposed backlog, earliest due first, filled the
    200 rows before); ``?status=disposed`` still finds those."""
    seeded(db)
    done = new_ticket(db, at=T0)
    live = new_ticket(db, at=T0 + H)
    act(db, done, actions.dispose, "resolved", "officer:1")
    with db.session() as s:
        auth = {"Authorization": f"Bearer {issue_tokens(s)['ig.kanpur_zone']}"}
    refs = [t["ref"] for t in client.get("/api/v1/tickets", headers=auth).json["tickets"]]
    assert refs == [ticket(db, live).ref]
    refs = [t["ref"] for t in client.get("/api/v1/tickets?status=disposed", headers=auth).json["tickets"]]
    assert refs == [ticket(db, done).ref]


def test_api_view_of_a_ticket_is_audited(db, client):
    seeded(db)
    live = new_ticket(db)
    with db.session() as s:
        auth = {"Authorization": f"Bearer {issue_tokens(s)['ig.kanpur_zone']}"}
    assert client.get(f"/api/v1/tickets/{ticket(db, live).ref}", headers=auth).status_code == 200
    viewed = events(db, live, "viewed")
    assert len(viewed) == 1 and viewed[0].actor.startswith("officer:")


def test_assign_with_no_phone_anywhere_gives_the_citizen_the_helpline(db):
    """An enquiry officer without a phone, at a station without one: the citizen's SMS names the officer and
    the zone's helpline number (it said '(-)', a number nobody can call), and the timeline says no_phone."""
    from models import Outbox
    from zone import get_zone

    seeded(db)
    cid = new_ticket(db)
    with db.session() as s:
        code = s.get(Complaint, cid).station.code
    pid = posting(db, code)
    with db.session() as s:
        c = s.get(Complaint, cid)
        p = s.get(Posting, pid)
        p.phone, p.officer.phone, c.station.phone = None, None, ""
        pid, name = p.id, p.officer.name
    act(db, cid, actions.assign, pid, "officer:1")
    with db.session() as s:
        ob = s.scalar(select(Outbox).where(Outbox.key.like(f"send:assigned:{cid}:%")))
        assert ob.payload["values"]["officer"] == name
        assert ob.payload["values"]["phone"] == get_zone().zone.helpline_number
    assert [e.data["for"] for e in events(db, cid, "no_phone")] == ["assigned"]


def test_reroute_before_the_router_ran_still_tells_the_citizen_the_reference(db):
    """The cell re-routes a ticket still 'received' (worker behind): the router then skips it, so the citizen's
    registration SMS (reference, station, deadline) must come from the re-route, once."""
    seeded(db)
    cid = new_ticket(db, route=False)
    act(db, cid, actions.reroute, "JHS-NAVABAD", "officer:1")
    from tickets.router import route_complaint

    with db.session() as s:
        assert route_complaint(s, cid) is False  # the queued routing job, arriving late, does nothing
    assert len(outbox_keys(db, f"send:registered:{cid}:%")) == 1
    with db.session() as s:
        from models import Outbox

        ob = s.scalar(select(Outbox).where(Outbox.key.like(f"send:registered:{cid}:%")))
        assert ob.payload["values"]["station"] == s.scalar(select(Station).where(Station.code == "JHS-NAVABAD")).name_hi


def test_reroute_of_an_escalated_ticket_tells_the_new_areas_officer_at_that_level(db):
    """A police-conduct ticket starts at the CO; re-routed to another district, that district's CO must hear of it
    (the old CO was told, the new one would otherwise learn only when it climbs past them)."""
    seeded(db)
    cid = new_ticket(db, district="jhansi", category="police_conduct")
    assert ticket(db, cid).escalation_level == 1
    with db.session() as s:
        target = s.scalar(select(Station).where(Station.district == "lalitpur", Station.active.is_(True),
                                                Station.kind == "thana").order_by(Station.id))
        code, circle = target.code, target.circle
    before = set(outbox_keys(db, "send:officer_escalation:%"))
    act(db, cid, actions.reroute, code, "officer:1", "wrong district")
    new = set(outbox_keys(db, "send:officer_escalation:%")) - before
    moved = events(db, cid, "escalation_moved")
    assert moved and moved[0].data["rank"] == "co"
    with db.session() as s:
        co = s.get(Posting, moved[0].data["posting"])
        assert co.role == "co" and co.ended_at is None and co.circle == circle, (co.circle, circle)
        phone = co.phone or co.officer.phone
    assert len(new) == 1 and phone in next(iter(new)), (phone, new)
    assert ticket(db, cid).escalation_level == 1
