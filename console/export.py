"""Exports: tickets as CSV or JSON for CCTNS and IGRS/Jansunwai data entry, and a per-ticket evidence
bundle (the files, their sha256, and a certificate page listing them). Scoped and audited; identities are
masked exactly as the ticket page masks them for the exporting posting (:func:`tickets.scope.access`)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import datetime

from flask import Blueprint, Response, abort, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from console import media
from console.auth import Viewer, login_required
from console.views import _queue_filters, identity, ticket_attachments, ticket_or_404
from models import Complaint, Posting, Station, utcnow
from tickets.actions import event
from tickets.scope import MASK
from tickets.textsafe import strip_controls
from zone import get_zone, local

bp = Blueprint("console_export", __name__, url_prefix="/console", template_folder="templates")
MAX_ROWS = 100_000
FIELDS = ("ref", "registered_at", "channel", "district", "station_code", "station_name", "category",
          "category_name", "status", "escalation_level", "due_at", "disposed_at", "outcome", "outcome_number",
          "complainant_name", "phone", "place", "incident_at", "incident_text", "description", "confidential",
          "emergency", "enquiry_officer")


def _iso(dt: datetime | None) -> str:
    """The zone's local time with its offset: the date typed into CCTNS/IGRS is India's, not UTC's."""
    return local(dt).isoformat() if dt else ""


def _csv_cell(v) -> str:
    """A cell that a spreadsheet will not run as a formula."""
    v = "" if v is None else str(v)
    return "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v


def rows_for(s: Session, viewer: Viewer, cs: list[Complaint]) -> list[dict]:
    z = get_zone()
    stations = {st.id: st for st in s.scalars(select(Station))}
    pids = {c.assigned_posting_id for c in cs if c.assigned_posting_id}
    posts = {p.id: p for p in s.scalars(select(Posting).where(Posting.id.in_(pids)))} if pids else {}
    out = []
    for c in cs:
        st = stations.get(c.station_id)
        who = identity(s, c, viewer)
        cat = z.category_by_key.get(c.category)
        p = posts.get(c.assigned_posting_id)
        out.append({
            "ref": c.ref, "registered_at": _iso(c.registered_at), "channel": c.channel, "district": c.district,
            "station_code": st.code if st else "", "station_name": st.name_en if st else "",
            "category": c.category, "category_name": cat.name_en if cat else "", "status": c.status,
            "escalation_level": c.escalation_level, "due_at": _iso(c.due_at), "disposed_at": _iso(c.disposed_at),
            "outcome": c.outcome or "", "outcome_number": c.outcome_number or "",
            "complainant_name": strip_controls(who["name"]), "phone": who["phone"],
            # a masked ticket's own words and place may say who she is: neither leaves in an export
            "place": MASK if who["masked"] else strip_controls(c.place),
            "incident_at": _iso(c.incident_at), "incident_text": strip_controls(c.incident_text),
            "description": MASK if who["masked"] else strip_controls(c.description), "confidential": c.confidential,
            "emergency": c.emergency, "enquiry_officer": p.officer.name if p else ""})
    return out


@bp.get("/export.<fmt>")
@login_required()
def export(s: Session, viewer: Viewer, fmt: str):
    """Tickets in the viewer's area matching the queue's filters, as CSV or JSON."""
    if fmt not in ("csv", "json"):
        abort(404)
    where, _q, _status = _queue_filters(s, viewer)
    cs = list(s.scalars(select(Complaint).where(*where).order_by(Complaint.registered_at).limit(MAX_ROWS)))
    rows = rows_for(s, viewer, cs)
    event(s, None, "exported", viewer.actor, format=fmt, count=len(rows), posting=viewer.posting.id)
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    if fmt == "json":
        body = json.dumps({"generated_at": utcnow().isoformat(), "count": len(rows), "tickets": rows},
                          ensure_ascii=False, indent=1)
        return Response(body, mimetype="application/json",
                        headers={"Content-Disposition": f"attachment; filename=bharosa-{stamp}.json"})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(FIELDS)
    for r in rows:
        w.writerow([_csv_cell(r[f]) for f in FIELDS])
    return Response("\ufeff" + buf.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename=bharosa-{stamp}.csv"})


def _sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@bp.get("/t/<ref>/evidence.zip")
@login_required()
def evidence(s: Session, viewer: Viewer, ref: str):
    """A zip of the ticket's files, a manifest with each file's sha256 (checked against the stored one)
    and a certificate page listing them, for production as electronic evidence."""
    c = ticket_or_404(s, viewer, ref)
    atts = ticket_attachments(s, c)
    files, buf = [], io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for a in atts:
            for variant, stored in (("file", a.path), ("keyframes", a.keyframes_path)):
                p = media.resolve(stored)
                if p is None:
                    continue
                digest = _sha256_file(p)
                name = f"files/{a.id}-{variant}" + (p.suffix or "")
                zf.write(p, name)
                files.append({"name": name, "attachment_id": a.id, "kind": a.kind, "mime": a.mime,
                              "size": p.stat().st_size, "sha256": digest, "received_at": _iso(a.created_at),
                              "stored_sha256": a.sha256 if variant == "file" else None,
                              "matches": (a.sha256 == digest) if variant == "file" and a.sha256 else None})
        now = utcnow()
        manifest = {"ref": c.ref, "generated_at": now.isoformat(), "generated_by": viewer.actor,
                    "files": files}
        zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        zf.writestr("SHA256SUMS", "".join(f"{f['sha256']}  {f['name']}\n" for f in files))
        cert = render_template("console/certificate.html", c=c, files=files, now=now, viewer=viewer,
                               who=identity(s, c, viewer),
                               station=s.get(Station, c.station_id) if c.station_id else None)
        zf.writestr("certificate.html", cert)
    event(s, c, "evidence_exported", viewer.actor, files=len(files))
    return Response(buf.getvalue(), mimetype="application/zip",
                    headers={"Content-Disposition": f"attachment; filename={c.ref}-evidence.zip",
                             "Cache-Control": "private, no-store"})
