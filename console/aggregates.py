"""Dashboard aggregates kept up to date as tickets change, so the dashboard never scans tickets.

``routing.actions.event()`` calls :func:`on_event` for every Event. Each ticket's current
contribution (its registration day, district, station, channel, and whether it is disposed, within
the SLA, an FIR, how far it escalated, its rating) is kept in ``complaint_stat``; a change is applied
to ``stat_daily`` / ``stat_posting`` as the difference, so the same event twice, or events in any
order, leave the totals right.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models import Complaint, Feedback
from models.tables import ComplaintStat, StatDaily, StatPosting
from zone import get_zone

# Events that cannot change a ticket's contribution: skipped without a query.
PASSIVE = frozenset({"viewed", "note", "exported", "evidence_exported", "send_failed", "sent", "delivered",
                     "reminder", "message", "viewed_attachment", "action_refused",
                     "feedback_refused", "no_phone", "emergency_alert", "login", "login_failed"})
DAILY_METRICS = ("received", "disposed", "resolved", "in_sla", "fir", "esc1", "esc2", "esc3", "esc4",
                 "rating_sum", "rating_count")
POSTING_METRICS = ("disposed", "rating_sum", "rating_count")
OPEN = ("received", "routed", "assigned")


def local_day(dt) -> str:
    return dt.astimezone(ZoneInfo(get_zone().zone.timezone)).date().isoformat()


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


def _upsert(session: Session, model, keys: dict, deltas: dict) -> None:
    if not any(deltas.values()):
        return
    ins = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(model)
    stmt = ins.values(**keys, **deltas).on_conflict_do_update(
        index_elements=list(keys), set_={k: getattr(model, k) + getattr(ins.excluded, k) for k in deltas})
    session.execute(stmt)


def _apply_daily(session: Session, contrib: dict, sign: int) -> None:
    day, district, station_id, channel = contrib["k"]
    _upsert(session, StatDaily, {"day": day, "district": district, "station_id": station_id, "channel": channel},
            {m: sign * contrib.get(m, 0) for m in DAILY_METRICS})


def _apply_posting(session: Session, contrib: dict, sign: int) -> None:
    pid, sid = contrib["p"]
    _upsert(session, StatPosting, {"posting_id": pid}, {m: sign * contrib.get("p_" + m, 0) for m in POSTING_METRICS})
    session.execute(StatPosting.__table__.update().where(StatPosting.posting_id == pid).values(station_id=sid))


def _apply(session: Session, contrib: dict, sign: int) -> None:
    if not contrib:
        return
    _apply_daily(session, contrib, sign)
    if "p" in contrib:
        _apply_posting(session, contrib, sign)


def _apply_ordered(session: Session, changes: list[tuple[dict, int]]) -> None:
    """Apply (contribution, sign) pairs touching rows in the order routing's batches do (routing/stats.py):
    daily rows by their key's text, then posting rows by id — so the two wait for each other, never deadlock."""
    changes = [(c, sign) for c, sign in changes if c]
    for c, sign in sorted(changes, key=lambda cs: tuple(str(x) for x in cs[0]["k"])):
        _apply_daily(session, c, sign)
    for c, sign in sorted((cs for cs in changes if "p" in cs[0]), key=lambda cs: cs[0]["p"][0]):
        _apply_posting(session, c, sign)


def on_event(session: Session, complaint: Complaint | None, kind: str) -> None:
    """Bring the aggregates up to date after an Event of ``kind`` on ``complaint`` (same transaction).

    Args:
        session: the caller's session.
        complaint: the ticket the event concerns (None: nothing to do).
        kind: the event kind; passive kinds (views, notes, sends) return at once.
    """
    if complaint is None or complaint.id is None or kind in PASSIVE:
        return
    new = contribution(session, complaint)
    row = session.get(ComplaintStat, complaint.id)
    old = row.contrib if row is not None else {}
    if old == new:
        return
    _apply_ordered(session, [(old, -1), (new, +1)])
    if row is None:
        session.add(ComplaintStat(complaint_id=complaint.id, contrib=new))
    else:
        row.contrib = new


def rebuild(session: Session, batch: int = 5000) -> int:
    """Recompute every aggregate from the tickets (repair, or after a bulk load). Returns tickets counted."""
    session.execute(delete(StatDaily))
    session.execute(delete(StatPosting))
    session.execute(delete(ComplaintStat))
    n = 0
    for c in session.scalars(select(Complaint).order_by(Complaint.id).execution_options(yield_per=batch)):
        contrib = contribution(session, c)
        _apply(session, contrib, +1)
        session.add(ComplaintStat(complaint_id=c.id, contrib=contrib))
        n += 1
    session.flush()
    return n
