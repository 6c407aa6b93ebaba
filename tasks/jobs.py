"""The rq side of the outbox: one job, :func:`run_outbox` over a list of row ids, that runs any outbox work.

rq delivers at least once, and the relay re-enqueues rows not done in time, so every handler must
be safe to run twice: each checks the row's status and the data's state before acting.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from rq import Queue, Retry
from sqlalchemy import select
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


def run_outbox(outbox_ids: list[int] | int) -> dict[str, int]:
    """The one rq job: run outbox rows, each kind the way it needs. Returns how many ended how.

    Kinds in :data:`BATCH_HANDLERS` (``route``) run together, set-based, in one transaction and one commit
    (:func:`tickets.router.route_rows`: a handful of statements for fifty tickets). Should that raise, nothing
    of it is kept and those rows run one by one, in the order their tickets' stations lock. Every other row
    runs on its own, in its own session, committing when its handler does (a send commits ``sending``
    before the provider's call), one after another.

    A row whose handler fails retryably: in a job of one row the exception goes to rq, which retries the job
    with :data:`RETRY`; in a job of several the row is enqueued again on its own (with the same retries)
    and the others go on. A permanent failure is recorded on the row (``failed``), never raised.

    Args:
        outbox_ids: the rows (a bare id: a job of one row, as enqueued by earlier versions).

    Returns:
        counts by outcome: ``done``, ``failed``, ``retry`` (rows already finished count as what they were).
    """
    ids = [outbox_ids] if isinstance(outbox_ids, int) else list(outbox_ids)
    out: dict[str, int] = {}

    def count(what: str, n: int = 1) -> None:
        if n:
            out[what] = out.get(what, 0) + n

    with db.session() as s:
        rows = s.execute(select(Outbox.id, Outbox.kind, Outbox.status).where(Outbox.id.in_(ids))).all()
    for r in rows:
        if r.status in ("done", "failed"):
            count(r.status)
    todo = [r for r in rows if r.status not in ("done", "failed")]
    together = [r.id for r in todo if r.kind in BATCH_HANDLERS]
    alone = [r.id for r in sorted(todo, key=lambda r: ids.index(r.id)) if r.kind not in BATCH_HANDLERS]
    if together:
        done = _run_together(together)
        if done is None:
            alone = _in_lock_order(together) + alone
        else:
            count("done", done)
    for oid in alone:
        try:
            count(_run_alone(oid))
        except Exception:
            if len(ids) == 1:
                raise  # rq retries this job with RETRY
            log.warning("outbox %s failed in a job of %d; enqueued again on its own", oid, len(ids), exc_info=True)
            _retry_alone(oid)
            count("retry")
    return out


def _run_alone(outbox_id: int) -> str:
    """One row in its own session: ``done``/``failed``; a retryable failure raises (nothing of it kept)."""
    with db.session() as s:
        row = s.get(Outbox, outbox_id)
        if row is None:
            return "missing"
        if row.status in ("done", "failed"):
            return row.status
        try:
            handler_for(row.kind)(s, row)
        except Exception as exc:
            s.rollback()
            if getattr(exc, "retryable", True):
                raise
            ob.mark_failed(s, outbox_id, str(exc))
            s.commit()
            return "failed"
        # Read afresh: a handler marks its row with an UPDATE, which the identity map's object does not see
        # (marking it again would wipe the provider id the handler stored).
        status = s.scalar(select(Outbox.status).where(Outbox.id == outbox_id))
        if status == "failed":  # the handler recorded a permanent failure itself (a refused send)
            return "failed"
        if status != "done":
            ob.mark_done(s, outbox_id)
    return "done"


def _run_together(outbox_ids: list[int]) -> int | None:
    """Run rows of batch kinds set-based in one transaction and mark them done; how many, or None (nothing
    kept) if that raised."""
    try:
        with db.session() as s:
            rows = s.execute(select(Outbox.id, Outbox.kind, Outbox.payload).where(
                Outbox.id.in_(outbox_ids), Outbox.status.not_in(("done", "failed"))).order_by(Outbox.id)).all()
            for kind in sorted({r.kind for r in rows}):
                _resolve(BATCH_HANDLERS[kind])(s, [r for r in rows if r.kind == kind])
            ob.mark_done_many(s, [r.id for r in rows])
        return len(rows)
    except Exception:
        log.warning("running %d rows together failed; running them one by one", len(outbox_ids), exc_info=True)
        return None


def _in_lock_order(outbox_ids: list[int]) -> list[int]:
    """Route rows ordered by where their tickets will land, so two jobs taking the one-by-one path take
    the per-station aggregate rows in the same order (no deadlock between them in the common case)."""
    from models import Complaint

    with db.session() as s:
        rows = s.execute(select(Outbox.id, Outbox.payload).where(Outbox.id.in_(outbox_ids))).all()
        cids = {oid: (p or {}).get("complaint_id") for oid, p in rows}
        keys = {cid: (d or "", st or "") for cid, d, st in s.execute(
            select(Complaint.id, Complaint.district, Complaint.requested_station).where(
                Complaint.id.in_([c for c in cids.values() if c])))}
    return sorted(outbox_ids, key=lambda oid: (keys.get(cids.get(oid), ("", "")), oid))


# How many rows of a kind share one job: routing runs set-based (one commit for the lot); sends commit each on
# their own but are short, so rq's per-job cost is paid once per chunk; media work is slow and goes alone.
JOB_SIZE = {"route": 200, "send": 20}


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
            timedelta(seconds=RETRY.intervals[0]), run_outbox, [outbox_id],
            job_id=f"outbox-{outbox_id}-{attempts + 1}-r", retry=RETRY, result_ttl=300, failure_ttl=86400)
    except Exception:
        log.warning("could not re-enqueue outbox %s; the relay will", outbox_id, exc_info=True)


def enqueue_rows(queues: dict, rows: list[Outbox]) -> None:
    """Hand rows to rq in one Redis pipeline: one job shape, :func:`run_outbox` over a list of ids, with
    up to :data:`JOB_SIZE` rows of a kind to a job (one, for kinds not listed), on the kind's queue.

    A job's id names its first row and the attempt (``outbox-<id>-<attempt>``; ``outbox-<id>_<rows>-<attempt>``
    for several), so a re-enqueued row is a new job.
    """
    conn = next(iter(queues.values())).connection
    groups: dict[tuple[str, str], list[Outbox]] = {}
    for r in rows:
        groups.setdefault((ob.QUEUE_OF.get(r.kind, "default"), r.kind), []).append(r)
    with conn.pipeline() as pipe:
        by_queue: dict[str, list] = {}
        for (qn, kind), group in groups.items():
            size = JOB_SIZE.get(kind, 1)
            for i in range(0, len(group), size):
                chunk = group[i:i + size]
                more = f"_{len(chunk)}" if len(chunk) > 1 else ""  # rq ids: letters, digits, _ and -
                by_queue.setdefault(qn, []).append(Queue.prepare_data(
                    run_outbox, ([r.id for r in chunk],), job_id=f"outbox-{chunk[0].id}{more}-{chunk[0].attempts + 1}",
                    retry=RETRY, result_ttl=300, failure_ttl=86400))
        for qn, datas in by_queue.items():
            queues[qn].enqueue_many(datas, pipeline=pipe)
        pipe.execute()
