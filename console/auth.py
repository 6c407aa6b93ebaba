"""Sign-in for officers: argon2 passwords, a TOTP second factor, server-side sessions, CSRF, throttling.

Repeated failures slow down that *username* from every address (an exponential delay, capped), but
the right password with a fresh code signs in even during the delay: nobody is ever locked out, so
an attacker cannot lock an SHO out of the console. Each client address has a budget of failures too
(``ADDR_FAILURES``, then a wait of ``ADDR_WINDOW_S``, refused before any hashing); the address is
``request.remote_addr``, which app.py's ProxyFix takes from X-Forwarded-For only through the
``BHAROSA_TRUSTED_PROXIES`` proxies in front of the app.

The password is verified (argon2, slow by design) with no database transaction open: one short read
before it, one short write after it, so sign-ins never hold SQLite's write lock while hashing.

The session cookie holds only a random id (and the CSRF token); its sha256 names a ``console_session``
row that logout, an idle timeout (``console.idle_minutes``), ``SESSION_HOURS`` or a new password end.

``python -m console.auth passwd USERNAME`` sets an officer's password and prints a new TOTP secret
(as an otpauth:// URI for an authenticator app).
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import hmac
import secrets
import sys
import time
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import case, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, object_session

from console import language
from console.language import t
from models import ConsoleSession, Officer, Posting, db, utcnow
from models.tables import LoginThrottle
from tickets.scope import Scope, active_postings, scope_of
from zone import get_zone, settings

bp = Blueprint("console_auth", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
HASHER = PasswordHasher()
# A hash to verify against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = HASHER.hash(secrets.token_hex(16))
FREE_FAILURES = 3  # failures of one username allowed before any delay
MAX_DELAY_S = 300
USER_MEMORY_S = 24 * 3600  # a username's failures are forgotten after a day without one
ADDR_FAILURES = 30  # failed sign-ins one address may make (a station's NAT holds many officers) ...
ADDR_WINDOW_S = 900  # ... before it waits this long after its last failure
SESSION_HOURS = 12  # a session ends this long after sign-in, however busy
SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often (not on every page view)
CSRF_EXEMPT_PREFIXES = ("/open311/",)  # api_key, not cookies
ISSUER = "Bharosa"
TOTP_WINDOW = 1  # steps either side of now a code may be for (clock drift between phone and server)
totp_clock = time.time  # seconds since the epoch for TOTP steps; tests replace it to move time on


# -- passwords and TOTP ----------------------------------------------------------------------
def set_credentials(officer: Officer, password: str, *, new_totp: bool = True) -> str | None:
    """Hash and set an officer's password; with ``new_totp``, draw a TOTP secret. Returns the secret.

    The officer's open console sessions end (in the officer's database session, when it has one): a
    cookie taken before the change is worth nothing after it.
    """
    officer.password_hash = HASHER.hash(password)
    if new_totp or not officer.totp_secret:
        officer.totp_secret = pyotp.random_base32()
        officer.totp_last_step = None  # steps used with the old secret say nothing about the new one
    s = object_session(officer)
    if s is not None and officer.id is not None:
        s.execute(update(ConsoleSession).where(ConsoleSession.officer_id == officer.id,
                                               ConsoleSession.ended_at.is_(None)).values(ended_at=utcnow()))
    return officer.totp_secret


def totp_uri(officer: Officer) -> str:
    return pyotp.TOTP(officer.totp_secret).provisioning_uri(name=officer.username, issuer_name=ISSUER)


def _check_password(password_hash: str | None, password: str) -> bool:
    """argon2 verify; an unknown officer or one without a password costs the same time and fails."""
    try:
        return HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def _totp_step(secret: str, code: str, now: float) -> int | None:
    """The time-step ``code`` is for, within TOTP_WINDOW steps of ``now``; the latest if several match."""
    totp = pyotp.TOTP(secret)
    t = totp.timecode(now)
    for step in range(t + TOTP_WINDOW, t - TOTP_WINDOW - 1, -1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _code_step(secret: str | None, code: str) -> int | None:
    """The time-step a typed code is for (spaces and dashes ignored), or None."""
    code = "".join(ch for ch in code if ch.isdigit())
    if not secret or len(code) != 6:
        return None
    return _totp_step(secret, code, totp_clock())


def _claim_step(s: Session, officer_id: int, password_hash: str, step: int) -> bool:
    """True once per code: the code's time-step must be later than the last one this officer used.

    The step is claimed with one conditional UPDATE, so of two sign-ins racing with the same code
    exactly one matches the row (PostgreSQL re-checks the WHERE after the other's commit; SQLite's
    BEGIN IMMEDIATE serialises the writers). A replayed code fails like any wrong code. The row must
    still hold the password hash that was verified (outside this transaction) and be active.
    """
    claimed = s.execute(update(Officer)
                        .where(Officer.id == officer_id, Officer.active.is_(True),
                               Officer.password_hash == password_hash,
                               or_(Officer.totp_last_step.is_(None), Officer.totp_last_step < step))
                        .values(totp_last_step=step)
                        .execution_options(synchronize_session=False))
    return claimed.rowcount == 1


# -- throttling ------------------------------------------------------------------------------
def _throttle_key(kind: str, value: str) -> str:
    """The login_throttle key of a username (``kind="user"``) or a client address (``kind="addr"``)."""
    if kind == "user":
        value = value.strip().lower()
    return hashlib.sha256(f"{kind}|{value}".encode()).hexdigest()


def delay_for(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive failures: 0, then 1, 2, 4 ... up to 5 minutes."""
    if failures < FREE_FAILURES:
        return 0.0
    return float(min(MAX_DELAY_S, 2 ** (failures - FREE_FAILURES)))


def _user_wait(row: LoginThrottle | None, now: datetime) -> float:
    """Seconds the username's delay still runs (0: none)."""
    if row is None:
        return 0.0
    return max(0.0, (row.last_failure_at + timedelta(seconds=delay_for(row.failures)) - now).total_seconds())


def _addr_wait(row: LoginThrottle | None, now: datetime) -> float:
    """Seconds until an address over its budget may try again (0: within budget)."""
    if row is None or row.failures < ADDR_FAILURES:
        return 0.0
    return max(0.0, (row.last_failure_at + timedelta(seconds=ADDR_WINDOW_S) - now).total_seconds())


def _record_failure(s: Session, key: str, forget_after_s: int) -> None:
    """One more failure for ``key``, counted from 1 again after ``forget_after_s`` without one.

    One upsert: concurrent failures neither lose a count nor collide on the insert.
    """
    now = utcnow()
    t = LoginThrottle.__table__
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    failures = case((t.c.last_failure_at < now - timedelta(seconds=forget_after_s), 1), else_=t.c.failures + 1)
    s.execute(insert(t).values(key=key, failures=1, last_failure_at=now)
              .on_conflict_do_update(index_elements=[t.c.key], set_={"failures": failures, "last_failure_at": now}))


# -- CSRF ------------------------------------------------------------------------------------
def csrf_token() -> str:
    tok = session.get("csrf")
    if not tok:
        tok = session["csrf"] = secrets.token_urlsafe(32)
    return tok


@bp.before_app_request
def _csrf_protect():
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if not request.path.startswith("/console") or request.path.startswith(CSRF_EXEMPT_PREFIXES):
        return None
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    tok = session.get("csrf") or ""
    if not tok or not hmac.compare_digest(sent.encode(), tok.encode()):
        abort(400, t("e_csrf"))
    return None


@bp.app_context_processor
def _globals():
    return {"csrf_token": csrf_token, "viewer": g.get("viewer"), "zone": get_zone(), "t": t, "name": language.name,
            "lang": language.lang(), "languages": language.languages}


# -- the signed-in viewer ----------------------------------------------------------------------
class Viewer:
    """The signed-in officer, the posting they act in, and its scope."""

    def __init__(self, officer: Officer, posting: Posting, scope: Scope, postings: list[Posting],
                 console_session: ConsoleSession | None = None) -> None:
        self.officer, self.posting, self.scope, self.postings = officer, posting, scope, postings
        self.console_session = console_session

    @property
    def role(self) -> str:
        return self.posting.role

    @property
    def actor(self) -> str:
        return f"officer:{self.officer.id}"


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def open_session(s: Session, officer_id: int, posting_id: int) -> str:
    """Open a console session for an officer acting in a posting.

    Returns:
        The random id to keep in the cookie as ``session["sid"]``; only its sha256 is stored.
    """
    sid, now = secrets.token_urlsafe(32), utcnow()
    s.add(ConsoleSession(sid_hash=_sid_hash(sid), officer_id=officer_id, posting_id=posting_id, created_at=now,
                         last_seen_at=now))
    return sid


def load_viewer(s: Session) -> Viewer | None:
    """The viewer of this request from the session cookie's id and its ``console_session`` row, or None.

    None when the row is missing or ended, idle longer than ``console.idle_minutes``, older than
    ``SESSION_HOURS``, or its officer is inactive or its posting no longer holds. An idle or expired
    row is ended here; ``last_seen_at`` moves on at most once a minute.
    """
    sid = session.get("sid")
    if not isinstance(sid, str) or not sid:
        return None
    row = s.scalar(select(ConsoleSession).where(ConsoleSession.sid_hash == _sid_hash(sid)))
    if row is None or row.ended_at is not None:
        return None
    now = utcnow()
    if (now - row.last_seen_at > timedelta(minutes=get_zone().console.idle_minutes)
            or now - row.created_at > timedelta(hours=SESSION_HOURS)):
        row.ended_at = now
        return None
    officer = s.get(Officer, row.officer_id)
    if officer is None or not officer.active:
        return None
    postings = active_postings(s, officer.id)
    posting = next((p for p in postings if p.id == row.posting_id), None)
    if posting is None:
        return None
    if now - row.last_seen_at >= SEEN_EVERY:
        row.last_seen_at = now
    return Viewer(officer, posting, scope_of(s, posting), postings, row)


def login_required(roles: tuple[str, ...] | None = None):
    """Decorator: the view gets ``s`` (a Session committed at the end) and ``viewer``; 403 for other roles."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kw):
            with db.session() as s:
                viewer = load_viewer(s)
                if viewer is None:
                    session.pop("sid", None)
                    return redirect(url_for("console_auth.login", next=request.full_path))
                if roles and viewer.role not in roles:
                    abort(403, t("e_role"))
                g.viewer = viewer
                return fn(s, viewer, *args, **kw)

        return wrapper

    return deco


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.queue")


def _login_page(error: str | None = None, status: int = 200, retry_after: float | None = None):
    resp = current_app.make_response((render_template("console/login.html", error=error,
                                                       next=request.form.get("next", "")), status))
    if retry_after is not None:
        resp.headers["Retry-After"] = str(int(retry_after) + 1)
    return resp


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with username, password and the 6-digit code from the authenticator app."""
    if request.method == "GET":
        return render_template("console/login.html", next=request.args.get("next", ""))
    username = (request.form.get("username") or "").strip()[:80]
    password = request.form.get("password") or ""
    code = request.form.get("code") or ""
    user_key, addr_key = _throttle_key("user", username), _throttle_key("addr", request.remote_addr or "?")
    # 1. A short read: the address's budget, the username's delay, the officer's row.
    now = utcnow()
    with db.session() as s:
        addr_wait = _addr_wait(s.get(LoginThrottle, addr_key), now)
        user_wait = _user_wait(s.get(LoginThrottle, user_key), now)
        officer = s.scalar(select(Officer).where(Officer.username == username)) if username and not addr_wait else None
        oid, pw_hash, secret, active = ((officer.id, officer.password_hash, officer.totp_secret, officer.active)
                                        if officer else (None, None, None, False))
    if addr_wait:  # before any hashing: a flood from one address costs us no CPU
        return _login_page(t("login_addr_wait"), 429, addr_wait)
    # 2. argon2, with no transaction open (and a rehash, should the parameters have changed).
    pw_ok = _check_password(pw_hash, password) and active
    step = _code_step(secret, code) if pw_ok else None
    new_hash = HASHER.hash(password) if step is not None and HASHER.check_needs_rehash(pw_hash) else None
    # 3. A short write: claim the code's step and open the session, or count the failure.
    from tickets.actions import event

    with db.session() as s:
        ok = step is not None and _claim_step(s, oid, pw_hash, step)
        postings = active_postings(s, oid) if ok else []
        if not ok or not postings:
            _record_failure(s, user_key, USER_MEMORY_S)
            _record_failure(s, addr_key, ADDR_WINDOW_S)
            event(s, None, "login_failed", "anonymous", user_known=oid is not None)
            if ok:
                return _login_page(t("login_no_posting"), 401)
            if user_wait:  # during the delay every failure answers alike: no hint the password was right
                left = delay_for(s.get(LoginThrottle, user_key).failures)
                return _login_page(t("login_user_wait"), 429, left)
            return _login_page(t("login_wrong"), 401)
        # Both factors proved: the username's delay is over (an address's budget is not reset by one success).
        s.execute(LoginThrottle.__table__.delete().where(LoginThrottle.key == user_key))
        if new_hash:
            s.execute(update(Officer).where(Officer.id == oid, Officer.password_hash == pw_hash)
                      .values(password_hash=new_hash))
        sid = open_session(s, oid, postings[0].id)
        event(s, None, "login", f"officer:{oid}", posting=postings[0].id)
    chosen = session.get(language.SESSION_KEY)
    session.clear()  # nothing from before the sign-in survives (session fixation), but the page language
    session.permanent = True
    session.update(sid=sid, csrf=secrets.token_urlsafe(32))
    if chosen in language.LANGUAGES:
        session[language.SESSION_KEY] = chosen
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    """End the session on the server too: a copy of the cookie is refused from now on."""
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        with db.session() as s:
            s.execute(update(ConsoleSession).where(ConsoleSession.sid_hash == _sid_hash(sid),
                                                   ConsoleSession.ended_at.is_(None)).values(ended_at=utcnow()))
    chosen = session.get(language.SESSION_KEY)
    session.clear()
    if chosen in language.LANGUAGES:
        session[language.SESSION_KEY] = chosen
    return redirect(url_for("console_auth.login"))


@bp.post("/language")
def switch_language():
    """The console's language for this browser (the header's switch), signed in or not; back to the page."""
    chosen = request.form.get("lang", "")
    if chosen not in language.LANGUAGES:
        abort(400, t("e_language", languages=", ".join(language.LANGUAGES)))
    session[language.SESSION_KEY] = chosen
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/posting")
@login_required()
def switch_posting(s: Session, viewer: Viewer):
    """Act in another of the officer's current postings (kept on the server-side session)."""
    try:
        pid = int(request.form.get("posting_id", ""))
    except ValueError:
        abort(400, t("e_choose", field="posting_id"))
    if pid not in {p.id for p in viewer.postings}:
        abort(404)
    viewer.console_session.posting_id = pid
    flash(t("done_posting"))
    return redirect(url_for("console.queue"))


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "passwd":
        print("usage: python -m console.auth passwd USERNAME", file=sys.stderr)
        return 2
    db.init(settings.get().database_url)
    with db.session() as s:
        officer = s.scalar(select(Officer).where(Officer.username == argv[1]))
        if officer is None:
            print(f"no officer '{argv[1]}'", file=sys.stderr)
            return 1
        pw = getpass.getpass("new password: ")
        if len(pw) < 10:
            print("a password needs at least 10 characters", file=sys.stderr)
            return 1
        set_credentials(officer, pw)
        print("scan or type into the authenticator app:", totp_uri(officer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
