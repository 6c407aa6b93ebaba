"""The transactional outbox: work rows written with their data, relayed to rq by the worker."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models import Outbox, utcnow

log = logging.getLogger(__name__)

# Which rq queue each kind of work goes to; slow media work has its own.
QUEUE_OF = {"media": "media", "transcribe": "media", "video": "media", "recording": "media"}
# A row enqueued but not done after this long is enqueued again (its job was lost).
REDELIVER_AFTER = timedelta(seconds=60)
# Rows one relay pass claims and hands to rq (a full pass is followed by another at once).
RELAY_LIMIT = 1000
# A row handed to rq this many times without finishing is given up and shows as failed.
MAX_ATTEMPTS = 20


def add(session: Session, key: str, kind: str, payload: dict[str, Any]) -> None:
    """Write a unit of work in the caller's transaction; a second write of the same key is ignored."""
    values = {"key": key, "kind": kind, "payload": payload, "status": "pending", "created_at": utcnow()}
    dialect = session.get_bind().dialect.name
    ins = pg_insert(Outbox) if dialect == "postgresql" else sqlite_insert(Outbox)
    session.execute(ins.values(**values).on_conflict_do_nothing(index_elements=["key"]))


def claim_for_relay(session: Session, now: datetime, limit: int = RELAY_LIMIT) -> list[Outbox]:
    """Rows to (re-)enqueue: pending ones, and enqueued ones whose job seems lost."""
    q = (select(Outbox)
         .where(or_(Outbox.status == "pending",
                    (Outbox.status.in_(("enqueued", "sending"))) & (Outbox.enqueued_at < now - REDELIVER_AFTER)))
         .order_by(Outbox.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return list(session.scalars(q))


def relay_once(session: Session, enqueue: Callable[[list[Outbox]], None] | Callable[[Outbox], None],
               now: datetime | None = None, *, batch: bool = False) -> int:
    """Enqueue due outbox rows; returns how many were handed over.

    Args:
        session: a session of its own (this commits).
        enqueue: hands rows to rq — one row at a time, or (``batch=True``) the whole list at once, so
            the caller can pipeline them and group small jobs.
        now: the relay's clock.
        batch: call ``enqueue`` once with every row.

    Rows tried ``MAX_ATTEMPTS`` times are given up (status ``failed``), not re-enqueued forever.
    """
    now = now or utcnow()
    rows = claim_for_relay(session, now)
    spent = [r.id for r in rows if r.attempts >= MAX_ATTEMPTS]
    if spent:
        session.execute(update(Outbox).where(Outbox.id.in_(spent)).values(
            status="failed", done_at=now, last_error=f"gave up after {MAX_ATTEMPTS} deliveries to the queue")
            .execution_options(synchronize_session=False))
    rows = [r for r in rows if r.attempts < MAX_ATTEMPTS]
    handed: list[Outbox] = []
    try:
        if batch:
            if rows:
                enqueue(rows)
            handed = rows
        else:
            for row in rows:
                enqueue(row)
                handed.append(row)
    except Exception:  # Redis down: leave the rest for the next pass
        log.warning("relay: could not enqueue outbox rows", exc_info=True)
        if batch:
            handed = []
    if handed:
        ids = [r.id for r in handed]
        session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(
            status=case((Outbox.status == "pending", "enqueued"), else_=Outbox.status),
            enqueued_at=now, attempts=Outbox.attempts + 1)
            .execution_options(synchronize_session=False))  # the loaded rows are not used again: skip syncing them
    session.commit()
    return len(handed)


def mark_done(session: Session, outbox_id: int, provider_id: str | None = None) -> None:
    session.execute(update(Outbox).where(Outbox.id == outbox_id)
                    .values(status="done", done_at=utcnow(), provider_id=provider_id))


def mark_done_many(session: Session, outbox_ids: list[int]) -> None:
    """Mark many rows done in one statement (a batch job's rows)."""
    if outbox_ids:
        session.execute(update(Outbox).where(Outbox.id.in_(outbox_ids))
                        .values(status="done", done_at=utcnow(), provider_id=None))


def mark_failed(session: Session, outbox_id: int, error: str) -> None:
    session.execute(update(Outbox).where(Outbox.id == outbox_id)
                    .values(status="failed", done_at=utcnow(), last_error=error[:500]))


_ADD_MANY: dict = {}


def add_many(session: Session, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Write many units of work (key, kind, payload) in one round trip; keys already present are ignored."""
    if not rows:
        return
    now = utcnow()
    dialect = session.get_bind().dialect.name
    if dialect not in _ADD_MANY:  # built once: a statement per call would be compiled per call
        ins = pg_insert(Outbox.__table__) if dialect == "postgresql" else sqlite_insert(Outbox.__table__)
        _ADD_MANY[dialect] = ins.on_conflict_do_nothing(index_elements=["key"])
    values = [{"key": k, "kind": kind, "payload": p, "status": "pending", "created_at": now, "attempts": 0}
              for k, kind, p in rows]
    session.execute(_ADD_MANY[dialect], values)
