"""Retention (docs/architecture.md): after ``retention.closed_days`` a closed ticket's personal data is erased — the
ticket's text, its messages, notes, feedback comments and media files — and so is what never became a
ticket (messages without one, an idle conversation's draft, a citizen with nothing left); open tickets,
recent ones and the turns that led to a live ticket stay. Run as the worker runs it: ``retention.run``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from models import Attachment, Citizen, Complaint, Conversation, Event, Feedback, Message, Note
from models.tables import Contact
from tests.tickets.helpers import T0, new_ticket
from tickets import retention

NOW = T0 + timedelta(days=400)  # closed_days is 365 in config.yaml: the cutoff is T0 + 35 days


def _close(db, cid, at):
    with db.session() as s:
        s.execute(update(Complaint).where(Complaint.id == cid).values(status="closed", closed_at=at))


def _message(s, sid, body, citizen_id=None, complaint_id=None, at=T0):
    m = Message(sid=sid, direction="in", channel="sms", from_addr="+919839000009", to_addr="+15005550006",
                body=body, payload={"Body": body}, reply="ok", citizen_id=citizen_id, complaint_id=complaint_id,
                created_at=at, updated_at=at)
    s.add(m)
    s.flush()
    return m.id


def test_retention_erases_what_is_old_and_keeps_what_is_live(db, tmp_path):
    old = new_ticket(db, phone="+919839000001", description="मेरा फ़ोन रावतपुर में चोरी हो गया", at=T0)
    recent = new_ticket(db, phone="+919839000002", description="recent closed ticket", at=T0)
    live = new_ticket(db, phone="+919839000003", description="still open after a year", at=T0)
    _close(db, old, T0 + timedelta(days=2))
    _close(db, recent, NOW - timedelta(days=10))
    evidence = tmp_path / "photo.jpg"
    evidence.write_bytes(b"\xff\xd8\xff personal photo")
    with db.session() as s:
        c_old = s.get(Complaint, old)
        _message(s, "SMold-ticket", "the thief wore a red shirt", c_old.citizen_id, old)
        s.add(Attachment(complaint_id=old, kind="image", path=str(evidence), sha256="ab" * 32, status="stored",
                         transcript="spoken words"))
        s.add(Note(complaint_id=old, actor="SHO", text="complainant's neighbour is a suspect"))
        s.add(Feedback(complaint_id=old, rating=2, comment="the constable was rude, my address is 12 Mall Road"))
        # A citizen who chatted and never filed: old messages, a draft in the conversation.
        loner = Citizen(phone="+919839000004", name="Sunita Devi", created_at=T0)
        s.add(loner)
        s.flush()
        s.add_all([Contact(citizen_id=loner.id, scheme="tel", path="+919839000004"),
                   Contact(citizen_id=loner.id, scheme="telegram", path="5550004")])
        _message(s, "SMloner-1", "my name is Sunita, I live at 4 Civil Lines", loner.id)
        s.add(Conversation(citizen_id=loner.id, channel="sms", state={"slots": {"name": "Sunita Devi"}},
                           updated_at=T0))
        # The open ticket's citizen: an early turn (no ticket id on it) must stay with the live ticket.
        filer = Citizen(phone="+919839000003", created_at=T0)
        s.add(filer)
        s.flush()
        s.get(Complaint, live).citizen_id = filer.id
        _message(s, "SMlive-turn", "it happened near the bus stand", filer.id)
        # A loose message recent enough to keep.
        _message(s, "SMloner-new", "still here", None, at=NOW - timedelta(days=3))

    assert retention.run(now=NOW) == 1  # one ticket erased

    with db.session() as s:
        c = s.get(Complaint, old)
        assert c.erased_at is not None and c.description == retention.ERASED
        assert c.phone is None and c.complainant_name is None and c.place is None and c.lat is None
        assert c.ref and c.district and c.status == "closed"  # the record stays: reference, where, outcome
        m = s.scalar(select(Message).where(Message.sid == "SMold-ticket"))
        assert m.body == retention.ERASED and m.payload == {} and m.from_addr is None and m.reply is None
        a = s.scalar(select(Attachment).where(Attachment.complaint_id == old))
        assert a.status == "erased" and a.path is None and a.transcript is None and a.sha256 == "ab" * 32
        assert s.scalar(select(Note.text).where(Note.complaint_id == old)) == retention.ERASED
        assert s.scalar(select(Feedback).where(Feedback.complaint_id == old)).comment == ""
        assert s.scalar(select(Feedback.rating).where(Feedback.complaint_id == old)) == 2
        assert s.scalar(select(Event).where(Event.complaint_id == old, Event.kind == "erased")) is not None

        loose = s.scalar(select(Message).where(Message.sid == "SMloner-1"))
        assert loose.body == retention.ERASED and loose.from_addr is None  # the sid stays: a re-delivery is known
        assert s.scalar(select(Conversation.state).where(Conversation.updated_at == T0)) == {}
        loner = s.scalar(select(Citizen).where(Citizen.id == loose.citizen_id))
        assert loner.phone is None and loner.name is None
        assert s.scalar(select(Contact).where(Contact.citizen_id == loner.id)) is None  # no address of hers is kept

        assert s.get(Complaint, recent).description == "recent closed ticket"
        assert s.get(Complaint, live).description == "still open after a year"
        assert s.scalar(select(Message.body).where(Message.sid == "SMlive-turn")) == "it happened near the bus stand"
        assert s.scalar(select(Message.body).where(Message.sid == "SMloner-new")) == "still here"
    assert not evidence.exists()

    assert retention.run(now=NOW) == 0  # idempotent: nothing left to erase
    with db.session() as s:
        assert s.scalar(select(Message.body).where(Message.sid == "SMlive-turn")) == "it happened near the bus stand"
