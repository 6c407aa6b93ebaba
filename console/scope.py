"""The one rule that decides which tickets an officer may see: their posting's unit.

Every console, dashboard and export query goes through :func:`complaint_filter` (tickets) or
:func:`stat_filter` (aggregates). A posting with a station sees that station; with a circle, the
stations of that circle; with a district, the district (and its tickets not yet routed); with none of
these, the whole zone. An interpreter sees only tickets waiting for an interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, false, or_, select, true
from sqlalchemy.orm import Session

from models import Complaint, Posting, Station
from zone import get_zone


@dataclass(frozen=True)
class Scope:
    """What one posting may see. ``station_ids`` is None for the whole zone."""

    kind: str  # station, circle, district, zone
    role: str
    posting_id: int
    officer_id: int
    station_ids: tuple[int, ...] | None
    district: str | None = None
    label: str = ""

    @property
    def actor(self) -> str:
        return f"officer:{self.officer_id}"

    @property
    def sees_identity(self) -> bool:
        """Whether this role may see a confidential complainant's identity (config)."""
        return self.role in get_zone().confidential_viewer_roles


def scope_of(session: Session, posting: Posting) -> Scope:
    """Derive the scope of a posting (station → circle → district → zone, the narrowest given)."""
    base = dict(role=posting.role, posting_id=posting.id, officer_id=posting.officer_id)
    if posting.station_id is not None:
        st = session.get(Station, posting.station_id)
        return Scope("station", station_ids=(posting.station_id,), district=st.district if st else None,
                     label=st.name_en if st else "?", **base)
    if posting.circle:
        q = select(Station.id).where(Station.circle == posting.circle)
        if posting.district:
            q = q.where(Station.district == posting.district)
        ids = tuple(session.scalars(q))
        return Scope("circle", station_ids=ids, district=posting.district, label=f"Circle {posting.circle}", **base)
    if posting.district:
        ids = tuple(session.scalars(select(Station.id).where(Station.district == posting.district)))
        d = get_zone().district_by_key.get(posting.district)
        return Scope("district", station_ids=ids, district=posting.district,
                     label=d.name_en if d else posting.district, **base)
    return Scope("zone", station_ids=None, label=get_zone().zone.name_en, **base)


def complaint_filter(scope: Scope):
    """The WHERE clause on :class:`Complaint` for everything this scope may see."""
    if scope.station_ids is None:
        clause = true()
    elif scope.kind == "district":
        clause = or_(Complaint.station_id.in_(scope.station_ids),
                     and_(Complaint.station_id.is_(None), Complaint.district == scope.district))
    elif scope.station_ids:
        clause = Complaint.station_id.in_(scope.station_ids)
    else:
        clause = false()
    if scope.role == "interpreter":
        clause = and_(clause, Complaint.needs_interpreter.is_(True))
    return clause


def stat_filter(scope: Scope, station_col, district_col=None):
    """The same rule for aggregate tables with a station id (0 = not routed) and a district column."""
    if scope.station_ids is None:
        return true()
    if scope.kind == "district" and district_col is not None:
        return or_(station_col.in_(scope.station_ids), and_(station_col == 0, district_col == scope.district))
    return station_col.in_(scope.station_ids) if scope.station_ids else false()


def visible_station_ids(session: Session, scope: Scope) -> list[int]:
    """Stations this scope may route to or report on."""
    if scope.station_ids is None:
        return list(session.scalars(select(Station.id).where(Station.active)))
    return list(scope.station_ids)
