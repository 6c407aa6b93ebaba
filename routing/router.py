"""Station routing: choose the station for a registered ticket (an idempotent outbox job)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import Complaint, Station, utcnow
from routing.actions import event
from routing.notify import local_time, notify_citizen, notify_officer, station_name
from zone import get_zone


def choose_station(session: Session, c: Complaint) -> tuple[Station, str, bool]:
    """Pick a station; returns (station, reason, needs_reroute)."""
    z = get_zone()
    if c.requested_station:
        st = session.scalar(select(Station).where(Station.code == c.requested_station, Station.active))
        if st is not None:
            return st, "named", False
    district = c.district if c.district in z.district_by_key else z.districts[0].key
    nodal = z.nodal_station(district).code
    st = session.scalar(select(Station).where(Station.code == nodal))
    return st, "nodal", True


def route_complaint(session: Session, complaint_id: int) -> bool:
    """Route one ticket and queue its alerts; a second call does nothing. Returns True if it routed."""
    c = session.get(Complaint, complaint_id)
    if c is None or c.station_id is not None:
        return False
    st, reason, reroute = choose_station(session, c)
    now = utcnow()
    # Conditional: only the first router of this ticket wins, even with two workers on one job.
    res = session.execute(update(Complaint).where(Complaint.id == c.id, Complaint.station_id.is_(None))
                          .values(station_id=st.id, status="routed", needs_reroute=reroute, updated_at=now))
    if res.rowcount != 1:
        session.rollback()
        return False
    session.refresh(c)
    event(session, c, "routed", "system", station=st.code, reason=reason, needs_reroute=reroute)
    lang = c.language
    notify_citizen(session, c, "registered", station=station_name(c, lang), due=local_time(c.due_at, lang))
    cat = get_zone().category_by_key.get(c.category)
    note = ""
    if cat and cat.cognizable:
        note = "संज्ञेय: एफआईआर दर्ज करें। " if lang == "hi" else "Cognizable: register an FIR. "
    notify_officer(session, c, "station_new", st.phone, lang=lang,
                   category=(cat.name_hi if lang == "hi" else cat.name_en) if cat else c.category,
                   due=local_time(c.due_at, lang), note=note)
    return True
