# ruff: noqa: S106  (test passwords)
"""Sign-in: argon2, TOTP for every officer, CSRF on every POST, throttling without lock-out."""

from sqlalchemy import select

from models import Event, Officer
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
