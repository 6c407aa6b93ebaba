"""The citizen's tracking page over a ticket's whole life: rated, reopened, disposed again."""

from __future__ import annotations

from sqlalchemy import func, select

from models import Complaint, Feedback, Posting
from tests.console.conftest import CITIZEN
from tests.web.helpers import get_csrf, latest_code
from tickets import actions


def _track(client, recorder, drain, ref: str) -> None:
    r = client.post("/track", data={"csrf": get_csrf(client, "/track?new=1"), "step": "start", "ref": ref,
                                    "phone": CITIZEN})
    assert r.status_code == 200
    drain()
    r = client.post("/track", data={"csrf": get_csrf(client, "/track?new=1"), "step": "verify",
                                    "code": latest_code(recorder, CITIZEN)})
    assert r.status_code == 303


def _rate(client, rating: str):
    return client.post("/track", data={"csrf": get_csrf(client, "/track?new=1"), "step": "rate", "rating": rating,
                                       "level": "", "comment": ""})


def test_a_ticket_disposed_again_after_a_bad_rating_can_be_rated_again_on_the_web(db, client, officers, ticket,
                                                                                 recorder, drain):
    cid, ref = ticket()
    with db.session() as s:
        c = s.get(Complaint, cid)
        eo = s.scalar(select(Posting).where(Posting.station_id == c.station_id, Posting.role == "eo"))
        actions.assign(s, c, eo.id, "officer:1")
        actions.dispose(s, c, "resolved", "officer:1")
    _track(client, recorder, drain, ref)
    assert 'name="rating"' in client.get("/track").get_data(as_text=True)
    assert _rate(client, "1").status_code == 200  # a bad rating reopens the ticket
    with db.session() as s:
        c = s.get(Complaint, cid)
        assert c.status in ("routed", "assigned")
        actions.dispose(s, c, "resolved", "officer:1")  # worked again; the citizen is asked to rate again
    html = client.get("/track").get_data(as_text=True)
    assert 'name="rating"' in html, "the second disposal cannot be rated on the web page"
    assert _rate(client, "5").status_code == 200
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Feedback).where(Feedback.complaint_id == cid)) == 2
    html = client.get("/track").get_data(as_text=True)
    assert 'name="rating"' not in html  # once per disposal


def test_timeline_names_each_station_the_ticket_was_sent_to(db, client, officers, ticket, recorder, drain):
    """Routed to Kotwali, re-routed to Colonelganj, then to Navabad (Jhansi): the citizen's timeline names each
    station once, in order (every re-route showed the ticket's current station)."""
    from zone import get_zone

    cid, ref = ticket()
    for code in ("KNP-COLONELGANJ", "JHS-NAVABAD"):
        with db.session() as s:
            actions.reroute(s, s.get(Complaint, cid), code, "officer:1")
    _track(client, recorder, drain, ref)
    html = client.get("/track").get_data(as_text=True)
    names = [get_zone().station_by_code[c].name_hi for c in ("KNP-KOTWALI", "KNP-COLONELGANJ", "JHS-NAVABAD")]
    timeline = html.split('class="timeline"')[1]
    pos = [timeline.find(n) for n in names]
    assert -1 not in pos and pos == sorted(pos), pos
