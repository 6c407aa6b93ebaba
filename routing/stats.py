"""The dashboard aggregates for many tickets at once (the batch router and the sweep).

The same mechanism as ``console.aggregates.on_event`` — each ticket's current contribution is kept in
``complaint_stat`` and a change is applied to ``stat_daily`` / ``stat_posting`` as the difference — but
for a whole batch: the old contributions are read in one statement, the differences are summed per
aggregate row, and each aggregate row is written once, in key order (two batches take the hot rows in
the same order, so they queue rather than deadlock).
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from console.aggregates import DAILY_METRICS, POSTING_METRICS, contribution
from models.tables import ComplaintStat, StatDaily, StatPosting

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
            ``console.aggregates.contribution`` reads).

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
