"""A small JSON API over the ticket actions, for officers, until the console arrives.

Authentication: ``Authorization: Bearer <token>``; ``Officer.api_token_hash`` is the token's sha256
(``python -m routing.seed --tokens`` issues them). What an officer may see follows from their current
postings: a station's SHO/EO sees that station's tickets, a CO/ACP their circle, SP/SSP/DCP/JCP/CP their
district, the IG and the 1 Number cell (``cell``, ``admin``) the whole zone. Confidential complainants
are masked unless one of the officer's roles is in ``confidential_viewer_roles``.

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
from datetime import datetime

from flask import Blueprint, g, jsonify, request
from sqlalchemy import or_, select

from console.aggregates import OPEN
from models import Complaint, Event, Officer, Posting, Station, db, utcnow
from routing import actions
from zone import get_zone

bp = Blueprint("routing_api", __name__, url_prefix="/api/v1")
ZONE_WIDE = {"cell", "admin", "ig_zone"}
BAD_INPUT = {"bad_outcome", "number_required", "empty", "bad_attachment", "unknown_station", "no_posting", "same"}


def _err(status: int, code: str, message: str):
    return jsonify({"error": code, "message": message}), status


def rate_limited(who: str):
    """429 with Retry-After when ``who`` is over ``limits.api_per_minute`` this minute, else None."""
    from channels.flood import over_limit, retry_after

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
        o = s.scalar(select(Officer).where(Officer.api_token_hash == digest, Officer.active.is_(True)))
        if o is None:
            return rate_limited(f"ip:{request.remote_addr}") or _err(401, "unauthorized", "unknown token")
        if o.api_token_expires_at is not None and o.api_token_expires_at <= utcnow():
            return _err(401, "token_expired", "this token has expired; ask the 1 Number cell for a new one")
        posts = list(s.scalars(select(Posting).where(Posting.officer_id == o.id, Posting.ended_at.is_(None))))
        g.officer_id = o.id
        g.roles = {p.role for p in posts}
        g.scopes = [(p.role, p.station_id, p.circle, p.district) for p in posts]
    return None


def _scope_filter():
    """A WHERE clause limiting tickets to the officer's postings (None: zone-wide)."""
    if g.roles & ZONE_WIDE:
        return None
    conds = []
    for _role, st_id, circle, district in g.scopes:
        if st_id is not None:
            conds.append(Complaint.station_id == st_id)
        elif circle:
            ids = select(Station.id).where(Station.circle == circle, Station.district == district)
            conds.append(Complaint.station_id.in_(ids))
        elif district:
            conds.append(Complaint.district == district)
    return or_(*conds) if conds else Complaint.id.is_(None)


def _may_see_identity(c: Complaint) -> bool:
    return not c.confidential or bool(g.roles & set(get_zone().confidential_viewer_roles))


def _ticket_json(c: Complaint, full: bool = False) -> dict:
    ident = _may_see_identity(c)
    d = {"ref": c.ref, "status": c.status, "category": c.category, "district": c.district,
         "station": c.station.code if c.station else None, "emergency": c.emergency, "confidential": c.confidential,
         "needs_reroute": c.needs_reroute, "registered_at": c.registered_at.isoformat(),
         "due_at": c.due_at.isoformat() if c.due_at else None, "escalation_level": c.escalation_level,
         "assigned_posting_id": c.assigned_posting_id, "outcome": c.outcome, "outcome_number": c.outcome_number,
         "complainant_name": c.complainant_name if ident else "•••", "phone": c.phone if ident else "•••"}
    if full:
        d["description"] = c.description
        d["place"] = c.place
    return d


def _load(s, ref: str) -> Complaint | None:
    q = select(Complaint).where(Complaint.ref == ref.strip().upper())
    f = _scope_filter()
    if f is not None:
        q = q.where(f)
    return s.scalar(q)


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
                due_before = datetime.fromisoformat(request.args["due_before"])
                if due_before.tzinfo is None:  # a UTC column: a time without a zone is ambiguous (was a 500)
                    raise ValueError
                q = q.where(Complaint.due_at <= due_before)
            except ValueError:
                return _err(400, "bad_input", "due_before must be an ISO time with a zone")
        f = _scope_filter()
        if f is not None:
            q = q.where(f)
        return jsonify({"tickets": [_ticket_json(c) for c in s.scalars(q)], "now": utcnow().isoformat()})


@bp.get("/tickets/<ref>")
def show_ticket(ref: str):
    with db.session() as s:
        c = _load(s, ref)
        if c is None:
            return _err(404, "not_found", "no such ticket in your scope")
        evs = s.scalars(select(Event).where(Event.complaint_id == c.id).order_by(Event.id))
        d = _ticket_json(c, full=_may_see_identity(c))
        d["events"] = [{"at": e.at.isoformat(), "actor": e.actor, "kind": e.kind, "data": e.data} for e in evs]
        actions.event(s, c, "viewed", f"officer:{g.officer_id}", via="api")  # every view by an officer is audited
        return jsonify(d)


def _body() -> dict:
    return request.get_json(silent=True) or {}


ACTIONS = {
    "assign": lambda s, c, b, a: actions.assign(s, c, int(b.get("posting_id") or 0), a),
    "notes": lambda s, c, b, a: actions.add_note(s, c, str(b.get("text") or ""), a,
                                                 list(b.get("attachment_ids") or [])),
    "reroute": lambda s, c, b, a: actions.reroute(s, c, str(b.get("station") or ""), a, str(b.get("reason") or "")),
    "dispose": lambda s, c, b, a: actions.dispose(s, c, str(b.get("outcome") or ""), a, b.get("number"),
                                                  str(b.get("note") or "")),
    "reopen": lambda s, c, b, a: actions.reopen(s, c, a, str(b.get("reason") or "")),
    "close": lambda s, c, b, a: actions.close(s, c, a),
}


@bp.post("/tickets/<ref>/<action>")
def act(ref: str, action: str):
    if action not in ACTIONS and action != "merge":
        return _err(404, "not_found", "no such action")
    from console.views import actor_roles, disposers, supervisors  # the console's rule, one definition

    allowed = actor_roles() if action == "notes" else disposers() if action == "dispose" else supervisors()
    if not g.roles & set(allowed):
        return _err(403, "forbidden", "your posting's role may not do this")
    actor = f"officer:{g.officer_id}"
    body = _body()
    with db.session() as s:
        c = _load(s, ref)
        if c is None:
            return _err(404, "not_found", "no such ticket in your scope")
        try:
            if action == "merge":
                into = _load(s, str(body.get("into") or ""))
                if into is None:
                    return _err(400, "not_found", "no such target ticket in your scope")
                actions.merge(s, c, into, actor)
            else:
                ACTIONS[action](s, c, body, actor)
        except (ValueError, TypeError):
            return _err(400, "bad_input", "malformed request body")
        except actions.ActionError as exc:
            s.commit()  # keep the refusal's Event in the timeline
            return _err(400 if exc.code in BAD_INPUT else 409, exc.code, exc.message)
        s.flush()
        return jsonify(_ticket_json(c))
