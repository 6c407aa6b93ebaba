"""The conversation store (models/conversations.py): one turn is open_turn + close_turn on every database.

On PostgreSQL each test runs both roads, the two-statement one and the ORM one the store takes when one
statement cannot settle who wrote (and always on SQLite): they must leave the same rows.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Citizen, Conversation, Message, conversations, utcnow
from models.tables import Contact


@pytest.fixture(params=["fast", "orm"])
def road(request, db, monkeypatch):
    if request.param == "fast" and db.engine.dialect.name != "postgresql":
        pytest.skip("the two-statement road is PostgreSQL's")
    if request.param == "orm":
        monkeypatch.setattr(conversations, "_fast", lambda session: False)
    return request.param


def _addresses(s, cit_id: int) -> set[str]:
    return {c.address for c in s.scalars(select(Contact).where(Contact.citizen_id == cit_id))}


def _values(sid: str, **kw):
    return {"sid": sid, "direction": "in", "channel": "whatsapp", "from_addr": "whatsapp:+919839000101",
            "to_addr": "whatsapp:+14155238886", "body": "hello", "kind": "text", "payload": {},
            "status": "received", "created_at": utcnow(), "updated_at": utcnow(), **kw}


def _open(s, sid, phone="+919839000101", address="whatsapp:+919839000101", **kw):
    return conversations.open_turn(s, sid=sid, channel="whatsapp", now=utcnow(), phone=phone, address=address,
                                   window_at=utcnow(), **kw)


def test_a_first_turn_makes_the_citizen_its_contacts_and_its_conversation(db, road):
    with db.session() as s:
        t = _open(s, "SM1", profile_name="Asha")
        assert not t.duplicate and not t.blocked and t.state == {} and t.conversation_id
        mid = conversations.close_turn(s, t, _values("SM1", citizen_id=t.citizen_id, reply="नमस्ते"),
                                       state={"step": "story"}, language="en")
        assert mid is not None
        s.commit()
    with db.session() as s:
        cit = s.scalar(select(Citizen))
        assert (cit.phone, cit.wa_id, cit.language) == ("+919839000101", "+919839000101", "en")
        assert cit.last_whatsapp_at is not None
        assert _addresses(s, cit.id) == {"tel:+919839000101", "whatsapp:+919839000101"}
        conv = s.scalar(select(Conversation))
        assert conv.citizen_id == cit.id and conv.state == {"step": "story"}
        m = s.get(Message, mid)
        assert (m.citizen_id, m.reply, m.status) == (cit.id, "नमस्ते", "received")


def test_the_next_turn_finds_the_same_citizen_and_state(db, road):
    with db.session() as s:
        t = _open(s, "SM1")
        conversations.close_turn(s, t, _values("SM1", citizen_id=t.citizen_id), state={"n": 1}, language=None)
        s.commit()
    with db.session() as s:
        t2 = _open(s, "SM2")
        assert t2.state == {"n": 1} and not t2.duplicate
        conversations.close_turn(s, t2, _values("SM2", citizen_id=t2.citizen_id), state={"n": 2}, language=None)
        s.commit()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Citizen)) == 1
        assert s.scalar(select(Conversation.state)) == {"n": 2}
        assert s.scalar(select(Citizen.language)) == "hi"  # no language given: kept


def test_a_repeated_sid_is_a_duplicate_and_is_not_stored_twice(db, road):
    with db.session() as s:
        t = _open(s, "SM1")
        conversations.close_turn(s, t, _values("SM1", citizen_id=t.citizen_id, reply="first"), state={"n": 1},
                                 language=None)
        s.commit()
    with db.session() as s:
        again = _open(s, "SM1")
        assert again.duplicate
        assert conversations.previous_reply(s, "SM1") == ["first"]
        # a delivery that raced past the check loses at close: nothing of it is kept
        assert conversations.close_turn(s, again, _values("SM1", citizen_id=again.citizen_id), state={"n": 9},
                                        language="en") is None
        s.rollback()
    with db.session() as s:
        assert s.scalar(select(Conversation.state)) == {"n": 1}
        assert s.scalar(select(func.count()).select_from(Message)) == 1


def test_a_failed_engine_turn_keeps_the_old_state(db, road):
    with db.session() as s:
        t = _open(s, "SM1")
        conversations.close_turn(s, t, _values("SM1", citizen_id=t.citizen_id), state={"n": 1}, language=None)
        s.commit()
    with db.session() as s:
        t = _open(s, "SM2")
        conversations.close_turn(s, t, _values("SM2", citizen_id=t.citizen_id, status="error"), state=None,
                                 language=None)
        s.commit()
    with db.session() as s:
        assert s.scalar(select(Conversation.state)) == {"n": 1}
        assert s.scalar(select(Message.status).where(Message.sid == "SM2")) == "error"


def test_a_blocked_citizen_gets_no_conversation(db, road):
    with db.session() as s:
        s.add(Citizen(phone="+919839000101", blocked=True))
        s.commit()
    with db.session() as s:
        t = _open(s, "SM1")
        assert t.blocked and t.conversation_id is None
        s.commit()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Conversation)) == 0


def test_a_whatsapp_id_of_another_row_is_settled_by_the_orm_road(db, road):
    """The number writes after its WhatsApp id wrote alone: the phone's row is found, the id stays the other's."""
    with db.session() as s:
        s.add(Citizen(wa_id="+919839000101"))
        s.add(Citizen(phone="+919839000101"))
        s.commit()
    with db.session() as s:
        t = _open(s, "SM1")
        assert not t.duplicate and t.conversation_id
        conversations.close_turn(s, t, _values("SM1", citizen_id=t.citizen_id), state={"n": 1}, language=None)
        s.commit()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Citizen)) == 2
        owner = s.scalar(select(Message.citizen_id))
        assert owner == s.scalar(select(Conversation.citizen_id))


def test_a_message_inserted_early_is_completed_at_close(db, road):
    """A message with attachments is stored before the engine runs; close_turn adds its reply and status."""
    with db.session() as s:
        t = _open(s, "SM1")
        mid = conversations.insert_message(s, _values("SM1", citizen_id=t.citizen_id))
        assert conversations.close_turn(s, t, _values("SM1", citizen_id=t.citizen_id, reply="got it"),
                                        state={"n": 1}, language=None, message_id=mid) == mid
        s.commit()
    with db.session() as s:
        m = s.scalar(select(Message))
        assert (m.id, m.reply) == (mid, "got it")
        assert s.scalar(select(Conversation.state)) == {"n": 1}


def test_a_new_address_makes_one_citizen_found_again_by_it(db):
    with db.session() as s:
        a = conversations.find_citizen(s, None, None, address="telegram:5550001", profile_name="Asha")
        s.flush()
        aid = a.id
    with db.session() as s:
        b = conversations.find_citizen(s, None, None, address="telegram:5550001")
        assert b.id == aid and b.name == "Asha"
        assert _addresses(s, aid) == {"telegram:5550001"}
        assert conversations.citizen_by_address(s, "telegram:5550001").id == aid
        assert conversations.citizen_by_address(s, "telegram:9") is None


def test_a_phone_citizen_gets_its_tel_and_whatsapp_contacts(db):
    with db.session() as s:
        cit = conversations.find_citizen(s, "+919839000001", "+919839000001")
        s.flush()
        assert _addresses(s, cit.id) == {"tel:+919839000001", "whatsapp:+919839000001"}
        assert conversations.citizen_by_address(s, "tel:+919839000001").id == cit.id


def test_add_contact_refuses_an_address_of_another_citizen(db):
    with db.session() as s:
        a = conversations.find_citizen(s, "+919839000002", None)
        b = conversations.find_citizen(s, None, None, address="telegram:42")
        s.flush()
        assert conversations.add_contact(s, b, "tel:+919839000002") is False
        assert conversations.add_contact(s, b, "tel:+919839000003") is True
        assert conversations.add_contact(s, b, "tel:+919839000003") is True  # already its own: nothing added
        assert _addresses(s, b.id) == {"telegram:42", "tel:+919839000003"}
        assert _addresses(s, a.id) == {"tel:+919839000002"}


def test_a_bad_address_is_named():
    with pytest.raises(ValueError, match="not an address"):
        conversations.split_address("telegram")
