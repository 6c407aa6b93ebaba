"""SMS opt-out: STOP is recorded on the citizen and honoured by every later send; START undoes it.

Twilio acts on STOP itself only for US and Canadian numbers (and then adds ``OptOutType`` and sends its own
confirmation); on an Indian number Bharosa is the only one listening.
"""

from __future__ import annotations

from sqlalchemy import select

from models import Citizen, Event, Message, Outbox
from models.tables import Contact
from tasks import outbox as ob
from tests.conftest import ACCOUNT

PHONE = "+919839077777"


def sms(twilio, sid: str, body: str, **extra) -> str:
    form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": PHONE, "To": "+15005550006",
            "Body": body, "NumMedia": "0", "ApiVersion": "2010-04-01", **extra}
    r = twilio.post("/twilio/sms", form)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_data(as_text=True)


def alert(db, key: str, **payload) -> int:
    with db.session() as s:
        ob.add(s, key, "send", {"to_phone": PHONE, "to_chat": None, "template": "registered", "lang": "hi",
                                "values": {"ref": "KNP-7F3K9Q", "station": "कोतवाली", "due": "22/11 18:30"},
                                "audience": "citizen", **payload})
    with db.session() as s:
        return s.scalar(select(Outbox.id).where(Outbox.key == key))


def stopped(db) -> bool | None:
    with db.session() as s:
        return s.scalar(select(Citizen.sms_opt_out).where(Citizen.phone == PHONE))


def test_stop_then_start(db, app, twilio, recorder, drain):
    sms(twilio, "SM" + "a1" * 16, "mera phone chori ho gaya")  # an ordinary first message
    reply = sms(twilio, "SM" + "a2" * 16, " Stop. ")
    assert "START" in reply and "SMS नहीं" in reply  # confirmed in Hindi, with the way back
    assert stopped(db) is True
    with db.session() as s:
        row = s.scalar(select(Message).where(Message.sid == "SM" + "a2" * 16))
        assert row.status == "opt_out" and row.body.strip() == "Stop."  # stored like any message
    assert sms(twilio, "SM" + "a2" * 16, " Stop. ") == reply  # Twilio's retry: the same answer

    oid = alert(db, "stop:1")
    drain()
    assert recorder.to(PHONE) == []  # nothing sent after STOP
    with db.session() as s:
        assert s.get(Outbox, oid).status == "failed"
        assert s.scalar(select(Event.data).where(Event.kind == "send_failed"))["code"] == 21610

    assert "फिर से चालू" in sms(twilio, "SM" + "a3" * 16, "start")
    assert stopped(db) is False
    alert(db, "stop:2")
    drain()
    assert [m["Body"] for m in recorder.to(PHONE) if "KNP-7F3K9Q" in m["Body"]]


def test_twilio_did_the_opt_out_itself_so_no_second_confirmation(db, app, twilio):
    # Twilio's default list includes CANCEL, which Bharosa does not treat as STOP on its own
    reply = sms(twilio, "SM" + "b1" * 16, "cancel", OptOutType="STOP")
    assert "<Message" not in reply  # Twilio has already confirmed
    assert stopped(db) is True


def test_stop_inside_a_sentence_is_a_message_to_the_bot(db, app, twilio):
    reply = sms(twilio, "SM" + "c1" * 16, "please stop the loud music in Kakadeo")
    assert "<Message" in reply and "START" not in reply
    assert not stopped(db)


def test_after_stop_an_alert_goes_by_whatsapp_where_the_citizen_has_it(db, app, twilio, recorder, drain):
    sms(twilio, "SM" + "d1" * 16, "STOP")
    with db.session() as s:
        cit = s.scalar(select(Citizen).where(Citizen.phone == PHONE))
        cit.wa_id = PHONE
        s.add(Contact(citizen_id=cit.id, scheme="whatsapp", path=PHONE))
    alert(db, "stop:wa", to_chat=f"whatsapp:{PHONE}")
    drain()
    assert recorder.to(PHONE) and all(m["To"].startswith("whatsapp:") for m in recorder.to(PHONE))


def test_an_officers_duty_sms_is_not_stopped_by_a_citizens_stop_from_the_same_phone(db, app, twilio, recorder, drain):
    sms(twilio, "SM" + "e1" * 16, "STOP")
    alert(db, "stop:officer", audience="officer", template="registered")
    drain()
    assert [m for m in recorder.to(PHONE) if not m["To"].startswith("whatsapp:")]
