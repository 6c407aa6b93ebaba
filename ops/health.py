"""Liveness, readiness and Prometheus metrics.

``/healthz`` and ``/readyz`` are public and name no host, PID or version: a load balancer or an outside
monitor needs only the states. ``Authorization: Bearer $BHAROSA_HEALTH_TOKEN`` adds them to /healthz
and opens ``/metrics`` (whose series name each worker loop by host and PID). Without the token set,
/metrics answers only loopback callers in dev mode, and refuses everyone in production.
"""

from __future__ import annotations

import hmac
import os
import platform
import socket
import time
from importlib import metadata

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import func, select

from channels import twilio as tw
from models import Complaint, Outbox, WorkerState, db, utcnow
from tasks.queue import get_redis, queues
from zone import settings

bp = Blueprint("health", __name__)
STARTED = time.time()
# Worker loops older than this are reported stale (the rq worker beats every 5 s, the relay every second).
STALE_AFTER_S = 30
TOKEN_ENV = "BHAROSA_HEALTH_TOKEN"  # noqa: S105 - the variable's name, not a token


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


def _sweeper_late_after() -> float:
    """The sweeper beats once per sweep: late after three missed sweeps (and never sooner than the others)."""
    from zone import get_zone

    return max(STALE_AFTER_S, 3 * get_zone().sla.sweep_interval_seconds)


def _loops() -> dict:
    """Every loop's heartbeat: name -> age, state and what it reported (host, PID); {} without a database."""
    out: dict = {}
    try:
        with db.session() as s:
            now = utcnow()
            for w in s.scalars(select(WorkerState)):
                age = (now - w.beat_at).total_seconds()
                limit = _sweeper_late_after() if w.name == "sweeper" else STALE_AFTER_S
                out[w.name] = {"last_beat": w.beat_at.isoformat(), "age_s": round(age, 1),
                               "state": "ok" if age < limit else "stale", **(w.info or {})}
    except Exception:
        return {}
    return out


def token_ok() -> bool:
    """True when the request carries ``Authorization: Bearer $BHAROSA_HEALTH_TOKEN`` (compared in constant time)."""
    expected = settings.get().health_token or ""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for dist in ("bharosa", "flask", "sqlalchemy", "rq", "redis", "twilio", "gunicorn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _public(loop: dict | None) -> dict | str:
    return {"state": loop["state"], "age_s": loop["age_s"]} if loop else "not seen"


@bp.get("/healthz")
def healthz():
    """Liveness: 200 while this process serves.

    ``status`` is ``ok`` only when the database, Redis, a worker, the relay and the sweeper are all well, else
    ``degraded``. Host names, PIDs and versions (``detail``) only with the health token.
    """
    loops = _loops()
    workers = [v for k, v in loops.items() if k.startswith("worker")]
    alive = sum(1 for w in workers if w["state"] == "ok")
    body = {
        "database": _check_db(),
        "redis": _check_redis(),
        "worker": {"state": "ok" if alive else "stale", "alive": alive, "stale": len(workers) - alive}
        if workers else "not seen",
        "relay": _public(loops.get("relay")),
        "sweeper": _public(loops.get("sweeper")),
        "uptime_s": round(time.time() - STARTED),
    }
    well = (body["database"] == "ok" and body["redis"] == "ok" and alive > 0
            and all(isinstance(body[k], dict) and body[k]["state"] == "ok" for k in ("relay", "sweeper")))
    body = {"status": "ok" if well else "degraded", **body}
    if token_ok():
        body["detail"] = {"host": socket.gethostname(), "node": settings.get().node,
                          "pid": os.getpid(), "versions": _versions(), "loops": loops}
    return jsonify(body)


@bp.get("/readyz")
def readyz():
    """503 while the database or Redis cannot be reached."""
    d, r = _check_db(), _check_redis()
    ok = d == "ok" and r == "ok"
    return jsonify({"ready": ok, "database": d, "redis": r}), (200 if ok else 503)


@bp.get("/metrics")
def metrics():
    """Prometheus text format: tickets, outbox, queues and worker heartbeats, only with the health token.

    Without ``BHAROSA_HEALTH_TOKEN`` set, only loopback callers in dev mode; 401 otherwise, saying what to set.
    """
    if not token_ok():
        if not settings.get().health_token:
            if tw.is_dev() and tw.from_loopback(request):
                return _metrics()
            why = f"/metrics needs a bearer token: set {TOKEN_ENV} and scrape with Authorization: Bearer <it>"
        else:
            why = f"/metrics needs Authorization: Bearer ${TOKEN_ENV}"
        return Response(why + "\n", status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="bharosa-metrics"'})
    return _metrics()


def _metrics() -> Response:
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
