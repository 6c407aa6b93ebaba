# ruff: noqa: E501, S608  (SQL built from constants and integers of our own, for the bulk load)
"""Console benchmark on PostgreSQL: the queue page of a station with 5,000 open tickets (< 200 ms server
time) and the dashboard over 1,000,000 tickets (< 1 s, from the aggregates, not a scan).

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/console.py [--tickets N]

It loads a schema of its own (``bench_console``, dropped first), fills it with generated tickets in SQL,
builds the aggregates once in SQL (the same sums ``tickets.stats`` keeps up to date per event),
and times requests through the Flask app in-process (server time: no network, no browser). Baselines
measured in the same run: the queue of a station with 10 open tickets, and the dashboard's counters
computed by scanning the tickets (what the aggregates avoid).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# bench/ holds modules named like packages (bench/dialogue.py): keep it off the path, put the project first.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import sqlalchemy as sa  # noqa: E402

SCHEMA = "bench_console"


def timed(fn, n: int) -> dict:
    fn()  # warm
    xs = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1000)
    xs.sort()
    return {"median_ms": round(statistics.median(xs), 1), "p95_ms": round(xs[int(0.95 * (len(xs) - 1))], 1),
            "max_ms": round(xs[-1], 1)}


def load(eng, total: int, hot_station: int, quiet_station: int, station_ids: list[int]) -> None:
    """Generated tickets: ``total`` over the last 365 days; 5,000 open at the hot station, 10 at the quiet one."""
    from models.tables import Complaint

    cols = {
        "ref": "'B' || lpad(to_hex(g), 7, '0') || '-X'", "channel": "(ARRAY['voice','whatsapp','sms','web','walkin'])[1 + g % 5]",
        "phone": "'+9198' || lpad((g % 100000000)::text, 8, '0')", "language": "'hi'",
        "description": "'generated complaint ' || g", "category": "(ARRAY['theft_mobile','theft_vehicle','land_dispute','cyber_fraud','nuisance','other'])[1 + g % 6]",
        "district": "st.district", "station_id": "st.id",
        "status": "CASE WHEN g <= 5010 THEN (ARRAY['routed','assigned'])[1 + g % 2] ELSE (ARRAY['disposed','closed'])[1 + g % 2] END",
        "registered_at": "reg", "sla_started_at": "reg", "due_at": "reg + interval '24 hours'",
        "next_check_at": "CASE WHEN g <= 5010 THEN reg ELSE NULL END",
        "disposed_at": "CASE WHEN g <= 5010 THEN NULL ELSE reg + ((g % 40) || ' hours')::interval END",
        "outcome": "CASE WHEN g <= 5010 THEN NULL ELSE (ARRAY['resolved','fir','ncr','resolved','not_police_matter'])[1 + g % 5] END",
        "outcome_number": "NULL", "escalation_level": "CASE WHEN g % 40 > 24 THEN 1 + (g % 3) ELSE 0 END",
        "updated_at": "reg",
    }
    # Python-side defaults of every other NOT NULL column
    for c in Complaint.__table__.columns:
        if c.name in cols or c.primary_key:
            continue
        if not c.nullable:
            d = c.default.arg if c.default is not None and not callable(c.default.arg) else None
            cols[c.name] = "false" if d is False else ("true" if d is True else (str(d) if d is not None else "NULL"))
    ids = "ARRAY[" + ",".join(str(i) for i in station_ids) + "]"
    sql = f"""
    INSERT INTO complaint ({", ".join(cols)})
    SELECT {", ".join(cols.values())}
    FROM (SELECT g,
                 CASE WHEN g <= 5000 THEN {hot_station} WHEN g <= 5010 THEN {quiet_station}
                      ELSE ({ids})[1 + (g::bigint * 7919) % {len(station_ids)}] END AS sid,
                 CASE WHEN g <= 5010 THEN now() - ((g % 1600) || ' minutes')::interval
                      ELSE now() - ((g % 365) || ' days')::interval - ((g % 1440) || ' minutes')::interval END AS reg
          FROM generate_series(1, {total}) g) x
    JOIN station st ON st.id = x.sid
    """
    with eng.begin() as c:
        c.execute(sa.text(sql))


def build_aggregates(eng, tz: str) -> None:
    """The aggregates in one SQL pass (what on_event keeps up to date one ticket at a time)."""
    with eng.begin() as c:
        c.execute(sa.text(f"""
        INSERT INTO stat_daily (day, district, station_id, channel, received, disposed, resolved, in_sla, fir,
                                esc1, esc2, esc3, esc4, rating_sum, rating_count)
        SELECT to_char((registered_at AT TIME ZONE '{tz}')::date, 'YYYY-MM-DD'), district, coalesce(station_id, 0),
               channel, count(*),
               count(*) FILTER (WHERE status IN ('disposed','closed')),
               count(*) FILTER (WHERE status IN ('disposed','closed') AND outcome = 'resolved'),
               count(*) FILTER (WHERE status IN ('disposed','closed') AND disposed_at <= due_at),
               count(*) FILTER (WHERE status IN ('disposed','closed') AND outcome = 'fir'),
               count(*) FILTER (WHERE escalation_level >= 1), count(*) FILTER (WHERE escalation_level >= 2),
               count(*) FILTER (WHERE escalation_level >= 3), count(*) FILTER (WHERE escalation_level >= 4), 0, 0
        FROM complaint WHERE merged_into_id IS NULL GROUP BY 1, 2, 3, 4"""))
        c.execute(sa.text("ANALYZE"))


def scan_counters(eng) -> tuple:
    """Baseline: the dashboard's zone counters by scanning every ticket."""
    with eng.connect() as c:
        return tuple(c.execute(sa.text("""
            SELECT count(*), count(*) FILTER (WHERE status IN ('disposed','closed')),
                   count(*) FILTER (WHERE status IN ('disposed','closed') AND disposed_at <= due_at),
                   count(*) FILTER (WHERE outcome = 'fir' AND status IN ('disposed','closed'))
            FROM complaint WHERE merged_into_id IS NULL""")).one())


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args(argv)
    url = (os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
           or "postgresql://postgres@127.0.0.1:5432/test").replace("postgresql://", "postgresql+psycopg://", 1)
    os.environ.setdefault("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    base = sa.create_engine(url)
    with base.begin() as c:
        c.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        c.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    base.dispose()

    from app import create_app
    from console.auth import open_session, set_credentials
    from models import Base, Officer, Posting, Station, db
    from tickets.seed import seed
    from tickets.stations import sync_stations
    from zone import get_zone

    db.init(url, connect_args={"options": f"-csearch_path={SCHEMA}"})
    Base.metadata.create_all(db.engine)
    with db.session() as s:
        sync_stations(s)
        seed(s)
        stations = {st.code: st.id for st in s.scalars(sa.select(Station).where(Station.active))}
        creds = {}
        for user in ("sho.knp-kotwali", "sho.knp-colonelganj", "ig.kanpur_zone", "dcp.kanpur_nagar"):
            o = s.scalar(sa.select(Officer).where(Officer.username == user))
            set_credentials(o, "bench password 123")
            p = s.scalar(sa.select(Posting).where(Posting.officer_id == o.id))
            creds[user] = (o.id, p.id)
    hot, quiet = stations["KNP-KOTWALI"], stations["KNP-COLONELGANJ"]
    others = [i for c, i in stations.items() if i not in (hot, quiet)]
    t = time.perf_counter()
    load(db.engine, args.tickets, hot, quiet, others)
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    build_aggregates(db.engine, get_zone().zone.timezone)
    t_agg = time.perf_counter() - t
    with db.engine.connect() as c:
        n = c.execute(sa.text("SELECT count(*) FROM complaint")).scalar()
        n_open = c.execute(sa.text("SELECT count(*) FROM complaint WHERE station_id = :s AND status IN "
                                   "('received','routed','assigned')"), {"s": hot}).scalar()
        n_stat = c.execute(sa.text("SELECT count(*) FROM stat_daily")).scalar()

    app = create_app(url, check_env=False)
    db.init(url, connect_args={"options": f"-csearch_path={SCHEMA}"})

    def client_for(user):
        cl = app.test_client()
        with db.session() as s:
            sid = open_session(s, *creds[user])
        with cl.session_transaction() as sess:
            sess.update(sid=sid, csrf="x")
        return cl

    def get(cl, path, must=200):
        def run():
            r = cl.get(path)
            assert r.status_code == must, (path, r.status_code, r.get_data(as_text=True)[:300])
            return r
        return run

    sho, quiet_sho, ig = client_for("sho.knp-kotwali"), client_for("sho.knp-colonelganj"), client_for("ig.kanpur_zone")
    page = sho.get("/console/").get_data(as_text=True)
    assert f"{n_open} tickets" in page, "the queue does not show the station's open tickets"
    res = {
        "queue, station with 5,000 open": timed(get(sho, "/console/"), args.repeat),
        "queue, station with 5,000 open, last page": timed(get(sho, f"/console/?page={(n_open + 49) // 50}"),
                                                          args.repeat),
        "baseline: queue, station with 10 open": timed(get(quiet_sho, "/console/"), args.repeat),
        "dashboard, zone (IG), all tickets": timed(get(ig, "/console/dashboard"), args.repeat),
        "dashboard, station (SHO)": timed(get(sho, "/console/dashboard"), args.repeat),
        "baseline: zone counters by scanning tickets": timed(lambda: scan_counters(db.engine), max(3, args.repeat // 4)),
    }
    html = ig.get("/console/dashboard").get_data(as_text=True)
    scan = scan_counters(db.engine)
    assert f'class="n-received">{scan[0]}<' in html and f'class="n-disposed">{scan[1]}<' in html, \
        "dashboard totals differ from a scan"
    print(f"PostgreSQL {db.engine.dialect.server_version_info}; tickets {n:,}; open at the hot station {n_open:,}; "
          f"stat_daily rows {n_stat:,}; load {t_load:.1f} s; aggregates built {t_agg:.1f} s")
    print(f"{'what':48} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for k, v in res.items():
        print(f"{k:48} {v['median_ms']:>10} {v['p95_ms']:>8} {v['max_ms']:>8}")
    ok = res["queue, station with 5,000 open"]["p95_ms"] < 200 and res["dashboard, zone (IG), all tickets"]["p95_ms"] < 1000
    print("targets (queue p95 < 200 ms, dashboard p95 < 1 s):", "met" if ok else "NOT met")
    db.dispose()
    base = sa.create_engine(url)
    with base.begin() as c:
        c.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
