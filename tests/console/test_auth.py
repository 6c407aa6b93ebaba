# ruff: noqa: S106  (test passwords)
"""Sign-in: argon2, TOTP for every officer (each code good once), CSRF on every POST, throttling without
lock-out; the session: a server-side row behind a random id, idle timeout, ended at logout."""

import re
import threading
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import yaml
from sqlalchemy import select, update

from models import ConsoleSession, Event, Officer, Posting, Station, utcnow
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


def test_throttle_slows_the_username_but_never_locks_the_officer_out(db, client, app, officers):
    sho = officers["sho.knp-kotwali"]
    for _ in range(3):
        assert sign_in(client, sho, password="guess", ip="203.0.113.9").status_code == 401
    r = sign_in(client, sho, password="guess", ip="203.0.113.9")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    # The right password with a wrong code waits like a wrong password: the attacker learns nothing ...
    assert sign_in(client, sho, code="000000", ip="203.0.113.9").status_code == 429
    # ... and the SHO, with password and code, signs in at once, from that address or any other.
    assert sign_in(app.test_client(), sho, ip="203.0.113.9").status_code == 302
    assert sign_in(app.test_client(), sho, ip="10.1.2.3").status_code == 302


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
    [row] = _rows(db, sho.officer_id)
    assert row.ended_at is not None  # ended on the server, not only refused


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
    # ... with the wrong code's message, and counted towards throttling like it (the username's delay
    # and each address's budget).
    assert WRONG in replay.get_data(as_text=True) and WRONG in wrong.get_data(as_text=True)
    from console.auth import _throttle_key

    with db.session() as s:
        assert s.get(LoginThrottle, _throttle_key("user", sho.username)).failures == 2
        assert [s.get(LoginThrottle, _throttle_key("addr", ip)).failures for ip in ("203.0.113.7", "203.0.113.8")] \
            == [1, 1]
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
        # The losers are refused as a wrong code is: 401, or 429 once their failures start the username's delay.
        assert sorted(st for st, _ in out)[0] == 302 and [st for st, _ in out].count(302) == 1, out
        assert all((WRONG if st == 401 else "Too many failed tries") in body for st, body in out if st != 302)


# -- the session (issue 14, finding 13) -----------------------------------------------------------------------------
def _rows(db, officer_id: int) -> list[ConsoleSession]:
    with db.session() as s:
        return list(s.scalars(select(ConsoleSession).where(ConsoleSession.officer_id == officer_id)
                              .order_by(ConsoleSession.id)))


def _age(db, officer_id: int, **ago: timedelta) -> None:
    """Move the officer's session row into the past (``last_seen_at=``, ``created_at=``: how long ago)."""
    with db.session() as s:
        n = s.execute(update(ConsoleSession).where(ConsoleSession.officer_id == officer_id)
                      .values({k: utcnow() - v for k, v in ago.items()})).rowcount
    assert n == 1, f"{n} console_session rows for the officer"


def _signed_out(r) -> bool:
    return r.status_code == 302 and "/console/login" in r.headers["Location"]


def test_a_cookie_copied_before_logout_is_refused_after_it(db, app, officers):
    sho = officers["sho.knp-kotwali"]
    c = app.test_client()
    assert sign_in(c, sho).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", c.get_cookie("session").value)
    assert thief.get("/console/").status_code == 200  # a copy works while the session lasts ...
    tok = csrf_of(c.get("/console/").get_data(as_text=True))
    assert _signed_out(c.post("/console/logout", data={"csrf_token": tok}))
    assert _signed_out(thief.get("/console/"))  # ... and not after the officer signs out
    assert _signed_out(c.get("/console/"))
    [row] = _rows(db, sho.officer_id)
    assert row.ended_at is not None


def test_idle_longer_than_console_idle_minutes_signs_out(db, client, officers, login):
    from zone import get_zone

    idle = get_zone().console.idle_minutes
    assert idle == 30  # config.yaml's value, the default
    sho = officers["sho.knp-kotwali"]
    login(sho)
    _age(db, sho.officer_id, last_seen_at=timedelta(minutes=idle - 1))
    assert client.get("/console/").status_code == 200  # 29 minutes idle: still signed in, and seen now
    [row] = _rows(db, sho.officer_id)
    assert utcnow() - row.last_seen_at < timedelta(seconds=30)
    _age(db, sho.officer_id, last_seen_at=timedelta(minutes=idle + 1))
    r = client.get("/console/t/KNP-AAAAAA")
    assert _signed_out(r) and "next=" in r.headers["Location"]
    assert _rows(db, sho.officer_id)[0].ended_at is not None
    assert _signed_out(client.get("/console/"))


def test_last_seen_is_written_at_most_once_a_minute(db, client, officers, login):
    sho = officers["sho.knp-kotwali"]
    login(sho)
    _age(db, sho.officer_id, last_seen_at=timedelta(seconds=40))
    before = _rows(db, sho.officer_id)[0].last_seen_at
    for path in ("/console/", "/console/dashboard", "/console/"):
        assert client.get(path).status_code == 200
    assert _rows(db, sho.officer_id)[0].last_seen_at == before  # no write on every page view
    _age(db, sho.officer_id, last_seen_at=timedelta(seconds=90))
    assert client.get("/console/").status_code == 200
    assert utcnow() - _rows(db, sho.officer_id)[0].last_seen_at < timedelta(seconds=30)


def test_a_session_ends_after_session_hours_however_busy(db, client, officers, login):
    from console.auth import SESSION_HOURS

    sho = officers["sho.knp-kotwali"]
    login(sho)
    _age(db, sho.officer_id, created_at=timedelta(hours=SESSION_HOURS, minutes=1), last_seen_at=timedelta(0))
    assert _signed_out(client.get("/console/"))


def test_the_cookie_is_secure_httponly_lax_and_holds_no_password_material(db, app, officers):
    sho = officers["sho.knp-kotwali"]
    c = app.test_client()
    r = sign_in(c, sho)
    [cookie] = [h for h in r.headers.getlist("Set-Cookie") if h.startswith("session=")]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax"} <= flags, cookie  # outside dev mode (the tests' default)
    data = app.session_interface.get_signing_serializer(app).loads(c.get_cookie("session").value)
    with db.session() as s:
        pw_hash = s.get(Officer, sho.officer_id).password_hash
    assert "pw" not in data
    assert not [k for k, v in data.items() if isinstance(v, str) and (v in pw_hash or pw_hash[-16:] in v)], data
    assert "officer_id" not in data  # the cookie names a server-side session, nothing more


def test_in_dev_mode_the_cookie_is_not_secure(db, redis_conn, recorder, officers, monkeypatch):
    from app import create_app

    monkeypatch.setenv("BHAROSA_ENV", "dev")
    dev = create_app(db.url, check_env=False, TESTING=True)
    r = sign_in(dev.test_client(), officers["sho.knp-kotwali"])
    [cookie] = [h for h in r.headers.getlist("Set-Cookie") if h.startswith("session=")]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "secure" not in flags and {"httponly", "samesite=lax"} <= flags  # http://127.0.0.1 must work


def test_switching_posting_is_kept_on_the_server(db, client, officers, login):
    sho = officers["sho.knp-kotwali"]
    with db.session() as s:
        st = s.scalar(select(Station).where(Station.code == "KNP-COLONELGANJ"))
        p = Posting(officer_id=sho.officer_id, role="eo", station_id=st.id)
        s.add(p)
        s.flush()
        pid = p.id
    csrf = login(sho)
    assert client.post("/console/posting", data={"csrf_token": csrf(), "posting_id": str(pid)}).status_code == 302
    [row] = _rows(db, sho.officer_id)
    assert row.posting_id == pid
    assert re.search(r'class="who">[^<]*Colonelganj', client.get("/console/").get_data(as_text=True))
    with db.session() as s:  # that posting ends: the session does not fall back to another by itself
        s.get(Posting, pid).ended_at = utcnow() - timedelta(seconds=1)
    assert _signed_out(client.get("/console/"))


@pytest.mark.parametrize("bad", [0, -5, "half an hour", 100000, True])
def test_a_bad_console_idle_minutes_stops_start_up_naming_it(tmp_path, bad):
    from zone import ConfigError, load_zone

    cfg = yaml.safe_load((Path(__file__).resolve().parents[2] / "config.yaml").read_text(encoding="utf-8"))
    cfg["console"] = {"idle_minutes": bad}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"console\.idle_minutes"):
        load_zone(path)
