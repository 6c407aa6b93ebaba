"""The one routing path (``route_many``; ``route_complaint`` is it for one ticket): each rule's station, Events,
alerts (outbox keys) and aggregates, the same whether a ticket is routed alone or in a batch, once per ticket
however often it runs."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, update

from bot.types import ComplaintDraft
from models import Complaint, Event, Outbox, Station
from models.tables import ComplaintStat, StatDaily, StatPosting
from tests.tickets.helpers import T0, seeded
from tickets.actions import register_complaint
from tickets.router import clear_cache, route_complaint, route_many

# One ticket per rule and corner (draft fields) and what routing leaves: (station, reason, needs_reroute,
# district, escalation level, the Events after registered in order, templates of the alerts queued). The figures
# are those of the per-ticket router this path replaced (issue 15), on SQLite and PostgreSQL alike.
CASES = [
    (dict(district="jhansi", category="theft_mobile"),  # nodal, flagged
     ("JHS-KOTWALI", "nodal", True, "jhansi", 0, ["routed"], ["registered", "station_new"])),
    (dict(district="kanpur_nagar", category="theft_mobile", station_code="KNP-CHAMANGANJ"),  # named
     ("KNP-CHAMANGANJ", "named", False, "kanpur_nagar", 0, ["routed"], ["registered", "station_new"])),
    (dict(district="kanpur_nagar", category="theft_mobile", station_code="KNP-NOSUCH"),  # unknown name → nodal
     ("KNP-KOTWALI", "nodal", True, "kanpur_nagar", 0, ["named_unknown", "routed"], ["registered", "station_new"])),
    (dict(district="kanpur_nagar", category="theft_other", lat=26.4830, lon=80.3460),  # pin
     ("KNP-CHAMANGANJ", "pin", False, "kanpur_nagar", 0, ["routed"], ["registered", "station_new"])),
    (dict(district=None, category="theft_other", lat=26.4905, lon=80.3390),  # pin decides the district
     ("KNP-GWALTOLI", "pin", False, "kanpur_nagar", 0, ["routed"], ["registered", "station_new"])),
    (dict(district="jhansi", category="theft_other", lat=10.0, lon=70.0),  # pin outside the zone
     ("JHS-KOTWALI", "nodal", True, "jhansi", 0, ["pin_outside_zone", "routed"], ["registered", "station_new"])),
    (dict(district="kanpur_nagar", category="nuisance", place="Gwaltoli chauraha"),  # place
     ("KNP-GWALTOLI", "place", False, "kanpur_nagar", 0, ["routed"], ["registered", "station_new"])),
    (dict(district=None, category="nuisance", place="near Chamanganj market"),  # place decides the district
     ("KNP-CHAMANGANJ", "place", False, "kanpur_nagar", 0, ["routed"], ["registered", "station_new"])),
    (dict(district="kanpur_nagar", category="harassment", station_code="KNP-KOTWALI"),  # unit outranks named
     ("KNP-MAHILA", "unit", False, "kanpur_nagar", 0, ["routed"], ["registered", "station_new"])),
    (dict(district="kanpur_nagar", category="cyber_fraud", language="en"),  # unit, English
     ("KNP-CYBER", "unit", False, "kanpur_nagar", 0, ["routed"], ["registered", "station_new"])),
    (dict(district="etawah", category="police_conduct"),  # starts above the SHO: up to the CO at once
     ("ETW-KOTWALI", "nodal", True, "etawah", 1, ["routed", "escalated"],
      ["escalated", "officer_escalation", "registered", "station_new"])),
    (dict(district="lalitpur", category="land_dispute", language="en"),  # not cognizable; station without a phone
     ("LTP-KOTWALI", "nodal", True, "lalitpur", 0, ["routed", "no_phone"], ["registered"])),
    (dict(district=None, category=None),  # nothing known: the zone's first district's nodal thana
     ("KNP-KOTWALI", "nodal", True, "kanpur_nagar", 0, ["routed"], ["registered", "station_new"])),
]


def register(db, case: dict, phone: str, wa: bool = False) -> int:
    draft = ComplaintDraft(description="kuch hua", **case)
    with db.session() as s:
        c = register_complaint(s, draft, channel="whatsapp" if wa else "sms", phone=None if wa else phone,
                               chat_address=f"whatsapp:{phone}" if wa else None, now=T0)
        return c.id


def outcome(db, cid: int) -> dict:
    """What routing left for one ticket, without ids that differ between two copies."""
    with db.session() as s:
        c = s.get(Complaint, cid)
        evs = [(e.kind, e.actor, e.data) for e in s.scalars(select(Event).where(Event.complaint_id == cid)
                                                          .order_by(Event.id))]
        sends = {}
        for o in s.scalars(select(Outbox).where(Outbox.kind == "send")):
            if (o.payload or {}).get("complaint_id") == cid:
                p = dict(o.payload, complaint_id=None, values={k: v for k, v in o.payload["values"].items()
                                                             if k != "ref"})
                sends[o.key.replace(f":{cid}:", ":X:")] = (o.status, p)
        return {"station": c.station.code if c.station else None, "status": c.status, "district": c.district,
                "needs_reroute": c.needs_reroute, "level": c.escalation_level, "base": c.sla_base_level,
                "next_check": c.next_check_at, "events": evs, "sends": sends,
                "contrib": {k: v for k, v in (s.get(ComplaintStat, cid).contrib or {}).items()}}


def aggregates(db) -> tuple:
    with db.session() as s:
        daily = sorted((r.day, r.district, r.station_id, r.channel, r.received, r.disposed, r.esc1, r.esc2)
                       for r in s.scalars(select(StatDaily)) if r.received or r.disposed or r.esc1)
        post = sorted((r.posting_id, r.station_id, r.disposed) for r in s.scalars(select(StatPosting)))
        return daily, post


def _cases(db) -> tuple[list[int], list[int]]:
    """The CASES registered twice, by the same citizens (one station without a phone: its alert becomes a
    no_phone Event)."""
    seeded(db)
    with db.session() as s:
        s.execute(update(Station).where(Station.code == "LTP-KOTWALI").values(phone=None))
    clear_cache()
    one = [register(db, case, f"+91983900{i:04d}", wa=i % 4 == 3) for i, (case, _) in enumerate(CASES)]
    many = [register(db, case, f"+91983900{i:04d}", wa=i % 4 == 3) for i, (case, _) in enumerate(CASES)]
    return one, many


def test_each_rule_routes_a_ticket_alone(db):
    """route_complaint (route_many of one): the station, the routed Event with its reason, the note Events, the
    alerts under their idempotency keys, the climb of a category that starts above the SHO, the aggregates."""
    one, _ = _cases(db)
    for cid in one:
        with db.session() as s:
            assert route_complaint(s, cid)
            assert not route_complaint(s, cid)  # a second call does nothing
    for cid, (case, want) in zip(one, CASES, strict=True):
        station, reason, reroute, district, level, events, templates = want
        o = outcome(db, cid)
        assert [e[0] for e in o["events"]] == ["registered", *events], case
        assert all(e[1] == "system" for e in o["events"][1:]), case
        assert next(e[2] for e in o["events"] if e[0] == "routed") == {
            "station": station, "reason": reason, "needs_reroute": reroute}, case
        assert (o["station"], o["needs_reroute"], o["district"], o["level"]) == (station, reroute, district, level)
        assert o["status"] == "routed" and o["base"] == level, case
        assert sorted(k.split(":")[1] for k in o["sends"]) == templates, case
        for key, (status, payload) in o["sends"].items():  # keys as the outbox has always had them
            assert status == "pending" and key.startswith(f"send:{payload['template']}:X:"), key
            if payload["audience"] == "officer":
                assert key.split(":")[3] == payload["to_phone"], key
            assert key.endswith(":L1N0" if payload["template"] in ("escalated", "officer_escalation") else ":")
        assert o["contrib"]["received"] == 1 and o["contrib"].get("esc1", 0) == level, case
        assert o["contrib"]["k"][1] == district, case


def test_a_batch_routes_each_ticket_as_routing_it_alone_does(db):
    """The same rules, Events, alerts and aggregates whether a ticket is routed alone or in a batch of every
    kind of case (nodal, named, pin, place, unit, above the SHO)."""
    one, many = _cases(db)
    for cid in one:
        with db.session() as s:
            assert route_complaint(s, cid)
    with db.session() as s:
        assert route_many(s, many) == set(many)
    for i, (a, b) in enumerate(zip(one, many, strict=True)):
        assert outcome(db, a) == outcome(db, b), CASES[i][0]
    kinds = {e[0] for cid in many for e in outcome(db, cid)["events"]}
    assert {"routed", "pin_outside_zone", "named_unknown", "no_phone", "escalated"} <= kinds
    reasons = {e[2]["reason"] for cid in many for e in outcome(db, cid)["events"] if e[0] == "routed"}
    assert reasons == {"nodal", "named", "pin", "place", "unit"}
    # the aggregates kept per batch equal a rebuild from the tickets
    kept = aggregates(db)
    from tickets.stats import rebuild

    with db.session() as s:
        rebuild(s)
    assert aggregates(db) == kept


def test_route_many_twice_routes_once(db):
    ids = [register(db, dict(district="jhansi", category="theft_mobile"), f"+9198391{i:05d}") for i in range(5)]
    with db.session() as s:
        assert route_many(s, ids[:3]) == set(ids[:3])
    with db.session() as s:
        assert route_many(s, ids + ids) == set(ids[3:])
    with db.session() as s:
        assert route_many(s, ids) == set()
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "routed")) == 5
        assert s.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "send")) == 10
        assert s.scalar(select(func.sum(StatDaily.received)).where(StatDaily.station_id == 0)) == 0
        assert s.scalar(select(func.sum(StatDaily.received))) == 5


def test_batch_job_falls_back_to_one_by_one_when_the_batch_path_fails(db, monkeypatch):
    from tasks import jobs
    from tickets import router

    ids = [register(db, dict(district="jhansi", category="theft_mobile"), f"+9198392{i:05d}") for i in range(4)]
    with db.session() as s:
        oids = list(s.scalars(select(Outbox.id).where(Outbox.kind == "route").order_by(Outbox.id)))

    def broken(session, rows):  # the batch handler: something written, then a failure (the savepoint undoes it)
        route_complaint(session, rows[0].payload["complaint_id"])
        raise RuntimeError("boom")

    monkeypatch.setattr(router, "route_rows", broken)
    assert jobs.run_outbox(oids) == {"done": 4}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "routed")) == 4
        assert s.scalar(select(func.count()).select_from(Complaint).where(Complaint.station_id.is_(None))) == 0
        assert s.scalar(select(func.count()).select_from(Outbox).where(Outbox.id.in_(oids),
                                                                      Outbox.status == "done")) == 4
    assert len(ids) == 4


def test_two_workers_on_the_same_batch_route_each_ticket_once(db):
    if db.backend == "sqlite":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL's row locks")
    from tasks.jobs import run_outbox

    ids = [register(db, dict(district="kanpur_nagar", category="theft_mobile"), f"+9198393{i:05d}")
           for i in range(40)]
    with db.session() as s:
        oids = list(s.scalars(select(Outbox.id).where(Outbox.kind == "route").order_by(Outbox.id)))
    barrier = threading.Barrier(2)
    results = []

    def go(part):
        barrier.wait()
        results.append(run_outbox(part))

    # overlapping batches (a redelivered job beside a new one), in different orders
    ts = [threading.Thread(target=go, args=(oids,)), threading.Thread(target=go, args=(oids[::-1][:30],))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert len(results) == 2
    with db.session() as s:
        routed = s.execute(select(Event.complaint_id, func.count()).where(Event.kind == "routed")
                           .group_by(Event.complaint_id)).all()
        assert sorted(c for c, _ in routed) == sorted(ids) and all(n == 1 for _, n in routed)
        assert s.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "send")) == 2 * len(ids)
        assert s.scalar(select(func.sum(StatDaily.received)).where(StatDaily.station_id != 0)) == len(ids)
        assert s.scalar(select(func.sum(StatDaily.received)).where(StatDaily.station_id == 0)) == 0
