"""The public surfaces tried from an outsider's side (issue 14: 9, 10, 11, 12, 15, 16).

Open311 publishes no citizen's words without an api_key and never a confidential ticket; its inputs
are a 400 naming the field, never a 500; its rate limit cannot be reset with a made-up key. The web
page's one-time codes go only to mobiles of the configured countries, within budgets per client
address and for the whole service; made-up /track references cannot block a victim's own number; a
code is kept in no stored body once it was sent, and its hash is peppered with the app's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from markupsafe import escape
from sqlalchemy import select

from models import Complaint, Message, Outbox
from models.tables import WebPending
from tests.console.conftest import register
from tests.web.helpers import count, csrf_of, get_csrf, latest_code
from zone import ConfigError, get_zone, load_zone, set_zone

ROOT = Path(__file__).resolve().parents[2]
VICTIM = "+919839077777"
PHONE = "+919839011111"
A, B, C = {"REMOTE_ADDR": "203.0.113.7"}, {"REMOTE_ADDR": "198.51.100.9"}, {"REMOTE_ADDR": "192.0.2.44"}
MASKED = "••••••"


@pytest.fixture
def limits():
    """``limits(**values)`` sets zone limits for this test only."""
    z = get_zone()

    def _set(**kw):
        set_zone(z.model_copy(update={"limits": z.limits.model_copy(update=kw)}))

    yield _set
    set_zone(z)


@pytest.fixture
def api_key(db):
    from api.open311 import new_api_key

    with db.session() as s:
        return new_api_key(s, "partner test")


def _error(r, field: str) -> None:
    assert r.status_code == 400, (r.status_code, r.get_data(as_text=True)[:300])
    body = r.get_json()
    assert isinstance(body, list) and body[0]["code"] == 400 and field in body[0]["description"], body


# -- Open311: what is published ------------------------------------------------------------------

STORY = ("mera naam Ramesh Kumar hai. meri bike UP78 AB 1234 chori ho gayi, call 98390 12345, "
         "aadhaar 1234 5678 9012, mail ramesh.k@example.com")


def test_open311_without_a_key_publishes_no_words_of_the_citizen(db, client, drain):
    _, ref = register(db, description=STORY, complainant_name="Ramesh Kumar", place="12 Civil Lines, Ramesh ka ghar",
                      lat=26.470512, lon=80.350987)
    drain()  # routed: the station is public
    rows = client.get("/open311/v2/requests.json").get_json()
    one = client.get(f"/open311/v2/requests/{ref}.json").get_json()
    xml = client.get("/open311/v2/requests.xml").get_data(as_text=True)
    for row in (rows[0], one[0]):
        assert row["service_request_id"] == ref and row["service_code"] == "theft_mobile"
        assert row["status"] == "open" and row["agency_responsible"] and row["requested_datetime"]
        assert row["description"] == "" and row["address"] == ""
        assert (row["lat"], row["long"]) == (26.47, 80.35)  # about a kilometre
    for body in (str(rows), str(one), xml):
        for secret in ("Ramesh", "chori", "98390", "Civil Lines", "26.4705"):
            assert secret not in body, secret


def test_open311_keyed_description_has_names_and_numbers_redacted(db, client, api_key):
    _, ref = register(db, description=STORY, complainant_name="Ramesh Kumar", place="Ramesh ka ghar, Civil Lines")
    _, ref2 = register(db, description="my name is Sunita Verma; मेरा नाम सुनीता है, phone gira diya")
    rows = {r["service_request_id"]: r for r in client.get(f"/open311/v2/requests.json?api_key={api_key}").get_json()}
    d = rows[ref]["description"]
    assert "bike" in d and "chori ho gayi" in d  # the story stays
    for secret in ("Ramesh", "Kumar", "98390", "12345", "1234 5678 9012", "example.com", "UP78", "AB 1234"):
        assert secret not in d, (secret, d)
    assert "Ramesh" not in rows[ref]["address"] and "Civil Lines" in rows[ref]["address"]
    d2 = rows[ref2]["description"]
    assert "Sunita" not in d2 and "सुनीता" not in d2 and "phone gira diya" in d2
    one = client.get(f"/open311/v2/requests/{ref}.json?api_key={api_key}").get_json()[0]
    assert one["description"] == d


def test_open311_never_shows_a_confidential_ticket(db, client, api_key):
    _, conf = register(db, description="he follows me", category="harassment", confidential=True)
    _, plain = register(db, description="phone stolen")
    for key in ("", f"&api_key={api_key}"):
        listed = {r["service_request_id"] for r in client.get(f"/open311/v2/requests.json?x=1{key}").get_json()}
        assert listed == {plain}
        by_ids = client.get(f"/open311/v2/requests.json?service_request_id={conf},{plain}{key}").get_json()
        assert [r["service_request_id"] for r in by_ids] == [plain]
        r = client.get(f"/open311/v2/requests/{conf}.json?x=1{key}")
        assert r.status_code == 404 and conf not in r.get_data(as_text=True)
        assert conf not in client.get(f"/open311/v2/requests.xml?x=1{key}").get_data(as_text=True)


# -- Open311: hostile input ----------------------------------------------------------------------

@pytest.mark.parametrize("query,field", [
    ("end_date=0001-01-01T00:00:00Z", "end_date"),
    ("start_date=9999-12-31T23:59:59-14:00", "start_date"),
    ("start_date=0001-01-01T00:00:00%2B14:00", "start_date"),
    ("end_date=9999-12-31T23:59:59Z", "end_date"),
    ("start_date=2025-01-01T00:00:00Z&end_date=2024-01-01T00:00:00Z", "end_date"),
    ("page=100000000000000000000000000000", "page"),
    ("page_size=0", "page_size"),
    ("page_size=100000000000000000000000000000", "page_size"),
    ("page_size=ten", "page_size"),
    ("service_request_id=KNP-ABC%00DE", "service_request_id"),
    ("service_code=%00", "service_code"),
    ("status=%00", "status"),
])
def test_open311_bad_query_values_are_400_naming_the_field(db, client, query, field):
    for fmt in ("json", "xml"):
        r = client.get(f"/open311/v2/requests.{fmt}?{query}")
        if fmt == "json":
            _error(r, field)
        else:
            assert r.status_code == 400 and field in r.get_data(as_text=True)


def test_open311_page_size_pages_the_list(db, client):
    refs = [register(db, description=f"chori {i}")[1] for i in range(3)]
    first = client.get("/open311/v2/requests.json?page_size=2").get_json()
    second = client.get("/open311/v2/requests.json?page_size=2&page=2").get_json()
    assert len(first) == 2 and len(second) == 1
    assert {r["service_request_id"] for r in first + second} == set(refs)


@pytest.mark.parametrize("path", ["/open311/v2/requests/KNP-ABC%00DE.json", "/open311/v2/requests/%00.xml",
                                  "/open311/v2/requests/" + "Z" * 5000 + ".json"])
def test_open311_odd_ids_are_not_found(db, client, path):
    r = client.get(path)
    assert r.status_code == 404 and r.status_code < 500


@pytest.mark.parametrize("fields,field", [
    ({"lat": "1e999", "long": "80.3"}, "lat"),
    ({"lat": "26.4", "long": "nan"}, "long"),
    ({"lat": "26.4", "long": "-inf"}, "long"),
    ({"lat": "26.4"}, "long"),
    ({"phone": "\x00"}, "phone"),
    ({"phone": "9" * 5000}, "phone"),
    ({"district": "\x00"}, "district"),
    ({"service_code": "\x00"}, "service_code"),
    ({"description": "\x00\x00"}, "description"),
    ({"description": "x" * 5000}, "description"),
    ({"jurisdiction_id": "\x00"}, "jurisdiction_id"),
])
def test_open311_post_bad_fields_are_4xx_naming_the_field(db, client, api_key, fields, field):
    form = {"api_key": api_key, "service_code": "theft_mobile", "description": "phone chori", **fields}
    r = client.post("/open311/v2/requests.json", data=form)
    assert 400 <= r.status_code < 500 and field in r.get_json()[0]["description"], r.get_data(as_text=True)[:300]
    assert count(db, Complaint) == 0


def test_open311_post_strange_but_valid_text_registers(db, client, api_key):
    form = {"api_key": api_key, "service_code": "theft_mobile", "description": "phone chori \x00 ho gaya",
            "first_name": "\x00" * 300, "last_name": "ब" * 5000, "address_string": "\x00" + "x" * 5000}
    r = client.post("/open311/v2/requests.json", data=form)
    assert r.status_code == 201, r.get_data(as_text=True)[:300]


# -- Open311: the rate limit -----------------------------------------------------------------------

def test_open311_rate_limit_is_not_reset_by_a_made_up_api_key(db, client, limits):
    limits(api_per_minute=2)
    assert [client.get("/open311/v2/services.json", environ_base=A).status_code for _ in range(2)] == [200, 200]
    for n in range(3):  # a fresh random key each time: still this address's budget
        r = client.get(f"/open311/v2/services.json?api_key=random{n}", environ_base=A)
        assert r.status_code == 429, r.status_code
        r = client.post("/open311/v2/requests.json", data={"api_key": f"random-post{n}"}, environ_base=A)
        assert r.status_code == 429
    assert client.get("/open311/v2/services.json", environ_base=B).status_code == 200


def test_open311_a_valid_key_has_one_budget_wherever_it_comes_from(db, client, api_key, limits):
    limits(api_per_minute=2)
    url = f"/open311/v2/requests.json?api_key={api_key}"
    assert client.get(url, environ_base=A).status_code == 200
    assert client.get(url, environ_base=B).status_code == 200
    assert client.get(url, environ_base=C).status_code == 429  # the key's budget, not the address's
    assert client.get("/open311/v2/services.json", environ_base=C).status_code == 200  # C's own is untouched


# -- the web page's codes: countries, mobiles, budgets ---------------------------------------------

def _submit(client, phone: str, env: dict | None = None, lang: str = "hi", description: str = "mobile chori"):
    tok = get_csrf(client, f"/complaint?new=1&lang={lang}")
    return client.post("/complaint", data={"csrf": tok, "step": "submit", "phone": phone, "description": description},
                       content_type="multipart/form-data", environ_base=env or A)


def _track(client, ref: str, phone: str, env: dict | None = None, lang: str = "hi"):
    tok = get_csrf(client, f"/track?new=1&lang={lang}")
    return client.post("/track", data={"csrf": tok, "step": "start", "ref": ref, "phone": phone},
                       environ_base=env or A)


@pytest.mark.parametrize("phone", ["+14155550100", "+447911123456", "+971501234567", "0512 234 5678",
                                   "+915122345678", "1800 123 4567"])
def test_codes_go_only_to_mobiles_of_the_configured_countries(db, client, recorder, drain, phone):
    """US, UK and UAE mobiles, a Kanpur landline and an Indian toll-free number: a 400 in the citizen's language,
    nothing stored, nothing sent."""
    from channels.web.strings import STRINGS

    r = _submit(client, phone)
    html = r.get_data(as_text=True)
    want = STRINGS["hi"]["e_phone_country"].format(countries="+91")
    assert r.status_code == 400 and want in html and '<html lang="hi">' in html
    r = _submit(client, phone, lang="en")
    assert r.status_code == 400 and escape(STRINGS["en"]["e_phone_country"].format(countries="+91")) in r.get_data(
        as_text=True)
    r = _track(client, "KNP-7F3K9Q", phone)
    assert r.status_code == 400 and want in r.get_data(as_text=True)
    drain()
    assert count(db, WebPending) == 0 and count(db, Outbox) == 0 and recorder.sms() == []


def test_codes_to_other_countries_when_config_allows_them(db, client, recorder, drain, limits):
    limits(otp_countries=["IN", "NP"])
    assert _submit(client, "+9779841234567").status_code == 200
    drain()
    assert recorder.to("+9779841234567")


def test_code_budget_per_client_address(db, client, recorder, drain, limits):
    from channels.web.strings import STRINGS

    limits(otp_per_address_per_hour=3)
    phones = [f"+91983902{i:04d}" for i in range(5)]
    assert [_submit(client, p, A).status_code for p in phones[:3]] == [200, 200, 200]
    r = _submit(client, phones[3], A, lang="en")
    assert r.status_code == 429
    assert STRINGS["en"]["e_otp_address"].format(helpline=get_zone().zone.helpline_number) in r.get_data(as_text=True)
    assert _track(client, "KNP-7F3K9Q", phones[4], A).status_code == 429  # /track draws on the same budget
    assert _submit(client, phones[3], B).status_code == 200  # another address has its own
    drain()
    assert count(db, Outbox) == 4 and len(recorder.sms()) == 4 and not recorder.to(phones[4])


def test_code_budget_for_the_whole_service(db, client, recorder, drain, limits):
    from channels.web.strings import STRINGS

    limits(otp_per_hour=2)
    assert _submit(client, "+919839030001", A).status_code == 200
    assert _submit(client, "+919839030002", B).status_code == 200
    r = _submit(client, "+919839030003", C)
    html = r.get_data(as_text=True)
    assert r.status_code == 429 and STRINGS["hi"]["e_otp_busy"].format(helpline=get_zone().zone.helpline_number) in html
    drain()
    assert len(recorder.sms()) == 2 and not recorder.to("+919839030003")


@pytest.mark.parametrize("change,key", [
    ({"otp_countries": ["XX"]}, "limits.otp_countries: 'XX' is not a country code"),
    ({"otp_countries": []}, "limits.otp_countries: List should have at least 1 item"),
    ({"otp_per_hour": 0}, "limits.otp_per_hour: Input should be greater than or equal to 1"),
    ({"otp_per_address_per_hour": -1}, "limits.otp_per_address_per_hour: Input should be greater than or equal to 1"),
])
def test_otp_limits_are_validated_at_start_up(tmp_path, change, key):
    raw = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["limits"].update(change)
    raw["zone"]["stations_file"] = str(ROOT / "data" / "stations.csv")
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_zone(p)


def test_otp_limits_have_their_documented_defaults():
    lim = load_zone(ROOT / "config.yaml").limits
    assert (lim.otp_countries, lim.otp_per_address_per_hour, lim.otp_per_hour) == (["IN"], 10, 500)


# -- /track: made-up references cannot block a victim ------------------------------------------------

def _blank(html: str) -> str:
    html = re.sub(r'name="csrf" value="[^"]+"', "", html)
    return re.sub(r'name="ref" value="[^"]*"', "", html)  # the form gives back what was typed


def test_made_up_track_refs_do_not_block_the_victims_own_number(db, app, client, recorder, drain):
    import channels.web.views as web

    _, real = register(db, phone=VICTIM)
    drain()
    recorder.clear()
    attacker = app.test_client()
    fakes = [real[:4] + f"{n}" * 6 for n in range(2, 2 + web.PHONE_SENDS_PER_HOUR + 1)]
    got = [_track(attacker, ref, VICTIM, A, lang="en").status_code for ref in fakes]
    assert got == [200] * web.PHONE_SENDS_PER_HOUR + [429]
    refusal = _track(attacker, fakes[0], VICTIM, A, lang="en").get_data(as_text=True)
    assert "were sent" not in refusal  # nothing was sent: the page must not say so
    drain()
    assert recorder.to(VICTIM) == [], "a code the victim did not ask for"
    # The victim, from their own connection, tracks and files as ever.
    victim = app.test_client()
    assert _track(victim, real, VICTIM, B).status_code == 200
    drain()
    tok = csrf_of(victim.get("/track").get_data(as_text=True))
    r = victim.post("/track", data={"csrf": tok, "step": "verify", "code": latest_code(recorder, VICTIM)},
                    environ_base=B)
    assert r.status_code == 303 and real in victim.get("/track").get_data(as_text=True)
    assert _submit(app.test_client(), VICTIM, B).status_code == 200
    # A requester who knows the real reference gets exactly what one with made-up references got.
    knower = app.test_client()
    got_real = [_track(knower, real, VICTIM, C, lang="en") for _ in range(web.PHONE_SENDS_PER_HOUR + 1)]
    assert [r.status_code for r in got_real] == got
    assert _blank(got_real[-1].get_data(as_text=True)) == _blank(refusal)


# -- the code itself: not kept once sent; a real pepper ---------------------------------------------

def test_code_is_cleared_from_the_outbox_and_message_once_sent(db, client, recorder, drain):
    assert _submit(client, PHONE).status_code == 200
    drain()
    code = latest_code(recorder, PHONE)
    with db.session() as s:  # sent, not yet used: already gone from every stored body
        ob = s.scalar(select(Outbox).where(Outbox.key.like("otp:%")))
        assert ob.status == "done" and ob.payload["values"]["code"] == MASKED
        bodies = [m.body for m in s.scalars(select(Message).where(Message.outbox_id == ob.id))]
        assert bodies and all(code not in b and MASKED in b for b in bodies)
    tok = csrf_of(client.get("/complaint").get_data(as_text=True))
    r = client.post("/complaint", data={"csrf": tok, "step": "verify", "code": code}, environ_base=A)
    assert r.status_code == 303 and count(db, Complaint) == 1  # the hash still checks it


def test_code_is_cleared_when_the_send_failed_for_good(db, client, recorder, drain):
    recorder.fail_to[PHONE] = (400, 21211)  # Twilio: not a valid number; never retried
    assert _submit(client, PHONE).status_code == 200
    drain()
    with db.session() as s:
        ob = s.scalar(select(Outbox).where(Outbox.key.like("otp:%")))
        assert ob.status == "failed" and ob.payload["values"]["code"] == MASKED
        msgs = list(s.scalars(select(Message).where(Message.outbox_id == ob.id)))
        assert msgs and all(re.search(r"\d{6}", m.body) is None for m in msgs)


def test_code_hash_is_peppered_with_the_app_secret_not_a_constant(db, app, client, recorder, drain, monkeypatch):
    """An attacker with a copy of the database and the source: the old constant pepper recovers nothing."""
    monkeypatch.delenv("BHAROSA_SECRET_KEY", raising=False)
    assert _submit(client, PHONE).status_code == 200
    drain()
    code = latest_code(recorder, PHONE)
    with db.session() as s:
        row = s.scalar(select(WebPending))
    for guess in (b"bharosa-web-otp", b"", app.secret_key.encode()):
        assert hmac.new(guess, f"{row.token_hash}:{code}".encode(), hashlib.sha256).hexdigest() != row.code_hash
    import channels.web.views as web

    with app.app_context():
        assert web._code_hash(row.token_hash, code) == row.code_hash
    other = type(app)("other")
    other.secret_key = "another deployment's secret"
    with other.app_context():
        assert web._code_hash(row.token_hash, code) != row.code_hash


def test_production_needs_a_secret_dev_does_not(monkeypatch):
    from app import check_environment as check_secret  # the one start-up check (make run, gunicorn, app.py check)

    monkeypatch.delenv("BHAROSA_ENV", raising=False)
    for unset in (None, "", "   "):
        if unset is None:
            monkeypatch.delenv("BHAROSA_SECRET_KEY", raising=False)
        else:
            monkeypatch.setenv("BHAROSA_SECRET_KEY", unset)
        with pytest.raises(ConfigError, match="BHAROSA_SECRET_KEY not set"):
            check_secret()
    monkeypatch.setenv("BHAROSA_SECRET_KEY", "s" * 64)
    check_secret()
    monkeypatch.delenv("BHAROSA_SECRET_KEY")
    monkeypatch.setenv("BHAROSA_ENV", "dev")
    check_secret()  # dev: the key generated into var/secret_key


def test_make_run_in_production_without_a_secret_stops_with_one_line(tmp_path):
    from tests.conftest import free_port

    env = {k: v for k, v in os.environ.items() if k not in ("BHAROSA_SECRET_KEY", "BHAROSA_ENV")}
    env.update(PORT=str(free_port()), REDIS_URL="redis://127.0.0.1:1/0", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    proc = subprocess.Popen(["scripts/run.sh"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"make run started without a secret: {out[-500:]}")
    assert proc.returncode == 2 and "BHAROSA_SECRET_KEY" in out, out
