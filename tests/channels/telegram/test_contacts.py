"""Contacts are addresses (scheme + path) linked to one citizen: found by any of them, created once."""

from __future__ import annotations

from sqlalchemy import func, select

from channels import inbound
from channels.whatsapp import parse as parse_whatsapp
from models import Citizen, utcnow
from models.tables import Contact


def _addresses(s, cit_id: int) -> set[str]:
    return {c.address for c in s.scalars(select(Contact).where(Contact.citizen_id == cit_id))}


def test_a_new_address_makes_one_citizen_found_again_by_it(db):
    now = utcnow()
    with db.session() as s:
        a = inbound.find_citizen(s, None, None, now, "telegram", "Asha", address="telegram:5550001")
        s.flush()
        aid = a.id
    with db.session() as s:
        b = inbound.find_citizen(s, None, None, now, "telegram", None, address="telegram:5550001")
        assert b.id == aid and b.name == "Asha"
        assert _addresses(s, aid) == {"telegram:5550001"}
        assert inbound.citizen_by_address(s, "telegram:5550001").id == aid
        assert inbound.citizen_by_address(s, "telegram:9") is None


def test_a_phone_citizen_gets_its_tel_and_whatsapp_contacts(db):
    with db.session() as s:
        cit = inbound.find_citizen(s, "+919839000001", "+919839000001", utcnow(), "whatsapp")
        s.flush()
        assert _addresses(s, cit.id) == {"tel:+919839000001", "whatsapp:+919839000001"}
        assert inbound.citizen_by_address(s, "tel:+919839000001").id == cit.id


def test_add_contact_refuses_an_address_of_another_citizen(db):
    with db.session() as s:
        a = inbound.find_citizen(s, "+919839000002", None, utcnow(), "sms")
        b = inbound.find_citizen(s, None, None, utcnow(), "telegram", address="telegram:42")
        s.flush()
        assert inbound.add_contact(s, b, "tel:+919839000002") is False
        assert inbound.add_contact(s, b, "tel:+919839000003") is True
        assert inbound.add_contact(s, b, "tel:+919839000003") is True  # already its own: nothing added
        assert _addresses(s, b.id) == {"telegram:42", "tel:+919839000003"}
        assert _addresses(s, a.id) == {"tel:+919839000002"}


def test_a_whatsapp_text_on_either_path_leaves_the_citizens_contacts(db, fake_engine, redis_conn):
    """The PostgreSQL fast path writes the same contacts as the general path."""
    form = {"MessageSid": "SM" + "1" * 32, "From": "whatsapp:+919839000004", "To": "whatsapp:+14155238886",
            "Body": "hello"}
    with db.session() as s:
        inbound.process(s, parse_whatsapp(form))
    form2 = {**form, "MessageSid": "SM" + "2" * 32, "From": "whatsapp:wa-only-9"}
    with db.session() as s:
        inbound.process(s, parse_whatsapp(form2))
    with db.session() as s:
        got = {a for cid in s.scalars(select(Citizen.id)) for a in _addresses(s, cid)}
        assert got == {"tel:+919839000004", "whatsapp:+919839000004", "whatsapp:wa-only-9"}
        assert s.scalar(select(func.count()).select_from(Contact)) == 3
