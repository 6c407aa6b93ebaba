"""The one harness: every fixture of every channel through the real signed webhook.

Each case names a real-format Twilio form body (tests/fixtures/<channel>/<name>.txt), how it is
signed, and what must come out: the status code, what the TwiML says, and the rows in the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from channels.twilio import sign
from models import Attachment, Citizen, Conversation, Message, Outbox
from tests.conftest import PUBLIC, TOKEN, load_fixture


@dataclass
class Case:
    id: str
    channel: str  # fixture folder
    fixture: str
    path: str = ""  # default /twilio/<channel>
    override: dict = field(default_factory=dict)
    drop: tuple = ()  # form keys to remove
    signing: str = "ok"  # ok, missing, tampered, wrong_url, wrong_token, forwarded, port443
    headers: dict = field(default_factory=dict)
    public_base: bool = True  # PUBLIC_BASE_URL set (else the forwarded headers decide)
    status: int = 200
    twiml: tuple = ()  # substrings the answer must contain
    messages: int | None = None  # inbound Message rows with this sid
    attachments: int = 0
    outbox: dict = field(default_factory=dict)  # kind -> count
    citizen: dict | None = None  # expected Citizen columns
    setup_out: str | None = None  # status cases: an outbound message with this status exists first
    out_status: str | None = None  # ... and must end with this status


CASES = [
    # -- SMS ------------------------------------------------------------------------------------
    Case("sms-text", "sms", "text", twiml=("echo[text]: mera phone chori ho gaya",), messages=1,
         citizen={"phone": "+919839012345", "wa_id": None}),
    Case("sms-hindi", "sms", "hindi_text", twiml=("echo[text]: मेरा मोबाइल झाँसी",), messages=1),
    Case("sms-mms-image", "sms", "media_image", twiml=("echo[media]: 1 image",), messages=1, attachments=1,
         outbox={"media": 1}),
    Case("sms-register", "sms", "text", override={"Body": "register jhansi theft_mobile"},
         twiml=("registered JHS-",), messages=1, outbox={"route": 1}),
    Case("sms-missing-signature", "sms", "text", signing="missing", status=403, messages=0),
    Case("sms-tampered-body", "sms", "text", signing="tampered", status=403, messages=0),
    Case("sms-wrong-url", "sms", "text", signing="wrong_url", status=403, messages=0),
    Case("sms-wrong-token", "sms", "text", signing="wrong_token", status=403, messages=0),
    Case("sms-signed-for-other-path", "sms", "text", path="/twilio/sms?x=1", signing="wrong_url", status=403,
         messages=0),
    Case("sms-no-sid", "sms", "text", drop=("MessageSid", "SmsSid", "SmsMessageSid"), status=400,
         twiml=("MessageSid",)),
    Case("sms-bad-from", "sms", "text", override={"From": "not-a-number"}, status=400, twiml=("From",)),
    Case("sms-bad-nummedia", "sms", "text", override={"NumMedia": "lots"}, status=400, twiml=("NumMedia",)),
    Case("sms-forwarded-proto-host", "sms", "text", signing="forwarded", public_base=False,
         headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bharosa.example.in"}, messages=1),
    Case("sms-forwarded-but-public-base-wins", "sms", "text", signing="forwarded",
         headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bharosa.example.in"}, status=403, messages=0),
    Case("sms-signed-with-port-443", "sms", "text", signing="port443", messages=1),
    Case("sms-nul-and-controls-cleaned", "sms", "text", override={"Body": "chori\x00 ho\x07 gaya"},
         twiml=("echo[text]: chori ho gaya",), messages=1),
    # -- WhatsApp -------------------------------------------------------------------------------
    Case("wa-text", "whatsapp", "text", twiml=("echo[text]: mera phone kal shaam Rawatpur",), messages=1,
         citizen={"phone": "+919839012345", "wa_id": "+919839012345", "name": "Ramesh Kumar"}),
    Case("wa-hindi", "whatsapp", "hindi_text", twiml=("echo[text]: मेरी बाइक चोरी",), messages=1),
    Case("wa-image", "whatsapp", "media_image", twiml=("echo[media]: 1 image",), messages=1, attachments=1,
         outbox={"media": 1}),
    Case("wa-voice-note", "whatsapp", "voice_note", twiml=("echo[media]: 1 audio",), messages=1, attachments=1,
         outbox={"media": 1}),
    Case("wa-video", "whatsapp", "video", twiml=("echo[media]: 1 video",), messages=1, attachments=1,
         outbox={"media": 1}),
    Case("wa-document-with-caption", "whatsapp", "document", twiml=("echo[text]: FIR copy",), messages=1,
         attachments=1, outbox={"media": 1}),
    Case("wa-location", "whatsapp", "location", twiml=("loc:26.4842,80.2740",), messages=1),
    Case("wa-button-reply", "whatsapp", "button_reply", twiml=("button:yes",), messages=1),
    Case("wa-id-only-sender", "whatsapp", "wa_id_only", twiml=("echo[text]: mujhe shikayat",), messages=1,
         citizen={"phone": None, "wa_id": "IN.1349120865530274191"}),
    Case("wa-register-wa-only", "whatsapp", "wa_id_only", override={"Body": "register kanpur_nagar theft_other"},
         twiml=("registered KNP-",), messages=1, outbox={"route": 1}),
    Case("wa-missing-signature", "whatsapp", "text", signing="missing", status=403, messages=0),
    Case("wa-tampered", "whatsapp", "text", signing="tampered", status=403, messages=0),
    Case("wa-wrong-url", "whatsapp", "text", signing="wrong_url", status=403, messages=0),
    Case("wa-sms-address-on-wa-route", "whatsapp", "text", override={"From": "+919839012345"}, status=400),
    Case("wa-bad-latitude", "whatsapp", "location", override={"Latitude": "91.5"}, status=400,
         twiml=("Latitude",)),
    Case("wa-nan-longitude", "whatsapp", "location", override={"Longitude": "nan"}, status=400),
    # -- status callbacks -----------------------------------------------------------------------
    Case("wa-status-delivered", "whatsapp", "status_delivered", path="/twilio/status", status=204,
         setup_out="sent", out_status="delivered"),
    Case("wa-status-read", "whatsapp", "status_read", path="/twilio/status", status=204, setup_out="delivered",
         out_status="read"),
    Case("wa-status-sent-after-delivered", "whatsapp", "status_sent", path="/twilio/status", status=204,
         setup_out="delivered", out_status="delivered"),
    Case("wa-status-failed-63016", "whatsapp", "status_failed_63016", path="/twilio/status", status=204,
         setup_out="sent", out_status="failed"),
    Case("wa-status-unsigned", "whatsapp", "status_delivered", path="/twilio/status", signing="missing",
         status=403, setup_out="sent", out_status="sent"),
    Case("sms-status-delivered", "sms", "status_delivered", path="/twilio/status", status=204, setup_out="sent",
         out_status="delivered"),
    Case("sms-status-undelivered-30006", "sms", "status_undelivered_30006", path="/twilio/status", status=204,
         setup_out="sent", out_status="undelivered"),
    Case("status-unknown-state", "sms", "status_delivered", path="/twilio/status",
         override={"MessageStatus": "exploded"}, status=400),
]


def _post(client, case: Case, form: dict, monkeypatch):
    from urllib.parse import urlencode

    path = case.path or f"/twilio/{case.channel}"
    if not case.public_base:
        monkeypatch.delenv("PUBLIC_BASE_URL")
    sig_path = path.split("?")[0] if case.signing == "wrong_url" and "?" in path else path
    url = PUBLIC + sig_path
    signed = dict(form)
    sig: str | None
    if case.signing == "missing":
        sig = None
    elif case.signing == "tampered":
        sig = sign(url, signed, TOKEN)
        form = dict(form, Body=(form.get("Body") or "") + "!")
    elif case.signing == "wrong_url":
        sig = sign(url if "?" in path else "https://evil.example" + path, signed, TOKEN)
    elif case.signing == "wrong_token":
        sig = sign(url, signed, "another-accounts-token")
    elif case.signing == "forwarded":
        sig = sign("https://bharosa.example.in" + path, signed, TOKEN)
    elif case.signing == "port443":
        sig = sign("https://bharosa.test:443" + path, signed, TOKEN)
    else:
        sig = sign(url, signed, TOKEN)
    headers = dict(case.headers)
    if sig is not None:
        headers["X-Twilio-Signature"] = sig
    return client.post(path, data=urlencode(form), headers=headers, content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, db, app, client, fake_engine, spool_dir, monkeypatch):
    form = load_fixture(case.channel, case.fixture, **case.override)
    for k in case.drop:
        form.pop(k, None)
    sid = form.get("MessageSid")
    if case.setup_out:
        with db.session() as s:
            s.add(Message(sid=sid, direction="out", channel=case.channel, to_addr=form.get("To"), body="x",
                          status=case.setup_out))
    resp = _post(client, case, form, monkeypatch)
    body = resp.get_data(as_text=True)
    assert resp.status_code == case.status, body
    for text in case.twiml:
        assert text in body
    if case.status == 200:
        assert resp.mimetype == "application/xml" and body.startswith("<?xml")
    with db.session() as s:
        if case.messages is not None:
            n = s.scalar(select(func.count()).select_from(Message).where(Message.sid == sid, Message.direction == "in"))
            assert n == case.messages
        atts = s.scalar(select(func.count()).select_from(Attachment))
        assert atts == case.attachments
        kinds = dict(s.execute(select(Outbox.kind, func.count()).group_by(Outbox.kind)).all())
        for kind, n in case.outbox.items():
            assert kinds.get(kind, 0) == n, kinds
        if not case.outbox.get("route"):
            assert "route" not in kinds
        if case.citizen is not None:
            cit = s.scalar(select(Citizen))
            for k, v in case.citizen.items():
                assert getattr(cit, k) == v, k
            assert s.scalar(select(func.count()).select_from(Conversation)) == 1
        if case.out_status:
            assert s.scalar(select(Message.status).where(Message.sid == sid)) == case.out_status
    assert not list(spool_dir.glob("*.json")) if spool_dir.exists() else True


def test_every_fixture_is_in_the_harness():
    from tests.conftest import FIXTURES

    used = {(c.channel, c.fixture) for c in CASES}
    for ch in ("sms", "whatsapp"):
        for f in (FIXTURES / ch).glob("*.txt"):
            assert (ch, f.stem) in used, f"fixture {ch}/{f.name} has no case"


def test_repeated_delivery_gets_the_same_answer_and_does_nothing_twice(db, app, twilio, fake_engine, fixture_form):
    form = fixture_form("whatsapp", "media_image")
    first = twilio.post("/twilio/whatsapp", form).get_data(as_text=True)
    again = twilio.post("/twilio/whatsapp", form).get_data(as_text=True)
    assert first == again and "echo[media]" in first
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1
        assert s.scalar(select(func.count()).select_from(Outbox)) == 1
        assert s.scalar(select(Conversation.state)) == {"turns": 1}
