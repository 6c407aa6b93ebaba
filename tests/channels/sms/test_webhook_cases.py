"""The SMS webhook (POST /twilio/sms) and its delivery statuses: every fixture in
tests/channels/sms/fixtures/ through the real signed webhook (tests/channels/webhook_harness.py).
"""

from __future__ import annotations

import pytest

from tests.channels.webhook_harness import Case, check, fixtures_without_a_case

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
    # -- status callbacks (POST /twilio/status, shared with WhatsApp: channels.status) ---------------
    Case("sms-status-delivered", "sms", "status_delivered", path="/twilio/status", status=204, setup_out="sent",
         out_status="delivered"),
    Case("sms-status-undelivered-30006", "sms", "status_undelivered_30006", path="/twilio/status", status=204,
         setup_out="sent", out_status="undelivered"),
    Case("status-unknown-state", "sms", "status_delivered", path="/twilio/status",
         override={"MessageStatus": "exploded"}, status=400),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, db, app, client, fake_engine, spool_dir, monkeypatch):
    check(case, db, client, spool_dir, monkeypatch)


def test_every_fixture_has_a_case():
    assert fixtures_without_a_case("sms", CASES) == []
