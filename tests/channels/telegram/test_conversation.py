"""A Telegram conversation with the real engine ends in a ticket and alerts like a WhatsApp one."""

from __future__ import annotations

from sqlalchemy import select

from models import Citizen, Complaint
from models.tables import Contact
from tests.channels.telegram.conftest import CHAT, update


def test_a_conversation_ends_in_a_ticket_the_contact_button_once_and_alerts_to_the_chat(db, telegram, tg_env,
                                                                                         drain):
    telegram.say("my bike was stolen from Panki yesterday evening")
    telegram.say("Rohit Singh")
    drain()
    asked = tg_env.sent(CHAT)[-1]
    button = asked["reply_markup"]["keyboard"][0][0]
    assert button["request_contact"] is True and "number" in button["text"].lower()
    assert sum("reply_markup" in b for b in tg_env.sent(CHAT)) == 1  # offered once
    assert telegram.post(update("contact_own")).status_code == 200
    telegram.say("yes")
    drain()
    with db.session() as s:
        c = s.scalars(select(Complaint)).one()
        assert (c.channel, c.category, c.phone, c.chat_address) == ("telegram", "theft_vehicle", "+919839012345",
                                                              f"telegram:{CHAT}")
        cit = s.get(Citizen, c.citizen_id)
        assert {x.address for x in s.scalars(select(Contact).where(Contact.citizen_id == cit.id))} == {
            f"telegram:{CHAT}", "tel:+919839012345"}
        ref = c.ref
    texts = [b["text"] for b in tg_env.sent(CHAT)]
    assert sum(ref in t for t in texts) >= 2, texts  # the reply and the registration alert name the ticket
    assert sum("reply_markup" in b for b in tg_env.sent(CHAT)) == 1


def test_someone_elses_contact_is_refused_politely_and_adds_nothing(db, telegram, tg_env, fake_engine, drain):
    telegram.say("hello")
    assert telegram.post(update("contact_other")).status_code == 200
    drain()
    assert "own number" in tg_env.sent(CHAT)[-1]["text"]
    with db.session() as s:
        assert [x.address for x in s.scalars(select(Contact))] == [f"telegram:{CHAT}"]
        assert s.scalars(select(Citizen)).one().phone is None
