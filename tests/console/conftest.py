"""Console fixtures: the sample officers with passwords and TOTP, a sign-in helper, ticket factories.

A TOTP code is good once (for a later time-step than the officer's last), so the console's TOTP clock
is a :class:`TotpClock` here and :meth:`Cred.code` moves it on a step before each code: a test may
sign the same officer in as often as it likes, and the check itself is the one production runs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pyotp
import pytest
from sqlalchemy import select

from bot.types import ComplaintDraft
from models import Complaint, Officer, Posting

PASSWORD = "correct horse battery staple"  # noqa: S105
CITIZEN = "+919839012345"


@dataclass
class Cred:
    username: str
    officer_id: int
    posting_id: int
    secret: str

    def code(self) -> str:
        """A code for a time-step not used yet: the tests' TOTP clock moves on first (when installed)."""
        from console import auth

        if isinstance(auth.totp_clock, TotpClock):
            auth.totp_clock.tick()
        return pyotp.TOTP(self.secret).at(auth.totp_clock())


class TotpClock:
    """The console's TOTP clock in tests: real time at the start, then one 30 s step per :meth:`tick`."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def tick(self, steps: int = 1) -> float:
        self.now += 30 * steps
        return self.now


@pytest.fixture(autouse=True)
def totp_clock(monkeypatch):
    clock = TotpClock()
    monkeypatch.setattr("console.auth.totp_clock", clock)
    return clock


_HASH: list[str] = []


@pytest.fixture
def officers(db):
    """Seeded officers (tickets.seed) with a password and TOTP secret each, keyed by username."""
    from console.auth import set_credentials
    from tickets.seed import seed

    out = {}
    with db.session() as s:
        seed(s)
        for o in s.scalars(select(Officer)):
            if not (o.username.endswith(("knp-kotwali", "knp-colonelganj", "jhs-kotwali")) or "." not in o.username
                    or o.username.startswith(("ig.", "cell.", "interpreter.", "co.jhansi", "acp.kanpur_nagar.kotwali",
                                              "dcp."))):
                continue
            if not _HASH:  # argon2 is slow by design (~0.1 s a hash): the shared test password is hashed once a run
                set_credentials(o, PASSWORD)
                _HASH.append(o.password_hash)
            o.password_hash = _HASH[0]  # sign-in still verifies it with argon2
            o.totp_secret, o.totp_last_step = pyotp.random_base32(), None  # each officer's own second factor
            secret = o.totp_secret
            p = s.scalar(select(Posting).where(Posting.officer_id == o.id).order_by(Posting.id))
            out[o.username] = Cred(o.username, o.id, p.id, secret)
    return out


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def sign_in(client, cred: Cred, password: str = PASSWORD, code: str | None = None, ip: str = "127.0.0.1"):
    page = client.get("/console/login", environ_base={"REMOTE_ADDR": ip})
    tok = csrf_of(page.get_data(as_text=True))
    return client.post("/console/login", data={"csrf_token": tok, "username": cred.username, "password": password,
                                                "code": code if code is not None else cred.code()},
                       environ_base={"REMOTE_ADDR": ip})


@pytest.fixture
def login(client):
    """Sign ``client`` in as an officer; returns a function giving a fresh CSRF token for forms."""

    def _login(cred: Cred):
        r = sign_in(client, cred)
        assert r.status_code == 302, r.get_data(as_text=True)[:500]
        return lambda path="/console/": csrf_of(client.get(path).get_data(as_text=True))

    return _login


def register(db, *, description="mera phone chori ho gaya", district="kanpur_nagar", category="theft_mobile",
             station_code="KNP-KOTWALI", phone=CITIZEN, channel="sms", **kw) -> tuple[int, str]:
    """Register a ticket through the ticket service (as a channel would); returns (id, ref)."""
    from tickets.actions import register_complaint

    draft = ComplaintDraft(description=description, district=district, category=category, station_code=station_code,
                           **kw)
    with db.session() as s:
        c = register_complaint(s, draft, channel=channel, phone=phone)
        return c.id, c.ref


@pytest.fixture
def ticket(db, drain):
    """Make a routed ticket: ``ticket(**draft_fields)`` → (id, ref)."""

    def _make(**kw):
        cid, ref = register(db, **kw)
        drain()
        with db.session() as s:
            assert s.get(Complaint, cid).station_id is not None
        return cid, ref

    return _make
