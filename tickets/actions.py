"""Ticket actions as a service: the one place that changes tickets.

The channels, the console, the citizen web page and the tests all call these. Each action writes
an Event and, where someone must hear of it, an outbox row — in the caller's transaction.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.types import ComplaintDraft
from models import Attachment, Citizen, Complaint, Event, Feedback, Note, Officer, Posting, Station, utcnow
from tasks import outbox
from tickets import clock
from tickets.notify import local_time, notify_citizen, notify_officer, rank_name, station_name
from tickets.scope import posting_is_active
from zone import get_zone, messages

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
    from tickets.stats import on_event  # the dashboard's aggregates follow every change

    on_event(session, complaint, kind)
    return ev


def sla_deadline(start: datetime, emergency: bool = False) -> datetime:
    """When the clock runs out for a ticket whose SLA starts at ``start``."""
    sla = get_zone().sla
    return start + (timedelta(minutes=sla.emergency_minutes) if emergency else timedelta(hours=sla.hours))


def register_complaint(session: Session, draft: ComplaintDraft, *, channel: str, citizen: Citizen | None = None,
                       phone: str | None = None, chat_address: str | None = None, now: datetime | None = None,
                       actor: str = "citizen") -> Complaint:
    """Register a finished complaint: the ticket, its Event and its routing work, in one transaction.

    Args:
        session: the caller's session; the caller commits.
        draft: what the dialogue engine (or an officer, or Open311) collected.
        channel: sms, whatsapp, voice, web, walkin, post, open311.
        citizen: the complainant's Citizen row, if known.
        phone: the number SMS alerts go to (E.164), if known.
        chat_address: the chat it came from (``whatsapp:…``, ``telegram:…``), answered there while it may be.
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
        channel=channel, citizen_id=citizen.id if citizen else None, phone=phone, chat_address=chat_address,
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
    c.next_check_at = clock.first_check(c)
    if draft.emergency:
        _alert_duty_officer(session, c, actor, now)
    outbox.add(session, f"route:{c.id}", "route", {"complaint_id": c.id})
    return c


# -- errors and helpers -------------------------------------------------------------------------------
class ActionError(Exception):
    """A ticket action refused: ``code`` is stable for programs, ``message`` is for people.

    The refusing action has already written an ``action_refused`` Event in the caller's session, so a
    caller that catches this and commits keeps the refusal in the timeline.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _refuse(session: Session, c: Complaint | None, action: str, actor: str, code: str, message: str) -> ActionError:
    event(session, c, "action_refused", actor, action=action, code=code)
    return ActionError(code, message)


def _lock(session: Session, c: Complaint) -> None:
    """Reload the ticket under a row lock (PostgreSQL) so a concurrent sweep or action is serialised."""
    session.flush()
    session.refresh(c, with_for_update=True)


def _open_check(session: Session, c: Complaint, action: str, actor: str) -> None:
    if c.merged_into_id is not None:
        raise _refuse(session, c, action, actor, "merged", "this ticket was merged into another")
    if c.status in ("disposed", "closed"):
        raise _refuse(session, c, action, actor, "not_open", f"the ticket is {c.status}")


def _note(session: Session, c: Complaint, text: str, actor: str, attachment_ids=()) -> Note | None:
    text = (text or "").replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL (a 500 before)
    if not text and not attachment_ids:
        return None
    n = Note(complaint_id=c.id, actor=actor, text=text, attachment_ids=list(attachment_ids), created_at=utcnow())
    session.add(n)
    session.flush()
    return n


def _holder_phone(p: Posting | None) -> str | None:
    if p is None:
        return None
    return p.phone or (p.officer.phone if p.officer else None)


def _restart_clock(c: Complaint, now: datetime) -> None:
    c.sla_started_at = now
    c.due_at = sla_deadline(now, c.emergency)
    c.reminders_sent = 0
    c.next_check_at = clock.first_check(c)


def _alert_duty_officer(session: Session, c: Complaint, actor: str, now: datetime) -> None:
    z = get_zone()
    phone = z.zone.duty_officer_phone
    d = z.district_by_key.get(c.district)
    sent = notify_officer(session, c, "emergency_alert", phone, lang="hi",
                          district=messages.name(d, "hi") if d else c.district, phone=c.phone or c.chat_address or "-")
    event(session, c, "emergency_alert" if sent else "no_phone", actor, at=now,
          **({"to": "duty_officer"} if sent else {"for": "emergency_alert"}))


def find_posting_for_rank(session: Session, complaint: Complaint, rank: str) -> Posting | None:
    """Who holds ``rank`` for this ticket: the most specific active posting whose scope covers it.

    Scope: a station (SHO, EO), the station's circle (CO, ACP), the district (SP, SSP, DCP, JCP, CP) or the
    zone (IG). Returns None when nobody holds it.
    """
    st = complaint.station
    q = (select(Posting).join(Officer, Officer.id == Posting.officer_id)
         .where(Posting.role == rank, Posting.ended_at.is_(None), Officer.active.is_(True)).order_by(Posting.id))
    best, best_score = None, -1
    for p in session.scalars(q):
        sc = clock._score(p.station_id, p.circle, p.district, st, complaint.district)
        if sc > best_score:
            best, best_score = p, sc
    return best


def _escalate_to(session: Session, c: Complaint, level: int, actor: str, reason: str, now: datetime) -> None:
    """Move a ticket to ``level`` now (feedback, police-conduct start) and tell that level's officer."""
    chain = clock.chain_of(c.district)
    level = min(level, len(chain) - 1)
    if level <= c.escalation_level:
        return
    rank = chain[level]
    p = find_posting_for_rank(session, c, rank)
    c.escalation_level = level
    event(session, c, "escalated", actor, at=now, level=level, rank=rank, posting=p.id if p else None, reason=reason)
    sent = notify_officer(session, c, "officer_escalation", _holder_phone(p), f"L{level}N{c.reopen_count}", "hi",
                          station=messages.name(c.station, "hi") if c.station else "-")
    if not sent:
        event(session, c, "no_phone", actor, at=now, **{"for": "escalation"}, level=level, rank=rank,
              posting=p.id if p else None)
    notify_citizen(session, c, "escalated", f"L{level}N{c.reopen_count}", rank=rank_name(rank, c.language))


# -- the actions ----------------------------------------------------------------------------------------
def assign(session: Session, complaint: Complaint, posting_id: int, actor: str) -> None:
    """Name the enquiry officer; the citizen is told the officer's name and phone. The clock keeps running.

    Raises:
        ActionError: not_open, merged, no_posting, wrong_station, woman_officer_required.
    """
    c = complaint
    _lock(session, c)
    _open_check(session, c, "assign", actor)
    p = session.get(Posting, posting_id)
    if p is None or not posting_is_active(p) or not p.officer.active:
        raise _refuse(session, c, "assign", actor, "no_posting", "no such current posting")
    if p.station_id is None or p.station_id != c.station_id:  # the enquiry officer is a station's (as the console)
        raise _refuse(session, c, "assign", actor, "wrong_station", "choose an officer of this ticket's station")
    if c.woman_officer and p.officer.gender != "F":
        raise _refuse(session, c, "assign", actor, "woman_officer_required",
                      "this category must be enquired into by a woman officer")
    now = utcnow()
    c.assigned_posting_id = p.id
    c.status = "assigned"
    # No phone for the officer: the station's, else the helpline — a number the citizen can call, never "-".
    phone = _holder_phone(p) or (c.station.phone if c.station else None) or get_zone().zone.helpline_number
    event(session, c, "assigned", actor, at=now, posting=p.id, officer=p.officer_id)
    if not _holder_phone(p):
        event(session, c, "no_phone", actor, at=now, posting=p.id, **{"for": "assigned"})
    notify_citizen(session, c, "assigned", f"{p.id}:{c.reopen_count}", officer=p.officer.name, phone=phone or "-")


def add_note(session: Session, complaint: Complaint, text: str, actor: str, attachment_ids: list[int] = ()) -> Event:
    """Add a case note, naming files already on this ticket. The text goes to a Note, never into the Event.

    A note never moves a file: attachments are linked to a ticket only by the system (the citizen's own
    messages at registration, an officer's upload to this ticket), so ``attachment_ids`` must already be
    this ticket's. An id list naming another ticket's file, or a file on no ticket, is refused.

    Raises:
        ActionError: empty (neither text nor attachments), bad_attachment.
    """
    c = complaint
    ids = [int(i) for i in attachment_ids or ()]
    if not (text or "").strip() and not ids:
        raise _refuse(session, c, "add_note", actor, "empty", "a note needs text or an attachment")
    atts = list(session.scalars(select(Attachment).where(Attachment.id.in_(ids)))) if ids else []
    if len(atts) != len(set(ids)) or any(a.complaint_id != c.id for a in atts):
        raise _refuse(session, c, "add_note", actor, "bad_attachment", "an attachment is unknown or not this ticket's")
    n = _note(session, c, text, actor, ids)
    return event(session, c, "note", actor, note=n.id, attachments=len(ids))


def reroute(session: Session, complaint: Complaint, station_code: str, actor: str, reason: str = "") -> None:
    """Send the ticket to another station (history kept in Events); the clock keeps running.

    Raises:
        ActionError: not_open, merged, unknown_station, same_station.
    """
    c = complaint
    _lock(session, c)
    _open_check(session, c, "reroute", actor)
    st = session.scalar(select(Station).where(Station.code == station_code, Station.active.is_(True)))
    if st is None:
        raise _refuse(session, c, "reroute", actor, "unknown_station", f"no active station {station_code!r}")
    if st.id == c.station_id:
        raise _refuse(session, c, "reroute", actor, "same_station", "the ticket is already at that station")
    now = utcnow()
    old = c.station.code if c.station else None
    n = _note(session, c, reason, actor)
    c.station_id, c.station = st.id, st
    if c.district != st.district:
        c.district = st.district
        c.next_check_at = clock.first_check(c) if c.next_check_at is not None else None
    c.needs_reroute = False
    c.assigned_posting_id = None
    c.status = "routed"
    count = session.scalar(select(func.count()).select_from(Event)
                           .where(Event.complaint_id == c.id, Event.kind == "rerouted"))
    event(session, c, "rerouted", actor, at=now, **{"from": old}, to=st.code, note=n.id if n else None)
    notify_officer(session, c, "station_new", st.phone, f"re{count}", lang=c.language,
                   category=_category_name(c), due=local_time(c.due_at, c.language), note="")
    if c.escalation_level > 0:
        _hand_over_escalation(session, c, actor, count, now)
    if old is None:  # routed by hand before the router ran (it now skips the ticket): the citizen's reference SMS
        notify_citizen(session, c, "registered", station=station_name(c, c.language),
                       due=local_time(c.due_at, c.language))


def _hand_over_escalation(session: Session, c: Complaint, actor: str, count: int, now: datetime) -> None:
    """A re-routed ticket that had climbed: the new area's officer at that level is told (the old one was), and a
    level above the new district's chain top comes down to it."""
    chain = clock.chain_of(c.district)
    c.escalation_level = min(c.escalation_level, len(chain) - 1)
    c.sla_base_level = min(c.sla_base_level or 0, c.escalation_level)
    rank = chain[c.escalation_level]
    p = find_posting_for_rank(session, c, rank)
    event(session, c, "escalation_moved", actor, at=now, level=c.escalation_level, rank=rank,
          posting=p.id if p else None)
    if not notify_officer(session, c, "officer_escalation", _holder_phone(p), f"L{c.escalation_level}R{count}", "hi",
                          station=messages.name(c.station, "hi") if c.station else "-"):
        event(session, c, "no_phone", actor, at=now, **{"for": "escalation"}, level=c.escalation_level, rank=rank,
              posting=p.id if p else None)


def _category_name(c: Complaint) -> str:
    cat = get_zone().category_by_key.get(c.category)
    if cat is None:
        return c.category
    return messages.name(cat, c.language)


def dispose(session: Session, complaint: Complaint, outcome: str, actor: str, number: str | None = None,
            note: str = "") -> None:
    """Dispose of the ticket with an outcome from config; the clock stops; the citizen is told and asked to rate.

    Raises:
        ActionError: not_open, merged, bad_outcome, number_required.
    """
    c = complaint
    _lock(session, c)
    _open_check(session, c, "dispose", actor)
    oc = get_zone().outcomes.get(outcome or "")
    if oc is None:
        raise _refuse(session, c, "dispose", actor, "bad_outcome",
                      f"outcome must be one of {', '.join(get_zone().outcomes)}")
    number = (number or "").strip() or None
    if oc.needs_number and not number:
        raise _refuse(session, c, "dispose", actor, "number_required", f"a {outcome} needs its number")
    now = utcnow()
    n = _note(session, c, note, actor)
    c.status, c.outcome, c.outcome_number, c.disposed_at, c.next_check_at = "disposed", outcome, number, now, None
    event(session, c, "disposed", actor, at=now, outcome=outcome, number=number, note=n.id if n else None,
          late=bool(c.due_at and now > c.due_at))
    text = messages.name(oc, c.language)
    if number:
        text = f"{text} ({number})"
    notify_citizen(session, c, "disposed", f"N{c.reopen_count}", outcome=text)


def reopen(session: Session, complaint: Complaint, actor: str, reason: str = "") -> None:
    """Reopen a disposed or closed ticket with a fresh SLA (at the level it had reached).

    Raises:
        ActionError: not_disposed, merged.
    """
    c = complaint
    _lock(session, c)
    if c.merged_into_id is not None:
        raise _refuse(session, c, "reopen", actor, "merged", "this ticket was merged into another")
    if c.status not in ("disposed", "closed"):
        raise _refuse(session, c, "reopen", actor, "not_disposed", "only a disposed or closed ticket can be reopened")
    now = utcnow()
    n = _note(session, c, reason, actor)
    c.reopen_count = (c.reopen_count or 0) + 1
    c.status = "assigned" if c.assigned_posting_id else "routed"
    c.outcome = c.outcome_number = c.disposed_at = c.closed_at = None
    c.sla_base_level = c.escalation_level
    _restart_clock(c, now)
    event(session, c, "reopened", actor, at=now, note=n.id if n else None, due=c.due_at.isoformat())
    notify_citizen(session, c, "reopened", f"N{c.reopen_count}", due=local_time(c.due_at, c.language))
    if c.station is not None:
        notify_officer(session, c, "reopened", c.station.phone, f"N{c.reopen_count}", lang=c.language,
                       due=local_time(c.due_at, c.language))


NOT_RESOLVED = ("not resolved", "unresolved", "nahi hua", "nahin hua", "nahi hui", "समाधान नहीं", "हल नहीं", "नहीं हुआ")


def rate(session: Session, complaint: Complaint, rating: int, comment: str, level: str | None, actor: str,
         resolved: bool | None = None) -> str:
    """Store the citizen's rating and send it to the chosen senior level (default: the SHO's next level).

    A rating of 1–2, or "not resolved" (``resolved=False`` or said in the comment), reopens the ticket and
    escalates it one level.

    Returns:
        'ok', 'not_disposed', 'already' or 'invalid' (each refusal is an Event in the timeline).
    """
    c = complaint
    try:
        r = int(rating)
    except (TypeError, ValueError):
        r = 0
    if r < 1 or r > 5 or isinstance(rating, bool):
        event(session, c, "feedback_refused", actor, reason="invalid")
        return "invalid"
    _lock(session, c)
    if c.status not in ("disposed", "closed") or c.merged_into_id is not None:
        event(session, c, "feedback_refused", actor, reason="not_disposed")
        return "not_disposed"
    prior = session.scalar(select(Feedback.id).where(Feedback.complaint_id == c.id,
                                                     Feedback.created_at >= c.disposed_at).limit(1)) \
        if c.disposed_at else None
    if prior is not None:
        event(session, c, "feedback_refused", actor, reason="already")
        return "already"
    chain = clock.chain_of(c.district)
    level = level if level in chain[1:] else chain[1]
    comment = (comment or "").strip()
    if resolved is None and any(k in comment.lower() for k in NOT_RESOLVED):
        resolved = False
    now = utcnow()
    fb = Feedback(complaint_id=c.id, station_id=c.station_id, posting_id=c.assigned_posting_id, rating=r,
                  comment=comment, resolved=resolved, addressed_to=level, created_at=now)
    session.add(fb)
    session.flush()
    p = find_posting_for_rank(session, c, level)
    event(session, c, "feedback", actor, at=now, rating=r, resolved=resolved, to=level, posting=p.id if p else None)
    if not notify_officer(session, c, "feedback_received", _holder_phone(p), f"F{fb.id}", "hi", rating=r):
        event(session, c, "no_phone", actor, at=now, **{"for": "feedback"}, rank=level, posting=p.id if p else None)
    if r <= 2 or resolved is False:
        reopen(session, c, actor, "")
        _escalate_to(session, c, c.escalation_level + 1, actor, "feedback", now)
        c.sla_base_level = c.escalation_level
        c.next_check_at = clock.first_check(c)
    return "ok"


def merge(session: Session, duplicate: Complaint, into: Complaint, actor: str) -> None:
    """Close ``duplicate`` as a copy of ``into`` (both timelines record it).

    Raises:
        ActionError: same, merged, not_open (into is disposed or closed).
    """
    if duplicate.id == into.id:
        raise _refuse(session, duplicate, "merge", actor, "same", "a ticket cannot be merged into itself")
    _lock(session, duplicate)
    if duplicate.merged_into_id is not None:
        raise _refuse(session, duplicate, "merge", actor, "merged", "already merged")
    if into.merged_into_id is not None:
        raise _refuse(session, duplicate, "merge", actor, "merged", "the target was itself merged")
    if into.status in ("disposed", "closed"):  # the duplicate's citizen would get nothing: reopen the target first
        raise _refuse(session, duplicate, "merge", actor, "not_open", f"the target is {into.status}")
    now = utcnow()
    duplicate.merged_into_id = into.id
    duplicate.status, duplicate.closed_at, duplicate.next_check_at = "closed", now, None
    event(session, duplicate, "merged", actor, at=now, into=into.ref)
    event(session, into, "merged_in", actor, at=now, duplicate=duplicate.ref)


def verification_needed(c: Complaint) -> bool:
    """Does config ask the cell to call this ticket's citizen before it closes?"""
    cfg = get_zone().closing
    return cfg.verification_call and (not cfg.categories or c.category in cfg.categories)


def verified_since_disposal(session: Session, c: Complaint) -> bool:
    """Was a verification call that reached the citizen recorded after the latest disposal?"""
    q = select(Event).where(Event.complaint_id == c.id, Event.kind == "verification_call")
    if c.disposed_at is not None:
        q = q.where(Event.at >= c.disposed_at)
    return any((e.data or {}).get("reached") for e in session.scalars(q))


def verify_call(session: Session, complaint: Complaint, actor: str, reached: bool, satisfied: bool | None = None,
                note: str = "") -> None:
    """Record the cell's verification call to the citizen after disposal.

    A reached citizen who says the matter is not resolved reopens the ticket (fresh SLA).

    Raises:
        ActionError: not_disposed.
    """
    c = complaint
    _lock(session, c)
    if c.status != "disposed":
        raise _refuse(session, c, "verify_call", actor, "not_disposed", "only a disposed ticket is verified")
    now = utcnow()
    n = _note(session, c, note, actor)
    event(session, c, "verification_call", actor, at=now, reached=bool(reached),
          satisfied=None if satisfied is None else bool(satisfied), note=n.id if n else None)
    if reached and satisfied is False:
        reopen(session, c, actor, reason="verification call: citizen not satisfied")


def close(session: Session, complaint: Complaint, actor: str) -> None:
    """Close a disposed ticket (no more feedback expected); where config asks, only after a verification call.

    Raises:
        ActionError: not_disposed, verification_required.
    """
    c = complaint
    _lock(session, c)
    if c.status != "disposed":
        raise _refuse(session, c, "close", actor, "not_disposed", "only a disposed ticket can be closed")
    if verification_needed(c) and not verified_since_disposal(session, c):
        raise _refuse(session, c, "close", actor, "verification_required",
                      "the 1 Number cell must reach the citizen by a verification call before closing")
    now = utcnow()
    c.status, c.closed_at, c.next_check_at = "closed", now, None
    event(session, c, "closed", actor, at=now)


def interpret(session: Session, complaint: Complaint, text: str, actor: str) -> None:
    """An interpreter's written account of a sign-language complaint becomes the ticket's description; the
    ticket no longer waits for an interpreter."""
    c = complaint
    _lock(session, c)
    c.description = text[:10000]
    c.needs_interpreter = False
    event(session, c, "interpreted", actor, chars=len(text))


def mark_emergency(session: Session, complaint: Complaint, actor: str) -> None:
    """Flag an open ticket as an emergency (e.g. from a transcript): duty officer alerted, short SLA from now."""
    c = complaint
    _lock(session, c)
    if c.emergency or c.status in ("disposed", "closed"):
        return
    now = utcnow()
    c.emergency = True
    new_due = sla_deadline(now, True)
    if c.due_at is None or new_due < c.due_at:
        _restart_clock(c, now)
    event(session, c, "emergency", actor, at=now)
    _alert_duty_officer(session, c, actor, now)


def unmask_identity(session: Session, complaint: Complaint, actor: str, posting_id: int, reason: str) -> Event:
    """Reveal a confidential complainant's identity to one posting, for a reason, as an audit Event.

    The posting must be the actor's, hold now, see the ticket, and be of a role config lets reveal
    (``confidential_unmask_roles``; roles that always see identities need no reveal). The ``identity_unmasked``
    Event (data: the posting and the note holding the reason) is what :func:`tickets.scope.access` honours
    for :data:`tickets.scope.UNMASK_MINUTES`; it shows in the ticket's timeline. The reason is an officer's
    free text that may name the complainant, so it is a Note (erased by retention), never Event data.

    Args:
        session: the caller's session; the caller commits.
        complaint: the ticket.
        actor: ``officer:<id>``, the officer asking.
        posting_id: the posting they act in.
        reason: why they must know who the complainant is (required; at most 500 characters kept).

    Returns:
        The Event.

    Raises:
        ActionError: not_confidential, not_allowed, reason_required.
    """
    from tickets.scope import access, scope_of

    c = complaint
    if not c.confidential:
        raise _refuse(session, c, "unmask", actor, "not_confidential", "this complaint's identity is not masked")
    p = session.get(Posting, posting_id) if isinstance(posting_id, int) and not isinstance(posting_id, bool) else None
    scope = scope_of(session, p) if p is not None and posting_is_active(p) and p.officer is not None \
        and p.officer.active and actor == f"officer:{p.officer_id}" else None
    if scope is None or not scope.may_unmask or not access(session, scope, c).see:
        raise _refuse(session, c, "unmask", actor, "not_allowed", "your posting's role may not reveal identities")
    reason = (reason or "").replace("\x00", "").strip()[:500]
    if not reason:
        raise _refuse(session, c, "unmask", actor, "reason_required", "give the reason for revealing the identity")
    n = _note(session, c, f"Identity revealed: {reason}", actor)
    return event(session, c, "identity_unmasked", actor, posting=p.id, note=n.id)
