"""Routing and the 24-hour clock on PostgreSQL: throughput, the claim query, escalations, lateness.

    .venv/bin/python bench/routing.py [--db postgresql://postgres@127.0.0.1:5432/bharosa_bench]
        [--tickets 5000] [--workers 2] [--open 1000000] [--lateness 2000]

It creates (and empties) its own database, starts its own Redis, and runs real rq workers
(``worker.py --rq-only``) and the real loop (``worker.py --loop-only``) as subprocesses, in dev mode
(outbound messages recorded, not sent). Each figure is printed next to a baseline measured in the run:

1. routing: tickets/s routed through the outbox, the relay (``worker.py --loop-only``) and rq workers,
   timed from the moment the tickets are written until every route row is done (baseline: the one-ticket
   router called in-process, no rq; and the batch router in-process). The tickets mix every rule: district
   only (nodal), a named thana, a location pin, a place naming a thana, a category routed to a unit;
2. the claim query over ``--open`` open tickets with 1% due: EXPLAIN ANALYZE with the index, and with
   index scans disabled (baseline: what it costs when it follows the open, not the due);
3. escalations/s of one sweep over the due 1%, including their Events and outbox rows;
4. p99 lateness: tickets falling due over 20 s while the real loop sweeps every sla.sweep_interval_seconds.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds other benchmarks named like our packages (bench/dialogue.py): import from the root only.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from models import Base, Complaint, Event, Outbox, Station, db, utcnow  # noqa: E402
from tests.redis_server import start_redis  # noqa: E402
from zone import get_zone  # noqa: E402


def fresh_database(url: str) -> str:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def child_env(db_url: str, redis_url: str) -> dict:
    env = dict(os.environ, DATABASE_URL=db_url, REDIS_URL=redis_url, BHAROSA_ENV="dev", PYTHONPATH=str(ROOT))
    for k in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL"):
        env.pop(k, None)
    return env


REF_CH = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def ref() -> str:
    return "BEN-" + "".join(secrets.choice(REF_CH) for _ in range(10))


def ticket_mix(i: int, stations: list) -> dict:
    """What ticket ``i`` carries, in turn: a district only (nodal), a named thana, a location pin near a
    thana, a place naming a thana, and a category routed to a unit (women's desk, cyber cell)."""
    st = stations[(i // 5) % len(stations)]
    kind = i % 5
    out = dict(district=st.district, category="theft_mobile", requested_station=None, place=None, lat=None, lon=None)
    if kind == 1:
        out["requested_station"] = st.code
    elif kind == 2:
        out["lat"], out["lon"] = st.lat + 0.002, st.lon - 0.002
    elif kind == 3:
        out["place"] = f"{st.name_en} chauraha ke paas"
    elif kind == 4:
        out["category"] = "harassment" if i % 2 else "cyber_fraud"
    return out


def insert_received(n: int, now) -> list[int]:
    """n registered-but-unrouted tickets (see :func:`ticket_mix`) with their route outbox rows, written with
    executemany (not the ORM), as register_complaint would leave them."""
    from tickets.stats import apply_contributions

    with db.session() as s:
        stations = list(s.scalars(sa.select(Station).where(Station.kind == "thana", Station.active.is_(True))
                                  .order_by(Station.id)))
        s.expunge_all()
    rows = [dict(ref=ref(), channel="sms", phone=f"+9198{i:08d}", language="hi" if i % 3 else "en",
                 description="bench", status="received", confidential=False, emergency=False,
                 needs_interpreter=False, needs_reroute=False, woman_officer=False, registered_at=now,
                 sla_started_at=now, due_at=now + timedelta(hours=24), next_check_at=now + timedelta(hours=12),
                 reminders_sent=0, escalation_level=0, sla_base_level=0, reopen_count=0, updated_at=now,
                 **ticket_mix(i, stations)) for i in range(n)]
    with db.session() as s:  # one transaction: the relay sees the tickets complete or not at all
        ids = [r[0] for r in s.execute(sa.insert(Complaint.__table__).returning(Complaint.id), rows)]
        s.execute(sa.insert(Outbox.__table__), [dict(key=f"route:{i}", kind="route", payload={"complaint_id": i},
                                                     status="pending", attempts=0, created_at=now) for i in ids])
        # their contribution to the dashboard at registration (routing moves it to the station)
        apply_contributions(s, [SimpleNamespace(id=i, station_id=None, **r, **_UNSET)
                                for i, r in zip(ids, rows, strict=True)])
    return ids


_UNSET = dict(merged_into_id=None, disposed_at=None, outcome=None, assigned_posting_id=None)


def bench_routing(n: int, workers: int, env: dict) -> dict:
    from tickets.router import route_complaint, route_many

    # Baseline: the same routing in-process, one transaction per ticket, no outbox/rq.
    ids = insert_received(min(n, 1000), utcnow())
    t0 = time.perf_counter()
    for cid in ids:
        with db.session() as s:
            route_complaint(s, cid)
    base_rate = len(ids) / (time.perf_counter() - t0)
    # The batch router in-process, 200 tickets a transaction (what one rq job does, without rq and the relay).
    ids = insert_received(min(n, 2000), utcnow())
    t0 = time.perf_counter()
    for i in range(0, len(ids), 200):
        with db.session() as s:
            route_many(s, ids[i:i + 200])
    batch_rate = len(ids) / (time.perf_counter() - t0)
    with db.engine.begin() as c:  # their rows are not part of the measured run
        c.execute(sa.update(Outbox).where(Outbox.status == "pending").values(status="done"))

    with db.session() as s:
        mark = s.scalar(sa.select(sa.func.max(Outbox.id))) or 0
    # The real thing: rq workers and the worker loop (relay, sweep, spool) as their own processes.
    procs = [subprocess.Popen([sys.executable, str(ROOT / "worker.py"), "--rq-only"], env=env, cwd=ROOT)
             for _ in range(workers)]
    procs.append(subprocess.Popen([sys.executable, str(ROOT / "worker.py"), "--loop-only"], env=env, cwd=ROOT))
    try:
        time.sleep(3.0)  # let the workers and the loop start (not measured)
        ids = insert_received(n, utcnow())
        t0 = time.perf_counter()  # committed: from here the loop can see them
        return _measure_routing(n, ids, t0, mark, base_rate, batch_rate)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def _measure_routing(n, ids, t0, mark, base_rate, batch_rate) -> dict:
    """Wait until every route row of the run is done; the clock started when the tickets were committed."""
    lo, hi = min(ids), max(ids)
    while True:
        with db.session() as s:  # what is still open, through the relay's partial index (cheap: polled often)
            left = s.scalar(sa.select(sa.func.count()).select_from(Outbox).where(
                Outbox.status.in_(("pending", "enqueued")), Outbox.kind == "route", Outbox.id > mark))
        if not left or time.perf_counter() - t0 > 300:
            break
        time.sleep(0.05)
    el = time.perf_counter() - t0
    with db.session() as s:
        done = s.scalar(sa.select(sa.func.count()).select_from(Outbox).where(
            Outbox.kind == "route", Outbox.status == "done", Outbox.id > mark))
        routed = s.scalar(sa.select(sa.func.count()).select_from(Complaint).where(
            Complaint.id.between(lo, hi), Complaint.station_id.is_not(None)))
        routed_ev = s.scalar(sa.select(sa.func.count()).select_from(Event).where(
            Event.complaint_id.between(lo, hi), Event.kind == "routed"))
        once = s.scalar(sa.select(sa.func.count()).select_from(
            sa.select(Event.complaint_id).where(Event.complaint_id.between(lo, hi), Event.kind == "routed")
            .group_by(Event.complaint_id).having(sa.func.count() == 1).subquery()))
        reasons = dict(Counter(d.get("reason") for d in s.scalars(sa.select(Event.data).where(
            Event.complaint_id.between(lo, hi), Event.kind == "routed"))))
    return {"n": n, "seconds": el, "rate": done / el, "done": done, "routed": routed, "routed_events": routed_ev,
            "once": once, "reasons": reasons, "baseline_inprocess_rate": base_rate, "batch_inprocess_rate": batch_rate}


def copy_open_tickets(total: int, due_frac: float, now) -> None:
    """Bulk-load ``total`` open routed tickets, ``due_frac`` of them due now, with COPY."""
    with db.session() as s:
        st_ids = [(i, d) for i, d in s.execute(sa.select(Station.id, Station.district).where(Station.kind == "thana"))]
    n_due = int(total * due_frac)
    cols = ("ref", "channel", "phone", "language", "description", "category", "district", "station_id", "status",
            "confidential", "emergency", "needs_interpreter", "needs_reroute", "woman_officer", "registered_at",
            "sla_started_at", "due_at", "next_check_at", "reminders_sent", "escalation_level", "sla_base_level",
            "reopen_count", "updated_at")
    # Later migrations add NOT NULL columns with defaults: fill them from the model, whatever they are.
    extra = [(col.name, col.default.arg) for col in Complaint.__table__.columns
             if col.name not in cols and col.name != "id" and not col.nullable and col.default is not None
             and col.default.is_scalar]
    extra_vals = tuple(v for _, v in extra)
    cols = cols + tuple(n for n, _ in extra)
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(f"COPY complaint ({', '.join(cols)}) FROM STDIN") as cp:
            for i in range(total):
                sid, dist = st_ids[i % len(st_ids)]
                if i < n_due:  # breached 1 s to 30 min ago (spread), still at level 0
                    reg = now - timedelta(hours=24, seconds=1 + (i % 1800))
                    due, nxt, rem = reg + timedelta(hours=24), reg + timedelta(hours=24), 2
                else:  # opened within the last 11 h: next check is a reminder in the future
                    reg = now - timedelta(seconds=(i % 39600))
                    due, nxt, rem = reg + timedelta(hours=24), reg + timedelta(hours=12), 0
                cp.write_row((f"B{i:09d}", "sms", f"+9197{i:08d}", "hi", "bench", "theft_mobile", dist, sid, "routed",
                              False, False, False, False, False, reg, reg, due, nxt, rem, 0, 0, 0, now) + extra_vals)
        raw.commit()
    finally:
        raw.close()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(sa.text("VACUUM ANALYZE complaint"))


def explain_claim(now, disable_index: bool) -> tuple[float, str]:
    from tickets.clock import claim  # noqa: F401  (the query measured is the sweep's own)

    q = (sa.select(Complaint.id).where(Complaint.next_check_at <= now).order_by(Complaint.next_check_at)
         .limit(500).with_for_update(skip_locked=True))
    sql = str(q.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as c:
        if disable_index:
            c.execute(sa.text("SET enable_indexscan = off; SET enable_bitmapscan = off"))
        best, plan = 1e9, ""
        for _ in range(5):
            rows = [r[0] for r in c.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + sql))]
            ms = float(next(r for r in rows if r.startswith("Execution Time")).split(":")[1].split()[0])
            if ms < best:
                best, plan = ms, "\n".join(rows)
        c.rollback()
    return best, plan


def bench_sweep(now) -> dict:
    from tickets import clock

    with db.session() as s:
        due = s.scalar(sa.select(sa.func.count()).select_from(Complaint).where(Complaint.next_check_at <= now))
        ev0 = s.scalar(sa.select(sa.func.count()).select_from(Event))
        ob0 = s.scalar(sa.select(sa.func.count()).select_from(Outbox))
    t0 = time.perf_counter()
    n = clock.sweep(now=now, max_batches=10_000)
    el = time.perf_counter() - t0
    with db.session() as s:
        ev = s.scalar(sa.select(sa.func.count()).select_from(Event)) - ev0
        ob = s.scalar(sa.select(sa.func.count()).select_from(Outbox)) - ob0
    return {"due": due, "escalated": n, "seconds": el, "rate": n / el, "events": ev, "outbox_rows": ob}


def bench_lateness(n: int, env: dict) -> dict:
    """n tickets falling due over the next 20 s while the real loop (worker.py --loop-only) sweeps."""
    now = utcnow()
    with db.session() as s:
        st_ids = [i for (i,) in s.execute(sa.select(Station.id).where(Station.kind == "thana"))]
    start = now + timedelta(seconds=5)
    rows = []
    for i in range(n):
        due = start + timedelta(seconds=20 * i / n)
        rows.append(dict(ref=ref(), channel="sms", phone=f"+9196{i:08d}", language="hi", description="bench",
                         category="theft_mobile", district="jhansi", station_id=st_ids[i % len(st_ids)],
                         status="routed", confidential=False, emergency=False, needs_interpreter=False,
                         needs_reroute=False, woman_officer=False, registered_at=due - timedelta(hours=24),
                         sla_started_at=due - timedelta(hours=24), due_at=due, next_check_at=due, reminders_sent=2,
                         escalation_level=0, sla_base_level=0, reopen_count=0, updated_at=now))
    with db.engine.begin() as c:
        ids = [r[0] for r in c.execute(sa.insert(Complaint).returning(Complaint.id), rows)]
    loop = subprocess.Popen([sys.executable, str(ROOT / "worker.py"), "--loop-only"], env=env, cwd=ROOT)
    time.sleep(25 + get_zone().sla.sweep_interval_seconds + 2)
    loop.send_signal(signal.SIGTERM)
    try:
        loop.wait(10)
    except subprocess.TimeoutExpired:
        loop.kill()
    with db.session() as s:
        lates = [float(d["late_s"]) for d in s.scalars(sa.select(Event.data).where(
            Event.kind == "escalated", Event.complaint_id.between(min(ids), max(ids))))]
    lates.sort()
    p = (lambda q: lates[min(len(lates) - 1, int(q * len(lates)))]) if lates else (lambda q: float("nan"))
    return {"n": n, "escalated": len(lates), "p50": p(0.5), "p99": p(0.99), "max": lates[-1] if lates else None,
            "mean": statistics.fmean(lates) if lates else None, "sweep_interval": get_zone().sla.sweep_interval_seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/bharosa_bench")
    ap.add_argument("--tickets", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--open", type=int, default=1_000_000)
    ap.add_argument("--lateness", type=int, default=2000)
    args = ap.parse_args()
    url = fresh_database(args.db)
    os.environ["BHAROSA_ENV"] = "dev"
    for k in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        os.environ.pop(k, None)
    db.init(url)
    Base.metadata.create_all(db.engine)
    from tickets.seed import seed
    from tickets.stations import sync_stations

    with db.session() as s:
        sync_stations(s)
        seed(s)
    redis_server = start_redis()
    redis_proc, redis_url = redis_server.proc, redis_server.url
    os.environ["REDIS_URL"] = redis_url
    env = child_env(args.db, redis_url)
    print(f"PostgreSQL {args.db}; Redis {redis_url}; {os.cpu_count()} CPUs")
    try:
        r = bench_routing(args.tickets, args.workers, env)
        print(f"\n[1] routing through outbox + relay (worker.py --loop-only) + {args.workers} rq workers: {r['n']} "
              f"tickets in {r['seconds']:.2f} s = {r['rate']:.0f} tickets/s (route rows done {r['done']}, "
              f"routed {r['routed']}, routed events "
              f"{r['routed_events']}, routed exactly once {r['once']}; by rule {r['reasons']})\n"
              f"    baseline in-process route_complaint, a transaction per ticket: "
              f"{r['baseline_inprocess_rate']:.0f}/s "
              f"({r['rate'] / r['baseline_inprocess_rate']:.1f}x); in-process route_many, 200 a transaction: "
              f"{r['batch_inprocess_rate']:.0f}/s")
        with db.engine.begin() as c:  # start the clock part from an empty ticket table
            c.execute(sa.text("TRUNCATE complaint, event, outbox, message, feedback, note RESTART IDENTITY CASCADE"))
        now = utcnow()
        t0 = time.perf_counter()
        copy_open_tickets(args.open, 0.01, now)
        print(f"\n[2] loaded {args.open} open tickets (1% due) with COPY in {time.perf_counter() - t0:.1f} s")
        ms, plan = explain_claim(now, False)
        ms_seq, plan_seq = explain_claim(now, True)
        print(f"    claim query (LIMIT 500, FOR UPDATE SKIP LOCKED): {ms:.2f} ms with the index; "
              f"baseline without index scans: {ms_seq:.2f} ms")
        print("    plan:\n      " + plan.replace("\n", "\n      "))
        print("    baseline plan (first line): " + plan_seq.splitlines()[0])
        sw = bench_sweep(now)
        print(f"\n[3] sweep over the due: {sw['escalated']} of {sw['due']} escalated in {sw['seconds']:.2f} s = "
              f"{sw['rate']:.0f} escalations/s, writing {sw['events']} Events and {sw['outbox_rows']} outbox rows")
        ms2, _ = explain_claim(now, False)
        print(f"    claim query after the sweep (nothing due): {ms2:.2f} ms")
        lt = bench_lateness(args.lateness, env)
        print(f"\n[4] lateness, real loop (sweep every {lt['sweep_interval']} s), {lt['escalated']}/{lt['n']} "
              f"escalated: p50 {lt['p50']:.2f} s, p99 {lt['p99']:.2f} s, max {lt['max']:.2f} s "
              f"(target p99 <= {2 + lt['sweep_interval']:.0f} s)")
    finally:
        redis_proc.terminate()
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
