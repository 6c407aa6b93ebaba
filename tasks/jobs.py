"""The rq side of the outbox: one job function that runs any outbox row, idempotently.

rq delivers at least once, and the relay re-enqueues rows not done in time, so every handler must
be safe to run twice: each checks the row's status and the data's state before acting.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from rq import Queue, Retry
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from models import Outbox, db
from tasks import outbox as ob

log = logging.getLogger(__name__)

# kind -> "module:function(session, row)". Handlers return None; they raise SendError-like
# exceptions with a ``retryable`` attribute to ask for a retry. They are named, not imported: the task queue
# sits below the layers whose work it runs (docs/architecture.md).
HANDLERS: dict[str, str] = {
    "route": "tickets.router:route_job",
    "send": "channels.outbound:deliver",
    "media": "channels.media:process_media",
    "transcribe": "channels.media_jobs:transcribe",
    "video": "channels.media_jobs:video",
    "recording": "channels.media_jobs:recording",
}
# kind -> "module:function(session, rows)" for kinds a batch job runs set-based (rows: id, kind, payload)
BATCH_HANDLERS: dict[str, str] = {"route": "tickets.router:route_rows"}
RETRY = Retry(max=5, interval=[2, 5, 15, 60, 300])


def _resolve(path: str) -> Callable:
    mod, fn = path.split(":")
    return getattr(importlib.import_module(mod), fn)


def handler_for(kind: str) -> Callable[[Session, Outbox], None]:
    return _resolve(HANDLERS[kind])


def run_outbox(outbox_id: int) -> str:
    """Run one outbox row (the rq job). Returns what happened, for rq's result."""
    with db.session() as s:
        row = s.get(Outbox, outbox_id)
        if row is None:
            return "missing"
        if row.status in ("done", "failed"):
            return row.status
        try:
            handler_for(row.kind)(s, row)
        except Exception as exc:
            if getattr(exc, "retryable", True):
                s.rollback()
                raise
            s.rollback()
            ob.mark_failed(s, outbox_id, str(exc))
            s.commit()
            return "failed"
        # Read afresh: a handler marks its row with an UPDATE, which the identity map's object does not see
        # (marking it again would wipe the provider id the handler stored).
        status = s.scalar(select(Outbox.status).where(Outbox.id == outbox_id))
        if status is not None and status not in ("done", "failed"):
            ob.mark_done(s, outbox_id)
    return "done"


def run_outbox_batch(outbox_ids: list[int]) -> dict[str, int]:
    """Run several small outbox rows in one job and one transaction (routing: one commit, not fifty).

    ``route`` rows go through :data:`BATCH_HANDLERS` (:func:`tickets.router.route_many`) together: a handful
    of set-based statements for the whole batch. Should that raise (anything but a database error), its savepoint is
    rolled back and the rows run one by one as below. Other rows run each in its own savepoint; a row that
    fails is left for the relay to hand out again (retryable) or marked failed, and the others still commit.
    A database error that dooms the whole transaction (a deadlock on PostgreSQL) rolls the batch back and
    runs each row on its own instead.
    """
    out = {"done": 0, "failed": 0, "retry": 0}
    try:
        with db.session() as s:
            rows = s.execute(select(Outbox.id, Outbox.kind, Outbox.payload).where(
                Outbox.id.in_(outbox_ids), Outbox.status.not_in(("done", "failed"))).order_by(Outbox.id)).all()
            route = [r for r in rows if r.kind == "route"]
            single = [r.id for r in rows if r.kind != "route"]
            if route:
                if _route_together(s, route):
                    out["done"] += len(route)
                else:
                    single = _in_lock_order(s, [r.id for r in route]) + single
            for oid in single:
                row = s.get(Outbox, oid)
                if row is None or row.status in ("done", "failed"):
                    continue
                try:
                    with s.begin_nested():
                        handler_for(row.kind)(s, row)
                        ob.mark_done(s, oid)
                    out["done"] += 1
                except DBAPIError:
                    raise
                except Exception as exc:
                    if getattr(exc, "retryable", True):
                        log.warning("outbox %s failed in a batch; the relay will hand it out again", oid,
                                    exc_info=True)
                        out["retry"] += 1
                    else:
                        ob.mark_failed(s, oid, str(exc))
                        out["failed"] += 1
    except DBAPIError:
        log.warning("batch of %d rolled back (%s); running its rows one by one", len(outbox_ids),
                    "database error", exc_info=True)
        out = {"done": 0, "failed": 0, "retry": 0}
        for oid in outbox_ids:
            try:
                res = run_outbox(oid)
            except Exception:  # left for the relay to hand out again
                res = "retry"
            out[res if res in out else "done"] += 1
    return out


def _route_together(session: Session, rows: list) -> bool:
    """Route the batch's tickets set-based and mark their rows done; False (nothing kept) if that raised."""
    try:
        with session.begin_nested():
            _resolve(BATCH_HANDLERS["route"])(session, rows)
            ob.mark_done_many(session, [r.id for r in rows])
        return True
    except DBAPIError:
        raise
    except Exception:
        log.warning("routing %d rows together failed; running them one by one", len(rows), exc_info=True)
        return False


def _in_lock_order(session: Session, outbox_ids: list[int]) -> list[int]:
    """Route rows ordered by where their tickets will land, so two batches taking the one-by-one path take
    the per-station aggregate rows in the same order (no deadlock between them in the common case)."""
    from models import Complaint

    rows = session.execute(select(Outbox.id, Outbox.payload).where(Outbox.id.in_(outbox_ids))).all()
    cids = {oid: (p or {}).get("complaint_id") for oid, p in rows}
    keys = {cid: (d or "", st or "") for cid, d, st in session.execute(
        select(Complaint.id, Complaint.district, Complaint.requested_station).where(
            Complaint.id.in_([c for c in cids.values() if c])))}
    return sorted(outbox_ids, key=lambda oid: (keys.get(cids.get(oid), ("", "")), oid))


# Kinds whose handler never commits by itself (no outside call in the middle), so rows can share a job.
BATCHABLE = {"route"}
BATCH_SIZE = 200
# Kinds whose rows commit on their own (a send commits 'sending' before Twilio's call) but are short: they
# run one after another in a shared job, so rq's per-job cost is paid once per chunk, not per message.
SEQUENTIAL = {"send"}
SEQUENTIAL_SIZE = 20


def run_outbox_each(outbox_ids: list[int]) -> dict[str, int]:
    """Run rows one after another in one job, each exactly as :func:`run_outbox` (own session, own commits).

    A row that fails retryably is handed to rq again on its own with :data:`RETRY` (after the first retry
    interval), as if it had been enqueued alone; the rest of the chunk goes on.
    """
    out: dict[str, int] = {}
    for oid in outbox_ids:
        try:
            res = run_outbox(oid)
        except Exception:
            log.warning("outbox %s failed in a chunk; retried on its own", oid, exc_info=True)
            _retry_alone(oid)
            res = "retry"
        out[res] = out.get(res, 0) + 1
    return out


def _retry_alone(outbox_id: int) -> None:
    """Enqueue one row as its own job with rq's Retry; outside rq (or if that fails) the relay hands it out."""
    from datetime import timedelta

    from rq import get_current_job

    job = get_current_job()
    if job is None:
        return
    try:
        with db.session() as s:
            row = s.get(Outbox, outbox_id)
            if row is None or row.status in ("done", "failed"):
                return
            attempts = row.attempts
        Queue(job.origin, connection=job.connection).enqueue_in(
            timedelta(seconds=RETRY.intervals[0]), run_outbox, outbox_id,
            job_id=f"outbox-{outbox_id}-{attempts + 1}-r", retry=RETRY, result_ttl=300, failure_ttl=86400)
    except Exception:
        log.warning("could not re-enqueue outbox %s; the relay will", outbox_id, exc_info=True)


def enqueue_rows(queues: dict, rows: list[Outbox]) -> None:
    """Hand rows to rq in one Redis pipeline; batchable kinds go many to a job, sequential kinds a chunk to a job."""
    conn = next(iter(queues.values())).connection
    with conn.pipeline() as pipe:
        by_queue: dict[str, list] = {}
        singles = [r for r in rows if r.kind not in BATCHABLE and r.kind not in SEQUENTIAL]
        batched = [r for r in rows if r.kind in BATCHABLE]
        chained: dict[str, list] = {}
        for r in rows:
            if r.kind in SEQUENTIAL:
                chained.setdefault(ob.QUEUE_OF.get(r.kind, "default"), []).append(r)
        for r in singles:
            qn = ob.QUEUE_OF.get(r.kind, "default")
            by_queue.setdefault(qn, []).append(Queue.prepare_data(
                run_outbox, (r.id,), job_id=f"outbox-{r.id}-{r.attempts + 1}", retry=RETRY, result_ttl=300,
                failure_ttl=86400))
        for i in range(0, len(batched), BATCH_SIZE):
            chunk = batched[i:i + BATCH_SIZE]
            by_queue.setdefault("default", []).append(Queue.prepare_data(
                run_outbox_batch, ([r.id for r in chunk],), job_id=f"outbox-b{chunk[0].id}-{chunk[0].attempts + 1}",
                result_ttl=300, failure_ttl=86400))
        for qn, chain in chained.items():
            for i in range(0, len(chain), SEQUENTIAL_SIZE):
                chunk = chain[i:i + SEQUENTIAL_SIZE]
                by_queue.setdefault(qn, []).append(Queue.prepare_data(
                    run_outbox_each, ([r.id for r in chunk],),
                    job_id=f"outbox-e{chunk[0].id}-{chunk[0].attempts + 1}", result_ttl=300, failure_ttl=86400))
        for qn, datas in by_queue.items():
            queues[qn].enqueue_many(datas, pipeline=pipe)
        pipe.execute()


def enqueue_row(queues: dict, row: Outbox) -> None:
    """Hand one outbox row to rq (job id per attempt, so a re-enqueue is a new job)."""
    q = queues[ob.QUEUE_OF.get(row.kind, "default")]
    q.enqueue(run_outbox, row.id, job_id=f"outbox-{row.id}-{row.attempts + 1}", retry=RETRY,
              result_ttl=300, failure_ttl=86400)
