# ruff: noqa: S314  (our own TwiML/Open311 answers are parsed to prove they are well-formed)
"""Odd Unicode (unicode.yaml) and SQL/HTML/JS (injection.yaml) in every free-text field of every entry
point: never a 5xx, stored literally (the database otherwise unchanged), and escaped wherever shown.

One test per (family, target) plays every payload against one app: the target's handler sends it the
way that entry point is used (a signed webhook, the citizen web form with its code, an officer's
console form, Open311, the JSON API) and returns what was stored and the pages that show it.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlencode

import pytest
from sqlalchemy import func, inspect, select

from models import Citizen, Complaint, Message, Officer
from models.tables import Note
from tests.conftest import PUBLIC, TOKEN, load_fixture
from tests.hostile.corpus import expand, form_of_body, load
from tickets.textsafe import clean_text

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_phones = itertools.count(1)


def _phone() -> str:
    return f"+91983{next(_phones) % 10**7:07d}"


def payloads(family: str) -> list[dict]:
    return [{"id": p["id"], "text": expand(p["text"], {}) if "text" in p else None, "raw": p.get("raw")}
            for p in load(family)["payloads"]]


CASES = [(fam, t) for fam in ("unicode", "injection") for t in load(fam)["targets"]]


def assert_shown_safely(html: str, text: str, where: str) -> None:
    """``text`` never appears unescaped in a page, and bidi controls never reach the console raw."""
    if any(c in text for c in "<>\""):
        assert text.strip() not in html, f"{where}: the payload is in the page unescaped"
        for frag in re.findall(r"<[A-Za-z!][^<>]{0,60}>?|\" ?\w* ?on\w+=", text):  # opening tags, handlers
            assert frag not in html, f"{where}: unescaped {frag!r}"
    if where.startswith("console"):
        assert not any(c in html for c in BIDI), f"{where}: a raw bidi control reached the console"


# -- the targets ----------------------------------------------------------------------------------
class Env:
    """What a handler needs: the app's client, database, recorder, and signed-in helpers made on demand."""

    def __init__(self, db, app, client, recorder, drain, monkeypatch):
        self.db, self.app, self.client, self.recorder, self.drain = db, app, client, recorder, drain
        self.monkeypatch = monkeypatch
        self._console = self._api = self._key = None

    # A signed Twilio webhook; `raw` is already-encoded bytes for one field.
    def webhook(self, path: str, form: dict, field: str, text: str | None, raw: str | None):
        body = urlencode({k: v for k, v in form.items() if k != field})
        body += "&" + quote(field) + "=" + (raw if raw is not None else quote(text, safe=""))
        from channels.twilio import sign

        sig = sign(PUBLIC + path, form_of_body(body), TOKEN)
        return self.client.post(path, data=body.encode(), headers={"X-Twilio-Signature": sig},
                                content_type="application/x-www-form-urlencoded")

    def console(self):
        """A client signed in as the 1 Number cell (zone-wide)."""
        if self._console is None:
            from console.auth import set_credentials
            from tests.console.conftest import PASSWORD, Cred, sign_in
            from tickets.seed import seed

            with self.db.session() as s:
                seed(s)
                o = s.scalar(select(Officer).where(Officer.username == "cell.duty"))
                secret = set_credentials(o, PASSWORD)
                cred = Cred(o.username, o.id, 0, secret)
            c = self.app.test_client()
            assert sign_in(c, cred).status_code == 302
            self._console = c
        return self._console

    def api_token(self) -> str:
        if self._api is None:
            self.console()
            from tickets.seed import token_hash

            tok = "bht_" + secrets.token_urlsafe(24)
            with self.db.session() as s:
                from tickets.scope import active_postings

                o = s.scalar(select(Officer).where(Officer.username == "cell.duty"))
                active_postings(s, o.id)[0].api_token_hash = token_hash(tok)
            self._api = tok
        return self._api

    def open311_key(self) -> str:
        if self._key is None:
            from api.open311 import new_api_key

            with self.db.session() as s:
                self._key = new_api_key(s, "hostile")
        return self._key

    def ticket(self) -> str:
        from tests.console.conftest import register

        return register(self.db, phone=_phone())[1]

    def console_csrf(self, path: str) -> str:
        from tests.console.conftest import csrf_of

        return csrf_of(self.console().get(path).get_data(as_text=True))


def _text_of(p: dict) -> str:
    """The text as the app will see it (raw percent-bytes decoded the way the form parser does)."""
    if p["text"] is not None:
        return p["text"]
    return form_of_body("x=" + p["raw"])["x"]


def t_webhook(env: Env, target: str, p: dict):
    channel, field = target.split(".")
    phone = _phone()
    sid = "SM" + secrets.token_hex(16)
    if channel == "sms":
        form = load_fixture("sms", "text", From=phone, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    elif field == "Address":
        form = load_fixture("whatsapp", "location", From=f"whatsapp:{phone}", MessageSid=sid, SmsSid=sid,
                            SmsMessageSid=sid, Body="")
    else:
        form = load_fixture("whatsapp", "text", From=f"whatsapp:{phone}", MessageSid=sid, SmsSid=sid,
                            SmsMessageSid=sid)
    r = env.webhook(f"/twilio/{channel}", form, field, p["text"], p["raw"])
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    root = ET.fromstring(r.get_data())  # well-formed TwiML, whatever was echoed
    assert root.tag == "Response" and any((m.text or "").strip() for m in root.iter("Message"))
    text = _text_of(p)
    with env.db.session() as s:
        m = s.scalar(select(Message).where(Message.sid == sid))
        assert m is not None, "the message was not stored"
        if field == "Body":
            assert m.body == clean_text(text), "Body not stored as written (NFC, controls removed)"
        if field == "ProfileName":
            cit = s.scalar(select(Citizen).where(Citizen.phone == phone))
            assert cit.name in (None, clean_text(text)[:200], text[:200])
    return []


def t_web(env: Env, target: str, p: dict):
    import channels.web.views as web

    field = target.split(".")[1]
    text = _text_of(p)
    c = env.app.test_client()
    phone = _phone()
    c.environ_base["REMOTE_ADDR"] = f"10.{phone[-6:-4]}.{phone[-4:-2]}.{phone[-2:]}"  # a client each (code budgets)
    from tests.web.helpers import get_csrf

    if field == "track_ref":
        tok = get_csrf(c, "/track")
        r = c.post("/track", data={"csrf": tok, "step": "start", "ref": text, "phone": phone})
        assert r.status_code in (200, 400), r.status_code
        return [("web /track", r.get_data(as_text=True))]
    env.monkeypatch.setattr(web.secrets, "randbelow", lambda n: 424242)
    data = {"description": "mera mobile chori ho gaya kanpur mein", "phone": phone, field: text}
    tok = get_csrf(c, "/complaint?new=1")
    r = c.post("/complaint", data={"csrf": tok, "step": "submit", **data}, content_type="multipart/form-data")
    pages = [("web /complaint submit", r.get_data(as_text=True))]
    if r.status_code == 400:
        return pages  # refused (too long, empty after cleaning): fine, nothing stored
    assert r.status_code == 200, r.status_code
    r = c.post("/complaint", data={"csrf": get_csrf(c, "/complaint"), "step": "verify", "code": "424242"})
    assert r.status_code == 303, r.get_data(as_text=True)[:300]
    pages.append(("web /complaint done", c.get("/complaint").get_data(as_text=True)))
    with env.db.session() as s:
        comp = s.scalar(select(Complaint).where(Complaint.phone == phone))
        assert comp is not None
        ref = comp.ref
        if field == "description":
            assert comp.description == clean_text(text) or clean_text(text).strip() == comp.description.strip()
    pages.append(("console ticket", env.console().get(f"/console/t/{ref}").get_data(as_text=True)))
    return pages


def t_console(env: Env, target: str, p: dict):
    field = target.split(".")[1]
    text = _text_of(p)
    c = env.console()
    if field == "search":
        r = c.get("/console/", query_string={"q": text})
        assert r.status_code in (200, 400), r.status_code
        return [("console search", r.get_data(as_text=True))]
    ref = env.ticket()
    path = f"/console/t/{ref}"
    tok = env.console_csrf(path)
    if field == "note":
        r = c.post(f"{path}/note", data={"csrf_token": tok, "text": text})
    else:
        r = c.post(f"{path}/dispose", data={"csrf_token": tok, "outcome": "resolved", "note": text})
    assert r.status_code in (302, 303, 400, 409), (r.status_code, r.get_data(as_text=True)[:300])
    if field == "note" and r.status_code in (302, 303) and Note is not None:
        with env.db.session() as s:
            notes = [n.text for n in s.scalars(select(Note))]
            literal = {text.strip()[:10000], text[:10000].replace("\x00", "").strip(), clean_text(text).strip()[:10000]}
            assert literal & set(notes), "note not literal"
    return [("console ticket", c.get(path).get_data(as_text=True))]


def t_open311(env: Env, target: str, p: dict):
    field = target.split(".")[1]
    text = _text_of(p)
    c = env.client
    if field == "get_id":
        pages = []
        for fmt in ("json", "xml"):
            r = c.get(f"/open311/v2/requests/{quote(text, safe='')}.{fmt}")
            assert 400 <= r.status_code < 500, r.status_code
            if r.mimetype.endswith("xml"):
                ET.fromstring(r.get_data())
        return pages
    if field == "service_code":
        r = c.get("/open311/v2/requests.xml", query_string={"service_code": text})
        assert r.status_code == 400
        ET.fromstring(r.get_data())
        return []
    form = {"api_key": env.open311_key(), "service_code": "theft_mobile", "description": "phone stolen",
            "first_name": "Ram"}
    form[field] = text
    r = c.post("/open311/v2/requests.json", data=form)
    assert r.status_code in (201, 400), (r.status_code, r.get_data(as_text=True)[:300])
    if r.status_code == 400:
        return []
    ref = r.get_json()[0]["service_request_id"]
    x = c.get(f"/open311/v2/requests/{ref}.xml", query_string={"api_key": env.open311_key()})
    assert x.status_code == 200
    ET.fromstring(x.get_data())  # well-formed XML whatever the citizen typed
    with env.db.session() as s:
        comp = s.scalar(select(Complaint).where(Complaint.ref == ref))
        if field == "description":
            assert comp.description in (text.strip(), clean_text(text).strip()), "description not literal"
    return [("console ticket", env.console().get(f"/console/t/{ref}").get_data(as_text=True))]


def t_api(env: Env, target: str, p: dict):
    field = target.split(".")[1]
    text = _text_of(p)
    h = {"Authorization": f"Bearer {env.api_token()}"}
    c = env.client
    if field == "ticket_ref":
        r = c.get(f"/api/v1/tickets/{quote(text, safe='')}", headers=h)
        assert 400 <= r.status_code < 500, r.status_code  # 404, or 405 when the text holds a slash
        return []
    ref = env.ticket()
    if field == "notes":
        r = c.post(f"/api/v1/tickets/{ref}/notes", json={"text": text}, headers=h)
    else:
        r = c.post(f"/api/v1/tickets/{ref}/reroute", json={"station": "JHS-KOTWALI", "reason": text}, headers=h)
    assert r.status_code in (200, 400, 409), (r.status_code, r.get_data(as_text=True)[:300])
    g = c.get(f"/api/v1/tickets/{ref}", headers=h)
    assert g.status_code == 200
    json.loads(g.get_data())
    return [("console ticket", env.console().get(f"/console/t/{ref}").get_data(as_text=True))]


HANDLERS = {"sms": t_webhook, "whatsapp": t_webhook, "web": t_web, "console": t_console, "open311": t_open311,
            "api": t_api}


@pytest.mark.parametrize("family,target", CASES, ids=[f"{f}-{t}" for f, t in CASES])
def test_free_text(db, app, client, recorder, drain, monkeypatch, no_errors_logged, family, target):
    env = Env(db, app, client, recorder, drain, monkeypatch)
    tables = set(inspect(db.engine).get_table_names())
    with db.session() as s:
        officers = s.scalar(select(func.count()).select_from(Officer))
    failures = []
    for p in payloads(family):
        try:
            pages = HANDLERS[target.split(".")[0]](env, target, p)
            for where, html in pages:
                assert_shown_safely(html, _text_of(p), where)
        except AssertionError as exc:
            failures.append(f"{p['id']}: {exc}")
    assert set(inspect(db.engine).get_table_names()) == tables, "a table disappeared"
    with db.session() as s:
        n = s.scalar(select(func.count()).select_from(Officer))
        assert n >= officers and s.scalar(select(func.count()).select_from(Officer).where(~Officer.active)) == 0
    assert not failures, "\n".join(failures)
