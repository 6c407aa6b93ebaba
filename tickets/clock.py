"""The 24-hour clock: reminders to the station, then escalation up the district's chain of command.

Schedule of one ticket (``start`` = ``sla_started_at``, ``due`` = ``due_at``, ``base`` = ``sla_base_level``):

* reminders to the station at ``start + f * (due - start)`` for each ``f`` in ``sla.reminders``;
* at ``due`` (exactly: a ticket is breached when ``now >= due``) it climbs to ``base + 1``, then one
  more level per escalation interval, stopping at the top of the chain;
* ``next_check_at`` holds the next of these moments (NULL once nothing more can happen), and is
  the only thing the sweep looks at, through its index: its cost follows the due tickets, not the open.

After downtime a ticket jumps straight to the level the elapsed time warrants; each level reached gets
its own notice (and Event), a missed reminder is not sent once the deadline has passed, and of several
missed reminders only the latest is sent.

Two sweepers never act twice: due rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
(SQLite serialises writers with ``BEGIN IMMEDIATE``), and each ticket's step is one conditional UPDATE
(``WHERE escalation_level = :old AND reminders_sent = :old AND next_check_at = :old``) whose Events and
outbox rows are written only when it matched, all in the batch's transaction. A sweeper killed half-way
loses only its uncommitted batch, which the next sweep redoes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import and_, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from models import Complaint, Event, Officer, Posting, Station, db, utcnow
from tasks import outbox
from tickets.notify import citizen_row, local_time, officer_row, rank_name
from tickets.stats import apply_contributions
from zone import get_zone, messages

log = logging.getLogger(__name__)
BATCH = 500


# -- the schedule (pure functions; the actions use them too) ---------------------------------------
def escalation_interval(emergency: bool = False) -> timedelta:
    """Time between escalation steps; an emergency climbs no slower than its own short SLA."""
    sla = get_zone().sla
    step = timedelta(hours=sla.escalation_interval_hours)
    return min(step, timedelta(minutes=sla.emergency_minutes)) if emergency else step


def chain_of(district: str | None) -> list[str]:
    """The chain of command (ranks bottom to top) for a district; unknown districts use the first's."""
    z = get_zone()
    return z.chain_for(district if district in z.district_by_key else z.districts[0].key)


def reminder_times(start: datetime, due: datetime) -> list[datetime]:
    return [start + (due - start) * f for f in get_zone().sla.reminders]


def level_time(due: datetime, base: int, level: int, emergency: bool = False) -> datetime:
    """When a ticket whose SLA started at ``base`` reaches ``level`` (> base)."""
    return due + escalation_interval(emergency) * (level - base - 1)


def warranted(now: datetime, start: datetime, due: datetime, base: int, top: int,
              emergency: bool = False) -> tuple[int, int]:
    """(reminders that should have been sent, level the ticket should be at) at ``now``."""
    points = reminder_times(start, due)
    if now < due:
        return sum(1 for t in points if t <= now), min(base, top)
    steps = 1 + math.floor((now - due) / escalation_interval(emergency))
    return len(points), max(min(top, base + steps), min(base, top))


def next_check(start: datetime, due: datetime, reminders_sent: int, level: int, base: int, top: int,
               emergency: bool = False) -> datetime | None:
    """The next moment the sweep must look at the ticket; None when nothing more will happen."""
    cands = []
    points = reminder_times(start, due)
    if reminders_sent < len(points) and points[reminders_sent] < due:
        cands.append(points[reminders_sent])
    if level < top:
        cands.append(level_time(due, base, max(level, base) + 1, emergency))
    return min(cands) if cands else None


def first_check(c: Complaint) -> datetime | None:
    """``next_check_at`` for a ticket whose SLA (re)starts now."""
    top = len(chain_of(c.district)) - 1
    return next_check(c.sla_started_at, c.due_at, c.reminders_sent or 0, c.escalation_level or 0,
                      c.sla_base_level or 0, top, c.emergency)


# -- who holds a rank --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Holder:
    posting_id: int
    officer_id: int
    phone: str | None


def _score(p_station, p_circle, p_district, st: Station | None, district: str | None) -> int:
    """How specifically a posting's scope covers a ticket: station 3, circle 2, district 1, zone 0; -1 no."""
    if p_station is not None:
        return 3 if st is not None and p_station == st.id else -1
    if p_circle:
        return 2 if st is not None and p_circle == st.circle and p_district in (None, st.district) else -1
    if p_district:
        return 1 if p_district == district else -1
    return 0


class Postings:
    """Active postings with their phones, loaded once per sweep (the table is small)."""

    def __init__(self, session: Session, roles: set[str]) -> None:
        q = (select(Posting.id, Posting.role, Posting.station_id, Posting.circle, Posting.district, Posting.phone,
                    Officer.id, Officer.phone)
             .join(Officer, Officer.id == Posting.officer_id)
             .where(Posting.role.in_(roles), Posting.ended_at.is_(None), Officer.active.is_(True))
             .order_by(Posting.id))
        self.by_role: dict[str, list] = {}
        for row in session.execute(q):
            self.by_role.setdefault(row[1], []).append(row)
        self._memo: dict[tuple, Holder | None] = {}

    def holder(self, rank: str, st: Station | None, district: str | None) -> Holder | None:
        key = (rank, st.id if st is not None else None, district)
        if key not in self._memo:
            best, best_score = None, -1
            for pid, _role, p_st, p_circle, p_district, p_phone, oid, o_phone in self.by_role.get(rank, ()):
                sc = _score(p_st, p_circle, p_district, st, district)
                if sc > best_score:
                    best, best_score = Holder(pid, oid, p_phone or o_phone), sc
            self._memo[key] = best
        return self._memo[key]


# -- the sweep -----------------------------------------------------------------------------------------
_COLS = (Complaint.id, Complaint.ref, Complaint.station_id, Complaint.district, Complaint.language, Complaint.phone,
         Complaint.chat_address, Complaint.emergency, Complaint.sla_started_at, Complaint.due_at,
         Complaint.reminders_sent,
         Complaint.escalation_level, Complaint.sla_base_level, Complaint.next_check_at, Complaint.reopen_count,
         # what the dashboard's aggregates read (tickets.stats.contribution)
         Complaint.channel, Complaint.registered_at, Complaint.status, Complaint.disposed_at, Complaint.outcome,
         Complaint.assigned_posting_id, Complaint.merged_into_id)


def claim(session: Session, now: datetime, limit: int = BATCH):
    """The due tickets (``next_check_at <= now``), oldest first, locked against other sweepers."""
    q = select(*_COLS).where(Complaint.next_check_at <= now).order_by(Complaint.next_check_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True, of=Complaint)
    return session.execute(q).all()


def _stations(session: Session) -> dict[int, Station]:
    return {s.id: s for s in session.scalars(select(Station))}


# One conditional UPDATE for a whole batch on PostgreSQL: a ticket matches only if nobody stepped it meanwhile.
_PG_STEP = text(
    "UPDATE complaint AS c SET reminders_sent = v.rem, escalation_level = v.lvl, next_check_at = v.nx, "
    "updated_at = :now "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:rem_old AS integer[]), CAST(:lvl_old AS integer[]), "
    "CAST(:nx_old AS timestamptz[]), CAST(:rem AS integer[]), CAST(:lvl AS integer[]), CAST(:nx AS timestamptz[])) "
    "AS v(id, rem_old, lvl_old, nx_old, rem, lvl, nx) "
    "WHERE c.id = v.id AND c.escalation_level = v.lvl_old AND c.reminders_sent = v.rem_old "
    "AND c.next_check_at = v.nx_old RETURNING c.id"
).bindparams(bindparam("now", type_=Complaint.__table__.c.updated_at.type))


def _step(session: Session, steps: list[tuple], now: datetime) -> set[int]:
    """Apply (id, rem_old, lvl_old, nx_old, rem_new, lvl_new, nx_new) steps conditionally; the ids that matched."""
    if not steps:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        cols = list(zip(*steps, strict=True))
        res = session.execute(_PG_STEP, {"ids": list(cols[0]), "rem_old": list(cols[1]), "lvl_old": list(cols[2]),
                                         "nx_old": list(cols[3]), "rem": list(cols[4]), "lvl": list(cols[5]),
                                         "nx": list(cols[6]), "now": now})
        return set(res.scalars())
    done = set()
    for cid, rem_old, lvl_old, nx_old, rem_new, lvl_new, nx_new in steps:
        res = session.execute(
            update(Complaint)
            .where(Complaint.id == cid, Complaint.escalation_level == lvl_old, Complaint.reminders_sent == rem_old,
                   Complaint.next_check_at == nx_old)
            .values(reminders_sent=rem_new, escalation_level=lvl_new, next_check_at=nx_new, updated_at=now)
            .execution_options(synchronize_session=False))
        if res.rowcount == 1:
            done.add(cid)
    return done


def sweep_batch(session: Session, now: datetime, limit: int = BATCH, postings: Postings | None = None,
                stations: dict[int, Station] | None = None) -> int:
    """Claim one batch of due tickets and act on each; the caller commits. Returns how many stepped."""
    z = get_zone()
    rows = claim(session, now, limit)
    session.info["claimed"] = len(rows)
    if not rows:
        return 0
    stations = stations if stations is not None else _stations(session)
    postings = postings or Postings(session, set(z.ranks))
    events: list[dict] = []
    sends: list[tuple[str, str, dict]] = []
    plans = []
    for r in rows:
        chain = chain_of(r.district)
        top = len(chain) - 1
        rem_new, lvl_new = warranted(now, r.sla_started_at, r.due_at, r.sla_base_level, top, r.emergency)
        rem_new, lvl_new = max(rem_new, r.reminders_sent), max(lvl_new, r.escalation_level)
        nx_new = next_check(r.sla_started_at, r.due_at, rem_new, lvl_new, r.sla_base_level, top, r.emergency)
        plans.append((r, chain, rem_new, lvl_new, nx_new))
    stepped_ids = _step(session, [(r.id, r.reminders_sent, r.escalation_level, r.next_check_at, rem_new, lvl_new,
                                   nx_new) for r, _chain, rem_new, lvl_new, nx_new in plans], now)
    escalated = []
    for r, chain, rem_new, lvl_new, _nx in plans:
        if r.id not in stepped_ids:  # another sweeper or an action got there first
            continue
        (cid, ref, st_id, district, lang, phone, chat, emergency, _start, due, rem_old, lvl_old, base, _nx_old,
         reopens) = r[:15]
        st = stations.get(st_id) if st_id else None
        st_name = (messages.name(st, lang)) if st else "-"
        if rem_new > rem_old and now < due:
            # Only the latest missed reminder is worth sending.
            row = officer_row(cid, ref, st.phone if st else None, "station_reminder", f"R{rem_new}N{reopens}",
                              lang, due=local_time(due, lang))
            events.append(dict(complaint_id=cid, at=now, actor="system", kind="reminder",
                               data={"n": rem_new, "station": st.code if st else None}))
            if row:
                sends.append((row[0], "send", row[1]))
            else:
                events.append(dict(complaint_id=cid, at=now, actor="system", kind="no_phone",
                                   data={"for": "reminder", "station": st.code if st else None}))
        for level in range(lvl_old + 1, lvl_new + 1):
            rank = chain[level]
            at_due = level_time(due, base, level, emergency)
            h = postings.holder(rank, st, district)
            events.append(dict(complaint_id=cid, at=now, actor="system", kind="escalated",
                               data={"level": level, "rank": rank, "posting": h.posting_id if h else None,
                                     "due": at_due.isoformat(), "late_s": round((now - at_due).total_seconds(), 3)}))
            row = officer_row(cid, ref, h.phone if h else None, "officer_escalation", f"L{level}N{reopens}", "hi",
                              station=messages.name(st, "hi") if st else "-") if h else None
            if row:
                sends.append((row[0], "send", row[1]))
            else:
                events.append(dict(complaint_id=cid, at=now, actor="system", kind="no_phone",
                                   data={"for": "escalation", "level": level, "rank": rank,
                                         "posting": h.posting_id if h else None}))
        if lvl_new > lvl_old:
            # The citizen hears once per sweep, of the highest level reached.
            row = citizen_row(cid, ref, phone, chat, lang, "escalated", f"L{lvl_new}N{reopens}",
                              rank=rank_name(chain[lvl_new], lang), station=st_name)
            if row:
                sends.append((row[0], "send", row[1]))
            escalated.append(_as_now(r, lvl_new))
    if events:
        session.execute(insert(Event.__table__), events)
    outbox.add_many(session, sends)
    # The dashboard counts how far tickets escalated: bring their contributions up to date (one pass per batch).
    apply_contributions(session, escalated)
    return len(stepped_ids)


def _as_now(r, level: int) -> SimpleNamespace:
    """A claimed row as it is after its step (what the aggregates read)."""
    d = r._asdict()
    d["escalation_level"] = level
    return SimpleNamespace(**d)


def sweep(now: datetime | None = None, limit: int = BATCH, max_batches: int = 1000) -> int:
    """Run the SLA sweep until nothing is due at ``now`` (the worker's loop calls this).

    Args:
        now: the clock (tests pass it; default: the real time).
        limit: tickets per transaction.
        max_batches: a bound on one pass, so the loop keeps relaying while a huge backlog drains.

    Returns:
        How many tickets were stepped (reminded or escalated).
    """
    now = now or utcnow()
    total = 0
    stations = postings = None
    for _ in range(max_batches):
        with db.session() as s:
            if stations is None:
                stations = _stations(s)
                postings = Postings(s, set(get_zone().ranks))
            s.info["claimed"] = 0
            n = sweep_batch(s, now, limit, postings, stations)
            claimed = s.info["claimed"]
        total += n
        # Fewer than a batch claimed: nothing else is due (or the rest is held by another sweeper,
        # which will finish it). None stepped: stop rather than spin.
        if claimed < limit or n == 0:
            break
    return total


def claim_exists(session: Session, now: datetime) -> bool:
    return session.scalar(select(Complaint.id).where(Complaint.next_check_at <= now).limit(1)) is not None


def lateness(session: Session, since: datetime | None = None) -> list[float]:
    """Seconds each escalation was processed after its due moment (bench and /metrics)."""
    q = select(Event.data).where(Event.kind == "escalated")
    if since is not None:
        q = q.where(and_(Event.at >= since))
    return [float(d.get("late_s", 0)) for d in session.scalars(q)]
