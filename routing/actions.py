"""Ticket actions as a service: the one place that changes tickets.

The channels, the console, the citizen web page and the tests all call these. Each action writes
an Event and, where someone must hear of it, an outbox row — in the caller's transaction.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.types import ComplaintDraft
from models import Attachment, Citizen, Complaint, Event, utcnow
from routing import outbox
from zone import get_zone

REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no I, L, O, 0, 1: read aloud and typed on keypads
ZONE_PREFIX = "UPK"  # tickets whose district is not known yet


def new_ref(district: str | None) -> str:
    """A random, unguessable reference such as ``KNP-7F3K9Q``."""
    z = get_zone()
    d = z.district_by_key.get(district or "")
    prefix = d.ref_prefix if d else ZONE_PREFIX
    return prefix + "-" + "".join(secrets.choice(REF_ALPHABET) for _ in range(6))


def event(session: Session, complaint: Complaint | None, kind: str, actor: str = "system",
          at: datetime | None = None, **data: Any) -> Event:
    """Append an Event (who, what, when; never personal text)."""
    ev = Event(complaint_id=complaint.id if complaint else None, kind=kind, actor=actor, at=at or utcnow(), data=data)
    session.add(ev)
    return ev


def sla_deadline(start: datetime, emergency: bool = False) -> datetime:
    """When the clock runs out for a ticket whose SLA starts at ``start``."""
    sla = get_zone().sla
    return start + (timedelta(minutes=sla.emergency_minutes) if emergency else timedelta(hours=sla.hours))


def register_complaint(session: Session, draft: ComplaintDraft, *, channel: str, citizen: Citizen | None = None,
                       phone: str | None = None, wa_id: str | None = None, now: datetime | None = None,
                       actor: str = "citizen") -> Complaint:
    """Register a finished complaint: the ticket, its Event and its routing work, in one transaction.

    Args:
        session: the caller's session; the caller commits.
        draft: what the dialogue engine (or an officer, or Open311) collected.
        channel: sms, whatsapp, voice, web, walkin, post, open311.
        citizen: the complainant's Citizen row, if known.
        phone: the number SMS alerts go to (E.164), if known.
        wa_id: the WhatsApp id, if the complaint came by WhatsApp.
        now: the registration time (the clock starts here).
        actor: who registered it, for the Event.

    Returns:
        The new Complaint (flushed, with its id and reference).
    """
    z = get_zone()
    now = now or utcnow()
    district = draft.district if draft.district in z.district_by_key else "unknown"
    category = draft.category if draft.category in z.category_by_key else "unknown"
    cat = z.category_by_key.get(category)
    confidential = bool(draft.confidential or (cat and cat.confidential))
    due = sla_deadline(now, draft.emergency)
    fields = dict(
        channel=channel, citizen_id=citizen.id if citizen else None, phone=phone, wa_id=wa_id,
        language=draft.language if draft.language in z.languages else z.default_language,
        complainant_name=draft.complainant_name, description=draft.description or "",
        category=category, district=district, place=draft.place, lat=draft.lat, lon=draft.lon,
        incident_at=draft.incident_at, incident_text=draft.incident_text, requested_station=draft.station_code,
        status="received", confidential=confidential, emergency=draft.emergency,
        needs_interpreter=draft.needs_interpreter, woman_officer=bool(cat and cat.route.woman_officer),
        registered_at=now, sla_started_at=now, due_at=due, next_check_at=now,
        transcript_confidence=draft.transcript_confidence,
    )
    for _ in range(5):
        c = Complaint(ref=new_ref(district), **fields)
        try:
            with session.begin_nested():
                session.add(c)
                session.flush()
            break
        except IntegrityError:  # reference collision: draw again
            continue
    else:
        raise RuntimeError("could not draw a unique reference")
    if draft.attachment_ids:
        for att in session.scalars(select(Attachment).where(Attachment.id.in_(draft.attachment_ids))):
            att.complaint_id = c.id
    event(session, c, "registered", actor, at=now, channel=channel, category=category, district=district,
          emergency=draft.emergency, confidential=confidential, attachments=len(draft.attachment_ids))
    outbox.add(session, f"route:{c.id}", "route", {"complaint_id": c.id})
    return c
