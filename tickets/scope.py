"""The one rule that decides which tickets an officer may see and act on, and whose identity is masked.

An officer acts in one posting at a time (the console's chosen posting, the API token's posting). Only a
posting that holds now counts: ``started_at <= now < ended_at`` (or no end) — :func:`active_postings`.

Every console page, dashboard, export, evidence zip, attachment, search, conversation panel, the JSON
API and Open311 go through this module:
- :func:`complaint_filter` (a WHERE clause on tickets) and :func:`stat_filter` (aggregates) for queries;
- :func:`access` for one loaded ticket: may this posting see and act on it, and is the identity masked.
A posting with a station sees that station; with a circle, the stations of that circle; with a district,
the district (and its tickets not yet routed); with none of these, the whole zone. An interpreter sees
only tickets waiting for an interpreter. A confidential complainant's identity (name, phone, WhatsApp id,
their own words where they may name themselves) is shown only to ``confidential_viewer_roles``, or to a
posting of ``confidential_unmask_roles`` for :data:`UNMASK_MINUTES` after it revealed it with a reason
(an ``identity_unmasked`` Event). Open311 (:data:`PUBLIC`) sees no identity at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, false, or_, select, true
from sqlalchemy.orm import Session

from models import Complaint, Event, Posting, Station, utcnow
from zone import get_zone

UNMASK_MINUTES = 60  # how long a reveal lasts for the posting that made it
MASK = "(confidential)"


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

    @property
    def may_unmask(self) -> bool:
        """Whether this role may reveal a masked identity on one ticket, with a reason (config)."""
        return not self.sees_identity and self.role in get_zone().confidential_unmask_roles


# The scope of software outside the police (Open311 clients): no ticket by reference through this module,
# never an identity, never a confidential ticket: Open311 lists what complaint_filter(PUBLIC) allows, and
# access(PUBLIC, c).masked is always True (no name, phone or unredacted description).
PUBLIC = Scope("public", role="public", posting_id=0, officer_id=0, station_ids=None, label="public")


@dataclass(frozen=True)
class Access:
    """What one posting may do with one ticket: ``see`` (and act, as its role allows) and ``masked``."""

    see: bool
    masked: bool


# the roles that may act: one definition for the console and the API
def supervisors() -> tuple[str, ...]:
    """Roles that assign, re-route, merge, reopen and close: SHO, cell, admin and every senior rank."""
    return tuple({"sho", "cell", "admin"} | (set(get_zone().ranks) - {"eo"}))


def disposers() -> tuple[str, ...]:
    return supervisors() + ("eo",)


def actor_roles() -> tuple[str, ...]:
    return disposers() + ("interpreter",)


def active_postings(s: Session, officer_id: int) -> list[Posting]:
    """The officer's postings that hold now (started, not ended), lowest id first."""
    now = utcnow()
    return list(s.scalars(select(Posting).where(Posting.officer_id == officer_id, Posting.started_at <= now,
                                                (Posting.ended_at.is_(None)) | (Posting.ended_at > now))
                          .order_by(Posting.id)))


def posting_is_active(p: Posting | None) -> bool:
    """Whether ``p`` holds now (the same test as :func:`active_postings`)."""
    now = utcnow()
    return p is not None and p.started_at <= now and (p.ended_at is None or p.ended_at > now)


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
    if scope.kind == "public":
        return Complaint.confidential.is_not(True)  # Open311: never a confidential ticket, the rest masked
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


def _in_scope(scope: Scope, c: Complaint) -> bool:
    """:func:`complaint_filter` for one loaded ticket: the same rule in Python
    (tests/console/test_scope_rule.py compares the two over every sample posting and kind of ticket)."""
    if scope.kind == "public":
        return not c.confidential
    if scope.station_ids is None:
        ok = True
    elif scope.kind == "district":
        ok = c.station_id in scope.station_ids or (c.station_id is None and c.district == scope.district)
    else:
        ok = c.station_id in scope.station_ids
    return ok and (scope.role != "interpreter" or bool(c.needs_interpreter))


def unmasked_by(session: Session, scope: Scope, c: Complaint) -> bool:
    """Whether this posting revealed the ticket's identity within the last :data:`UNMASK_MINUTES`."""
    if not scope.may_unmask or not c.confidential or c.id is None:
        return False
    since = utcnow() - timedelta(minutes=UNMASK_MINUTES)
    evs = session.scalars(select(Event).where(Event.complaint_id == c.id, Event.kind == "identity_unmasked",
                                              Event.actor == scope.actor, Event.at >= since))
    return any((e.data or {}).get("posting") == scope.posting_id for e in evs)


def access(session: Session | None, scope: Scope, c: Complaint | None) -> Access:
    """May this posting see (and, as its role allows, act on) this ticket, and is the identity masked?

    The one answer for a loaded ticket; queries over many tickets use :func:`complaint_filter`, which
    agrees with it. ``session`` is needed only to honour a reveal (``identity_unmasked``); without one a
    masked identity stays masked.
    """
    if c is None or not _in_scope(scope, c):
        return Access(see=False, masked=True)
    if scope.kind == "public":
        return Access(see=True, masked=True)
    masked = bool(c.confidential) and not scope.sees_identity
    if masked and session is not None and unmasked_by(session, scope, c):
        masked = False
    return Access(see=True, masked=masked)


def load_ticket(session: Session, scope: Scope, ref: str) -> Complaint | None:
    """The ticket by reference if this scope may see it, else None (callers answer 404, never 403)."""
    if scope.kind == "public":
        return None
    ref = (ref or "").strip().upper()
    if not ref:
        return None
    return session.scalar(select(Complaint).where(Complaint.ref == ref, complaint_filter(scope)))
