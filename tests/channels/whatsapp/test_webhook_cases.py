"""The WhatsApp webhook (POST /twilio/whatsapp) and its delivery statuses: every fixture in
tests/channels/whatsapp/fixtures/ through the real signed webhook (tests/channels/webhook_harness.py).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Conversation, Message, Outbox
from tests.channels.webhook_harness import Case, check, fixtures_without_a_case

CASES = [
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
    # -- status callbacks (POST /twilio/status, shared with SMS: channels.status) --------------------
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
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, db, app, client, fake_engine, spool_dir, monkeypatch):
    check(case, db, client, spool_dir, monkeypatch)


def test_every_fixture_has_a_case():
    assert fixtures_without_a_case("whatsapp", CASES) == []


def test_repeated_delivery_gets_the_same_answer_and_does_nothing_twice(db, app, twilio, fake_engine, fixture_form):
    form = fixture_form("whatsapp", "media_image")
    first = twilio.post("/twilio/whatsapp", form).get_data(as_text=True)
    again = twilio.post("/twilio/whatsapp", form).get_data(as_text=True)
    assert first == again and "echo[media]" in first
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1
        assert s.scalar(select(func.count()).select_from(Outbox)) == 1
        assert s.scalar(select(Conversation.state)) == {"turns": 1}
