"""Dashboard aggregates kept up to date as tickets change, so the dashboard never scans tickets.

``tickets.actions.event()`` calls :func:`on_event` for every Event. Each ticket's current
contribution (its registration day, district, station, channel, and whether it is disposed, within
the SLA, an FIR, how far it escalated, its rating) is kept in ``complaint_stat``; a change is applied
to ``stat_daily`` / ``stat_posting`` as the difference, so the same event twice, or events in any
order, leave the totals right.

One mechanism for one ticket and for many: :func:`apply_contributions` reads the old contributions in one
statement, sums the differences per aggregate row and writes each row once, in key order (daily rows by their
key's text, then posting rows by id), so two transactions take the hot rows in the same order and queue
rather than deadlock. The console's actions (one ticket, through :func:`on_event`), the batch router and
the sweep (hundreds), and :func:`rebuild` all go through it.
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models import Complaint, Feedback
from models.tables import ComplaintStat, StatDaily, StatPosting
from zone import local

# Events that cannot change a ticket's contribution: skipped without a query.
PASSIVE = frozenset({"viewed", "note", "exported", "evidence_exported", "send_failed", "sent", "delivered",
                     "reminder", "message", "viewed_attachment", "action_refused",
                     "feedback_refused", "no_phone", "emergency_alert", "login", "login_failed"})
DAILY_METRICS = ("received", "disposed", "resolved", "in_sla", "fir", "esc1", "esc2", "esc3", "esc4",
                 "rating_sum", "rating_count")
POSTING_METRICS = ("disposed", "rating_sum", "rating_count")
OPEN = ("received", "routed", "assigned")


def local_day(dt) -> str:
    return local(dt).date().isoformat()


def contribution(session: Session, c: Complaint) -> dict:
    """What one ticket adds to the aggregates now (empty for a duplicate merged into another)."""
    if c.merged_into_id is not None or c.registered_at is None:
        return {}
    disposed = c.disposed_at is not None and c.status not in OPEN
    out: dict = {"k": [local_day(c.registered_at), c.district or "unknown", c.station_id or 0, c.channel],
                 "received": 1}
    lvl = c.escalation_level or 0
    for i in range(1, 5):
        if lvl >= i:
            out[f"esc{i}"] = 1
    rating = None
    if disposed:
        out["disposed"] = 1
        if c.outcome == "resolved":
            out["resolved"] = 1
        if c.outcome == "fir":
            out["fir"] = 1
        if c.due_at is not None and c.disposed_at <= c.due_at:
            out["in_sla"] = 1
        rating = session.scalar(select(Feedback.rating).where(Feedback.complaint_id == c.id)
                                .order_by(Feedback.id.desc()).limit(1))
        if rating is not None:
            out["rating_sum"], out["rating_count"] = int(rating), 1
    if c.assigned_posting_id:
        out["p"] = [c.assigned_posting_id, c.station_id or 0]
        if disposed:
            out["p_disposed"] = 1
            if rating is not None:
                out["p_rating_sum"], out["p_rating_count"] = int(rating), 1
    return out


_STMTS: dict[str, tuple] = {}


def _statements(dialect: str) -> tuple:
    """(stat_daily upsert, stat_posting upsert, complaint_stat upsert), built once per dialect."""
    if dialect not in _STMTS:
        ins = pg_insert if dialect == "postgresql" else sqlite_insert
        daily, posting, cstat = StatDaily.__table__, StatPosting.__table__, ComplaintStat.__table__
        d = ins(daily)
        d = d.on_conflict_do_update(index_elements=["day", "district", "station_id", "channel"],
                                    set_={m: daily.c[m] + d.excluded[m] for m in DAILY_METRICS})
        p = ins(posting)
        p = p.on_conflict_do_update(index_elements=["posting_id"],
                                    set_={**{m: posting.c[m] + p.excluded[m] for m in POSTING_METRICS},
                                          "station_id": p.excluded.station_id})
        c = ins(cstat)
        c = c.on_conflict_do_update(index_elements=["complaint_id"], set_={"contrib": c.excluded.contrib})
        _STMTS[dialect] = (d, p, c)
    return _STMTS[dialect]


def apply_contributions(session: Session, complaints: list) -> int:
    """Bring the aggregates up to date for tickets whose state changed (same transaction as the change).

    Args:
        session: the caller's session.
        complaints: the tickets as they are now (Complaint rows, or objects with the attributes
            ``tickets.stats.contribution`` reads).

    Returns:
        How many tickets' contributions changed.
    """
    if not complaints:
        return 0
    ids = sorted({c.id for c in complaints})
    old = dict(session.execute(select(ComplaintStat.complaint_id, ComplaintStat.contrib)
                               .where(ComplaintStat.complaint_id.in_(ids))).all())
    daily: dict[tuple, dict[str, int]] = {}
    posting: dict[int, dict] = {}
    new_rows = []
    for c in complaints:
        new = contribution(session, c)
        prev = old.get(c.id) or {}
        if prev == new:
            continue
        new_rows.append({"complaint_id": c.id, "contrib": new})
        for contrib, sign in ((prev, -1), (new, +1)):
            if not contrib:
                continue
            acc = daily.setdefault(tuple(contrib["k"]), dict.fromkeys(DAILY_METRICS, 0))
            for m in DAILY_METRICS:
                acc[m] += sign * contrib.get(m, 0)
            if "p" in contrib:
                pid, sid = contrib["p"]
                pacc = posting.setdefault(pid, dict.fromkeys(POSTING_METRICS, 0))
                for m in POSTING_METRICS:
                    pacc[m] += sign * contrib.get("p_" + m, 0)
                pacc["station_id"] = sid  # the latest contribution's station wins, as in on_event
    d_stmt, p_stmt, c_stmt = _statements(session.get_bind().dialect.name)
    d_rows = [{"day": k[0], "district": k[1], "station_id": k[2], "channel": k[3], **v}
              for k, v in sorted(daily.items(), key=lambda kv: tuple(str(x) for x in kv[0])) if any(v.values())]
    if d_rows:
        session.execute(d_stmt, d_rows)
    p_rows = [{"posting_id": pid, **v} for pid, v in sorted(posting.items()) if any(v[m] for m in POSTING_METRICS)]
    if p_rows:
        session.execute(p_stmt, p_rows)
    # No change in the sums: only the posting's station follows (an existing row; none is created).
    moved = [{"pid": pid, "sid": v["station_id"]} for pid, v in sorted(posting.items())
             if not any(v[m] for m in POSTING_METRICS)]
    if moved:
        t = StatPosting.__table__
        session.execute(t.update().where(t.c.posting_id == bindparam("pid")).values(station_id=bindparam("sid")),
                        moved)
    if new_rows:
        new_rows.sort(key=lambda r: r["complaint_id"])
        session.execute(c_stmt, new_rows)
    return len(new_rows)


def on_event(session: Session, complaint: Complaint | None, kind: str) -> None:
    """Bring the aggregates up to date after an Event of ``kind`` on ``complaint`` (same transaction).

    Args:
        session: the caller's session.
        complaint: the ticket the event concerns (None: nothing to do).
        kind: the event kind; passive kinds (views, notes, sends) return at once.
    """
    if complaint is None or complaint.id is None or kind in PASSIVE:
        return
    apply_contributions(session, [complaint])


def rebuild(session: Session, batch: int = 5000) -> int:
    """Recompute every aggregate from the tickets (repair, or after a bulk load). Returns tickets counted."""
    session.execute(delete(StatDaily))
    session.execute(delete(StatPosting))
    session.execute(delete(ComplaintStat))
    n = 0
    chunk: list[Complaint] = []
    for c in session.scalars(select(Complaint).order_by(Complaint.id).execution_options(yield_per=batch)):
        chunk.append(c)
        if len(chunk) == batch:
            apply_contributions(session, chunk)
            n, chunk = n + len(chunk), []
    apply_contributions(session, chunk)
    return n + len(chunk)
