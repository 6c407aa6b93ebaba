"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify
from sqlalchemy import func, select

from models import Complaint, Outbox, WorkerState, db, utcnow
from routing.queue import get_redis, queues

bp = Blueprint("health", __name__)
STARTED = time.time()
# Worker loops older than this are reported stale.
STALE_AFTER_S = 30


def _check_db() -> str:
    try:
        db.ping()
        return "ok"
    except Exception as exc:
        return f"down: {type(exc).__name__}"


def _check_redis() -> str:
    try:
        get_redis().ping()
        return "ok"
    except Exception as exc:
        return f"down: {type(exc).__name__}"


def _loops() -> dict:
    out: dict = {}
    try:
        with db.session() as s:
            now = utcnow()
            for w in s.scalars(select(WorkerState)):
                age = (now - w.beat_at).total_seconds()
                out[w.name] = {"last_beat": w.beat_at.isoformat(), "age_s": round(age, 1),
                               "state": "ok" if age < STALE_AFTER_S else "stale", **(w.info or {})}
    except Exception:
        return {}
    return out


@bp.get("/healthz")
def healthz():
    """200 while this process serves; the body reports database, Redis, worker and sweeper state."""
    loops = _loops()
    body = {
        "status": "ok",
        "database": _check_db(),
        "redis": _check_redis(),
        "worker": {k: v for k, v in loops.items() if k.startswith("worker")} or "not seen",
        "relay": loops.get("relay", "not seen"),
        "sweeper": loops.get("sweeper", "not seen"),
        "uptime_s": round(time.time() - STARTED),
    }
    return jsonify(body)


@bp.get("/readyz")
def readyz():
    """503 while the database or Redis cannot be reached."""
    d, r = _check_db(), _check_redis()
    ok = d == "ok" and r == "ok"
    return jsonify({"ready": ok, "database": d, "redis": r}), (200 if ok else 503)


@bp.get("/metrics")
def metrics():
    """Prometheus text format: tickets, outbox, queues and worker heartbeats."""
    lines: list[str] = []

    def gauge(name: str, help_: str, samples: list[tuple[dict, float]]) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} gauge")
        for labels, v in samples:
            lab = ",".join(f'{k}="{val}"' for k, val in labels.items())
            lines.append(f"{name}{{{lab}}} {v}" if lab else f"{name} {v}")

    gauge("bharosa_up", "1 while the web process serves", [({}, 1)])
    try:
        with db.session() as s:
            now = utcnow()
            rows = s.execute(select(Complaint.status, func.count()).group_by(Complaint.status)).all()
            gauge("bharosa_complaints", "tickets by status", [({"status": st}, n) for st, n in rows])
            overdue = s.scalar(select(func.count()).select_from(Complaint).where(
                Complaint.due_at < now, Complaint.status.in_(("received", "routed", "assigned"))))
            gauge("bharosa_complaints_overdue", "open tickets past their deadline", [({}, overdue or 0)])
            rows = s.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all()
            gauge("bharosa_outbox", "outbox rows by status", [({"status": st}, n) for st, n in rows])
            ws = list(s.scalars(select(WorkerState)))
            gauge("bharosa_loop_heartbeat_age_seconds", "seconds since each worker loop beat",
                  [({"loop": w.name}, round((now - w.beat_at).total_seconds(), 1)) for w in ws])
        gauge("bharosa_database_up", "database reachable", [({}, 1)])
    except Exception:
        gauge("bharosa_database_up", "database reachable", [({}, 0)])
    try:
        gauge("bharosa_queue_length", "jobs waiting in rq", [({"queue": n}, q.count) for n, q in queues().items()])
        gauge("bharosa_redis_up", "redis reachable", [({}, 1)])
    except Exception:
        gauge("bharosa_redis_up", "redis reachable", [({}, 0)])
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
