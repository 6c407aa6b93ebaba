"""The 24-hour clock with a controllable ``now``: reminders, the breach at exactly 24 h, escalation one
level per interval up the district's chain, catch-up after downtime, and the index the sweep claims by."""

from sqlalchemy import select

from models import Complaint, Event, Outbox
from tests.tickets.helpers import T0, H, S, count, events, new_ticket, outbox_keys, seeded, ticket
from tickets import actions, clock


def test_reminders_at_50_and_80_percent_go_to_the_station(db):
    seeded(db)
    cid = new_ticket(db)
    assert clock.sweep(now=T0 + 12 * H - S) == 0
    assert clock.sweep(now=T0 + 12 * H) == 1
    assert clock.sweep(now=T0 + 12 * H + S) == 0  # no repeat
    assert clock.sweep(now=T0 + 19.2 * H) == 1
    rem = events(db, cid, "reminder")
    assert [e.data["n"] for e in rem] == [1, 2]
    keys = outbox_keys(db, "send:station_reminder:%")
    assert len(keys) == 2 and all(":+91" in k for k in keys)  # the station's phone
    assert ticket(db, cid).next_check_at == T0 + 24 * H


def test_breach_at_exactly_24h_not_a_second_before(db):
    seeded(db)
    cid = new_ticket(db)
    clock.sweep(now=T0 + 24 * H - S)
    assert ticket(db, cid).escalation_level == 0 and not events(db, cid, "escalated")
    assert clock.sweep(now=T0 + 24 * H) == 1
    c = ticket(db, cid)
    assert c.escalation_level == 1
    ev = events(db, cid, "escalated")
    assert len(ev) == 1 and ev[0].data["rank"] == "co" and ev[0].data["late_s"] == 0
    clock.sweep(now=T0 + 24 * H + S)
    assert len(events(db, cid, "escalated")) == 1
    # the CO of the station's circle is told, and the citizen
    assert len(outbox_keys(db, "send:officer_escalation:%")) == 1
    assert len(outbox_keys(db, "send:escalated:%")) == 1
    assert c.next_check_at == T0 + 28 * H


def test_one_level_per_interval_up_to_the_top(db):
    seeded(db)
    cid = new_ticket(db, district="etawah")  # district_police_ssp: sho, co, ssp, ig_zone
    for hours in (24, 27.99, 28, 32, 36, 100):
        clock.sweep(now=T0 + hours * H)
    ranks = [e.data["rank"] for e in events(db, cid, "escalated")]
    assert ranks == ["co", "ssp", "ig_zone"]
    c = ticket(db, cid)
    assert c.escalation_level == 3 and c.next_check_at is None  # top: nothing more to do


def test_commissionerate_chain_for_kanpur_nagar(db):
    seeded(db)
    cid = new_ticket(db, district="kanpur_nagar")
    clock.sweep(now=T0 + 40 * H)
    assert [e.data["rank"] for e in events(db, cid, "escalated")] == ["acp", "dcp", "jcp", "cp"]


def test_catch_up_after_downtime_jumps_with_one_notice_per_level(db):
    seeded(db)
    cid = new_ticket(db, district="jhansi")
    # The sweeper was down from before the first reminder until 30 h: reminders are moot, two levels reached.
    assert clock.sweep(now=T0 + 30 * H) == 1
    ev = events(db, cid, "escalated")
    assert [e.data["level"] for e in ev] == [1, 2]
    assert [e.data["late_s"] for e in ev] == [6 * 3600, 2 * 3600]
    assert not events(db, cid, "reminder")
    assert len(outbox_keys(db, "send:officer_escalation:%")) == 2
    assert len(outbox_keys(db, "send:escalated:%")) == 1  # the citizen hears once, of the highest level


def test_disposal_stops_the_clock_and_reopen_starts_a_fresh_sla(db):
    seeded(db)
    cid = new_ticket(db)
    with db.session() as s:
        actions.dispose(s, s.get(Complaint, cid), "resolved", "officer:1")
    assert ticket(db, cid).next_check_at is None
    assert clock.sweep(now=T0 + 48 * H) == 0
    with db.session() as s:
        actions.reopen(s, s.get(Complaint, cid), "officer:1")
    c = ticket(db, cid)
    assert c.status == "routed" and c.reopen_count == 1
    assert (c.due_at - c.sla_started_at).total_seconds() == 24 * 3600


def test_no_phone_is_an_event_and_escalation_still_happens(db):
    # no seed: nobody holds the ranks
    cid = new_ticket(db)
    clock.sweep(now=T0 + 24 * H)
    assert ticket(db, cid).escalation_level == 1
    nop = events(db, cid, "no_phone")
    assert nop and nop[-1].data["for"] == "escalation" and nop[-1].data["rank"] == "co"


def test_emergency_alerts_duty_officer_and_has_a_short_sla(db):
    seeded(db)
    cid = new_ticket(db, emergency=True)
    c = ticket(db, cid)
    assert (c.due_at - c.registered_at).total_seconds() == 30 * 60
    assert events(db, cid, "emergency_alert")
    assert len(outbox_keys(db, "send:emergency_alert:%:+915120000001:%")) == 1
    clock.sweep(now=c.due_at)
    assert ticket(db, cid).escalation_level == 1


def test_cost_follows_the_due_not_the_open(db):
    seeded(db)
    for i in range(30):
        new_ticket(db, phone=f"+9198390{i:05d}", at=T0 + i * H)
    # at 29 h: tickets registered up to 5 h in are breached (6), those up to 17 h in are reminded (12),
    # the 12 younger ones are not due and are never looked at
    assert clock.sweep(now=T0 + 29 * H) == 18
    with db.session() as s:
        esc = s.scalars(select(Event.complaint_id).where(Event.kind == "escalated")).all()
        untouched = s.scalars(select(Complaint).where(Complaint.reminders_sent == 0)).all()
    assert len(set(esc)) == 6
    assert len(untouched) == 12 and all(c.next_check_at > T0 + 29 * H for c in untouched)
    # 6 tickets at level >= 1, two of them (registered 0 h and 1 h in) already at level 2
    assert count(db, Outbox, Outbox.key.like("send:officer_escalation:%")) == 8


def test_sweep_keeps_the_dashboard_escalation_counts(db):
    """Escalations by the sweep reach stat_daily at once (as a rebuild from the tickets would count them)."""
    from sqlalchemy import func

    from models.tables import StatDaily
    from tickets.stats import rebuild

    seeded(db)
    ids = [new_ticket(db, phone=f"+9198394{i:05d}", district=d)
           for i, d in enumerate(["jhansi", "kanpur_nagar", "etawah", "jhansi", "lalitpur"])]
    assert clock.sweep(now=T0 + 12 * H) == len(ids)  # reminders only: nothing for the dashboard
    assert clock.sweep(now=T0 + 29 * H) == len(ids)  # two levels each

    def sums():
        with db.session() as s:
            return s.execute(select(func.sum(StatDaily.received), func.sum(StatDaily.esc1), func.sum(StatDaily.esc2),
                                    func.sum(StatDaily.esc3))).one()

    kept = sums()
    assert tuple(kept) == (len(ids), len(ids), len(ids), 0)
    with db.session() as s:
        rebuild(s)
    assert sums() == kept
