"""Sign-in for officers: argon2 passwords, a TOTP second factor, Flask sessions, CSRF, throttling.

Repeated failures slow down the next try for that username *from that address* (an exponential
delay, capped); nobody is ever locked out, so an attacker cannot lock an SHO out of the console.

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
from datetime import timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from console.scope import Scope, active_postings, scope_of
from models import Officer, Posting, db, utcnow
from models.tables import LoginThrottle
from zone import get_zone

bp = Blueprint("console_auth", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
HASHER = PasswordHasher()
# A hash to verify against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = HASHER.hash(secrets.token_hex(16))
FREE_FAILURES = 3  # failures allowed before any delay
MAX_DELAY_S = 300
SESSION_HOURS = 12
CSRF_EXEMPT_PREFIXES = ("/open311/",)  # api_key, not cookies
ISSUER = "Bharosa"
TOTP_WINDOW = 1  # steps either side of now a code may be for (clock drift between phone and server)
totp_clock = time.time  # seconds since the epoch for TOTP steps; tests replace it to move time on


# -- passwords and TOTP ----------------------------------------------------------------------
def set_credentials(officer: Officer, password: str, *, new_totp: bool = True) -> str | None:
    """Hash and set an officer's password; with ``new_totp``, draw a TOTP secret. Returns the secret."""
    officer.password_hash = HASHER.hash(password)
    if new_totp or not officer.totp_secret:
        officer.totp_secret = pyotp.random_base32()
        officer.totp_last_step = None  # steps used with the old secret say nothing about the new one
    return officer.totp_secret


def totp_uri(officer: Officer) -> str:
    return pyotp.TOTP(officer.totp_secret).provisioning_uri(name=officer.username, issuer_name=ISSUER)


def _check_password(officer: Officer | None, password: str) -> bool:
    try:
        return HASHER.verify(officer.password_hash if officer and officer.password_hash else _DUMMY_HASH,
                             password) and officer is not None and bool(officer.password_hash)
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


def _check_totp(s: Session, officer: Officer, code: str) -> bool:
    """True once per code: the code's time-step must be later than the last one this officer used.

    The step is claimed with one conditional UPDATE, so of two sign-ins racing with the same code
    exactly one matches the row (PostgreSQL re-checks the WHERE after the other's commit; SQLite's
    BEGIN IMMEDIATE serialises the writers). A replayed code fails like any wrong code.
    """
    code = "".join(ch for ch in code if ch.isdigit())
    if not officer.totp_secret or len(code) != 6:
        return False
    step = _totp_step(officer.totp_secret, code, totp_clock())
    if step is None:
        return False
    claimed = s.execute(update(Officer)
                        .where(Officer.id == officer.id,
                               or_(Officer.totp_last_step.is_(None), Officer.totp_last_step < step))
                        .values(totp_last_step=step)
                        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return False
    set_committed_value(officer, "totp_last_step", step)  # what the row now holds; nothing more to flush
    return True


# -- throttling ------------------------------------------------------------------------------
def _throttle_key(username: str, ip: str) -> str:
    return hashlib.sha256(f"{username.strip().lower()}|{ip}".encode()).hexdigest()


def delay_for(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive failures: 0, then 1, 2, 4 ... up to 5 minutes."""
    if failures < FREE_FAILURES:
        return 0.0
    return float(min(MAX_DELAY_S, 2 ** (failures - FREE_FAILURES)))


def wait_left(session: Session, key: str) -> float:
    row = session.get(LoginThrottle, key)
    if row is None:
        return 0.0
    left = (row.last_failure_at + timedelta(seconds=delay_for(row.failures)) - utcnow()).total_seconds()
    return max(0.0, left)


def _record_failure(session: Session, key: str) -> None:
    row = session.get(LoginThrottle, key)
    if row is None:
        session.add(LoginThrottle(key=key, failures=1, last_failure_at=utcnow()))
    else:
        row.failures += 1
        row.last_failure_at = utcnow()


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
        abort(400, "the form's CSRF token is missing or wrong; reload the page and try again")
    return None


@bp.app_context_processor
def _globals():
    return {"csrf_token": csrf_token, "viewer": g.get("viewer"), "zone": get_zone()}


# -- the signed-in viewer ----------------------------------------------------------------------
class Viewer:
    """The signed-in officer, the posting they act in, and its scope."""

    def __init__(self, officer: Officer, posting: Posting, scope: Scope, postings: list[Posting]) -> None:
        self.officer, self.posting, self.scope, self.postings = officer, posting, scope, postings

    @property
    def role(self) -> str:
        return self.posting.role

    @property
    def actor(self) -> str:
        return f"officer:{self.officer.id}"


def load_viewer(s: Session) -> Viewer | None:
    """The viewer of this request from the session cookie, or None (expired, ended posting, inactive)."""
    oid, pid, at = session.get("officer_id"), session.get("posting_id"), session.get("login_at", 0)
    if not oid or utcnow().timestamp() - at > SESSION_HOURS * 3600:
        return None
    officer = s.get(Officer, oid)
    if officer is None or not officer.active or session.get("pw") != (officer.password_hash or "")[-16:]:
        return None
    postings = active_postings(s, officer.id)
    posting = next((p for p in postings if p.id == pid), None)
    if posting is None:
        return None
    return Viewer(officer, posting, scope_of(s, posting), postings)


def login_required(roles: tuple[str, ...] | None = None):
    """Decorator: the view gets ``s`` (a Session committed at the end) and ``viewer``; 403 for other roles."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kw):
            with db.session() as s:
                viewer = load_viewer(s)
                if viewer is None:
                    session.pop("officer_id", None)
                    return redirect(url_for("console_auth.login", next=request.full_path))
                if roles and viewer.role not in roles:
                    abort(403, "your posting's role may not do this")
                g.viewer = viewer
                return fn(s, viewer, *args, **kw)

        return wrapper

    return deco


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.queue")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with username, password and the 6-digit code from the authenticator app."""
    if request.method == "GET":
        return render_template("console/login.html", next=request.args.get("next", ""))
    username = (request.form.get("username") or "").strip()[:80]
    password = request.form.get("password") or ""
    code = request.form.get("code") or ""
    ip = request.remote_addr or "?"
    key = _throttle_key(username, ip)
    with db.session() as s:
        left = wait_left(s, key)
        if left > 0:
            resp = current_app.make_response((render_template(
                "console/login.html", error=f"Too many failed tries. Wait {int(left) + 1} s and try again.",
                next=request.form.get("next", "")), 429))
            resp.headers["Retry-After"] = str(int(left) + 1)
            return resp
        officer = s.scalar(select(Officer).where(Officer.username == username)) if username else None
        ok = _check_password(officer, password) and officer.active and _check_totp(s, officer, code)
        postings = active_postings(s, officer.id) if ok else []
        if not ok or not postings:
            _record_failure(s, key)
            from routing.actions import event

            event(s, None, "login_failed", "anonymous", user_known=officer is not None)
            msg = "Wrong username, password or code." if not ok else "You have no current posting."
            return render_template("console/login.html", error=msg, next=request.form.get("next", "")), 401
        row = s.get(LoginThrottle, key)
        if row is not None:
            s.delete(row)
        if HASHER.check_needs_rehash(officer.password_hash):
            officer.password_hash = HASHER.hash(password)
        from routing.actions import event

        event(s, None, "login", f"officer:{officer.id}", posting=postings[0].id)
        session.clear()
        session.permanent = True
        session.update(officer_id=officer.id, posting_id=postings[0].id, login_at=utcnow().timestamp(),
                       pw=officer.password_hash[-16:], csrf=secrets.token_urlsafe(32))
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("console_auth.login"))


@bp.post("/posting")
@login_required()
def switch_posting(s: Session, viewer: Viewer):
    """Act in another of the officer's current postings."""
    try:
        pid = int(request.form.get("posting_id", ""))
    except ValueError:
        abort(400, "posting_id must be a number")
    if pid not in {p.id for p in viewer.postings}:
        abort(404)
    session["posting_id"] = pid
    flash("Posting changed.")
    return redirect(url_for("console.queue"))


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "passwd":
        print("usage: python -m console.auth passwd USERNAME", file=sys.stderr)
        return 2
    db.init()
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
