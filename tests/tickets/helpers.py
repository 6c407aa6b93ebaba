"""Shared helpers for the routing tests: register a ticket, seed officers, count what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.types import ComplaintDraft
from models import Complaint, Event, Outbox
from tickets.actions import register_complaint
from tickets.router import route_complaint
from tickets.seed import seed

T0 = datetime(2025, 3, 1, 6, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
S = timedelta(seconds=1)


def new_ticket(db, phone="+919839000001", route=True, at=T0, **kw) -> int:
    kw.setdefault("district", "jhansi")
    kw.setdefault("category", "theft_mobile")
    draft = ComplaintDraft(description=kw.pop("description", "mera phone chori ho gaya"), **kw)
    with db.session() as s:
        c = register_complaint(s, draft, channel="sms", phone=phone, now=at)
        cid = c.id
    if route:
        with db.session() as s:
            assert route_complaint(s, cid)
    return cid


def seeded(db) -> None:
    with db.session() as s:
        seed(s)


def events(db, cid, kind=None) -> list[Event]:
    with db.session() as s:
        q = select(Event).where(Event.complaint_id == cid).order_by(Event.id)
        if kind:
            q = q.where(Event.kind == kind)
        return list(s.scalars(q))


def outbox_keys(db, like="%") -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(Outbox.key).where(Outbox.key.like(like)).order_by(Outbox.id)))


def ticket(db, cid) -> Complaint:
    with db.session() as s:
        return s.get(Complaint, cid)


def count(db, model, *where) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))
