"""Station routing: choose the station for a registered ticket (an idempotent outbox job).

Order of rules (the first that applies wins), each recorded as the ``reason`` of the ``routed`` Event:

1. ``unit``: the category's rule in config (``route.unit``: women_desk, cyber_cell) sends it to that
   unit of the ticket's district — policy outranks the citizen's choice of thana;
2. ``named``: a station the citizen (or an officer) named;
3. ``pin``: the nearest thana of the district to a WhatsApp location pin (great-circle distance); a pin
   more than ``MAX_PIN_KM`` from every thana of the zone is outside it and ignored (Event ``pin_outside_zone``);
4. ``place``: the place text names a thana (or its circle) of the district;
5. ``nodal``: the district's nodal thana, flagged ``needs_reroute`` for the 1 Number cell.

A district with no active station goes to the first active nodal thana of the zone, flagged, with an
Event ``no_active_station``.
"""

from __future__ import annotations

import math
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from rapidfuzz import fuzz
from sqlalchemy import bindparam, case, insert, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from models import Complaint, Event, Station, utcnow
from tasks import outbox
from tickets.actions import _escalate_to
from tickets.clock import chain_of, first_check
from tickets.notify import citizen_row, local_time, officer_row
from tickets.stats import apply_contributions
from zone import get_zone, messages

MAX_PIN_KM = 60.0
EARTH_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def _norm(text: str) -> str:
    t = unicodedata.normalize("NFC", text or "").lower()
    kept = "".join(ch if ch.isalnum() or unicodedata.category(ch).startswith("M") else " " for ch in t)
    return " ".join(kept.split())


@dataclass
class Choice:
    station: Station
    reason: str
    needs_reroute: bool
    notes: dict


_CACHE: dict = {"at": 0.0, "url": None, "rows": [], "ix": None}
CACHE_SECONDS = 30.0  # stations change by an operator's sync, rarely; routing runs hundreds of times a second
PLACE_ATTRS = ("name_en", "name_hi", "circle")


class _Index:
    """Lookups over the cached active stations, built once per cache refresh (routing reads them per ticket)."""

    def __init__(self, rows: list[Station]) -> None:
        self.thanas = [s for s in rows if s.kind in ("thana", "nodal")]
        self.by_district: dict[str, list[Station]] = {}
        for s in self.thanas:
            self.by_district.setdefault(s.district, []).append(s)
        self.by_code: dict[str, Station] = {}
        self.unit: dict[tuple[str, str], Station] = {}
        for s in rows:  # the first of each, in id order
            self.by_code.setdefault(s.code, s)
            self.unit.setdefault((s.district, s.kind), s)
        # radians and cosines of the latitudes, for the haversine of a pin against every thana
        self.rad = [(math.radians(s.lat), math.radians(s.lon), math.cos(math.radians(s.lat))) for s in self.thanas]
        self.norms = {s.id: {a: _norm(getattr(s, a)) for a in PLACE_ATTRS} for s in rows}


def _active(session: Session) -> list[Station]:
    """Active stations as detached snapshots, cached briefly per database (read-only use)."""
    _index(session)
    return _CACHE["rows"]


def _index(session: Session) -> _Index:
    """The lookups over the active stations (refreshed with the cache)."""
    url = str(session.get_bind().url)
    now = time.monotonic()
    if _CACHE["url"] != url or now - _CACHE["at"] > CACHE_SECONDS:
        rows = list(session.scalars(select(Station).where(Station.active.is_(True)).order_by(Station.id)))
        for r in rows:
            session.expunge(r)
        _CACHE.update(at=now, url=url, rows=rows, ix=_Index(rows))
    return _CACHE["ix"]


def clear_cache() -> None:
    """Forget the cached stations (after a sync, and in tests that change them)."""
    _CACHE.update(at=0.0, url=None, rows=[], ix=None)


def match_place(place: str, stations: list[Station], norms: dict[int, dict[str, str]] | None = None) -> Station | None:
    """The thana whose name (English or Hindi) or circle the place text names; exact words first, then fuzzy.

    ``norms`` (station id → attribute → normalised text) saves normalising the same names per ticket.
    """
    text = _norm(place)
    if not text:
        return None
    if norms is None:
        norms = {s.id: {a: _norm(getattr(s, a)) for a in PLACE_ATTRS} for s in stations}
    padded = f" {text} "
    for attr in PLACE_ATTRS:
        hits = [s for s in stations if len(norms[s.id][attr]) >= 3 and f" {norms[s.id][attr]} " in padded]
        if hits:
            return max(hits, key=lambda s: len(getattr(s, attr)))
    best, score = None, 0.0
    for s in stations:
        for attr in ("name_en", "name_hi"):
            n = norms[s.id][attr]
            if len(n) < 4:
                continue
            sc = fuzz.partial_ratio(n, text)
            if sc > score:
                best, score = s, sc
    return best if score >= 90 else None


def choose_station(session: Session, c: Complaint) -> Choice:
    """Pick a station for a ticket by the rules in the module docstring."""
    z = get_zone()
    ix = _index(session)
    notes: dict = {}
    district = c.district if c.district in z.district_by_key else None
    thanas = ix.thanas
    pin_station = None
    if c.lat is not None and c.lon is not None:
        # The haversine's inner term orders stations as the distance does (2R·asin(√a) grows with a): the
        # nearest are found on it, and only the nearest of the zone is turned into kilometres.
        p1, l1 = math.radians(c.lat), math.radians(c.lon)
        cos1 = math.cos(p1)
        hav = {s.id: math.sin((p2 - p1) / 2) ** 2 + cos1 * cos2 * math.sin((l2 - l1) / 2) ** 2
               for s, (p2, l2, cos2) in zip(thanas, ix.rad, strict=True)}
        pool = ix.by_district.get(district, []) if district else thanas
        zone_near = min(thanas, key=lambda s: hav[s.id], default=None)
        if zone_near is None or haversine_km(c.lat, c.lon, zone_near.lat, zone_near.lon) > MAX_PIN_KM:
            notes["pin_outside_zone"] = True
        else:
            pin_station = min(pool or [zone_near], key=lambda s: hav[s.id])
            district = district or pin_station.district
    named = ix.by_code.get(c.requested_station) if c.requested_station else None
    if c.requested_station and named is None:
        notes["named_unknown"] = True
    district = district or (named.district if named else None)
    place_station = None
    if c.place:
        place_station = match_place(c.place, ix.by_district.get(district, []) if district else thanas, ix.norms)
        district = district or (place_station.district if place_station else None)
    cat = z.category_by_key.get(c.category)
    if cat and cat.route.unit and district:
        unit = ix.unit.get((district, cat.route.unit))
        if unit is not None:
            return Choice(unit, "unit", False, notes)
        notes["no_unit"] = cat.route.unit
    if named is not None:
        return Choice(named, "named", False, notes)
    if pin_station is not None:
        return Choice(pin_station, "pin", False, notes)
    if place_station is not None:
        return Choice(place_station, "place", False, notes)
    key = district or z.districts[0].key
    in_d = ix.by_district.get(key, [])
    nodal = next((s for s in in_d if s.nodal), None) or (in_d[0] if in_d else None)
    if nodal is None:
        notes["no_active_station"] = key
        nodal = next((s for s in thanas if s.nodal), None) or thanas[0]
    return Choice(nodal, "nodal", True, notes)


def route_complaint(session: Session, complaint_id: int) -> bool:
    """Route one ticket and queue its alerts: :func:`route_many` of one (the one routing path). A second call
    does nothing. Returns True if it routed now; a loaded copy of the ticket in ``session`` is refreshed."""
    routed = complaint_id in route_many(session, [complaint_id])
    loaded = session.identity_map.get(identity_key(Complaint, complaint_id))
    if routed and loaded is not None:
        session.refresh(loaded)
    return routed


def _start_above_the_sho(session: Session, complaint_id: int, now: datetime) -> None:
    """A category that starts above the SHO (e.g. police conduct → CO) goes up its chain at once."""
    c = session.get(Complaint, complaint_id, populate_existing=True)
    cat = get_zone().category_by_key.get(c.category)
    chain = chain_of(c.district)
    start = chain.index(cat.escalate_from) if cat.escalate_from in chain else 1
    _escalate_to(session, c, start, "system", "category", now)
    c.sla_base_level = c.escalation_level
    if c.next_check_at is not None:
        c.next_check_at = first_check(c)
    session.flush()


# -- many tickets at once (the rq batch job) -------------------------------------------------------------
# What a ticket's routing and its aggregate contribution need, read in one statement per batch.
_BATCH_COLS = (Complaint.id, Complaint.ref, Complaint.station_id, Complaint.merged_into_id, Complaint.district,
               Complaint.lat, Complaint.lon, Complaint.requested_station, Complaint.place, Complaint.category,
               Complaint.language, Complaint.phone, Complaint.chat_address, Complaint.due_at, Complaint.status,
               Complaint.channel, Complaint.registered_at, Complaint.disposed_at, Complaint.outcome,
               Complaint.escalation_level, Complaint.assigned_posting_id)
NOTE_EVENTS = ("pin_outside_zone", "no_active_station", "named_unknown", "no_unit")

# One conditional UPDATE for the whole batch: only tickets still unrouted match (first router wins).
_PG_ROUTE = text(
    "UPDATE complaint AS c SET station_id = v.sid, needs_reroute = v.nr, district = v.district, updated_at = :now, "
    "status = CASE WHEN c.status = 'received' THEN 'routed' ELSE c.status END "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:sids AS bigint[]), CAST(:nrs AS boolean[]), "
    "CAST(:districts AS varchar[])) AS v(id, sid, nr, district) "
    "WHERE c.id = v.id AND c.station_id IS NULL RETURNING c.id, c.status"
).bindparams(bindparam("now", type_=Complaint.__table__.c.updated_at.type))


def _starts_above_the_sho(c) -> bool:
    """A ticket still at the SHO whose category starts higher (:func:`_start_above_the_sho` takes it there)."""
    cat = get_zone().category_by_key.get(c.category)
    return bool(cat and cat.escalate_from and (c.escalation_level or 0) == 0)


def route_job(session: Session, row) -> None:
    """The outbox's ``route`` handler (tasks.jobs.HANDLERS): route the row's ticket."""
    route_complaint(session, row.payload["complaint_id"])


def route_rows(session: Session, rows: list) -> None:
    """The batch handler for ``route`` rows (tasks.jobs.BATCH_HANDLERS): their tickets set-based."""
    route_many(session, [r.payload["complaint_id"] for r in rows])


def route_many(session: Session, complaint_ids: list[int]) -> set[int]:
    """Route many tickets in the caller's transaction with a few set-based statements; returns those routed now.

    The only routing path (:func:`route_complaint` is this for one ticket), one statement per kind for the
    whole batch: the tickets are read and locked in id order, one conditional UPDATE routes those still
    unrouted, and the Events, outbox rows and aggregate deltas are each written in one go. A ticket already
    routed (a job delivered twice) is skipped. A ticket whose category starts above the SHO then goes up its
    chain (:func:`_start_above_the_sho`).
    """
    ids = sorted({int(i) for i in complaint_ids})
    if not ids:
        return set()
    z = get_zone()
    pg = session.get_bind().dialect.name == "postgresql"
    q = select(*_BATCH_COLS).where(Complaint.id.in_(ids)).order_by(Complaint.id)
    if pg:  # lock in id order: two jobs holding the same ticket (a redelivery) queue, never deadlock
        q = q.with_for_update(of=Complaint)
    plain = [c for c in session.execute(q).all() if c.station_id is None and c.merged_into_id is None]
    routed: set[int] = set()
    if not plain:
        return routed
    now = utcnow()
    choices = {}
    for c in plain:
        ch = choose_station(session, c)
        district = ch.station.district if c.district not in z.district_by_key or ch.reason != "nodal" else c.district
        choices[c.id] = (ch, district)
    if pg:
        res = session.execute(_PG_ROUTE, {
            "ids": [c.id for c in plain], "sids": [choices[c.id][0].station.id for c in plain],
            "nrs": [choices[c.id][0].needs_reroute for c in plain], "districts": [choices[c.id][1] for c in plain],
            "now": now})
        status_of = dict(res.all())
    else:  # SQLite: writers are serialised already; one conditional UPDATE per ticket
        t = Complaint.__table__
        status_of = {}
        for c in plain:
            ch, district = choices[c.id]
            row = session.execute(
                update(t).where(t.c.id == c.id, t.c.station_id.is_(None))
                .values(station_id=ch.station.id, needs_reroute=ch.needs_reroute, district=district, updated_at=now,
                        status=case((t.c.status == "received", "routed"), else_=t.c.status))
                .returning(t.c.id, t.c.status)).first()
            if row is not None:
                status_of[row[0]] = row[1]
    events: list[dict] = []
    sends: list[tuple[str, str, dict]] = []
    changed = []
    for c in plain:
        if c.id not in status_of:  # routed meanwhile by another job
            continue
        routed.add(c.id)
        ch, district = choices[c.id]
        st, lang = ch.station, c.language
        for k, v in ch.notes.items():
            if k in NOTE_EVENTS:
                events.append(dict(complaint_id=c.id, at=now, actor="system", kind=k,
                                   data={"value": v if isinstance(v, str) else None}))
        events.append(dict(complaint_id=c.id, at=now, actor="system", kind="routed",
                           data={"station": st.code, "reason": ch.reason, "needs_reroute": ch.needs_reroute}))
        due = local_time(c.due_at, lang)
        row = citizen_row(c.id, c.ref, c.phone, c.chat_address, lang, "registered",
                          station=messages.name(st, lang), due=due)
        if row is not None:
            sends.append((row[0], "send", row[1]))
        cat = z.category_by_key.get(c.category)
        note = ""
        if cat and cat.cognizable:
            note = messages.t("officer.cognizable_note", lang) + " "
        row = officer_row(c.id, c.ref, st.phone, "station_new", lang=lang,
                          category=messages.name(cat, lang) if cat else c.category,
                          due=due, note=note)
        if row is not None:
            sends.append((row[0], "send", row[1]))
        else:
            events.append(dict(complaint_id=c.id, at=now, actor="system", kind="no_phone",
                               data={"station": st.code, "for": "station_new"}))
        changed.append(SimpleNamespace(
            id=c.id, merged_into_id=None, registered_at=c.registered_at, disposed_at=c.disposed_at,
            status=status_of[c.id], district=district, station_id=st.id, channel=c.channel,
            escalation_level=c.escalation_level, outcome=c.outcome, due_at=c.due_at,
            assigned_posting_id=c.assigned_posting_id))
    if events:
        session.execute(insert(Event.__table__), events)
    outbox.add_many(session, sends)
    apply_contributions(session, changed)
    for c in plain:
        if c.id in routed and _starts_above_the_sho(c):
            _start_above_the_sho(session, c.id, now)
    return routed
