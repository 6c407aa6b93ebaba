"""Retention: after ``retention.closed_days`` personal data in closed tickets, their messages, notes,
feedback comments and media is erased or masked. Events keep only who/what/when (they never held more).
What never became a ticket goes too after the same period: the text of messages with no ticket (an
abandoned conversation, a blocked sender's, a flood's) and the draft kept in an idle conversation's state.
The worker's loop calls :func:`run` hourly; it is idempotent and works in batches.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from models import Attachment, Citizen, Complaint, Conversation, Event, Feedback, Message, Note, db, utcnow
from models.tables import Contact
from zone import get_zone

log = logging.getLogger(__name__)
ERASED = "[erased]"


def erase_complaint(session: Session, c: Complaint, now: datetime) -> None:
    """Mask one closed ticket's personal data in place (the ticket, its numbers and timeline stay)."""
    c.complainant_name = None
    c.description = ERASED
    c.phone = c.chat_address = None
    c.place = c.incident_text = None
    c.lat = c.lon = None
    c.erased_at = now
    session.execute(update(Message).where(Message.complaint_id == c.id)
                    .values(body=ERASED, payload={}, from_addr=None, to_addr=None, reply=None))
    session.execute(update(Note).where(Note.complaint_id == c.id).values(text=ERASED))
    session.execute(update(Feedback).where(Feedback.complaint_id == c.id).values(comment=""))
    for a in session.scalars(select(Attachment).where(Attachment.complaint_id == c.id)):
        _erase_attachment(a)
    session.add(Event(complaint_id=c.id, at=now, actor="worker", kind="erased", data={}))


def _erase_attachment(a: Attachment) -> None:
    """Remove an attachment's files and its transcript; the row stays with its sha256 as a record."""
    for path in (a.path, a.keyframes_path):
        if path and os.path.isfile(path):
            try:
                os.remove(path)
            except OSError:
                log.warning("retention: could not remove %s", path)
    a.path = a.keyframes_path = a.source_url = None
    a.transcript = None
    a.status = "erased"


def run(now: datetime | None = None, batch: int = 500) -> int:
    """Erase personal data of tickets closed more than ``retention.closed_days`` ago. Returns how many."""
    now = now or utcnow()
    cutoff = now - timedelta(days=get_zone().retention.closed_days)
    total = 0
    while True:
        with db.session() as s:
            rows = list(s.scalars(select(Complaint).where(Complaint.status == "closed", Complaint.closed_at < cutoff,
                                                          Complaint.erased_at.is_(None)).limit(batch)))
            for c in rows:
                erase_complaint(s, c, now)
            total += len(rows)
        if len(rows) < batch:
            break
    loose = _erase_loose_messages(cutoff, batch * 10)
    with db.session() as s:
        convs = s.execute(update(Conversation).where(Conversation.updated_at < cutoff, Conversation.state != {})
                          .values(state={})).rowcount or 0
    with db.session() as s:
        total_citizens = _erase_idle_citizens(s, cutoff)
    if total or total_citizens or loose or convs:
        log.info("retention: erased %d tickets, %d messages without a ticket, %d conversation drafts, %d citizens",
                 total, loose, convs, total_citizens)
    return total


def _erase_loose_messages(cutoff: datetime, batch: int) -> int:
    """Erase the text of messages older than the cutoff that belong to no ticket; returns how many.

    The sid stays (a late repeated delivery is still recognised and does nothing); Attachments of such
    messages lose their files like a ticket's. Messages of a citizen who still has a ticket not erased wait.
    """
    # A citizen with a ticket not yet erased keeps the turns that led to it (only the registering message
    # carries the ticket's id): those go when the last of their tickets does.
    live = select(Complaint.citizen_id).where(Complaint.erased_at.is_(None), Complaint.citizen_id.is_not(None))
    total = 0
    while True:
        with db.session() as s:
            ids = list(s.scalars(select(Message.id).where(
                Message.complaint_id.is_(None), Message.created_at < cutoff,
                Message.citizen_id.is_(None) | Message.citizen_id.not_in(live),
                (Message.body != ERASED) | Message.from_addr.is_not(None)).order_by(Message.id).limit(batch)))
            if ids:
                s.execute(update(Message).where(Message.id.in_(ids)).values(
                    body=ERASED, payload={}, from_addr=None, to_addr=None, reply=None))
                for a in s.scalars(select(Attachment).where(Attachment.message_id.in_(ids),
                                                            Attachment.status != "erased")):
                    _erase_attachment(a)
        total += len(ids)
        if len(ids) < batch:
            return total


def _erase_idle_citizens(session: Session, cutoff: datetime) -> int:
    """Mask citizens with no ticket left unerased and no message since the cutoff."""
    live = select(Complaint.citizen_id).where(Complaint.erased_at.is_(None), Complaint.citizen_id.is_not(None))
    recent = select(Message.citizen_id).where(Message.created_at >= cutoff, Message.citizen_id.is_not(None))
    has_contact = select(Contact.id).where(Contact.citizen_id == Citizen.id).exists()
    q = (select(Citizen).where(Citizen.name.is_not(None) | Citizen.phone.is_not(None) | Citizen.wa_id.is_not(None)
                               | has_contact,
                               Citizen.created_at < cutoff, Citizen.id.not_in(live), Citizen.id.not_in(recent))
         .limit(1000))
    ids = []
    for cit in session.scalars(q):
        cit.name = cit.phone = cit.wa_id = None
        ids.append(cit.id)
    if ids:  # their addresses (tel:, whatsapp:, telegram:) are personal data too
        session.execute(delete(Contact).where(Contact.citizen_id.in_(ids)))
    return len(ids)
