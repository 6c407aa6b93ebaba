"""The worker: an rq worker for every queue, plus the loop that drives the outbox relay, the spool
replay and the SLA sweep.

``python worker.py``            rq worker (all queues) + the loop, in one process
``python worker.py --loop-only`` only the loop (run one per node, or several: claims are safe)
``python worker.py --rq-only``   only an rq worker (run as many as you like, on any machine)
``python worker.py --burst``     process what is there, then exit (tests)
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from models import WorkerState, db, utcnow
from tasks import outbox
from tasks.jobs import enqueue_rows
from tasks.queue import QUEUE_NAMES, get_redis, queues
from zone import settings

log = logging.getLogger("bharosa.worker")


def node() -> str:
    """This node's name (``BHAROSA_NODE``, default the host name), in every heartbeat."""
    return settings.get().node


def beat(name: str, **info) -> None:
    """Record a loop's heartbeat in the database (readable when Redis is gone)."""
    try:
        with db.session() as s:
            ins = pg_insert(WorkerState) if db.is_postgres else sqlite_insert(WorkerState)
            stmt = ins.values(name=name, beat_at=utcnow(), info=info)
            s.execute(stmt.on_conflict_do_update(index_elements=["name"],
                                                 set_={"beat_at": stmt.excluded.beat_at, "info": stmt.excluded.info}))
    except Exception:
        log.warning("heartbeat %s failed", name, exc_info=True)


def relay_pass() -> int:
    """Hand pending outbox rows to rq; returns how many."""
    qs = queues()
    with db.session() as s:
        return outbox.relay_once(s, lambda rows: enqueue_rows(qs, rows), batch=True)


def sweep_pass() -> int:
    """Run the SLA sweep (tickets.clock); returns how many tickets it touched."""
    from tickets import clock

    return clock.sweep()


def housekeeping_pass() -> int:
    """Retention and other slow chores (tickets.retention)."""
    from tickets import retention

    return retention.run()


def spool_pass() -> int:
    from channels import spool

    return spool.replay()


def calls_pass() -> int:
    """Hand on helpline calls whose end Twilio never reported (channels.voice.sweep_stale_calls)."""
    from channels.voice import sweep_stale_calls

    return sweep_stale_calls()


def loop(stop: threading.Event, interval: float = 1.0) -> None:
    """The driver loop: relay every ``interval``, sweep every sweep interval, replay the spool."""
    from zone import get_zone

    sweep_every = get_zone().sla.sweep_interval_seconds

    def sweep() -> None:
        beat("sweeper", node=node(), touched=sweep_pass())

    # Periodic chores: name -> (every how many seconds, what); each failure is logged, never fatal.
    chores = {"sweep": (sweep_every, sweep), "stale-call sweep": (60, calls_pass),
              "housekeeping": (3600, housekeeping_pass)}
    last_run = dict.fromkeys(chores, 0.0)
    while not stop.is_set():
        t0 = time.monotonic()
        full = False
        try:
            n = relay_pass()
            # A full pass means more is waiting: relay again at once instead of after ``interval`` (with one
            # pass a second, the relay alone would cap the whole pipeline at RELAY_LIMIT rows a second).
            full = n >= outbox.RELAY_LIMIT
            beat("relay", node=node(), relayed=n)
        except Exception:
            log.warning("relay pass failed", exc_info=True)
        try:
            spool_pass()
        except Exception:
            log.warning("spool replay failed", exc_info=True)
        for chore, (every, fn) in chores.items():
            if t0 - last_run[chore] >= every:
                try:
                    fn()
                except Exception:
                    log.warning("%s failed", chore, exc_info=True)
                last_run[chore] = t0
        if not full:
            stop.wait(max(0.05, interval - (time.monotonic() - t0)))


def run_rq(burst: bool = False) -> None:
    """Run an rq worker over every queue in this thread (no fork per job: jobs are short and many)."""
    from rq import SimpleWorker

    conn = get_redis()
    name = f"worker-{node()}-{os.getpid()}"
    w = SimpleWorker([queues(conn)[n] for n in QUEUE_NAMES], connection=conn, name=name)
    beat(name, node=node(), pid=os.getpid())
    stop = threading.Event()

    def beater():
        while not stop.wait(5):
            beat(name, node=node(), pid=os.getpid())

    t = threading.Thread(target=beater, daemon=True)
    t.start()
    try:
        while True:
            try:
                w.work(burst=burst, logging_level="WARNING", with_scheduler=True)
                return
            except Exception:  # Redis went away: wait and try again, never exit
                if burst:
                    raise
                log.warning("rq worker lost Redis; retrying in 2 s", exc_info=True)
                time.sleep(2)
    finally:
        stop.set()


def drain(max_rounds: int = 50) -> None:
    """Relay and work until no outbox row is pending (tests and one-shot runs)."""
    from sqlalchemy import func, select

    from models import Outbox

    for _ in range(max_rounds):
        relay_pass()
        run_rq(burst=True)
        with db.session() as s:
            left = s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status.in_(("pending",))))
        if not left:
            return


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--loop-only", action="store_true")
    g.add_argument("--rq-only", action="store_true")
    g.add_argument("--burst", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import channels
    from zone import ConfigError, get_zone

    try:
        channels.register_settings()  # each channel's own settings section, read with the rest
        s = settings.load()
        get_zone()
    except ConfigError as exc:
        print(f"bharosa worker: {exc}", file=sys.stderr)
        return 2
    db.init(s.database_url)
    from bot import engine
    from channels import inbound

    inbound.use_engine(engine.handle)  # voice-note transcripts continue their dialogue in the worker
    if args.burst:
        drain()
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: (stop.set(), sys.exit(0)))
    if args.rq_only:
        run_rq()
        return 0
    t = threading.Thread(target=loop, args=(stop,), daemon=True, name="loop")
    t.start()
    if args.loop_only:
        try:
            while t.is_alive():
                t.join(1)
        except KeyboardInterrupt:
            stop.set()
        return 0
    try:
        run_rq()
    except KeyboardInterrupt:
        pass
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
