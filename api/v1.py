"""A small JSON API over the ticket actions, for officers, until the console arrives.

Authentication: ``Authorization: Bearer <token>``; a token is bound to one posting
(``Posting.api_token_hash`` is its sha256; ``python -m tickets.seed --tokens`` issues them), and acts as
that posting does in the console: its scope and role come from :mod:`tickets.scope`, the one rule (a
station's SHO/EO sees that station's tickets, a CO/ACP their circle, SP/SSP/DCP/JCP/CP their district, the
IG and the 1 Number cell the whole zone; confidential complainants masked unless the posting's role is in
``confidential_viewer_roles``). A posting that has ended (a transfer), or has not started yet, makes its
token answer 401 ``token_revoked``; the officer's other postings never widen it.

Endpoints (all JSON):
``GET  /api/v1/tickets``                       open tickets in scope (``?status=``, ``?due_before=``)
``GET  /api/v1/tickets/<ref>``                 one ticket with its timeline
``POST /api/v1/tickets/<ref>/assign``          ``{"posting_id": 12}``
``POST /api/v1/tickets/<ref>/notes``           ``{"text": "...", "attachment_ids": []}``
``POST /api/v1/tickets/<ref>/reroute``         ``{"station": "KNP-KOTWALI", "reason": "..."}``
``POST /api/v1/tickets/<ref>/dispose``         ``{"outcome": "fir", "number": "123/2025", "note": ""}``
``POST /api/v1/tickets/<ref>/reopen``          ``{"reason": ""}``
``POST /api/v1/tickets/<ref>/close``
``POST /api/v1/tickets/<ref>/merge``           ``{"into": "KNP-XXXXXX"}``
A refused action answers 409 (400 for bad input) with ``{"error": code, "message": ...}``; an action the
officer's roles may not take (the console's rule: an EO disposes and notes, re-routing etc. are supervisors')
answers 403 ``forbidden``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from models import MAX_ID, Complaint, Event, Posting, db, utcnow
from tickets import actions
from tickets.scope import (
    MASK,
    access,
    actor_roles,
    complaint_filter,
    disposers,
    load_ticket,
    posting_is_active,
    scope_of,
    supervisors,
)
from tickets.stats import OPEN
from zone import get_zone

bp = Blueprint("routing_api", __name__, url_prefix="/api/v1")
BAD_INPUT = {"bad_outcome", "number_required", "empty", "bad_attachment", "unknown_station", "no_posting", "same"}


def _err(status: int, code: str, message: str):
    return jsonify({"error": code, "message": message}), status


def rate_limited(who: str):
    """429 with Retry-After when ``who`` is over ``limits.api_per_minute`` this minute, else None."""
    from tasks.flood import over_limit, retry_after

    if not over_limit(f"api:{who}", get_zone().limits.api_per_minute):
        return None
    body, status = _err(429, "rate_limited", "too many requests this minute; wait and try again")
    return body, status, {"Retry-After": str(retry_after())}


@bp.before_request
def _auth():
    h = request.headers.get("Authorization", "")
    if not h.startswith("Bearer ") or len(h) < 12:
        return rate_limited(f"ip:{request.remote_addr}") or _err(401, "unauthorized", "a bearer token is required")
    digest = hashlib.sha256(h[7:].strip().encode()).hexdigest()
    limited = rate_limited(f"token:{digest[:16]}")
    if limited:
        return limited
    with db.session() as s:
        p = s.scalar(select(Posting).where(Posting.api_token_hash == digest))
        if p is None or not p.officer.active:
            return rate_limited(f"ip:{request.remote_addr}") or _err(401, "unauthorized", "unknown token")
        if p.api_token_expires_at is not None and p.api_token_expires_at <= utcnow():
            return _err(401, "token_expired", "this token has expired; ask the 1 Number cell for a new one")
        if not posting_is_active(p):
            return _err(401, "token_revoked", "this token's posting has ended or not begun; ask for a new token")
        g.scope = scope_of(s, p)
        g.officer_id = p.officer_id
    return None


def _ticket_json(s, c: Complaint, full: bool = False) -> dict:
    masked = access(s, g.scope, c).masked
    d = {"ref": c.ref, "status": c.status, "category": c.category, "district": c.district,
         "station": c.station.code if c.station else None, "emergency": c.emergency, "confidential": c.confidential,
         "needs_reroute": c.needs_reroute, "registered_at": c.registered_at.isoformat(),
         "due_at": c.due_at.isoformat() if c.due_at else None, "escalation_level": c.escalation_level,
         "assigned_posting_id": c.assigned_posting_id, "outcome": c.outcome, "outcome_number": c.outcome_number,
         "complainant_name": MASK if masked else c.complainant_name, "phone": MASK if masked else c.phone,
         "identity_masked": masked}
    if full:
        d["description"] = MASK if masked else c.description
        d["place"] = MASK if masked else c.place
    return d


def _load(s, ref: str) -> Complaint | None:
    return load_ticket(s, g.scope, str(ref))


def _zoned_time(name: str) -> datetime:
    """An ISO time with a zone from the query string, as UTC; ValueError (→ 400 naming it) otherwise."""
    t = datetime.fromisoformat(request.args[name])
    if t.tzinfo is None:  # a UTC column: a time without a zone is ambiguous (was a 500)
        raise ValueError
    try:
        return t.astimezone(UTC)  # 0001-01-01T00:00Z-style extremes overflow here (were a 500)
    except OverflowError as exc:
        raise ValueError from exc


@bp.get("/tickets")
def list_tickets():
    with db.session() as s:
        q = select(Complaint).order_by(Complaint.due_at).limit(200)
        if request.args.get("status"):
            q = q.where(Complaint.status == request.args["status"])
        else:  # open ones: disposed tickets (earliest due first) used to fill the 200 rows
            q = q.where(Complaint.status.in_(OPEN))
        if request.args.get("due_before"):
            try:
                q = q.where(Complaint.due_at <= _zoned_time("due_before"))
            except ValueError:
                return _err(400, "bad_input", "due_before must be an ISO time with a zone, between years 1 and 9999")
        q = q.where(complaint_filter(g.scope))
        return jsonify({"tickets": [_ticket_json(s, c) for c in s.scalars(q)], "now": utcnow().isoformat()})


@bp.get("/tickets/<ref>")
def show_ticket(ref: str):
    with db.session() as s:
        c = _load(s, ref)
        if c is None:
            return _err(404, "not_found", "no such ticket in your scope")
        evs = s.scalars(select(Event).where(Event.complaint_id == c.id).order_by(Event.id))
        d = _ticket_json(s, c, full=True)
        d["events"] = [{"at": e.at.isoformat(), "actor": e.actor, "kind": e.kind, "data": e.data} for e in evs]
        actions.event(s, c, "viewed", f"officer:{g.officer_id}", via="api")  # every view by an officer is audited
        return jsonify(d)


class BadField(ValueError):
    """A request body field of the wrong type or out of range: a 400 naming ``field``."""

    def __init__(self, field: str, want: str) -> None:
        super().__init__(f"{field} must be {want}")
        self.field = field


def _body() -> dict:
    try:
        b = request.get_json(silent=True)
    except RecursionError:  # [[[[…]]]] fifty thousand deep
        raise BadField("body", "a JSON object nested at most a few hundred levels deep") from None
    if b is None and request.get_data():
        raise BadField("body", "a JSON object")
    if b is not None and not isinstance(b, dict):
        raise BadField("body", "a JSON object")
    return b or {}


def _id(value, field: str) -> int:
    """A database id from JSON: a whole number 1..2**53 (not a float, bool, string or 1e999)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise BadField(field, f"a whole number between 1 and {MAX_ID}")
    return value


def _text(b: dict, field: str, limit: int = 10000, required: bool = False) -> str:
    v = b.get(field)
    if v is None or v == "":
        if required:
            raise BadField(field, "given")
        return ""
    if not isinstance(v, str):
        raise BadField(field, "a string")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") is valid JSON but no text the database can keep
        raise BadField(field, "text (it holds an unpaired UTF-16 surrogate)") from None
    return v[:limit]


def _ids(b: dict, field: str) -> list[int]:
    v = b.get(field)
    if v is None:
        return []
    if not isinstance(v, list) or len(v) > 100:
        raise BadField(field, "a list of at most 100 ids")
    return [_id(i, field) for i in v]


ACTIONS = {
    "assign": lambda s, c, b, a: actions.assign(s, c, _id(b.get("posting_id"), "posting_id"), a),
    "notes": lambda s, c, b, a: actions.add_note(s, c, _text(b, "text"), a, _ids(b, "attachment_ids")),
    "reroute": lambda s, c, b, a: actions.reroute(s, c, _text(b, "station", 40, required=True), a,
                                                  _text(b, "reason", 500)),
    "dispose": lambda s, c, b, a: actions.dispose(s, c, _text(b, "outcome", 30, required=True), a,
                                                  _text(b, "number", 60) or None, _text(b, "note", 5000)),
    "reopen": lambda s, c, b, a: actions.reopen(s, c, a, _text(b, "reason", 500)),
    "close": lambda s, c, b, a: actions.close(s, c, a),
}


@bp.post("/tickets/<ref>/<action>")
def act(ref: str, action: str):
    if action not in ACTIONS and action != "merge":
        return _err(404, "not_found", "no such action")
    allowed = actor_roles() if action == "notes" else disposers() if action == "dispose" else supervisors()
    if g.scope.role not in allowed:
        return _err(403, "forbidden", "your posting's role may not do this")
    actor = g.scope.actor
    try:
        body = _body()
    except BadField as exc:
        return _bad(exc)
    with db.session() as s:
        c = _load(s, ref)
        if c is None:
            return _err(404, "not_found", "no such ticket in your scope")
        try:
            if action == "merge":
                into = _load(s, _text(body, "into", 16, required=True))
                if into is None:
                    return _err(400, "not_found", "no such target ticket in your scope")
                actions.merge(s, c, into, actor)
            else:
                ACTIONS[action](s, c, body, actor)
        except BadField as exc:
            return _bad(exc)
        except actions.ActionError as exc:
            s.commit()  # keep the refusal's Event in the timeline
            return _err(400 if exc.code in BAD_INPUT else 409, exc.code, exc.message)
        s.flush()
        return jsonify(_ticket_json(s, c))


def _bad(exc: BadField):
    return jsonify({"error": "bad_input", "field": exc.field, "message": str(exc)}), 400
