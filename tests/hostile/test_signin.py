# ruff: noqa: S106, F811  (test passwords; the console fixtures imported below)
"""Console sign-in from the attacker's side (issue 14, findings 7 and 8).

- The password is verified (argon2, slow by design) with no database transaction open, so a crowd of
  unauthenticated sign-ins cannot hold SQLite's write lock and stall the webhooks or time out (500).
- Wrong guesses slow down that *username* from every address, yet its officer, with the right password
  and a fresh code, signs in at once: nobody can be locked out. Each address has a budget of failures
  too (429 with Retry-After, before any hashing), keyed on the peer address, or on the client named in
  X-Forwarded-For only through the ``BHAROSA_TRUSTED_PROXIES`` proxies in front of the app.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time

import pyotp
import pytest
from argon2 import PasswordHasher

from models import db as database
from tests.conftest import SignedClient, load_fixture
from tests.console.conftest import PASSWORD, csrf_of, officers, sign_in, totp_clock  # noqa: F401 - fixtures

WRONG = "Wrong username, password or code."


def _post(client, username: str, password: str, code: str, ip: str, headers: dict | None = None):
    tok = csrf_of(client.get("/console/login", environ_base={"REMOTE_ADDR": ip}, headers=headers).get_data(
        as_text=True))
    return client.post("/console/login", data={"csrf_token": tok, "username": username, "password": password,
                                                "code": code}, environ_base={"REMOTE_ADDR": ip}, headers=headers)


def _error(r) -> str:
    m = re.search(r'<p class="error"[^>]*>(.*?)</p>', r.get_data(as_text=True), re.S)
    assert m, "no error message on the page"
    return m.group(1)


class _Probe(PasswordHasher):
    """argon2 itself, reporting what the database looked like at each verify."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, bool]] = []  # (pooled connections checked out, SQLite write-locked)

    def verify(self, hash, password):  # noqa: A002 - argon2's own parameter name
        locked = False
        if database.is_sqlite:
            con = sqlite3.connect(database.url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
            try:
                con.execute("BEGIN IMMEDIATE")
                con.execute("ROLLBACK")
            except sqlite3.OperationalError:
                locked = True
            finally:
                con.close()
        self.seen.append((database.engine.pool.checkedout(), locked))
        return super().verify(hash, password)


def test_the_password_is_verified_with_no_transaction_open(db, app, officers, monkeypatch):
    probe = _Probe()
    monkeypatch.setattr("console.auth.HASHER", probe)
    sho = officers["sho.knp-kotwali"]
    assert sign_in(app.test_client(), sho, password="a wrong guess", ip="203.0.113.20").status_code == 401
    assert sign_in(app.test_client(), sho, ip="203.0.113.21").status_code == 302
    assert _post(app.test_client(), "nobody.here", "guess", "123456", "203.0.113.22").status_code == 401
    assert len(probe.seen) == 3
    assert probe.seen == [(0, False)] * 3, "argon2 ran inside a database transaction (connection held / locked)"


def test_a_crowd_of_sign_ins_never_500s_and_webhooks_still_answer(db, app, officers, totp_clock):
    """96 sign-ins, 16 at a time (the review's numbers), while an SMS webhook keeps arriving."""
    names = sorted(officers)[:16]
    n_threads, per_thread = 16, 6
    assert len(names) == n_threads
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(n_threads + 1)
    done = threading.Event()

    def crowd(i: int):
        c = app.test_client()
        start.wait()
        for j in range(per_thread):
            who = officers[names[(i + j) % len(names)]]
            try:
                if j == per_thread - 1:  # the last try of each thread is an officer's own, right, sign-in
                    own = officers[names[i]]  # (the TOTP clock stands still: every code is for its step)
                    st = sign_in(c, own, code=pyotp.TOTP(own.secret).at(totp_clock()), ip=f"198.51.100.{i + 1}"
                                 ).status_code
                else:
                    st = _post(c, who.username if j % 2 else f"made.up.{i}.{j}", "guess", "000000",
                               f"198.51.100.{i + 1}").status_code
            except Exception:  # noqa: BLE001 - TESTING propagates what a server would answer 500 to
                st = 500
            with lock:
                statuses.append(st)

    threads = [threading.Thread(target=crowd, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    hook = SignedClient(app.test_client())
    start.wait()
    waits = []
    k = 0
    while any(t.is_alive() for t in threads) and k < 200:
        sid = f"SM{k:032x}"
        t0 = time.monotonic()
        r = hook.post("/twilio/sms", load_fixture("sms", "text", MessageSid=sid, SmsSid=sid,
                                                 From=f"+9198390{k:05d}", Body="mera phone chori ho gaya"))
        waits.append(time.monotonic() - t0)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        k += 1
        time.sleep(0.05)
    for t in threads:
        t.join(120)
    done.set()
    assert len(statuses) == n_threads * per_thread
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses.count(302) == n_threads  # every officer's own sign-in, guessed at or not
    assert k >= 3 and max(waits) < 2.5, f"a webhook waited {max(waits):.2f} s behind the sign-ins ({k} sent)"


# -- finding 8: no lock-out, a delay per username, a budget per address -----------------------------------------
def test_wrong_guesses_slow_the_username_from_every_address_but_never_lock_its_officer_out(db, app, officers):
    sho = officers["sho.knp-kotwali"]
    for _ in range(3):  # the free failures, from one address
        assert sign_in(app.test_client(), sho, password="guess", ip="203.0.113.9").status_code == 401
    wrong = sign_in(app.test_client(), sho, password="guess", ip="203.0.113.9")
    assert wrong.status_code == 429 and int(wrong.headers["Retry-After"]) >= 1
    # A new address is no fresh budget for guessing this username ...
    for ip in ("198.51.100.77", "192.0.2.5"):
        r = sign_in(app.test_client(), sho, password="guess", ip=ip)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # ... and during the delay the right password with a wrong code answers exactly as a wrong one:
    # the delay is no oracle for the password.
    half = sign_in(app.test_client(), sho, code="000000", ip="198.51.100.78")
    assert half.status_code == 429 and _error(half) == _error(r) and "Retry-After" in half.headers
    # The SHO, with password and a fresh code, signs in at once: from elsewhere, and from the
    # attacker's own address (a shared office NAT).
    assert sign_in(app.test_client(), sho, ip="10.1.2.3").status_code == 302
    # The success ends the delay for the username.
    assert sign_in(app.test_client(), sho, password="guess", ip="192.0.2.6").status_code == 401
    assert sign_in(app.test_client(), sho, ip="203.0.113.9").status_code == 302


def test_an_address_over_its_budget_gets_429_before_any_hashing(db, app, officers, monkeypatch):
    from console.auth import ADDR_FAILURES

    probe = _Probe()
    monkeypatch.setattr("console.auth.HASHER", probe)
    ip = "203.0.113.50"
    for i in range(ADDR_FAILURES):  # a new made-up username each time: no username delay helps here
        assert _post(app.test_client(), f"guess.{i}", "guess", "000000", ip).status_code == 401
    hashed = len(probe.seen)
    r = _post(app.test_client(), "guess.last", "guess", "000000", ip)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 60
    assert len(probe.seen) == hashed  # refused before argon2: no CPU for the attacker to burn
    # Other addresses are unaffected: the SHO signs in.
    assert sign_in(app.test_client(), officers["sho.knp-kotwali"], ip="10.1.2.3").status_code == 302


def test_a_forged_forwarded_for_is_ignored_without_trusted_proxies(db, app, officers):
    from console.auth import ADDR_FAILURES

    ip = "203.0.113.51"
    for i in range(ADDR_FAILURES):
        r = _post(app.test_client(), f"guess.{i}", "guess", "000000", ip, headers={"X-Forwarded-For": f"10.7.0.{i}"})
        assert r.status_code == 401
    r = _post(app.test_client(), "guess.x", "guess", "000000", ip, headers={"X-Forwarded-For": "10.8.0.1"})
    assert r.status_code == 429


@pytest.fixture
def proxied_app(db, redis_conn, recorder, monkeypatch):
    """The app behind one trusted proxy (a load balancer that appends the client to X-Forwarded-For)."""
    from app import create_app

    monkeypatch.setenv("BHAROSA_TRUSTED_PROXIES", "1")
    return create_app(db.url, check_env=False, TESTING=True)


def test_behind_a_trusted_proxy_the_budget_is_the_clients_not_the_proxys(db, proxied_app, officers):
    from console.auth import ADDR_FAILURES

    lb = "10.0.0.5"  # every request arrives from the load balancer
    for i in range(ADDR_FAILURES):  # the attacker forges a left-most entry; the proxy appends the real one
        r = _post(proxied_app.test_client(), f"guess.{i}", "guess", "000000", lb,
                  headers={"X-Forwarded-For": f"10.9.9.{i}, 203.0.113.60"})
        assert r.status_code == 401
    r = _post(proxied_app.test_client(), "guess.x", "guess", "000000", lb,
              headers={"X-Forwarded-For": "10.9.9.200, 203.0.113.60"})
    assert r.status_code == 429
    # The officer, through the same load balancer from another client address, is not affected.
    sho = officers["sho.knp-kotwali"]
    c = proxied_app.test_client()
    xff = {"X-Forwarded-For": "198.51.100.61"}
    tok = csrf_of(c.get("/console/login", environ_base={"REMOTE_ADDR": lb}, headers=xff).get_data(as_text=True))
    r = c.post("/console/login", data={"csrf_token": tok, "username": sho.username, "password": PASSWORD,
                                        "code": sho.code()}, environ_base={"REMOTE_ADDR": lb}, headers=xff)
    assert r.status_code == 302


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_a_bad_trusted_proxies_value_stops_start_up_naming_it(db, monkeypatch, value):
    from app import create_app
    from zone import ConfigError

    monkeypatch.setenv("BHAROSA_TRUSTED_PROXIES", value)
    with pytest.raises(ConfigError, match="BHAROSA_TRUSTED_PROXIES"):
        create_app(db.url, check_env=False, TESTING=True)
