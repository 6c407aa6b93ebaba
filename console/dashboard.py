"""The dashboard: counters and charts from the aggregate tables (never a scan of tickets), scoped
to the viewer's area, plus the citizen feedback addressed to the viewer's rank."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, render_template, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.auth import Viewer, login_required
from console.language import name as localized
from console.language import t
from models import Complaint, Feedback, Officer, Posting, Station, utcnow
from models.tables import StatDaily, StatPosting
from tickets.scope import MASK, access, complaint_filter, stat_filter
from zone import get_zone

bp = Blueprint("console_dashboard", __name__, url_prefix="/console", template_folder="templates")

CHANNELS = ("voice", "whatsapp", "sms", "web", "walkin", "post", "open311")
COLOURS = {"voice": "#7b3fa0", "whatsapp": "#1b9e4b", "sms": "#2f6db5", "web": "#e08a00", "walkin": "#c0192c",
           "post": "#6b4c2a", "open311": "#5b6675"}
SUMS = ("received", "disposed", "resolved", "in_sla", "fir", "esc1", "esc2", "esc3", "esc4", "rating_sum",
        "rating_count")


def pct(a: int, b: int) -> float | None:
    return round(100.0 * a / b, 1) if b else None


def _totals(s: Session, viewer: Viewer) -> list:
    cols = [func.coalesce(func.sum(getattr(StatDaily, k)), 0).label(k) for k in SUMS]
    q = (select(StatDaily.station_id, StatDaily.district, StatDaily.channel, *cols)
         .where(stat_filter(viewer.scope, StatDaily.station_id, StatDaily.district))
         .group_by(StatDaily.station_id, StatDaily.district, StatDaily.channel))
    return list(s.execute(q))


def _per_day(s: Session, viewer: Viewer, days: int) -> tuple[list[str], dict]:
    tz = ZoneInfo(get_zone().zone.timezone)
    today = utcnow().astimezone(tz).date()
    labels = [(today - timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1)]
    q = (select(StatDaily.day, StatDaily.channel, func.sum(StatDaily.received))
         .where(StatDaily.day >= labels[0], stat_filter(viewer.scope, StatDaily.station_id, StatDaily.district))
         .group_by(StatDaily.day, StatDaily.channel))
    per: dict = defaultdict(lambda: defaultdict(int))
    for day, ch, n in s.execute(q):
        per[day][ch] += int(n or 0)
    return labels, per


def _chart(labels: list[str], per: dict) -> dict:
    """Stacked bars per day by channel, as SVG rectangles (no chart library, no CDN)."""
    w, h, pad = 720, 220, 24
    peak = max([sum(per[d].values()) for d in labels] + [1])
    bw = (w - pad) / len(labels)
    rects = []
    for i, d in enumerate(labels):
        y = h - pad
        for ch in CHANNELS:
            n = per[d].get(ch, 0)
            if not n:
                continue
            bh = (h - 2 * pad) * n / peak
            y -= bh
            rects.append({"x": round(pad + i * bw + 1, 1), "y": round(y, 1), "w": round(max(bw - 2, 1), 1),
                          "h": round(bh, 1), "fill": COLOURS[ch], "title": f"{d} {ch}: {n}"})
    ticks = [{"x": round(pad + i * bw, 1), "label": d[5:]} for i, d in enumerate(labels)
             if i % max(1, len(labels) // 8) == 0]
    return {"w": w, "h": h, "pad": pad, "rects": rects, "peak": peak, "ticks": ticks}


@bp.get("/dashboard")
@login_required()
def dashboard(s: Session, viewer: Viewer):
    """Counters, per-day chart, SLA compliance per station and district, ratings, escalations, FIRs."""
    z = get_zone()
    raw = request.args.get("days", "30")
    if not raw.isdigit() or not 7 <= int(raw) <= 366:
        abort(400, t("e_days", low=7, high=366))
    days = int(raw)
    rows = _totals(s, viewer)
    total = dict.fromkeys(SUMS, 0)
    by_channel: dict = defaultdict(lambda: dict.fromkeys(SUMS, 0))
    by_station: dict = defaultdict(lambda: dict.fromkeys(SUMS, 0))
    by_district: dict = defaultdict(lambda: dict.fromkeys(SUMS, 0))
    for r in rows:
        m = r._mapping
        for k in SUMS:
            v = int(m[k] or 0)
            total[k] += v
            by_channel[r.channel][k] += v
            by_station[r.station_id][k] += v
            by_district[r.district][k] += v
    stations = {st.id: st for st in s.scalars(select(Station))}

    def table(groups: dict, name) -> list[dict]:
        out = []
        for key, v in groups.items():
            out.append({"name": name(key), "received": v["received"], "disposed": v["disposed"],
                        "open": v["received"] - v["disposed"], "in_sla": v["in_sla"],
                        "sla_pct": pct(v["in_sla"], v["disposed"]), "fir": v["fir"],
                        "rating": round(v["rating_sum"] / v["rating_count"], 2) if v["rating_count"] else None,
                        "ratings": v["rating_count"]})
        return out

    st_rows = table({k: v for k, v in by_station.items() if k}, lambda k: localized(stations[k]) if k in stations
                    else str(k))
    st_rows.sort(key=lambda r: (r["sla_pct"] if r["sla_pct"] is not None else 101, -r["received"]))
    d_rows = table(by_district, lambda k: localized(z.district_by_key[k]) if k in z.district_by_key else k)
    d_rows.sort(key=lambda r: r["name"])
    rated = sorted((r for r in st_rows if r["rating"] is not None), key=lambda r: r["rating"])
    labels, per = _per_day(s, viewer, days)
    # Ratings per posting (the enquiry officer the ticket was assigned to), within the area.
    pq = (select(StatPosting, Posting, Officer).join(Posting, Posting.id == StatPosting.posting_id)
          .join(Officer, Officer.id == Posting.officer_id)
          .where(stat_filter(viewer.scope, StatPosting.station_id), StatPosting.rating_count > 0)
          .order_by(StatPosting.rating_sum * 1.0 / StatPosting.rating_count).limit(25))
    postings = [{"name": o.name, "role": p.role,
                 "station": localized(stations[p.station_id]) if p.station_id in stations else "",
                 "rating": round(sp.rating_sum / sp.rating_count, 2), "ratings": sp.rating_count,
                 "disposed": sp.disposed} for sp, p, o in s.execute(pq)]
    # Feedback addressed to this viewer's rank, newest first.
    fq = (select(Feedback, Complaint).join(Complaint, Complaint.id == Feedback.complaint_id)
          .where(Feedback.addressed_to == viewer.role, complaint_filter(viewer.scope))
          .order_by(Feedback.id.desc()).limit(20))
    feedback = [{"ref": c.ref, "rating": f.rating, "at": f.created_at,
                 "comment": MASK if access(s, viewer.scope, c).masked else f.comment}  # her words may name her
                for f, c in s.execute(fq)]
    counters = [{"channel": ch, "received": by_channel[ch]["received"], "disposed": by_channel[ch]["disposed"],
                 "in_sla": by_channel[ch]["in_sla"]} for ch in CHANNELS if ch in by_channel or ch in CHANNELS[:5]]
    escalations = [{"level": i, "count": total[f"esc{i}"]} for i in range(1, 5)]
    return render_template(
        "console/dashboard.html", title=t("nav_dashboard"), total=total, counters=counters, st_rows=st_rows[:40],
        d_rows=d_rows, rated=rated[:25], postings=postings, feedback=feedback, escalations=escalations,
        chart=_chart(labels, per), colours=COLOURS, days=days, pct=pct,
        esc_peak=max([e["count"] for e in escalations] + [1]))
