"""Open311 GeoReport v2 at /open311/v2/: discovery, services (the categories), requests (GET with
filters; POST with an api_key files a complaint that routes like any other), request by id; JSON
and XML as the spec says (http://wiki.open311.org/GeoReport_v2).

What is published goes through the one scope rule, :data:`tickets.scope.PUBLIC`: a confidential ticket
never appears (not listed, not by id: 404), with or without a key, and an identity is always masked.
Without an api_key a request shows its category, status, station, dates and a location rounded to about a
kilometre: no description and no address (the citizen's own words name people). A client with a valid
api_key also gets the description, the address and the exact location, with names and numbers taken out
(:func:`tickets.textsafe.redact`: the complainant's name, self-introductions, phone/Aadhaar/account
numbers, e-mail addresses and vehicle registration numbers). The rate limit counts per verified key, and
per client address for everything else (a made-up key is no key).
"""

from __future__ import annotations

import hashlib
import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from dateutil import parser as dtparser
from flask import Blueprint, Response, abort, g, jsonify, request, url_for
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from bot.types import ComplaintDraft
from models import Citizen, Complaint, Station, db, utcnow
from models.tables import ApiKey
from tickets import actions
from tickets.scope import PUBLIC, access, complaint_filter
from tickets.textsafe import clean_text, redact, strip_controls
from zone import get_zone, phones

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")
FORMATS = {"json": "application/json", "xml": "text/xml"}
MAX_REQUESTS = 1000  # the largest page (page_size), and the default one
MAX_PAGE = 100_000
DEFAULT_DAYS = 90
# Dates a client may ask about: wide enough for any real query, narrow enough that no arithmetic overflows.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
CLOSED = ("disposed", "closed")
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ID_RX = re.compile(r"[A-Z]{3}-[A-Z0-9]{6}")


# -- rendering ---------------------------------------------------------------------------------
def _xml_text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return _XML_BAD.sub("", "" if v is None else str(v))


def _to_xml(root: str, item: str, rows: list[dict]) -> bytes:
    top = ET.Element(root)
    for r in rows:
        el = ET.SubElement(top, item)
        for k, v in r.items():
            child = ET.SubElement(el, k)
            if isinstance(v, list):
                for x in v:
                    sub = ET.SubElement(child, k[:-1] if k.endswith("s") else "item")
                    if isinstance(x, dict):
                        for kk, vv in x.items():
                            ET.SubElement(sub, kk).text = _xml_text(vv)
                    else:
                        sub.text = _xml_text(x)
            else:
                child.text = _xml_text(v)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8")


def _respond(fmt: str, root: str, item: str, rows: list[dict], status: int = 200, single: bool = False):
    if fmt == "xml":
        return Response(_to_xml(root, item, rows), status=status, mimetype="text/xml")
    resp = jsonify(rows[0] if single else rows)
    resp.status_code = status
    return resp


def _fmt() -> str:
    fmt = (request.view_args or {}).get("fmt") or request.path.rsplit(".", 1)[-1]
    return fmt if fmt in FORMATS else "json"


@bp.errorhandler(HTTPException)
def _error(exc: HTTPException):
    """Errors as the spec writes them: a list of {code, description}."""
    resp = _respond(_fmt(), "errors", "error", [{"code": exc.code, "description": exc.description or exc.name}],
                    status=exc.code)
    if exc.code == 429:
        from tasks.flood import retry_after

        resp.headers["Retry-After"] = str(retry_after())
    return resp


@bp.before_request
def _rate_limit():
    """``limits.api_per_minute`` per api_key, or per address for requests without one; then 429."""
    from tasks.flood import over_limit

    kid = _key_id()  # a made-up key is no key: counted by address, so a fresh one resets nothing
    who = f"key:{kid}" if kid is not None else f"ip:{request.remote_addr}"
    if over_limit(f"open311:{who}", get_zone().limits.api_per_minute):
        abort(429, "too many requests this minute; wait and try again")


def _check_fmt(fmt: str) -> None:
    if fmt not in FORMATS:
        abort(404, "format must be json or xml")


def _check_jurisdiction() -> None:
    j = request.values.get("jurisdiction_id")
    if j and j != get_zone().zone.key:
        abort(404, f"unknown jurisdiction_id; this endpoint serves '{get_zone().zone.key}'")


def _key_id() -> int | None:
    """The id of the active api_key this request carries, else None (looked up once a request)."""
    if "open311_key" not in g:
        key = request.values.get("api_key") or ""
        kid = None
        if key and len(key) <= 200:
            digest = hashlib.sha256(key.encode()).hexdigest()
            with db.session() as s:
                kid = s.scalar(select(ApiKey.id).where(ApiKey.key_hash == digest, ApiKey.active))
        g.open311_key = kid
    return g.open311_key


def api_key_ok(session=None) -> bool:
    """Whether the request carries an active api_key."""
    return _key_id() is not None


def _keyed_or_403() -> bool:
    """Whether the request is keyed; a key that is given but not valid is a 403, not a public read."""
    keyed = api_key_ok()
    if request.values.get("api_key") and not keyed:
        abort(403, "api_key is invalid")
    return keyed


def new_api_key(session, name: str) -> str:
    """Create an api key for a client; returns the key (shown once, only its hash is kept)."""
    import secrets

    key = secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, key_hash=hashlib.sha256(key.encode()).hexdigest()))
    return key


# -- discovery and services --------------------------------------------------------------------
@bp.get("/discovery.<fmt>")
def discovery(fmt: str):
    _check_fmt(fmt)
    base = request.url_root.rstrip("/") + "/open311/v2/"
    body = {"changeset": "2025-01-01T00:00:00Z", "contact": f"{get_zone().zone.name_en} police, helpline "
            f"{get_zone().zone.helpline_number}", "key_service": "Ask the zone's 1 Number cell for an api_key.",
            "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
                           "changeset": "2025-01-01T00:00:00Z", "type": "production",
                           "formats": list(FORMATS.values())}]}
    if fmt == "xml":
        top = ET.Element("discovery")
        for k in ("changeset", "contact", "key_service"):
            ET.SubElement(top, k).text = body[k]
        eps = ET.SubElement(top, "endpoints")
        for e in body["endpoints"]:
            ep = ET.SubElement(eps, "endpoint")
            for k in ("specification", "url", "changeset", "type"):
                ET.SubElement(ep, k).text = e[k]
            fm = ET.SubElement(ep, "formats")
            for f in e["formats"]:
                ET.SubElement(fm, "format").text = f
        return Response(b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8"),
                        mimetype="text/xml")
    return jsonify(body)


def _service(cat) -> dict:
    return {"service_code": cat.key, "service_name": cat.name_en,
            "description": f"{cat.name_en} / {cat.name_hi}" + (" (cognizable)" if cat.cognizable else ""),
            "metadata": False, "type": "realtime", "keywords": ", ".join(cat.keywords[:12]),
            "group": "confidential" if cat.confidential else "police"}


@bp.get("/services.<fmt>")
def services(fmt: str):
    _check_fmt(fmt)
    _check_jurisdiction()
    return _respond(fmt, "services", "service", [_service(c) for c in get_zone().categories])


@bp.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str):
    _check_fmt(fmt)
    if code not in get_zone().category_by_key:
        abort(404, "unknown service_code")
    body = {"service_code": code, "attributes": []}
    if fmt == "xml":
        top = ET.Element("service_definition")
        ET.SubElement(top, "service_code").text = code
        ET.SubElement(top, "attributes")
        return Response(b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8"),
                        mimetype="text/xml")
    return jsonify(body)


# -- requests ----------------------------------------------------------------------------------
def _redacted(text: str | None, names: tuple[str | None, ...]) -> str:
    out = redact(strip_controls(text), names[0] if names else None, vehicles=True)
    for n in names[1:]:
        if n:
            out = redact(out, n)
    return out


def request_row(c: Complaint, stations: dict, keyed: bool, names: tuple[str | None, ...] = ()) -> dict:
    """One ticket as a GeoReport v2 service request (see the module docstring for what each client sees).

    Args:
        c: a ticket :func:`tickets.scope.access` lets :data:`~tickets.scope.PUBLIC` see.
        stations: stations by id.
        keyed: the client has a valid api_key.
        names: the complainant's names as known (the ticket's, the citizen's), redacted wherever they appear.
    """
    z = get_zone()
    cat = z.category_by_key.get(c.category)
    st = stations.get(c.station_id)
    closed = c.status in CLOSED or c.merged_into_id is not None
    outcome = z.outcomes.get(c.outcome or "")
    names = (c.complainant_name, *names)
    desc = _redacted(c.description, names) if keyed else ""
    lat, lon = c.lat, c.lon
    if lat is not None and lon is not None and not keyed:  # about a kilometre: where, not whose door
        lat, lon = round(lat, 2), round(lon, 2)
    return {
        "service_request_id": c.ref, "status": "closed" if closed else "open",
        "status_notes": (outcome.en + (f" {c.outcome_number}" if c.outcome_number else "")) if outcome else c.status,
        "service_name": cat.name_en if cat else "Unknown", "service_code": c.category, "description": desc,
        "agency_responsible": st.name_en if st else "", "service_notice": "",
        "requested_datetime": c.registered_at.isoformat(), "updated_datetime": c.updated_at.isoformat(),
        "expected_datetime": c.due_at.isoformat() if c.due_at else "",
        "address": _redacted(c.place, names) if keyed else "", "address_id": "", "zipcode": "",
        "lat": lat if lat is not None else "", "long": lon if lon is not None else "", "media_url": "",
    }


def _parse_dt(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        dt = dtparser.isoparse(raw)
        dt = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)  # 9999-12-31T23:59:59-14:00 overflows
    except (ValueError, OverflowError):
        abort(400, f"{name} must be a w3c date-time such as 2025-01-31T18:00:00Z")
    if not EARLIEST <= dt < LATEST:
        abort(400, f"{name} must be between {EARLIEST.year} and {LATEST.year}")
    return dt


def _whole(name: str, default: int, hi: int) -> int:
    raw = request.args.get(name) or str(default)
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= hi:
        abort(400, f"{name} must be a whole number from 1 to {hi}")
    return int(raw)


def _names(s, cs: list[Complaint]) -> dict[int, str]:
    ids = {c.citizen_id for c in cs if c.citizen_id is not None}
    if not ids:
        return {}
    return {i: n for i, n in s.execute(select(Citizen.id, Citizen.name).where(Citizen.id.in_(ids))) if n}


@bp.get("/requests.<fmt>")
def list_requests(fmt: str):
    """Service requests, newest first: by id list, service_code, start/end date (default the last 90 days), status."""
    _check_fmt(fmt)
    _check_jurisdiction()
    z = get_zone()
    where = [complaint_filter(PUBLIC)]  # the one rule: never a confidential ticket
    ids = request.args.get("service_request_id")
    if ids:
        refs = [r.strip().upper() for r in ids.split(",") if r.strip()][:MAX_REQUESTS]
        if not all(_ID_RX.fullmatch(r) for r in refs):
            abort(400, "service_request_id must be references such as KNP-7F3K9Q, separated by commas")
        where.append(Complaint.ref.in_(refs))
    else:
        start, end = _parse_dt("start_date"), _parse_dt("end_date")
        if start and end and end < start:
            abort(400, "end_date is before start_date")
        if start is None:
            start = (end or utcnow()) - timedelta(days=DEFAULT_DAYS)
        where.append(Complaint.registered_at >= start)
        if end is not None:
            where.append(Complaint.registered_at <= end)
        codes = [x.strip() for x in (request.args.get("service_code") or "").split(",") if x.strip()]
        for code in codes:
            if code not in z.category_by_key and code != "unknown":
                abort(400, f"unknown service_code '{code[:40]}'")
        if codes:
            where.append(Complaint.category.in_(codes))
        status = request.args.get("status")
        if status:
            wanted = {x.strip() for x in status.split(",")}
            if not wanted <= {"open", "closed"}:
                abort(400, "status must be open or closed")
            if wanted == {"open"}:
                where.append(Complaint.status.notin_(CLOSED) & Complaint.merged_into_id.is_(None))
            elif wanted == {"closed"}:
                where.append(Complaint.status.in_(CLOSED) | Complaint.merged_into_id.isnot(None))
    page, size = _whole("page", 1, MAX_PAGE), _whole("page_size", MAX_REQUESTS, MAX_REQUESTS)
    keyed = _keyed_or_403()
    with db.session() as s:
        cs = list(s.scalars(select(Complaint).where(*where).order_by(Complaint.registered_at.desc(), Complaint.id)
                            .offset((page - 1) * size).limit(size)))
        cs = [c for c in cs if access(None, PUBLIC, c).see]
        stations = {st.id: st for st in s.scalars(select(Station))}
        names = _names(s, cs) if keyed else {}
        rows = [request_row(c, stations, keyed, (names.get(c.citizen_id),)) for c in cs]
    return _respond(fmt, "service_requests", "request", rows)


@bp.get("/requests/<rid>.<fmt>")
def get_request(rid: str, fmt: str):
    _check_fmt(fmt)
    _check_jurisdiction()
    keyed = _keyed_or_403()
    ref = rid.strip().upper()
    with db.session() as s:
        c = s.scalar(select(Complaint).where(Complaint.ref == ref, complaint_filter(PUBLIC))) \
            if _ID_RX.fullmatch(ref) else None
        if not access(None, PUBLIC, c).see:  # confidential or missing: the same 404
            abort(404, "no service request with that id")
        stations = {st.id: st for st in s.scalars(select(Station))}
        names = _names(s, [c]) if keyed else {}
        row = request_row(c, stations, keyed, (names.get(c.citizen_id),))
    return _respond(fmt, "service_requests", "request", [row])


def _nearest_district(lat: float, lon: float) -> str | None:
    best, dist = None, math.inf
    for st in get_zone().stations:
        d = (st.lat - lat) ** 2 + ((st.lon - lon) * math.cos(math.radians(lat))) ** 2
        if d < dist:
            best, dist = st, d
    # Farther than ~60 km from every station: not in this zone.
    return best.district if best is not None and dist < 0.55 ** 2 else None


def _float(name: str, lo: float, hi: float) -> float | None:
    raw = request.form.get(name)
    if raw in (None, ""):
        return None
    try:
        v = float(raw)
    except ValueError:
        abort(400, f"{name} must be a number")
    if not (lo <= v <= hi) or math.isnan(v):
        abort(400, f"{name} is out of range")
    return v


@bp.post("/requests.<fmt>")
def create_request(fmt: str):
    """File a complaint (api_key required); it is routed, clocked and alerted like any other."""
    _check_fmt(fmt)
    _check_jurisdiction()
    z = get_zone()
    f = request.form
    if not api_key_ok():
        abort(403, "api_key was not provided or is invalid")
    with db.session() as s:
        code = f.get("service_code") or ""
        if code not in z.category_by_key:
            abort(400, "service_code is missing or unknown; see services." + fmt)
        description = clean_text(f.get("description"), 100_000).strip()  # NUL/controls out: PostgreSQL refuses NUL
        if not description:
            abort(400, "description is required")
        if len(description) > 4000:
            abort(400, "description is longer than 4000 characters")
        lat, lon = _float("lat", -90, 90), _float("long", -180, 180)
        if (lat is None) != (lon is None):
            abort(400, "give both lat and long, or neither")
        district = f.get("district") or (_nearest_district(lat, lon) if lat is not None else None)
        if district and district not in z.district_by_key:
            abort(400, "unknown district")
        phone = None
        if f.get("phone"):
            phone = phones.typed(f["phone"])
            if phone is None:
                abort(400, "phone is not a valid number")
        name = " ".join(x for x in (clean_text(f.get("first_name"), 200).strip(),
                                    clean_text(f.get("last_name"), 200).strip()) if x)
        citizen = None
        if phone:
            citizen = s.scalar(select(Citizen).where(Citizen.phone == phone))
            if citizen is None:
                citizen = Citizen(phone=phone, name=name[:200] or None)
                s.add(citizen)
                s.flush()
        draft = ComplaintDraft(description=description, language="en" if description.isascii() else "hi",
                               category=code, district=district,
                               place=clean_text(f.get("address_string"), 300).strip() or None, lat=lat, lon=lon,
                               complainant_name=name[:200] or None, extra={"open311": True})
        c = actions.register_complaint(s, draft, channel="open311", citizen=citizen, phone=phone, actor="open311")
        ref = c.ref
    row = {"service_request_id": ref, "service_notice": f"Registered; action is due within {z.sla.hours:g} hours.",
           "account_id": ""}
    resp = _respond(fmt, "service_requests", "request", [row], status=201)
    resp.headers["Location"] = url_for("open311.get_request", rid=ref, fmt=fmt)
    return resp
