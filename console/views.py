"""The officers' console: the queue, the ticket, its actions, walk-in/postal registration, the
interpreter queue. Every decision on which tickets a posting sees and whose identity is masked is
:mod:`tickets.scope`'s (``complaint_filter``, ``load_ticket``, ``access``); every view and change of a
ticket writes an Event.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from bot.types import ComplaintDraft
from console import media
from console.auth import Viewer, login_required
from console.language import name as localized
from console.language import t
from models import MAX_ID, Attachment, Citizen, Complaint, Event, Message, Note, Officer, Posting, Station, utcnow
from tickets import actions
from tickets.notify import sms_stopped
from tickets.scope import MASK, access, actor_roles, complaint_filter, disposers, load_ticket, supervisors
from tickets.stats import OPEN
from tickets.textsafe import citizen_text, mask_phone, neutralise, redact
from zone import get_zone, local, messages, phones

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
bp.add_app_template_filter(citizen_text, "citizen_text")
bp.add_app_template_filter(neutralise, "neutralise")


@bp.app_template_filter("local")
def local_dt(dt, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time as the zone's local time, for officers reading the page."""
    return local(dt).strftime(fmt) if dt else ""

STATUSES = ("received", "routed", "assigned", "disposed", "closed")
CHANNELS = ("voice", "whatsapp", "sms", "web", "walkin", "post", "open311")
PER_PAGE = 50
MAX_PAGE = 10_000
REF_RX = re.compile(r"^[A-Z]{3}-[A-Z0-9]{6}$")


@bp.errorhandler(HTTPException)
def _html_error(exc: HTTPException):
    g.pop("viewer", None)  # its session is closed by now; the error page needs no officer details
    return render_template("console/error.html", code=exc.code, **error_words(exc)), exc.code


def error_words(exc: HTTPException) -> dict[str, str]:
    """The error page's name and detail in the officer's language: the catalogue's for the codes it knows (the
    detail only when the code gave none of its own), else werkzeug's English ones."""
    known = {400, 403, 404, 405, 409, 413, 429, 500, 501}
    name = t(f"http_{exc.code}") if exc.code in known else exc.name
    plain = exc.description == type(exc).description
    detail = t(f"http_{exc.code}_detail") if plain and exc.code in known else exc.description
    return {"error_name": name, "detail": detail}


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        abort(400, t("e_whole_number", field=name))
    if not lo <= v <= hi:
        abort(400 if v < lo else 404, t("e_out_of_range", field=name))
    return v




def station_names(s: Session) -> dict[int, Station]:
    return {st.id: st for st in s.scalars(select(Station))}


def ticket_or_404(s: Session, viewer: Viewer, ref: str) -> Complaint:
    """The ticket by reference if the viewer's posting may see it (:func:`tickets.scope.load_ticket`); else 404
    (never 403: no oracle)."""
    c = load_ticket(s, viewer.scope, ref) if REF_RX.match((ref or "").strip().upper()) else None
    if c is None:
        abort(404)
    return c


def identity(s: Session, c: Complaint, viewer: Viewer) -> dict:
    """Name and phone as this viewer may see them: masked where :func:`tickets.scope.access` says so."""
    if access(s, viewer.scope, c).masked:
        return {"name": MASK, "phone": MASK, "masked": True}
    return {"name": c.complainant_name or "", "phone": c.phone or c.chat_address or "", "masked": False}


def time_left(c: Complaint, now) -> tuple[str, str]:
    """(css class, short text) for the clock of an open ticket."""
    if c.due_at is None or c.status not in OPEN:
        return "stopped", "—"
    secs = (c.due_at - now).total_seconds()
    sla = get_zone().sla.hours * 3600
    h, m = divmod(int(abs(secs)) // 60, 60)
    txt = t("clock_hm", h=h, m=f"{m:02d}")
    if secs < 0:
        return "breached", t("clock_over", time=txt)
    return ("soon" if secs < 0.25 * sla else "ok"), t("clock_left", time=txt)


def _queue_filters(s: Session, viewer: Viewer):
    """Build the WHERE clauses from the query string (unknown values are a 400)."""
    z = get_zone()
    args = request.args
    where = [complaint_filter(viewer.scope)]
    q = (args.get("q") or "").strip()[:40]
    status = args.get("status", "open")
    if q:
        phone = phones.typed(q)
        if REF_RX.match(q.upper()):
            where.append(Complaint.ref == q.upper())
        elif phone:
            # a number must not confirm who filed a ticket whose identity is masked for this posting
            ids = [c.id for c in s.scalars(select(Complaint).where(complaint_filter(viewer.scope),
                                                                    Complaint.phone == phone).limit(5000))
                   if not access(s, viewer.scope, c).masked]
            where.append(Complaint.id.in_(ids))
        else:
            abort(400, t("e_search"))
    elif status == "open":
        where.append(Complaint.status.in_(OPEN))
    elif status in STATUSES:
        where.append(Complaint.status == status)
    elif status != "all":
        abort(400, t("e_unknown_status"))
    cat = args.get("category", "")
    if cat:
        if cat not in z.category_by_key and cat != "unknown":
            abort(400, t("e_unknown_category"))
        where.append(Complaint.category == cat)
    ch = args.get("channel", "")
    if ch:
        if ch not in CHANNELS:
            abort(400, t("e_unknown_channel"))
        where.append(Complaint.channel == ch)
    if args.get("level", "") != "":
        where.append(Complaint.escalation_level == _int_arg("level", 0, 0, 10))
    if args.get("interpreter") == "1":
        where.append(Complaint.needs_interpreter.is_(True))
    if args.get("emergency") == "1":
        where.append(Complaint.emergency.is_(True))
    if args.get("mine") == "1":
        where.append(Complaint.assigned_posting_id == viewer.posting.id)
    return where, q, status


def _queue_page(s: Session, viewer: Viewer, title: str, extra=()):
    where, q, status = _queue_filters(s, viewer)
    where += list(extra)
    total = s.scalar(select(func.count()).select_from(Complaint).where(*where))
    pages = max(1, math.ceil(total / PER_PAGE))
    page = _int_arg("page", 1, 1, MAX_PAGE)
    if page > pages:
        abort(404, t("e_only_pages", pages=pages))
    rows = list(s.scalars(select(Complaint).where(*where)
                          .order_by(Complaint.due_at.is_(None), Complaint.due_at, Complaint.id)
                          .offset((page - 1) * PER_PAGE).limit(PER_PAGE)))
    now = utcnow()
    stations = station_names(s)
    z = get_zone()
    items = []
    for c in rows:
        cls, left = time_left(c, now)
        st = stations.get(c.station_id)
        cat = z.category_by_key.get(c.category)
        ident = identity(s, c, viewer)
        items.append({"c": c, "cls": cls, "left": left, "station": localized(st) if st else t("not_routed"),
                      "category": localized(cat) if cat else c.category, "who": ident,
                      "summary": MASK if ident["masked"] else (c.description or "")[:90]})
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("console/queue.html", title=title, items=items, total=total, page=page, pages=pages,
                           q=q, status=status, args=args, categories=z.categories, channels=CHANNELS,
                           statuses=STATUSES, now=now)


@bp.get("/")
@login_required()
def queue(s: Session, viewer: Viewer):
    """Open tickets in the viewer's area, soonest due first."""
    return _queue_page(s, viewer, t("nav_queue"))


@bp.get("/interpreter")
@login_required(("interpreter", "cell", "admin"))
def interpreter_queue(s: Session, viewer: Viewer):
    """Sign-language videos (and other media) waiting for a written description."""
    return _queue_page(s, viewer, t("interpreter_queue"), extra=[Complaint.needs_interpreter.is_(True),
                                                               Complaint.status.in_(OPEN)])


def _conversation(s: Session, c: Complaint) -> list[Message]:
    """The ticket's own messages: the dialogue that led to it (linked at registration) and what was sent about it.

    Never the citizen's other messages: those may be the turns of another ticket, at another station.
    """
    return list(s.scalars(select(Message).where(Message.complaint_id == c.id)
                          .order_by(Message.created_at, Message.id).limit(500)))


def ticket_attachments(s: Session, c: Complaint) -> list[Attachment]:
    """The ticket's files: linked to it, or to none and carried by one of its messages (as the attachment route)."""
    own_msgs = select(Message.id).where(Message.complaint_id == c.id)
    cond = or_(Attachment.complaint_id == c.id,
               and_(Attachment.complaint_id.is_(None), Attachment.message_id.in_(own_msgs)))
    return list(s.scalars(select(Attachment).where(cond).order_by(Attachment.id)))


@dataclass(frozen=True)
class Turn:
    """One message as the conversation panel shows it to this viewer."""

    direction: str
    channel: str
    created_at: datetime
    body: str


def identity_names(s: Session, c: Complaint, messages: list[Message]) -> list[str]:
    """Every name the complainant goes by: the complaint's, the citizen's, the name she gave on any of her other
    tickets (she may say it here without giving it again), the WhatsApp profile names."""
    cit = s.get(Citizen, c.citizen_id) if c.citizen_id else None
    names = {c.complainant_name, cit.name if cit else None}
    if c.citizen_id:
        names |= set(s.scalars(select(Complaint.complainant_name).where(
            Complaint.citizen_id == c.citizen_id, Complaint.complainant_name.is_not(None))))
    names |= {(m.payload or {}).get("ProfileName") for m in messages if isinstance(m.payload, dict)}
    return sorted({n.strip() for n in names if isinstance(n, str) and n.strip()}, key=len, reverse=True)


def redact_all(text: str | None, names: list[str]) -> str:
    """:func:`tickets.textsafe.redact` for each of the complainant's names."""
    out = redact(text)
    for n in names:
        out = redact(out, n)
    return out


def conversation_for(s: Session, c: Complaint, masked: bool) -> tuple[list[Turn], list[str]]:
    """The conversation panel for a viewer: for a masked one the citizen's own words only (our replies may
    repeat the name), with the complainant's names and numbers redacted, and no addresses. Also the names."""
    messages = _conversation(s, c)
    names = identity_names(s, c, messages) if masked else []
    if masked:
        return [Turn(m.direction, m.channel, m.created_at, redact_all(m.body, names))
                for m in messages if m.direction == "in"], names
    return [Turn(m.direction, m.channel, m.created_at, m.body) for m in messages], names


def _actor_names(s: Session, events: list[Event]) -> dict[str, str]:
    ids = {int(e.actor.split(":", 1)[1]) for e in events if e.actor.startswith("officer:")
           and e.actor.split(":", 1)[1].isdigit()}
    names = {f"officer:{o.id}": o.name for o in s.scalars(select(Officer).where(Officer.id.in_(ids)))} if ids else {}
    return names


LABELLED_EVENTS = ("identity_unmasked", "action_refused")  # the timeline shows other kinds by their code


def render_ticket(s: Session, viewer: Viewer, c: Complaint, error: str | None = None, status: int = 200):
    z = get_zone()
    ident = identity(s, c, viewer)
    messages, names = conversation_for(s, c, ident["masked"])
    atts = ticket_attachments(s, c)
    transcripts = {a.id: redact_all(a.transcript, names) if ident["masked"] else a.transcript for a in atts}
    events = list(s.scalars(select(Event).where(Event.complaint_id == c.id).order_by(Event.at, Event.id)))
    event_data = {e.id: dict(e.data or {}) for e in events}
    notes = list(s.scalars(select(Note).where(Note.complaint_id == c.id).order_by(Note.id)))
    if ident["masked"]:  # an officer's note (a reveal's reason) may name her too
        notes = [SimpleNamespace(actor=n.actor, created_at=n.created_at, text=redact_all(n.text, names))
                 for n in notes]
    st = s.get(Station, c.station_id) if c.station_id else None
    postings = []
    if c.station_id:
        now = utcnow()
        postings = list(s.scalars(select(Posting).join(Officer).where(
            Posting.station_id == c.station_id, Posting.role.in_(("eo", "sho")), Officer.active,
            or_(Posting.ended_at.is_(None), Posting.ended_at > now)).order_by(Posting.role, Officer.name)))
    assigned = s.get(Posting, c.assigned_posting_id) if c.assigned_posting_id else None
    cat = z.category_by_key.get(c.category)
    cls, left = time_left(c, utcnow())
    if not ident["masked"] and c.phone:  # the citizen sent STOP: SMS alerts do not reach them, a call may be needed
        ident["sms_stopped"] = sms_stopped(s, c.phone)
    return render_template(
        "console/ticket.html", c=c, station=st, cat=cat, messages=messages, atts=atts, events=events,
        notes=notes, actor_names=_actor_names(s, events), postings=postings, assigned=assigned, cls=cls, left=left,
        who=ident, description=redact_all(c.description, names) if ident["masked"] else c.description,
        transcripts=transcripts, event_labels={k: t(f"event_{k}") for k in LABELLED_EVENTS}, event_data=event_data,
        can_unmask=ident["masked"] and viewer.scope.may_unmask, outcomes=z.outcomes,
        stations=list(s.scalars(select(Station).where(Station.active).order_by(Station.district, Station.name_en))),
        can_supervise=viewer.role in supervisors(), can_dispose=viewer.role in disposers(),
        can_interpret=viewer.role in ("interpreter", "cell", "admin"), error=error, mask_phone=mask_phone,
        open=c.status in OPEN, fir_prompt=bool(cat and cat.cognizable and c.status in OPEN)), status


@bp.get("/t/<ref>")
@login_required()
def ticket(s: Session, viewer: Viewer, ref: str):
    """One ticket: details, timeline, conversation, media and actions. The view itself is audited."""
    c = ticket_or_404(s, viewer, ref)
    actions.event(s, c, "viewed", viewer.actor, posting=viewer.posting.id)
    return render_ticket(s, viewer, c)


def refusal(action: str, exc: Exception, c: Complaint, form) -> str:
    """Why a ticket action was refused, in the officer's language: the catalogue's ``refused_<action>_<code>`` or
    ``refused_<code>``; the action's own message for a code the catalogue does not know."""
    code = getattr(exc, "code", None) or ""
    z = get_zone()
    oc = z.outcomes.get(form.get("outcome") or "")
    values = {"status": t(f"status_{c.status}") if c.status in STATUSES else c.status,
              "outcome": localized(oc) if oc else form.get("outcome") or ""}
    words = messages.section("console")
    for key in (f"refused_{action}_{code}", f"refused_{code}"):
        if key in words:
            return t(key, **values)
    return getattr(exc, "message", None) or str(exc)


CONFLICTS = ("not_open", "merged", "not_disposed", "same_station", "same", "verification_required",
             "not_confidential")
FORBIDDEN = ("not_allowed",)
# "unmask" is open to every role here: tickets.actions.unmask_identity refuses roles config does not allow.
ACTION_ROLES = {"assign": "sup", "reroute": "sup", "merge": "sup", "reopen": "sup", "close": "sup",
                "verify": "sup", "dispose": "disp", "note": "any", "interpret": "interp", "unmask": "any"}


@bp.post("/t/<ref>/<action>")
@login_required()
def act(s: Session, viewer: Viewer, ref: str, action: str):
    """Run one ticket action; a refused action shows the ticket again with the reason (4xx), changing nothing."""
    need = ACTION_ROLES.get(action)
    if need is None:
        abort(404)
    allowed = {"sup": supervisors(), "disp": disposers(), "any": actor_roles(),
               "interp": ("interpreter", "cell", "admin")}[need]
    if viewer.role not in allowed:
        abort(403, t("e_role"))
    c = ticket_or_404(s, viewer, ref)
    f = request.form
    try:
        msg = _run_action(s, viewer, c, action, f)
    except actions.ActionError as exc:
        # The action changed nothing but wrote its 'action_refused' Event, which we keep (commit).
        code = getattr(exc, "code", None)
        status = 409 if code in CONFLICTS else 403 if code in FORBIDDEN else 400
        return render_ticket(s, viewer, c, error=refusal(action, exc, c, f), status=status)
    flash(msg)
    if action == "interpret":
        return redirect(url_for("console.interpreter_queue") if viewer.role == "interpreter"
                        else url_for("console.ticket", ref=c.ref))
    if action == "merge":
        return redirect(url_for("console.queue"))
    return redirect(url_for("console.ticket", ref=c.ref))


def _int_field(f, name: str) -> int:
    try:
        value = int(f.get(name, ""))
    except ValueError:
        abort(400, t("e_choose", field=name))
    if not 1 <= value <= MAX_ID:
        abort(400, t("e_choose", field=name))
    return value


def _run_action(s: Session, viewer: Viewer, c: Complaint, action: str, f) -> str:
    who = viewer.actor
    if action == "assign":
        pid = _int_field(f, "posting_id")
        p = s.get(Posting, pid)
        if p is None or p.station_id != c.station_id:
            abort(400, t("refused_wrong_station"))
        actions.assign(s, c, pid, who)
        return t("done_assigned")
    if action == "note":
        text = (f.get("text") or "").strip()
        files = media.store_uploads(s, request.files.getlist("files"), complaint_id=c.id)
        if not text and not files:
            abort(400, t("refused_empty"))
        actions.add_note(s, c, text[:10000], who, attachment_ids=tuple(a.id for a in files))
        return t("done_note")
    if action == "reroute":
        code = (f.get("station_code") or "").strip()
        if not s.scalar(select(Station.id).where(Station.code == code, Station.active)):
            abort(400, t("e_unknown_station"))
        actions.reroute(s, c, code, who, reason=(f.get("reason") or "")[:500])
        return t("done_rerouted")
    if action == "merge":
        into = ticket_or_404(s, viewer, f.get("into_ref") or "")
        if into.id == c.id:
            abort(400, t("refused_same"))
        actions.merge(s, c, into, who)
        return t("done_merged", ref=into.ref)
    if action == "dispose":
        outcome = f.get("outcome") or ""
        if outcome not in get_zone().outcomes:
            abort(400, t("refused_bad_outcome"))
        number = (f.get("number") or "").strip()[:60] or None
        actions.dispose(s, c, outcome, who, number=number, note=(f.get("note") or "")[:5000])
        return t("done_disposed")
    if action == "reopen":
        actions.reopen(s, c, who, reason=(f.get("reason") or "")[:500])
        return t("done_reopened")
    if action == "close":
        actions.close(s, c, who)
        return t("done_closed")
    if action == "verify":
        reached = f.get("reached") == "1"
        satisfied = {"1": True, "0": False}.get(f.get("satisfied") or "")
        actions.verify_call(s, c, who, reached, satisfied, (f.get("note") or "")[:2000])
        return t("done_verified_reopened" if satisfied is False and reached else "done_verified")
    if action == "unmask":
        reason = (f.get("reason") or "").strip()
        if not reason:
            abort(400, t("e_reveal_reason"))
        actions.unmask_identity(s, c, who, viewer.posting.id, reason[:500])
        return t("done_revealed")
    if action == "interpret":
        text = (f.get("text") or "").strip()
        if not text:
            abort(400, t("e_interpret_text"))
        actions.interpret(s, c, text, who)
        return t("done_interpreted")
    abort(404)


@bp.get(f"/attachment/<int(max={MAX_ID}):att_id>")  # a bigger id is a 404, not an OverflowError
@bp.get(f"/attachment/<int(max={MAX_ID}):att_id>/<variant>")
@login_required()
def attachment(s: Session, viewer: Viewer, att_id: int, variant: str = "file"):
    """A ticket's file (or a video's keyframe sheet), only if the ticket is in the viewer's area."""
    if variant not in ("file", "keyframes"):
        abort(404)
    att = s.get(Attachment, att_id)
    if att is None:
        abort(404)
    # Its own ticket, or its message's; never one guessed through the citizen (that may be another ticket's).
    cid = att.complaint_id
    if cid is None and att.message_id:
        cid = s.scalar(select(Message.complaint_id).where(Message.id == att.message_id))
    c = s.get(Complaint, cid) if cid else None
    if not access(s, viewer.scope, c).see:
        abort(404)
    path = media.resolve(att.keyframes_path if variant == "keyframes" else att.path)
    if path is None:
        abort(404, t("e_file_missing"))
    actions.event(s, c, "viewed_attachment", viewer.actor, attachment=att.id, variant=variant)
    mime = "image/png" if variant == "keyframes" else (att.mime or "application/octet-stream")
    inline = mime.split("/")[0] in ("image", "audio", "video")
    resp = send_file(path, mimetype=mime, as_attachment=not inline, download_name=f"{c.ref}-{att.id}",
                     conditional=True)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.route("/new", methods=["GET", "POST"])
@login_required(disposers())
def new_complaint(s: Session, viewer: Viewer):
    """Register a complaint received by hand (walk-in) or by post, with its scans, photos, audio or video."""
    z = get_zone()
    stations = list(s.scalars(select(Station).where(Station.active).order_by(Station.district, Station.name_en)))
    own = s.get(Station, viewer.posting.station_id) if viewer.posting.station_id else None
    form = request.form
    ctx = dict(categories=z.categories, districts=z.districts, stations=stations, own=own, form=form)
    if request.method == "GET":
        return render_template("console/new.html", **ctx)
    channel = form.get("channel", "walkin")
    if channel not in ("walkin", "post"):
        abort(400, t("e_new_channel"))
    phone = phones.typed(form.get("phone", ""))
    if form.get("phone", "").strip() and phone is None:
        return render_template("console/new.html", error=t("e_new_phone"), **ctx), 400
    if phone is None and channel == "walkin":
        return render_template("console/new.html", error=t("e_new_walkin_phone"), **ctx), 400
    category = form.get("category") or None
    if category and category not in z.category_by_key:
        abort(400, t("e_unknown_category"))
    district = form.get("district") or (own.district if own else None)
    if district and district not in z.district_by_key:
        abort(400, t("e_unknown_district"))
    code = form.get("station_code") or (own.code if own else None)
    if code and code not in z.station_by_code:
        abort(400, t("e_unknown_station"))
    files = media.store_uploads(s, request.files.getlist("files"))
    description = (form.get("description") or "").strip()[:20000]
    if not description and not files:
        return render_template("console/new.html", error=t("e_new_empty"), **ctx), 400
    citizen = None
    if phone:
        citizen = s.scalar(select(Citizen).where(Citizen.phone == phone))
        if citizen is None:
            citizen = Citizen(phone=phone, name=(form.get("name") or "").strip()[:200] or None, sms_ok=True)
            s.add(citizen)
            s.flush()
    draft = ComplaintDraft(
        description=description, language=form.get("language") if form.get("language") in z.languages else "hi",
        category=category, district=district, place=(form.get("place") or "").strip()[:300] or None,
        station_code=code, incident_text=(form.get("incident_text") or "").strip()[:200] or None,
        complainant_name=(form.get("name") or "").strip()[:200] or None,
        confidential=form.get("confidential") == "1", attachment_ids=[a.id for a in files],
        extra={"received_by": viewer.actor})
    c = actions.register_complaint(s, draft, channel=channel, citizen=citizen, phone=phone, actor=viewer.actor)
    flash(t("done_registered", ref=c.ref))
    return redirect(url_for("console.queue"))
