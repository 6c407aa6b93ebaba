"""The citizen web page: file a complaint, send a sign-language video, track a complaint and rate it.

Routes: ``GET/POST /complaint``, ``GET/POST /video``, ``GET/POST /track``. Every page works without
JavaScript; the one small script only checks file sizes early and stops double submits.

The phone is confirmed with a one-time code *before* anything is registered: the form and its files
wait in a :class:`~models.tables.WebPending` row (files under ``<media>/pending/``) until the code is
right, then one transaction creates the citizen, the attachments and the complaint through
:func:`tickets.actions.register_complaint` — the same path as the messaging channels. The code goes
out as an outbox 'send' row (template ``otp``) through the worker; only its HMAC is stored (peppered with
a key derived from the app's secret), it expires after 10 minutes, and too many wrong tries lock the
request for a cool-down. The worker masks the code in the outbox row and the message log as soon as
Twilio took it (or refused it for good): no stored body holds a code.

Codes cost money and reach strangers' phones (SMS pumping, SMS bombing), so they go only to mobile
numbers of ``limits.otp_countries``, at most :data:`PHONE_SENDS_PER_HOUR` an hour per (phone, client
address), ``limits.otp_per_address_per_hour`` per client address and ``limits.otp_per_hour`` for the
whole service. Each :class:`~models.tables.WebPending` row records its sends, the client address (as a
keyed hash) and whether its codes really go out, so the budgets are counted in the database, in the
same transaction that issues the code, and hold while Redis is down. A /track start whose reference and
phone match nothing sends nothing but counts exactly as one that matched, so the requester cannot tell
them apart; as the limit is per (phone, address), made-up references from one address never block the
number's owner elsewhere.

State lives in the database keyed by random tokens in cookies (only their hashes are stored), not in
a signed session, so any number of web workers agree without sharing a secret. CSRF: a double-submit
token (cookie ``bh_csrf`` = form field ``csrf``) on every POST, with SameSite=Lax cookies.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, redirect, render_template, request
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from bot import nlu
from bot.timeparse import parse_time
from bot.types import ComplaintDraft
from channels.web.strings import STRINGS
from models import Attachment, Complaint, Event, Feedback, Message, Outbox, Posting, db, utcnow
from models.tables import WebPending
from tasks import outbox
from tickets.actions import REF_ALPHABET, register_complaint
from tickets.notify import local_time
from tickets.textsafe import clean_text
from voice.media import media_dir, sniff
from zone import get_zone, messages, phones

log = logging.getLogger(__name__)

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static/web",
               static_url_path="/static/web")

CSRF_COOKIE, FILE_COOKIE, TRACK_COOKIE, LANG_COOKIE = "bh_csrf", "bh_file", "bh_track", "lang"

CODE_TTL = timedelta(minutes=10)
MAX_TRIES = 5  # wrong codes before the cool-down
COOLDOWN = timedelta(minutes=15)
MAX_SENDS = 3  # codes per request
PHONE_SENDS_PER_HOUR = 6  # codes per phone number from one client address (SMS bombing; see the docstring)
BUDGET_WINDOW = timedelta(hours=1)
CODE_MASK = "••••••"  # what stays of a code in stored bodies (the worker writes the same)
RESEND_AFTER = timedelta(seconds=30)
PENDING_TTL = timedelta(hours=1)  # an unconfirmed request, and its files, live this long
TRACK_TTL = timedelta(minutes=30)  # a confirmed tracking session
PURGE_AFTER = timedelta(hours=2)

DESCRIPTION_MAX = 5000
FIELD_MAX = {"place": 300, "when": 200, "name": 200, "comment": 1000}
REF_RX = re.compile(rf"^[A-Z]{{3}}-[{REF_ALPHABET}]{{6}}$")
VIDEO_DESCRIPTION = "sign-language video awaiting interpreter"
ALLOWED_KINDS = {"file": ("image", "audio", "video", "document"), "video": ("video",)}
ACCEPT = {"file": "image/*,audio/*,video/*,application/pdf", "video": "video/*"}



def _asset_version() -> str:
    h = hashlib.sha256()
    for name in ("web.css", "web.js"):
        p = Path(__file__).parent / "static" / "web" / name
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()[:10]


ASSET_V = _asset_version()


# -- request plumbing ---------------------------------------------------------------------------

def _sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def _pepper() -> bytes:
    # A server secret makes a stolen code hash useless for brute force (a million codes are guessed in seconds
    # otherwise); the row salt still differs. Derived from the app's secret (BHAROSA_SECRET_KEY, or the key
    # `make run` keeps in var/secret_key in dev), never the secret itself, so neither use reveals the other.
    key = current_app.secret_key
    if not key:
        raise RuntimeError("the app has no secret key: no one-time codes without one")
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, b"bharosa web one-time code pepper", hashlib.sha256).digest()


def _code_hash(salt: str, code: str) -> str:
    return hmac.new(_pepper(), f"{salt}:{code}".encode(), hashlib.sha256).hexdigest()


@bp.before_request
def _before() -> Response | None:
    z = get_zone()
    q = request.args.get("lang")
    c = request.cookies.get(LANG_COOKIE)
    g.lang = q if q in z.languages else c if c in z.languages else z.default_language
    g.set_lang = q if q in z.languages and q != c else None
    tok = request.cookies.get(CSRF_COOKIE) or ""
    g.new_csrf = None
    if not re.fullmatch(r"[A-Za-z0-9_-]{32,64}", tok):
        tok = g.new_csrf = secrets.token_urlsafe(32)
    g.csrf = tok
    g.cookies = []
    if request.method == "POST" and request.endpoint in ("web.complaint_post", "web.video_post"):
        # Files up to the configured limits plus the form; the app-wide cap is lower for webhooks.
        lim = z.limits
        request.max_content_length = lim.web_max_files * (lim.web_max_file_bytes + 4096) + 1024 * 1024
    return None


@bp.after_request
def _after(resp: Response) -> Response:
    secure = request.is_secure
    if g.get("new_csrf"):
        resp.set_cookie(CSRF_COOKIE, g.new_csrf, httponly=True, samesite="Lax", secure=secure)
    if g.get("set_lang"):
        resp.set_cookie(LANG_COOKIE, g.set_lang, max_age=365 * 86400, samesite="Lax", secure=secure)
    for name, value, age in g.get("cookies", []):
        resp.set_cookie(name, value, max_age=age, httponly=True, samesite="Lax", secure=secure)
    if request.endpoint == "web.static":  # every other header (CSP, no-store, framing): app.security_headers
        resp.headers["Cache-Control"] = "public, max-age=604800"
    return resp


def _t() -> dict[str, str]:
    return STRINGS.get(g.lang, STRINGS["hi"])


def page(template: str, status: int = 200, **ctx: Any) -> tuple[str, int]:
    """Render one of our templates with the shared context (words, language, CSRF token, zone)."""
    z = get_zone()
    other = next((lg for lg in z.languages if lg != g.lang), g.lang)
    base = dict(T=_t(), lang=g.lang, other_lang=other, csrf=g.csrf, asset_v=ASSET_V, errors={}, form={},
                emergency=z.zone.emergency_number, path=request.path, retention_days=z.retention.closed_days)
    base.update(ctx)
    return render_template(template, **base), status


def message(text: str, status: int = 400, back: str | None = None) -> tuple[str, int]:
    return page("web/message.html", status, text=text, back=back or request.path)


def csrf_ok() -> bool:
    sent = request.form.get("csrf", "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(sent and cookie) and hmac.compare_digest(sent, cookie)


def _set_cookie(name: str, value: str, max_age: int) -> None:
    g.cookies.append((name, value, max_age))


def human_size(n: int) -> str:
    """``16 MB``, ``512 KB``: a limit as a citizen reads it."""
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


def _mask(phone: str) -> str:
    return phone[:3] + "•" * max(0, len(phone) - 7) + phone[-4:] if len(phone) > 7 else phone


def _form_text(name: str, limit: int) -> str:
    return clean_text(request.form.get(name, ""), limit + 1).strip()


# -- the pending request and its one-time code --------------------------------------------------

def _load_pending(s: Session, cookie: str, purposes: tuple[str, ...]) -> WebPending | None:
    tok = request.cookies.get(cookie)
    if not tok:
        return None
    row = s.scalar(select(WebPending).where(WebPending.token_hash == _sha(tok), WebPending.purpose.in_(purposes)))
    if row is None or row.created_at < utcnow() - PENDING_TTL:
        return None
    return row


def otp_countries_text() -> str:
    """The calling codes of ``limits.otp_countries`` as a citizen reads them: ``+91``."""
    return ", ".join(phones.country_codes(get_zone().limits.otp_countries))


def otp_phone_ok(phone: str) -> bool:
    """Whether a code may go to this E.164 number: a mobile number of a country in ``limits.otp_countries``."""
    return phones.is_mobile_of(phone, get_zone().limits.otp_countries)


def _client_tag() -> str:
    # The client address as a keyed hash: enough to count per address, nothing to read an address back from.
    return hmac.new(_pepper(), f"addr:{request.remote_addr}".encode(), hashlib.sha256).hexdigest()[:32]


def _codes_last_hour(s: Session, now: datetime, *where) -> int:
    return int(s.scalar(select(func.coalesce(func.sum(WebPending.sends), 0))
                        .where(WebPending.created_at > now - BUDGET_WINDOW, *where)) or 0)


def otp_refusal(s: Session, phone: str, now: datetime) -> str | None:
    """Why no code may be issued now (the message for a 429), or None.

    Counts every code issued, sent or not (a /track start that matched nothing counts like one that did), per
    (phone, client address) and per client address; the service-wide budget counts the codes really sent.
    """
    T, lim = _t(), get_zone().limits
    mine = WebPending.data["addr"].as_string() == _client_tag()
    if _codes_last_hour(s, now, WebPending.phone == phone, mine) >= PHONE_SENDS_PER_HOUR:
        return T["e_phone_limit"]
    helpline = get_zone().zone.helpline_number
    if _codes_last_hour(s, now, mine) >= lim.otp_per_address_per_hour:
        return T["e_otp_address"].format(helpline=helpline)
    if _codes_last_hour(s, now, WebPending.data["sms"].as_integer() == 1) >= lim.otp_per_hour:
        return T["e_otp_busy"].format(helpline=helpline)
    return None


def _issue_code(s: Session, row: WebPending, now: datetime, really_send: bool = True) -> None:
    """Draw a new code, store its hash and queue the SMS (not sent for a track request that matched nothing)."""
    code = f"{secrets.randbelow(10**6):06d}"
    row.code_hash = _code_hash(row.token_hash, code)
    row.code_expires_at = now + CODE_TTL
    row.tries = 0
    row.sends = (row.sends or 0) + 1
    row.last_sent_at = now
    s.flush()
    if really_send:
        outbox.add(s, f"otp:{row.id}:{row.sends}", "send", {
            "to_phone": row.phone, "to_chat": None, "template": "otp", "lang": row.language,
            "values": {"code": code}, "complaint_id": None, "audience": "citizen"})


def _scrub_codes(s: Session, row: WebPending) -> None:
    """Mask the sent codes in the outbox and the outbound message log once they are of no further use."""
    keys = [f"otp:{row.id}:{n}" for n in range(1, (row.sends or 0) + 1)]
    if not keys:
        return
    for ob in s.scalars(select(Outbox).where(Outbox.key.in_(keys))):
        code = (ob.payload or {}).get("values", {}).get("code")
        if not code:
            continue
        if code == CODE_MASK:  # the worker masked it when it was sent
            continue
        ob.payload = {**ob.payload, "values": {**ob.payload["values"], "code": CODE_MASK}}
        for m in s.scalars(select(Message).where(Message.outbox_id == ob.id)):
            m.body = (m.body or "").replace(code, CODE_MASK)


def _new_pending(s: Session, purpose: str, phone: str, data: dict, cookie: str,
                 sms: bool = True) -> tuple[WebPending, str]:
    """A new request; ``sms`` False for a /track start that matched nothing (its codes are counted, never sent)."""
    tok = secrets.token_urlsafe(32)
    data = {**data, "addr": _client_tag(), "sms": 1 if sms else 0}  # what the budgets count by
    row = WebPending(token_hash=_sha(tok), purpose=purpose, phone=phone, language=g.lang, data=data,
                     created_at=utcnow())
    s.add(row)
    s.flush()
    _set_cookie(cookie, tok, int(PENDING_TTL.total_seconds()))
    return row, tok


def purge(s: Session, now: datetime | None = None) -> int:
    """Forget requests older than :data:`PURGE_AFTER`, and the unconfirmed files they held."""
    now = now or utcnow()
    old = list(s.scalars(select(WebPending).where(WebPending.created_at < now - PURGE_AFTER).limit(200)))
    for row in old:
        _drop_files(row)
        _scrub_codes(s, row)  # a code never sent (the worker masks those it sends): gone with its request
    if old:
        s.execute(delete(WebPending).where(WebPending.id.in_([r.id for r in old])))
    return len(old)


def _drop_files(row: WebPending) -> None:
    d = (row.data or {}).get("dir")
    if d:
        shutil.rmtree(media_dir() / "pending" / d, ignore_errors=True)


def check_code(s: Session, row: WebPending, code: str, now: datetime, valid: bool = True) -> str | None:
    """Check a code against the request; returns None when right, else the message to show.

    ``valid=False`` (a track request whose reference and phone matched nothing) answers exactly as
    a wrong code does, so a visitor cannot tell someone else's reference from a missing one.
    """
    T = _t()
    if row.locked_until and row.locked_until > now:
        return T["e_locked"].format(minutes=max(1, int((row.locked_until - now).total_seconds() // 60) + 1))
    if not re.fullmatch(r"\d{6}", code):
        return T["e_code_format"]
    if row.code_hash is None or row.code_expires_at is None or row.code_expires_at < now:
        return T["e_code_expired"]
    if valid and hmac.compare_digest(row.code_hash, _code_hash(row.token_hash, code)):
        return None
    row.tries = (row.tries or 0) + 1
    if row.tries >= MAX_TRIES:
        row.locked_until, row.code_hash = now + COOLDOWN, None
        _scrub_codes(s, row)
        return T["e_locked"].format(minutes=int(COOLDOWN.total_seconds() // 60))
    return T["e_code_wrong"].format(left=MAX_TRIES - row.tries)


def resend(s: Session, row: WebPending, now: datetime, really_send: bool = True) -> str | None:
    """Send a new code if the limits allow; returns None when sent, else the message to show."""
    T = _t()
    if row.locked_until and row.locked_until > now:
        return T["e_locked"].format(minutes=max(1, int((row.locked_until - now).total_seconds() // 60) + 1))
    if (row.sends or 0) >= MAX_SENDS:
        return T["e_resend_max"]
    if row.last_sent_at and now - row.last_sent_at < RESEND_AFTER:
        return T["e_resend_wait"].format(seconds=int((RESEND_AFTER - (now - row.last_sent_at)).total_seconds()) + 1)
    refusal = otp_refusal(s, row.phone, now)
    if refusal:
        return refusal
    row.locked_until = None
    _issue_code(s, row, now, really_send)
    return None


# -- filing: the form, the files, the draft -----------------------------------------------------

def _read_fields(purpose: str) -> tuple[dict[str, Any], dict[str, str]]:
    z, T = get_zone(), _t()
    errors: dict[str, str] = {}
    form = {"phone": request.form.get("phone", "")[:40], "district": request.form.get("district", "")[:40],
            "name": _form_text("name", FIELD_MAX["name"])}
    if purpose == "file":
        form.update(description=_form_text("description", DESCRIPTION_MAX),
                    place=_form_text("place", FIELD_MAX["place"]), when=_form_text("when", FIELD_MAX["when"]),
                    category=request.form.get("category", "")[:40],
                    confidential=request.form.get("confidential") == "1")
        if len(form["description"]) > DESCRIPTION_MAX:
            errors["description"] = T["e_description_long"].format(n=DESCRIPTION_MAX)
        for f in ("place", "when"):
            if len(form[f]) > FIELD_MAX[f]:
                errors[f] = T["e_too_long"]
        if form["category"] and form["category"] not in z.category_by_key:
            errors["category"] = T["e_category"]
    if len(form["name"]) > FIELD_MAX["name"]:
        errors["name"] = T["e_too_long"]
    if form["district"] and form["district"] not in z.district_by_key:
        errors["district"] = T["e_district"]
    phone = phones.sender(form["phone"])
    if phone is None:
        errors["phone"] = T["e_phone"]
    elif not otp_phone_ok(phone):
        errors["phone"] = T["e_phone_country"].format(countries=otp_countries_text())
    form["e164"] = phone
    return form, errors


def _store_uploads(purpose: str, subdir: str) -> tuple[list[dict[str, Any]], str | None]:
    """Stream the uploads into a pending folder, sniffing and hashing them; ([], message) on any problem."""
    lim, T = get_zone().limits, _t()
    size_text = human_size(lim.web_max_file_bytes)
    key = "video" if purpose == "video" else "files"
    uploads = [f for f in request.files.getlist(key) if f and f.filename]
    if len(uploads) > lim.web_max_files or (purpose == "video" and len(uploads) > 1):
        return [], T["e_too_many"].format(n=1 if purpose == "video" else lim.web_max_files)
    if purpose == "video" and not uploads:
        return [], T["e_video_required"]
    folder = media_dir() / "pending" / subdir
    stored: list[dict[str, Any]] = []
    for i, fs in enumerate(uploads):
        name = clean_text(os.path.basename(fs.filename.replace("\\", "/")), 120)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{i}.part"
        h, size, head, err = hashlib.sha256(), 0, b"", None
        try:
            with tmp.open("wb") as out:
                while chunk := fs.stream.read(64 * 1024):
                    size += len(chunk)
                    if size > lim.web_max_file_bytes:
                        err = T["e_too_large"].format(name=name, size=size_text)
                        break
                    if len(head) < 4096:
                        head += chunk[: 4096 - len(head)]
                    h.update(chunk)
                    out.write(chunk)
        except BaseException:  # client gone, disk full: keep nothing half-way
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if err is None and size == 0:
            err = T["e_empty_file"].format(name=name)
        got = sniff(head) if err is None else None
        if err is None and (got is None or got[1] not in ALLOWED_KINDS[purpose]):
            err = T["e_not_video" if purpose == "video" else "e_bad_type"].format(name=name)
        if err is not None:
            shutil.rmtree(folder, ignore_errors=True)
            return [], err
        stored.append({"tmp": tmp.name, "sha256": h.hexdigest(), "size": size, "mime": got[0], "kind": got[1],
                       "claimed": (fs.mimetype or "")[:100], "name": name})
    return stored, None


def _understand(form: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Prefill what the citizen left blank from their own words (bot.nlu), never overriding a choice."""
    z = get_zone()
    auto: dict[str, Any] = {"district": form.get("district") or None, "category": form.get("category") or None,
                            "station": None, "place": form.get("place") or None, "incident_at": None,
                            "incident_text": form.get("when") or None}
    try:
        text = " ".join(x for x in (form.get("description"), form.get("place")) if x)
        r = nlu.extract(text, now, hint_district=auto["district"]) if text else None
        if r is not None:
            auto["district"] = auto["district"] or r.district
            auto["category"] = auto["category"] or r.category
            auto["place"] = auto["place"] or r.place
            if r.station and (st := z.station_by_code.get(r.station)) is not None:
                if auto["district"] in (None, st.district):
                    auto["station"], auto["district"] = st.code, st.district
            if not form.get("when") and r.incident_text:
                auto["incident_text"], auto["incident_at"] = r.incident_text, r.incident_at
        if form.get("when"):
            tm = parse_time(form["when"], now)
            auto["incident_at"] = tm.at if tm else None
    except Exception:  # understanding is a convenience; the cell completes what is missing
        log.exception("web: nlu prefill failed")
    if auto["incident_at"] is not None:
        auto["incident_at"] = auto["incident_at"].isoformat()
    return auto


def _summary(row: WebPending) -> list[tuple[str, str]]:
    z, T, d = get_zone(), _t(), row.data or {}
    lang = g.lang
    out = [(T["f_phone"], _mask(row.phone))]
    if row.purpose == "file":
        out.append((T["f_description"], d.get("description") or "-"))
        auto = d.get("auto") or {}
        if (dist := z.district_by_key.get(auto.get("district") or "")) is not None:
            out.append((T["f_district"], messages.name(dist, lang)))
        if (cat := z.category_by_key.get(auto.get("category") or "")) is not None:
            out.append((T["f_category"], messages.name(cat, lang)))
        for k, label in (("place", "f_place"), ("when", "f_when"), ("name", "f_name")):
            if d.get(k):
                out.append((T[label], d[k]))
    elif d.get("name"):
        out.append((T["f_name"], d["name"]))
    if d.get("files"):
        out.append((T["files_n"].format(n=len(d["files"])), ", ".join(f["name"] for f in d["files"])))
    return out


def _code_page(row: WebPending, action: str, errors: dict[str, str] | None = None, status: int = 200,
               track: bool = False, notice: str | None = None):
    T = _t()
    sent = (T["code_sent_track"] if track else T["code_sent"]).format(phone=_mask(row.phone))
    return page("web/code.html", status, sent=sent, action=action, errors=errors or {}, notice=notice,
                summary=None if track else _summary(row))


def _register(s: Session, row: WebPending, now: datetime) -> Complaint:
    """Turn a confirmed request into citizen, attachments and complaint, in the caller's transaction."""
    from models.conversations import find_citizen

    d = row.data or {}
    cit = find_citizen(s, row.phone, None, profile_name=d.get("name") or None)
    cit.sms_ok = True  # the number was just proven by the code
    cit.language = row.language
    if d.get("name") and not cit.name:
        cit.name = d["name"]
    atts: list[Attachment] = []
    pend = media_dir() / "pending" / (d.get("dir") or "-")
    for f in d.get("files") or []:
        ext = f["mime"].split("/")[-1].replace("x-matroska", "mkv").replace("quicktime", "mov")
        final = media_dir() / f"{f['sha256']}.{ext}"
        if not final.exists():
            try:
                os.link(pend / f["tmp"], final)
            except OSError:
                shutil.copyfile(pend / f["tmp"], final)
        atts.append(Attachment(claimed_type=f["claimed"] or None, mime=f["mime"], kind=f["kind"], size=f["size"],
                               sha256=f["sha256"], path=str(final), status="stored", created_at=now))
    s.add_all(atts)
    s.flush()
    auto = d.get("auto") or {}
    inc = auto.get("incident_at")
    if row.purpose == "video":
        draft = ComplaintDraft(description=VIDEO_DESCRIPTION, language=row.language,
                               district=d.get("district") or None, complainant_name=d.get("name") or None,
                               needs_interpreter=True, attachment_ids=[a.id for a in atts], extra={"source": "web"})
    else:
        draft = ComplaintDraft(
            description=d.get("description") or "", language=row.language, category=auto.get("category"),
            district=auto.get("district"), place=auto.get("place"), station_code=auto.get("station"),
            incident_at=datetime.fromisoformat(inc) if inc else None, incident_text=auto.get("incident_text"),
            complainant_name=d.get("name") or None, confidential=bool(d.get("confidential")),
            attachment_ids=[a.id for a in atts], extra={"source": "web"})
    c = register_complaint(s, draft, channel="web", citizen=cit, phone=row.phone, now=now)
    if row.purpose == "video":
        for a in atts:  # a video job per file (channels.media_jobs): checked, keyframes, transcribed
            outbox.add(s, f"video:{a.id}", "video", {"attachment_id": a.id})
    return c


def _file_get(purpose: str):
    action = "/video" if purpose == "video" else "/complaint"
    if request.args.get("new") is None:
        with db.session() as s:
            row = _load_pending(s, FILE_COOKIE, (purpose,))
            if row is not None and row.complaint_id:
                c = s.get(Complaint, row.complaint_id)
                return page("web/done.html", ref=c.ref, video=purpose == "video")
            if row is not None and row.code_hash is not None:
                return _code_page(row, action)
    return _form_page(purpose, {}, {})


def _form_page(purpose: str, form: dict, errors: dict[str, str], status: int = 200):
    z, lim = get_zone(), get_zone().limits
    return page("web/video.html" if purpose == "video" else "web/complaint.html", status, form=form, errors=errors,
                districts=[(d.key, messages.name(d, g.lang)) for d in z.districts],
                categories=[(c.key, messages.name(c, g.lang)) for c in z.categories],
                max_files=1 if purpose == "video" else lim.web_max_files, max_bytes=lim.web_max_file_bytes,
                max_size=human_size(lim.web_max_file_bytes), accept=ACCEPT[purpose])


def _file_post(purpose: str):
    T = _t()
    action = "/video" if purpose == "video" else "/complaint"
    try:
        step = request.form.get("step", "")
    except RequestEntityTooLarge:
        return _form_page(purpose, {}, {"files": T["e_request_large"]}, 413)
    if not csrf_ok():
        return message(T["e_csrf"], 400)
    now = utcnow()
    if step == "submit":
        form, errors = _read_fields(purpose)
        subdir = secrets.token_hex(16)
        files: list[dict[str, Any]] = []
        if not errors:
            files, ferr = _store_uploads(purpose, subdir)
            if ferr:
                errors["video" if purpose == "video" else "files"] = ferr
        if purpose == "file" and not errors and not form["description"] and not files:
            errors["description"] = T["e_description"]
        if errors:
            return _form_page(purpose, form, errors, 400)
        data = {k: form[k] for k in ("description", "place", "when", "name", "category", "district", "confidential")
                if k in form}
        data.update(files=files, dir=subdir if files else None)
        if purpose == "file":
            data["auto"] = _understand(form, now)
        with db.session() as s:
            purge(s, now)
            refusal = otp_refusal(s, form["e164"], now)
            if refusal:
                shutil.rmtree(media_dir() / "pending" / subdir, ignore_errors=True)
                return _form_page(purpose, form, {"phone": refusal}, 429)
            row, _ = _new_pending(s, purpose, form["e164"], data, FILE_COOKIE)
            _issue_code(s, row, now)
            s.commit()
            return _code_page(row, action)
    with db.session() as s:
        row = _load_pending(s, FILE_COOKIE, (purpose,))
        if row is None:
            return _form_page(purpose, {}, {"form": T["e_expired"]}, 400)
        if row.complaint_id:  # a second click after success: show the same reference
            return redirect(action, 303)
        if step == "resend":
            err = resend(s, row, now)
            s.commit()
            return _code_page(row, action, {"code": err} if err else None, 429 if err else 200)
        if step != "verify":
            return message(T["e_generic"], 400)
        err = check_code(s, row, request.form.get("code", "").strip(), now)
        if err:
            s.commit()
            return _code_page(row, action, {"code": err}, 400)
        # Claim the request so a double submit registers once; the loser sees the winner's reference.
        res = s.execute(update(WebPending).where(WebPending.id == row.id, WebPending.verified_at.is_(None))
                        .values(verified_at=now))
        if res.rowcount != 1:
            s.rollback()
            return redirect(action, 303)
        c = _register(s, row, now)
        _scrub_codes(s, row)
        row.complaint_id, row.code_hash = c.id, None
        row.data = {k: (row.data or {}).get(k) for k in ("dir", "addr", "sms")}  # the budgets still count it
        s.commit()
    _drop_files(row)
    return redirect(action, 303)


@bp.get("/complaint")
def complaint_get():
    """The complaint form (or, mid-request, the code page; after it, the reference)."""
    return _file_get("file")


@bp.post("/complaint")
def complaint_post():
    """Submit the form (code sent), confirm the code (complaint registered) or ask for a new code."""
    return _file_post("file")


@bp.get("/video")
def video_get():
    """The sign-language video upload page."""
    return _file_get("video")


@bp.post("/video")
def video_post():
    """Submit a sign-language video; registered after the code, flagged for an interpreter."""
    return _file_post("video")


# -- tracking and rating ------------------------------------------------------------------------

def normalise_ref(raw: str) -> str:
    """``knp 7f3k9q`` → ``KNP-7F3K9Q``; anything else is returned upper-cased for the format check."""
    s = re.sub(r"[\s_]+", "", (raw or "").upper())[:20]
    if re.fullmatch(r"[A-Z]{3}[A-Z0-9]{6}", s):
        s = s[:3] + "-" + s[3:]
    return s


def _chain_levels(c: Complaint) -> list[tuple[str, str]]:
    z = get_zone()
    district = c.district if c.district in z.district_by_key else (c.station.district if c.station else None)
    chain = z.chain_for(district) if district else z.chains.get("district_police") or next(iter(z.chains.values()))
    return [(r, messages.name(z.ranks[r], g.lang)) for r in chain]


def _officer(s: Session, posting_id: int | None) -> dict[str, str] | None:
    p = s.get(Posting, posting_id) if posting_id else None
    if p is None:
        return None
    return {"name": p.officer.name, "phone": p.phone or p.officer.phone or ""}


def _timeline(s: Session, c: Complaint) -> list[tuple[str, str]]:
    z, T, lang = get_zone(), _t(), g.lang
    items: list[tuple[str, str]] = []
    for ev in s.scalars(select(Event).where(Event.complaint_id == c.id).order_by(Event.at, Event.id)):
        k, d = ev.kind, ev.data or {}
        if k == "registered":
            text = T["ev_registered"]
        elif k in ("routed", "rerouted", "transferred"):
            st = z.station_by_code.get(d.get("station") or d.get("to") or "")  # a re-route names it 'to'
            if st is None and c.station is not None:
                st = z.station_by_code.get(c.station.code)
            text = T["ev_routed"].format(station=(messages.name(st, lang)) if st else "-")
        elif k == "assigned":
            o = _officer(s, d.get("posting_id") or d.get("posting") or c.assigned_posting_id)
            text = T["ev_assigned"].format(officer=o["name"] if o else "-")
        elif k == "disposed":
            text = T["ev_disposed"].format(outcome=_outcome(d.get("outcome") or c.outcome, c.outcome_number))
        elif k in ("reopened", "closed"):
            text = T[f"ev_{k}"]
        elif k in ("feedback", "rated"):
            text = T["ev_feedback"]
        elif k.startswith("escalat"):
            text = T["ev_escalated"]
        else:
            continue
        items.append((local_time(ev.at), text))
    return items


def _outcome(key: str | None, number: str | None) -> str:
    o = get_zone().outcomes.get(key or "")
    name = (messages.name(o, g.lang)) if o else (key or "-")
    return f"{name} ({number})" if number else name


def rate(s: Session, c: Complaint, rating: int, comment: str, level: str) -> str:
    """Record the citizen's rating via tickets.actions.rate ('ok', 'not_disposed', 'already', 'invalid')."""
    from tickets import actions

    return actions.rate(s, c, rating, comment, level or None, actor="citizen")


def _track_session(s: Session) -> tuple[WebPending | None, Complaint | None]:
    row = _load_pending(s, TRACK_COOKIE, ("track",))
    if row is None or row.verified_at is None or row.verified_at < utcnow() - TRACK_TTL or not row.complaint_id:
        return row, None
    return row, s.get(Complaint, row.complaint_id)


def _track_view(s: Session, c: Complaint, notice: str | None = None, errors: dict | None = None, status: int = 200):
    T = _t()
    officer = _officer(s, c.assigned_posting_id)
    st = c.station
    fb = s.scalar(select(Feedback).where(Feedback.complaint_id == c.id).order_by(Feedback.id.desc()).limit(1))
    if fb is not None and c.disposed_at is not None and fb.created_at < c.disposed_at:
        fb = None  # a rating of an earlier disposal: this one may be rated (actions.rate: once per disposal)
    return page("web/timeline.html", status, c=c, ref=c.ref, status_text=T.get(f"st_{c.status}", c.status),
                station=(messages.name(st, g.lang)) if st else None,
                station_phone=st.phone if st else None, officer=officer,
                due=local_time(c.due_at) if c.status not in ("disposed", "closed") else None,
                outcome=_outcome(c.outcome, c.outcome_number) if c.outcome else None,
                items=_timeline(s, c), can_rate=c.status in ("disposed", "closed") and fb is None,
                rated=fb.rating if fb else None, levels=_chain_levels(c), notice=notice, errors=errors or {})


@bp.get("/track")
def track_get():
    """The tracking form, the code page mid-request, or the timeline once the code was right."""
    if request.args.get("new") is None:
        with db.session() as s:
            row, c = _track_session(s)
            if c is not None:
                return _track_view(s, c)
            if row is not None and row.verified_at is None and (row.code_hash or row.locked_until):
                return _code_page(row, "/track", track=True)
    return page("web/track.html", form={})


@bp.post("/track")
def track_post():
    """Start tracking (reference + phone → code), confirm the code, ask for a new one, or rate."""
    T = _t()
    if not csrf_ok():
        return message(T["e_csrf"], 400)
    step, now = request.form.get("step", ""), utcnow()
    with db.session() as s:
        if step == "start":
            ref = normalise_ref(request.form.get("ref", ""))
            raw_phone = request.form.get("phone", "")[:40]
            phone = phones.sender(raw_phone)
            errors = {}
            if not REF_RX.fullmatch(ref):
                errors["ref"] = T["e_ref"]
            if phone is None:
                errors["phone"] = T["e_phone"]
            elif not otp_phone_ok(phone):
                errors["phone"] = T["e_phone_country"].format(countries=otp_countries_text())
            form = {"ref": request.form.get("ref", "")[:40], "phone": raw_phone}
            if errors:
                return page("web/track.html", 400, form=form, errors=errors)
            purge(s, now)
            refusal = otp_refusal(s, phone, now)  # the same answer whether the reference matches or not
            if refusal:
                return page("web/track.html", 429, form=form, errors={"phone": refusal})
            # a WhatsApp complaint may carry only its chat (a WhatsApp id with no number)
            c = s.scalar(select(Complaint).where(
                Complaint.ref == ref, or_(Complaint.phone == phone, Complaint.chat_address == f"whatsapp:{phone}")))
            row, _ = _new_pending(s, "track", phone, {"ref": ref}, TRACK_COOKIE, sms=c is not None)
            row.complaint_id = c.id if c is not None else None
            # No match: no SMS, but the same page and the same counters, so the answers are identical.
            _issue_code(s, row, now, really_send=c is not None)
            s.commit()
            return _code_page(row, "/track", track=True)
        row = _load_pending(s, TRACK_COOKIE, ("track",))
        if row is None:
            return page("web/track.html", 400, form={}, errors={"form": T["e_expired"]})
        if step == "resend":
            err = resend(s, row, now, really_send=row.complaint_id is not None)
            s.commit()
            return _code_page(row, "/track", {"code": err} if err else None, 429 if err else 200, track=True)
        if step == "verify":
            if row.verified_at is not None:
                return redirect("/track", 303)
            err = check_code(s, row, request.form.get("code", "").strip(), now, valid=row.complaint_id is not None)
            if err:
                s.commit()
                return _code_page(row, "/track", {"code": err}, 400, track=True)
            row.verified_at, row.code_hash = now, None
            _scrub_codes(s, row)
            s.commit()
            return redirect("/track", 303)
        if step == "rate":
            row, c = _track_session(s)
            if c is None:
                return page("web/track.html", 400, form={}, errors={"form": T["e_expired"]})
            try:
                rating = int(request.form.get("rating", ""))
            except ValueError:
                rating = 0
            level = request.form.get("level", "")[:20]
            comment = _form_text("comment", FIELD_MAX["comment"])[: FIELD_MAX["comment"]]
            res = rate(s, c, rating, comment, level)
            s.commit()  # a refusal is an Event in the timeline too
            if res != "ok":
                return _track_view(s, c, errors={"rating": T.get(f"rate_{res}", T["e_generic"])}, status=400)
            fb = s.scalar(select(Feedback).where(Feedback.complaint_id == c.id).order_by(Feedback.id.desc()).limit(1))
            sent_to = fb.addressed_to if fb is not None else level  # the level the rating actually went to
            names = dict(_chain_levels(c))
            return _track_view(s, c, notice=T["rate_ok"].format(level=names.get(sent_to, sent_to)))
        if step == "forget":
            row.verified_at = None
            row.complaint_id = None
            s.commit()
            return redirect("/track?new=1", 303)
    return message(T["e_generic"], 400)
