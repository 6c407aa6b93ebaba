# ruff: noqa: S314  (our own TwiML/Open311 answers are parsed to prove they are well-formed)
"""The hostile corpus (tests/corpus/*.yaml) played against the real app.

Every entry: never a 5xx, the expected status class, nothing stored half-way, no ERROR logged.
Per family: forged signatures store nothing; replays change nothing; SSRF URLs are never fetched and
credentials never leave for another host; media bombs are rejected within their caps with the complaint
kept; malformed callbacks get 400/2xx; odd Unicode and SQL/HTML are stored literally and shown escaped;
someone else's ticket reference is answered exactly like a nonexistent one.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import func, inspect, select

from models import Attachment, Citizen, Complaint, Message, Outbox
from tasks.jobs import run_outbox
from tests.conftest import ACCOUNT, load_fixture
from tests.hostile import blobs
from tests.hostile.corpus import base_form, context, entries, expand, ids, post, status_ok

MODELS = {"Message": Message, "Citizen": Citizen, "Complaint": Complaint, "Attachment": Attachment,
          "Outbox": Outbox}


def count(db, model, *where) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def table_names(db) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def assert_not_5xx(r, what: str) -> None:
    assert r.status_code < 500, f"{what}: {r.status_code} {r.get_data(as_text=True)[:300]}"


def assert_twiml(r) -> list[str]:
    """The response is well-formed TwiML; returns its <Message> texts."""
    assert r.mimetype in ("application/xml", "text/xml"), r.mimetype
    root = ET.fromstring(r.get_data())
    assert root.tag == "Response"
    return [m.text or "" for m in root.iter("Message")]


# -- forged signatures ----------------------------------------------------------------------------
SIG = entries("signatures")


@pytest.mark.parametrize("entry", SIG, ids=ids(SIG))
def test_forged_signatures(db, app, client, recorder, no_errors_logged, entry):
    ctx = context(recorder_url_of(recorder))
    form = base_form(entry, ctx)
    before = {n: count(db, m) for n, m in MODELS.items()}
    r = post(client, entry, ctx, form)
    assert_not_5xx(r, entry["id"])
    assert r.status_code == entry["expect"], (entry["id"], r.status_code, r.get_data(as_text=True)[:200])
    sid = form.get("MessageSid") or form.get("CallSid")
    stored = count(db, Message, Message.sid == sid) if sid else 0
    if entry["expect"] == 403:
        assert {n: count(db, m) for n, m in MODELS.items()} == before, "a refused request stored something"
    elif entry.get("stored"):
        assert stored == 1


def recorder_url_of(recorder) -> str:
    import os

    return os.environ["TWILIO_API_BASE_URL"]


# -- replayed requests ----------------------------------------------------------------------------
REPLAY = entries("replay")


@pytest.mark.parametrize("entry", REPLAY, ids=ids(REPLAY))
def test_replayed_requests(db, app, client, recorder, no_errors_logged, entry):
    ctx = context(recorder_url_of(recorder))
    form = base_form(entry, ctx)
    phone = "+9198" + ctx["sid"][:8].replace("0", "5")[:8]
    if "From" in form and form["From"].startswith("whatsapp:+"):
        form["From"] = "whatsapp:" + phone
    elif "From" in form and form["From"].startswith("+"):
        form["From"] = phone
    for n, text in enumerate(entry.get("conversation", [])[:-1]):  # the turns before the replayed one
        turn = {**form, "Body": text, "MessageSid": f"SM{n:04d}" + ctx["sid"], "SmsSid": "", "SmsMessageSid": ""}
        assert post(client, entry, ctx, turn).status_code == 200
    if entry.get("conversation"):
        form["Body"] = entry["conversation"][-1]
    answers, snapshots = [], []
    for _ in range(entry["times"]):
        r = post(client, entry, ctx, form)
        assert_not_5xx(r, entry["id"])
        assert 200 <= r.status_code < 300, (entry["id"], r.status_code)
        answers.append(r.get_data())
        snapshots.append({n: count(db, m) for n, m in MODELS.items()} | {
            f"outbox:{k}": count(db, Outbox, Outbox.kind == k) for k in ("media", "recording", "send", "route")})
    assert len(set(answers)) == 1, f"replays answered differently: {answers}"
    assert all(s == snapshots[0] for s in snapshots), f"a replay changed the database: {snapshots}"
    for name, n in (entry.get("count") or {}).items():
        assert snapshots[-1][name] == n, (name, snapshots[-1])
    for kind, n in (entry.get("outbox_kind") or {}).items():
        assert snapshots[-1][f"outbox:{kind}"] == n


# -- media: SSRF and bombs ------------------------------------------------------------------------
def _post_media(client, ctx, url: str, ctype: str):
    form = load_fixture("whatsapp", "media_image", MediaUrl0=url, MediaContentType0=ctype, Body="",
                        From="whatsapp:+91983" + ctx["sid"][:7].replace("0", "7"))
    form.update(MessageSid="MM" + ctx["sid"], SmsSid="MM" + ctx["sid"], SmsMessageSid="MM" + ctx["sid"])
    r = post(client, {"endpoint": "/twilio/whatsapp"}, ctx, form)
    assert_not_5xx(r, url)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert assert_twiml(r), "no polite reply"
    return form


def _run_media_jobs(db, budget_s: float = 30.0) -> Attachment:
    with db.session() as s:
        oids = list(s.scalars(select(Outbox.id).where(Outbox.kind == "media")))
    assert len(oids) == 1
    t0 = time.monotonic()
    try:
        run_outbox(oids[0])
    except Exception as exc:  # a retryable FetchFailed would show here: not what hostile input should get
        pytest.fail(f"the media job raised {type(exc).__name__}: {exc}")
    assert time.monotonic() - t0 < budget_s
    with db.session() as s:
        return s.scalars(select(Attachment)).one()


def _fake_dns(monkeypatch, table: dict) -> None:
    import socket

    import voice.media as vm

    real = socket.getaddrinfo

    def fake(host, port, *a, **kw):
        if host in table:
            ips = table[host] if isinstance(table[host], list) else [table[host]]
            return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
                    for ip in ips]
        if host.endswith(".twiliocdn.com"):
            raise socket.gaierror("no DNS in tests")
        return real(host, port, *a, **kw)

    monkeypatch.setattr(vm.socket, "getaddrinfo", fake)


def _media_checks(db, recorder, att: Attachment, reasons: list[str], accept_stored: bool = False) -> None:
    if att.status == "stored" and accept_stored:
        return
    assert att.status == "rejected", (att.status, att.reject_reason)
    assert att.reject_reason.split(":")[0] in reasons, att.reject_reason
    assert att.path is None
    assert count(db, Message) == 1  # the message itself is kept
    polite = count(db, Outbox, Outbox.kind == "send", Outbox.key.like("media_rejected:%"))
    assert polite == 1, "the citizen was not told politely"


SSRF = entries("ssrf")


@pytest.mark.parametrize("entry", SSRF, ids=ids(SSRF))
def test_ssrf_media_urls(db, app, client, recorder, monkeypatch, no_errors_logged, entry):
    ctx = context(recorder_url_of(recorder))
    _fake_dns(monkeypatch, entry.get("resolve") or {})
    if entry.get("redirect"):
        recorder.add_media(ctx["name"], expand(entry["redirect"], ctx).encode(), "text/plain", status=302)
    url = expand(entry["url"], ctx)
    _post_media(client, ctx, url, "image/jpeg")
    att = _run_media_jobs(db)
    _media_checks(db, recorder, att, entry["reasons"])
    gets = [r for r in recorder.requests if r["kind"] == "get"]
    if not entry.get("redirect"):
        assert not gets, f"fetched {gets}"
    # Only the API origin (the recorder) ever saw a request, and only it got credentials.
    assert all(g["auth"] in (None, ACCOUNT) for g in gets)


BOMBS = entries("media_bombs")


@pytest.mark.parametrize("entry", BOMBS, ids=ids(BOMBS))
def test_media_bombs(db, app, client, recorder, no_errors_logged, entry):
    ctx = context(recorder_url_of(recorder))
    recorder.add_media(ctx["name"], blobs.make(entry["blob"]), entry["ctype"], status=entry.get("status", 200))
    _post_media(client, ctx, f"{ctx['api']}/media/{ctx['name']}", entry["ctype"])
    att = _run_media_jobs(db)
    _media_checks(db, recorder, att, entry["reasons"], entry.get("accept_stored", False))
    if att.status == "stored" and entry.get("max_duration"):
        assert att.duration is not None and att.duration <= entry["max_duration"], att.duration
    gets = [r for r in recorder.requests if r["kind"] == "get" and r["path"].startswith("/media/")]
    assert len(gets) == 1 and gets[0]["auth"] == ACCOUNT


# -- malformed callbacks --------------------------------------------------------------------------
CALLBACKS = entries("callbacks")


@pytest.mark.parametrize("entry", CALLBACKS, ids=ids(CALLBACKS))
def test_malformed_callbacks(db, app, client, recorder, no_errors_logged, entry):
    ctx = context(recorder_url_of(recorder))
    tables = table_names(db)
    r = post(client, entry, ctx)
    assert_not_5xx(r, entry["id"])
    assert status_ok(r.status_code, entry["expect"]), (entry["id"], r.status_code, r.get_data(as_text=True)[:300])
    if r.status_code == 200 and r.mimetype.endswith("xml"):
        ET.fromstring(r.get_data())  # well-formed TwiML
    if entry.get("stored") is False:
        assert count(db, Message) == 0 and count(db, Outbox) == 0, "a refused request stored something"
    assert table_names(db) == tables
