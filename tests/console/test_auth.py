# ruff: noqa: S106  (test passwords)
"""Sign-in: argon2, TOTP for every officer (each code good once), CSRF on every POST, throttling without
lock-out."""

import threading

import pyotp
from sqlalchemy import select

from models import Event, Officer
from models.tables import LoginThrottle
from tests.console.conftest import PASSWORD, csrf_of, sign_in


def test_password_is_argon2_and_totp_is_required(db, client, officers):
    sho = officers["sho.knp-kotwali"]
    with db.session() as s:
        assert s.get(Officer, sho.officer_id).password_hash.startswith("$argon2id$")
    assert sign_in(client, sho, code="000000").status_code == 401
    assert sign_in(client, sho, password="wrong password").status_code == 401
    assert client.get("/console/").status_code == 302  # still signed out
    r = sign_in(client, sho)
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/")
    page = client.get("/console/")
    assert page.status_code == 200 and "SHO Kotwali" in page.get_data(as_text=True)
    with db.session() as s:
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.complaint_id.is_(None)))]
        assert kinds.count("login_failed") == 2 and "login" in kinds


def test_csrf_required_on_every_post(db, client, officers, login):
    sho = officers["sho.knp-kotwali"]
    page = client.get("/console/login")
    csrf_of(page.get_data(as_text=True))
    r = client.post("/console/login", data={"username": sho.username, "password": PASSWORD, "code": sho.code()})
    assert r.status_code == 400  # no token
    r = client.post("/console/login", data={"csrf_token": "forged", "username": sho.username, "password": PASSWORD,
                                            "code": sho.code()})
    assert r.status_code == 400
    login(sho)
    assert client.post("/console/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/console/").status_code == 200  # the forged logout changed nothing


def test_throttle_slows_one_address_but_never_locks_the_officer_out(db, client, app, officers):
    sho = officers["sho.knp-kotwali"]
    for _ in range(3):
        assert sign_in(client, sho, password="guess", ip="203.0.113.9").status_code == 401
    r = sign_in(client, sho, password="guess", ip="203.0.113.9")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # Even the right password waits on that address: the attacker learns nothing ...
    assert sign_in(client, sho, ip="203.0.113.9").status_code == 429
    # ... and the SHO, elsewhere, signs in at once.
    other = app.test_client()
    assert sign_in(other, sho, ip="10.1.2.3").status_code == 302


def test_delay_grows_exponentially_and_is_capped():
    from console.auth import MAX_DELAY_S, delay_for

    assert [delay_for(n) for n in range(6)] == [0, 0, 0, 1, 2, 4]
    assert delay_for(100) == MAX_DELAY_S


def test_session_ends_when_password_changes(db, client, officers, login):
    from console.auth import set_credentials

    sho = officers["sho.knp-kotwali"]
    login(sho)
    with db.session() as s:
        set_credentials(s.get(Officer, sho.officer_id), "another long password", new_totp=False)
    assert client.get("/console/").status_code == 302


WRONG = "Wrong username, password or code."


def test_a_code_is_good_once_and_a_replay_looks_like_a_wrong_code(db, app, officers, totp_clock):
    sho = officers["sho.knp-kotwali"]
    totp = pyotp.TOTP(sho.secret)
    code = totp.at(totp_clock())
    assert sign_in(app.test_client(), sho, code=code).status_code == 302
    # The same code again, still inside its window (from another browser, as a thief would): refused ...
    replay = sign_in(app.test_client(), sho, code=code, ip="203.0.113.7")
    wrong = sign_in(app.test_client(), sho, code=f"{(int(code) + 1) % 10**6:06d}", ip="203.0.113.8")
    assert replay.status_code == wrong.status_code == 401
    # ... with the wrong code's message, and counted towards throttling like it.
    assert WRONG in replay.get_data(as_text=True) and WRONG in wrong.get_data(as_text=True)
    with db.session() as s:
        assert [t.failures for t in s.scalars(select(LoginThrottle))] == [1, 1]
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.complaint_id.is_(None)))]
        assert kinds.count("login_failed") == 2
    # The previous step's code is inside the window too, but older than the one used: refused.
    assert sign_in(app.test_client(), sho, code=totp.at(totp_clock(), counter_offset=-1)).status_code == 401
    # The next step's code works (clock drift: the phone may already be there), once.
    nxt = totp.at(totp_clock(), counter_offset=1)
    assert sign_in(app.test_client(), sho, code=nxt).status_code == 302
    assert sign_in(app.test_client(), sho, code=nxt).status_code == 401
    # Thirty seconds on, a fresh code signs in; the other officers' codes were never affected.
    totp_clock.tick(2)
    assert sign_in(app.test_client(), sho, code=totp.at(totp_clock())).status_code == 302
    eo = officers["eo1.knp-kotwali"]
    assert sign_in(app.test_client(), eo, code=pyotp.TOTP(eo.secret).at(totp_clock())).status_code == 302


def test_a_new_secret_forgets_the_old_steps(db, app, officers, totp_clock):
    from console.auth import set_credentials

    sho = officers["sho.knp-kotwali"]
    assert sign_in(app.test_client(), sho, code=pyotp.TOTP(sho.secret).at(totp_clock())).status_code == 302
    with db.session() as s:
        secret = set_credentials(s.get(Officer, sho.officer_id), PASSWORD)
    assert sign_in(app.test_client(), sho, code=pyotp.TOTP(secret).at(totp_clock())).status_code == 302


def _race(app, cred, code: str, n: int) -> list[tuple[int, str]]:
    """``n`` browsers post ``code`` at the same moment; their (status, body), each from its own address."""
    clients = [app.test_client() for _ in range(n)]
    toks = [csrf_of(c.get("/console/login").get_data(as_text=True)) for c in clients]
    start, out = threading.Barrier(n), [(0, "")] * n

    def go(i):
        start.wait()
        r = clients[i].post("/console/login", data={"csrf_token": toks[i], "username": cred.username,
                                                     "password": PASSWORD, "code": code},
                            environ_base={"REMOTE_ADDR": f"10.9.0.{i + 1}"})
        out[i] = (r.status_code, r.get_data(as_text=True))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_racing_sign_ins_with_one_code_exactly_one_wins(db, app, officers):
    """Several browsers post the same code at once (SQLite, and PostgreSQL with TEST_DATABASE_URL)."""
    sho, n = officers["sho.knp-kotwali"], 4
    for _ in range(3):
        out = _race(app, sho, sho.code(), n)
        assert sorted(st for st, _ in out) == [302] + [401] * (n - 1), [st for st, _ in out]
        assert all(WRONG in body for st, body in out if st == 401)
