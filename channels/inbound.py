"""From a parsed inbound message to replies: store it, find the citizen, run the engine, register.

Everything here happens in one transaction: the Message row (unique on its sid), the conversation
state, and — when the engine hands over a finished complaint — the ticket and its outbox rows.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.types import Inbound, Media, Reply
from channels.base import Incoming
from models import Attachment, Citizen, Complaint, Message, conversations, utcnow
from models.conversations import previous_reply
from models.tables import Contact
from tasks import outbox
from tasks.flood import over_limit
from tickets.actions import register_complaint
from tickets.citizen_view import CitizenTickets
from tickets.textsafe import clean_text
from zone import get_zone, messages

log = logging.getLogger(__name__)

# The dialogue engine: given to the channel layer by the entry points (app.create_app, worker.py), who call
# use_engine(bot.engine.handle); tests give their own. handle(inbound, state, tickets) -> Turn.
_engine: Callable[..., Any] | None = None


def use_engine(handle: Callable[..., Any], *, replace: bool = True) -> None:
    """Give the channels the function that runs one dialogue turn (``replace=False``: only if none was given)."""
    global _engine
    if replace or _engine is None:
        _engine = handle


def _turn(inbound: Inbound, state: dict, tickets: Any):
    if _engine is None:
        raise RuntimeError("no dialogue engine given: the entry point calls channels.inbound.use_engine()")
    return _engine(inbound, state, tickets)

SORRY = messages.entry("inbound.sorry")

# Answers that do not run the engine: too many messages in a minute, and a blocked sender.
FLOODED = messages.entry("inbound.flooded")
# SMS opt-out. Twilio's default keywords, less CANCEL and YES (the bot's own words): Twilio acts on them itself
# only for US and Canadian numbers and then says so in ``OptOutType`` (and sends its own confirmation); on an
# Indian number nobody else does, so Bharosa records them and confirms. One word, any case, as Twilio reads them.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
OPTED = {"out": messages.entry("inbound.opted_out"), "in": messages.entry("inbound.opted_in")}


def opt_change(msg: Incoming) -> tuple[str, bool] | None:
    """``("out"|"in", twilio_acted)`` when an SMS is an opt-out or opt-in keyword, else None."""
    if msg.channel != "sms":
        return None
    told = ((msg.raw or {}).get("OptOutType") or "").strip().upper()
    if told in ("STOP", "START"):
        return ("out" if told == "STOP" else "in"), True
    word = msg.body.strip().strip(".!").upper()
    if word in OPT_OUT_WORDS:
        return "out", False
    if word in OPT_IN_WORDS:
        return "in", False
    return None


BLOCKED = messages.entry("inbound.blocked")

REGISTERED = messages.entry("inbound.registered")


def media_kind(content_type: str) -> str:
    ct = (content_type or "").lower()
    for k in ("image", "audio", "video"):
        if ct.startswith(k + "/"):
            return k
    return "document"


def to_inbound(msg: Incoming, attachments: list[Attachment], phone: str | None) -> Inbound:
    return Inbound(channel=msg.engine_channel or msg.channel, at=msg.at or utcnow(), text=msg.body, kind=msg.kind,
                   lat=msg.lat, lon=msg.lon, button=msg.button, phone=phone, confidence=msg.confidence,
                   language=msg.language,
                   media=[Media(kind=a.kind or "document", content_type=a.claimed_type or "", attachment_id=a.id)
                          for a in attachments])


def message_values(msg: Incoming, **extra: Any) -> dict[str, Any]:
    """The columns of the inbound Message row for ``msg`` (``extra``: citizen_id, reply, status...)."""
    values = dict(sid=msg.sid, direction="in", channel=msg.channel, from_addr=msg.from_addr, to_addr=msg.to_addr,
                  body=clean_text(msg.body), kind=msg.kind, payload=msg.raw, status="received",
                  created_at=msg.at or utcnow(), updated_at=utcnow())
    values.update(extra)
    return values


def insert_inbound(session: Session, msg: Incoming, **extra: Any) -> int | None:
    """Insert the inbound Message for ``msg``; its id, or None when the sid was stored before."""
    return conversations.insert_message(session, message_values(msg, **extra))


def store_inbound(session: Session, msg: Incoming) -> Message | None:
    """Insert the inbound Message; None when this sid was stored before (a repeated delivery)."""
    mid = insert_inbound(session, msg)
    return session.get(Message, mid) if mid is not None else None


def sender_key(msg: Incoming) -> str:
    """Who a message is from, for the flood limit (the phone when known, so SMS and WhatsApp count together)."""
    return msg.phone or msg.address or msg.from_addr


def _link_dialogue(session: Session, cit: Citizen, c: Complaint, now: datetime) -> None:
    """Link the turns of the dialogue that led to ``c`` to it, so its page shows those and nothing else.

    The dialogue is the citizen's still-unlinked messages since their previous registration, taken back
    from ``now`` while no pause between two turns is longer than the engine's idle expiry
    (``conversation.idle_expiry_minutes``: after such a pause the engine starts afresh). Turns of an
    earlier ticket (linked when it was registered) and calls (the voice path registers its own) are never
    taken; nor are STOP/START, which are not turns. Our free-form replies stored as their own rows (a
    refused photo, an answer sent later) to the citizen's addresses in that time are linked with them.
    """
    gap = timedelta(minutes=get_zone().conversation.idle_expiry_minutes)
    prev = session.scalar(select(func.max(Complaint.registered_at)).where(
        Complaint.citizen_id == cit.id, Complaint.id != c.id, Complaint.registered_at <= now))
    q = (select(Message.id, Message.created_at)
         .where(Message.citizen_id == cit.id, Message.complaint_id.is_(None), Message.direction == "in",
                Message.channel != "voice", Message.status.notin_(("opt_out", "opt_in")),
                Message.created_at <= now)
         .order_by(Message.created_at.desc(), Message.id.desc()).limit(1000))
    if prev is not None:
        q = q.where(Message.created_at > prev)
    ids, start = [], now
    for mid, at in session.execute(q):
        if start - at > gap:
            break
        ids.append(mid)
        start = at
    if not ids:
        return
    session.execute(update(Message).where(Message.id.in_(ids)).values(complaint_id=c.id)
                    .execution_options(synchronize_session=False))
    # where our replies went: an SMS to the bare number, a chat to its address
    addrs = {p if sch == "tel" else f"{sch}:{p}" for sch, p in session.execute(
        select(Contact.scheme, Contact.path).where(Contact.citizen_id == cit.id))}
    if cit.phone:
        addrs |= {cit.phone, f"whatsapp:{cit.phone}"}
    session.execute(update(Message).where(
        Message.direction == "out", Message.complaint_id.is_(None), Message.kind == "text",
        Message.to_addr.in_(addrs), Message.created_at >= start, Message.created_at <= now)
        .values(complaint_id=c.id).execution_options(synchronize_session=False))


def _register(session: Session, msg: Incoming, cit: Citizen, turn, now: datetime) -> tuple[Complaint, list[Reply]]:
    d = turn.complaint
    alert_phone = d.extra.get("alert_phone") or cit.phone
    if d.extra.get("alert_phone") and not cit.phone:
        cit.sms_ok = True
    c = register_complaint(session, d, channel=msg.channel, citizen=cit, phone=alert_phone,
                           chat_address=msg.chat, now=now)
    _link_dialogue(session, cit, c, now)  # the same transaction: the ticket never exists without its turns
    replies = list(turn.replies)
    if any("{ref}" in r.text for r in replies):
        replies = [dataclasses.replace(r, text=r.text.replace("{ref}", c.ref)) for r in replies]
    else:
        replies.append(Reply(REGISTERED[messages.language(c.language)].format(ref=c.ref)))
    return c, replies


def _short_answer(session: Session, msg: Incoming, citizen_id: int, status: str, text: str) -> list[str]:
    """Store a message answered without the engine (blocked, flooded); a duplicate gets its first answer."""
    if insert_inbound(session, msg, citizen_id=citizen_id, status=status, reply=text) is None:
        return previous_reply(session, msg.sid)
    return [text]


def process(session: Session, msg: Incoming, render=lambda r: r.as_text(), *, limit: bool = True) -> list[str]:
    """Handle one inbound message end to end in the caller's transaction; returns the reply texts.

    A repeated delivery of the same sid returns the first answer and changes nothing. A blocked
    sender's message is stored and answered neutrally without the engine; so is a message over the
    per-sender limit (``limits.per_sender_per_minute``), with a polite request to slow down. STOP and
    START by SMS are recorded on the citizen and confirmed, not turns of the dialogue.

    The conversation store (:mod:`models.conversations`) opens the turn (citizen, contacts, the locked
    conversation, the sid check) and closes it (the message with its reply, the new state): two statements
    on PostgreSQL for a text.

    Args:
        session: the caller's session; the caller commits.
        msg: the parsed message.
        render: a Reply → text (buttons as numbered text by default).
        limit: apply the flood limit (off for spool replays: those messages arrived long ago).
    """
    msg.body = clean_text(msg.body)
    now = msg.at or utcnow()
    opened = conversations.open_turn(
        session, sid=msg.sid, channel=msg.channel, now=now, phone=msg.phone, address=msg.address,
        profile_name=msg.profile_name, window_at=now if msg.channel == "whatsapp" else None)
    if opened.duplicate:
        return previous_reply(session, msg.sid)
    lang = messages.language(opened.language)
    if opened.blocked:
        return _short_answer(session, msg, opened.citizen_id, "blocked", BLOCKED[lang])
    opt = opt_change(msg)
    if opt:  # STOP / START: recorded on the citizen, not a turn of the conversation
        way, twilio_acted = opt
        conversations.citizen_of(session, opened).sms_opt_out = way == "out"
        texts = _short_answer(session, msg, opened.citizen_id, f"opt_{way}",
                              "" if twilio_acted else OPTED[way][lang])
        return [t for t in texts if t]
    if limit and over_limit(sender_key(msg), get_zone().limits.per_sender_per_minute):
        return _short_answer(session, msg, opened.citizen_id, "flooded", FLOODED[lang])
    attachments: list[Attachment] = []
    mid = None
    if msg.media:  # attachments need the message's id before the engine sees them
        mid = insert_inbound(session, msg, citizen_id=opened.citizen_id)
        for url, ctype in msg.media:
            att = Attachment(message_id=mid, source_url=url, claimed_type=ctype, kind=media_kind(ctype),
                             status="pending")
            session.add(att)
            attachments.append(att)
        session.flush()
        for att in attachments:
            outbox.add(session, f"media:{att.id}", "media", {"attachment_id": att.id})
    status = "received"
    try:
        turn = _turn(to_inbound(msg, attachments, opened.phone), opened.state, CitizenTickets(session, opened))
        replies = list(turn.replies)
    except Exception:
        log.exception("engine failed on message %s", msg.sid)
        turn, status, replies = None, "error", [Reply(SORRY[lang])]
    texts = [render(r) for r in replies]
    mid = conversations.close_turn(
        session, opened, message_values(msg, citizen_id=opened.citizen_id, status=status, reply="\x1e".join(texts)),
        state=turn.state if turn is not None else None, language=turn.language if turn is not None else None,
        message_id=mid)
    if mid is None:  # a concurrent delivery of this sid won the insert: undo this turn, answer as it did
        session.rollback()
        return previous_reply(session, msg.sid)
    if turn is not None and turn.complaint is not None:
        c, replies = _register(session, msg, conversations.citizen_of(session, opened), turn, now)
        texts = [render(r) for r in replies]
        session.execute(update(Message).where(Message.id == mid).values(
            reply="\x1e".join(texts), complaint_id=c.id))
    return texts
