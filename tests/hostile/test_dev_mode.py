"""Dev mode (``BHAROSA_ENV=dev``) from the outside: nothing leaves through Twilio or a gateway, even with
real credentials set, and the unauthenticated simulator answers only callers on this machine.

(`make run` binding 127.0.0.1 in dev mode is tested in tests/test_make_run.py.)
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Message, Outbox
from tasks import outbox as ob
from tests.conftest import ACCOUNT

PHONE = "+919839055501"
OUTSIDE = [{"REMOTE_ADDR": "203.0.113.9"}, {"REMOTE_ADDR": "10.0.0.5"}, {"REMOTE_ADDR": "192.168.1.20"},
           {"REMOTE_ADDR": "::ffff:203.0.113.9"}, {"REMOTE_ADDR": "2001:db8::1"}, {"REMOTE_ADDR": ""}]


@pytest.fixture
def dev(settings_env):
    settings_env(BHAROSA_ENV="dev")


def _send_rows(db):
    with db.session() as s:
        ob.add(s, "dev:sms", "send", {"to_phone": PHONE, "to_chat": None, "text": "आपकी शिकायत दर्ज हुई",
                                      "template": None, "lang": "hi"})
        ob.add(s, "dev:wa", "send", {"to_phone": None, "to_chat": f"whatsapp:{PHONE}", "text": "WhatsApp reply",
                                     "template": None, "lang": "en"})


def test_dev_mode_with_real_credentials_sends_nothing_and_records_the_messages(db, app, recorder, drain, dev):
    import os

    # the credentials are real enough for the recorder: production mode sends with them (test_outbound)
    assert os.environ["TWILIO_ACCOUNT_SID"] == ACCOUNT and os.environ["TWILIO_AUTH_TOKEN"]
    assert os.environ["TWILIO_API_BASE_URL"].startswith("http://127.0.0.1")
    _send_rows(db)
    drain()
    assert recorder.messages == [] and recorder.to(PHONE) == []
    with db.session() as s:
        rows = s.scalars(select(Message).where(Message.direction == "out").order_by(Message.id)).all()
        assert sorted((m.channel, m.status) for m in rows) == [("sms", "recorded"), ("whatsapp", "recorded")]
        assert {m.body for m in rows} == {"आपकी शिकायत दर्ज हुई", "WhatsApp reply"}
        assert all(m.sid.startswith("DEV") for m in rows)
        assert set(s.scalars(select(Outbox.status))) == {"done"}


def test_the_same_rows_outside_dev_mode_do_reach_twilio(db, app, recorder, drain, settings_env):
    """The control for the test above: the recorder does receive what production sends."""
    settings_env(BHAROSA_ENV=None)
    _send_rows(db)
    drain()
    assert len(recorder.to(PHONE)) == 2


def test_dev_mode_sends_nothing_through_a_state_gateway_either(db, app, recorder, drain, dev, settings_env):
    settings_env(BHAROSA_SMS_SENDER="tests.channels.state_gateway:StateGateway")
    from tests.channels.state_gateway import StateGateway

    StateGateway.sent.clear()
    _send_rows(db)
    drain()
    assert StateGateway.sent == [] and recorder.messages == []


@pytest.mark.parametrize("environ", OUTSIDE, ids=lambda e: e["REMOTE_ADDR"] or "none")
def test_simulator_refuses_a_caller_not_on_loopback(db, client, dev, environ):
    for method, path, kw in (("get", "/simulator", {}),
                             ("post", "/simulator/send", {"json": {"from": PHONE, "text": "I am someone else"}}),
                             ("get", f"/simulator/messages?from={PHONE}", {})):
        r = getattr(client, method)(path, environ_base=environ, **kw)
        assert r.status_code == 403, (path, r.status_code)
        assert "loopback" in r.get_json()["detail"], r.get_json()
    with db.session() as s:
        assert s.scalar(select(Message.id)) is None  # the impersonating message never reached the webhook


def test_simulator_refuses_a_forged_forwarded_for_from_outside(db, redis_conn, recorder, dev, monkeypatch):
    """Behind one trusted proxy (ProxyFix), an outside client that claims 127.0.0.1 in X-Forwarded-For is
    refused, and so is a remote client forwarded by a proxy on this machine."""
    from app import create_app

    monkeypatch.setenv("BHAROSA_TRUSTED_PROXIES", "1")
    client = create_app(db.url, check_env=False, TESTING=True).test_client()
    r = client.get(f"/simulator/messages?from={PHONE}", headers={"X-Forwarded-For": "127.0.0.1"},
                   environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert r.status_code == 403
    r = client.get(f"/simulator/messages?from={PHONE}", headers={"X-Forwarded-For": "203.0.113.9"},
                   environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert r.status_code == 403 and "203.0.113.9" in r.get_json()["detail"]
    r = client.get(f"/simulator/messages?from={PHONE}", headers={"X-Forwarded-For": "127.0.0.1"},
                   environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert r.status_code == 200


@pytest.mark.parametrize("addr", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_simulator_answers_on_loopback(db, client, dev, addr):
    assert client.get("/simulator", environ_base={"REMOTE_ADDR": addr}).status_code == 200
    assert client.get(f"/simulator/messages?from={PHONE}", environ_base={"REMOTE_ADDR": addr}).json == []
