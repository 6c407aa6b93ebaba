"""Contacts through a channel: a WhatsApp text leaves the same contacts on either road of the store
(tests/models/test_conversations.py tests the store itself)."""

from __future__ import annotations

from sqlalchemy import func, select

from channels import inbound
from channels.whatsapp import parse as parse_whatsapp
from models import Citizen
from models.tables import Contact


def _addresses(s, cit_id: int) -> set[str]:
    return {c.address for c in s.scalars(select(Contact).where(Contact.citizen_id == cit_id))}


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
