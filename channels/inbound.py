"""From a parsed inbound message to replies: store it, find the citizen, run the engine, register.

Everything here happens in one transaction: the Message row (unique on its sid), the conversation
state, and — when the engine hands over a finished complaint — the ticket and its outbox rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import desc, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.types import Inbound, Media, Reply
from channels.base import Incoming
from models import Attachment, Citizen, Complaint, Conversation, Message, utcnow
from models.tables import Contact
from tasks import outbox
from tickets.actions import register_complaint
from tickets.textsafe import clean_text
from zone import messages

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


class DbTicketView:
    """The engine's window on the citizen's own tickets."""

    def __init__(self, session: Session, citizen: Citizen) -> None:
        self.s, self.citizen = session, citizen

    def _row(self, c: Complaint) -> dict[str, Any]:
        st = c.station
        officer = None
        if c.assigned_posting_id:
            from models import Posting

            p = self.s.get(Posting, c.assigned_posting_id)
            if p is not None:
                officer = {"name": p.officer.name, "phone": p.phone or p.officer.phone}
        return {"ref": c.ref, "status": c.status, "station": st.name_en if st else None,
                "station_hi": st.name_hi if st else None, "officer": officer, "due_at": c.due_at,
                "outcome": c.outcome, "registered_at": c.registered_at, "category": c.category}

    def _mine(self):
        cond = Complaint.citizen_id == self.citizen.id
        if self.citizen.phone:
            cond = cond | (Complaint.phone == self.citizen.phone)
        return select(Complaint).where(cond)

    def my_tickets(self) -> list[dict[str, Any]]:
        return [self._row(c) for c in self.s.scalars(self._mine().order_by(desc(Complaint.registered_at)).limit(5))]

    def find_ticket(self, ref: str) -> dict[str, Any] | None:
        c = self.s.scalar(self._mine().where(Complaint.ref == (ref or "").strip().upper()))
        return self._row(c) if c else None

    def give_feedback(self, ref: str, rating: int, comment: str, level: str | None) -> str:
        from tickets import actions

        c = self.s.scalar(self._mine().where(Complaint.ref == (ref or "").strip().upper()))
        if c is None:
            return "not_found"
        return actions.rate(self.s, c, rating, comment, level, actor="citizen")


def split_address(address: str) -> tuple[str, str]:
    """``"telegram:123"`` → ``("telegram", "123")``.

    Raises:
        ValueError: no scheme, or an empty path.
    """
    scheme, sep, path = (address or "").partition(":")
    if not sep or not scheme or not path:
        raise ValueError(f"not an address: {address!r}")
    return scheme, path


def citizen_by_address(session: Session, address: str) -> Citizen | None:
    """The citizen an address (``scheme:path``) belongs to, or None."""
    scheme, path = split_address(address)
    return session.scalar(select(Citizen).join(Contact, Contact.citizen_id == Citizen.id)
                          .where(Contact.scheme == scheme, Contact.path == path))


def add_contact(session: Session, citizen: Citizen, address: str) -> bool:
    """Give ``citizen`` the address ``scheme:path`` unless it has it; False when it belongs to another citizen."""
    scheme, path = split_address(address)
    owner = session.scalar(select(Contact.citizen_id).where(Contact.scheme == scheme, Contact.path == path))
    if owner is not None:
        return owner == citizen.id
    try:
        with session.begin_nested():
            session.add(Contact(citizen_id=citizen.id, scheme=scheme, path=path))
            session.flush()
    except IntegrityError:  # added by a concurrent message
        owner = session.scalar(select(Contact.citizen_id).where(Contact.scheme == scheme, Contact.path == path))
        return owner == citizen.id
    return True


def _addresses(phone: str | None, wa_id: str | None) -> list[str]:
    return ([f"tel:{phone}"] if phone else []) + ([f"whatsapp:{wa_id}"] if wa_id else [])


def find_citizen(session: Session, phone: str | None, wa_id: str | None, now: datetime,
                 channel: str, profile_name: str | None = None, address: str | None = None) -> Citizen:
    """The one Citizen for this address (or phone number, or WhatsApp id), created on first contact.

    ``address`` (``telegram:<chat id>``…) is looked up in the contact table; a citizen created here gets
    a contact for each address it came with, so the same citizen is found by any of them later.
    """
    cit = citizen_by_address(session, address) if address else None
    by_address = cit is not None
    if cit is None and phone:
        cit = session.scalar(select(Citizen).where(Citizen.phone == phone))
    if cit is None and wa_id:
        cit = session.scalar(select(Citizen).where(Citizen.wa_id == wa_id))
    wanted: list[str] = []
    if cit is None:
        cit = Citizen(phone=phone, wa_id=wa_id, name=profile_name)
        try:
            with session.begin_nested():  # the citizen and its addresses, or neither
                session.add(cit)
                session.flush()
                for scheme, path in map(split_address, ([address] if address else []) + _addresses(phone, wa_id)):
                    session.add(Contact(citizen_id=cit.id, scheme=scheme, path=path))
                session.flush()
        except IntegrityError:  # created by a concurrent first message
            cit = citizen_by_address(session, address) if address else None
            if cit is None:
                cit = session.scalar(select(Citizen).where((Citizen.phone == phone) if phone
                                                           else (Citizen.wa_id == wa_id)))
    elif address and not by_address:
        wanted.append(address)
    if wa_id and not cit.wa_id:
        cit.wa_id = wa_id
        wanted.append(f"whatsapp:{wa_id}")
    for a in wanted:
        add_contact(session, cit, a)
    if channel == "whatsapp":
        cit.last_whatsapp_at = now
    return cit


def conversation_for(session: Session, citizen: Citizen, channel: str) -> Conversation:
    q = select(Conversation).where(Conversation.citizen_id == citizen.id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()  # one turn at a time per citizen
    conv = session.scalar(q)
    if conv is None:
        conv = Conversation(citizen_id=citizen.id, state={}, channel=channel)
        try:
            with session.begin_nested():
                session.add(conv)
                session.flush()
        except IntegrityError:  # a concurrent first message created it
            conv = session.scalar(q)
    return conv


def to_inbound(msg: Incoming, attachments: list[Attachment], phone: str | None) -> Inbound:
    return Inbound(channel=msg.engine_channel or msg.channel, at=msg.at or utcnow(), text=msg.body, kind=msg.kind,
                   lat=msg.lat,
                   lon=msg.lon, button=msg.button, phone=phone, confidence=msg.confidence, language=msg.language,
                   media=[Media(kind=a.kind or "document", content_type=a.claimed_type or "", attachment_id=a.id)
                          for a in attachments])


def _message_values(msg: Incoming, **extra: Any) -> dict[str, Any]:
    values = dict(sid=msg.sid, direction="in", channel=msg.channel, from_addr=msg.from_addr, to_addr=msg.to_addr,
                  body=clean_text(msg.body), kind=msg.kind, payload=msg.raw, status="received",
                  created_at=msg.at or utcnow(), updated_at=utcnow())
    values.update(extra)
    return values


def insert_inbound(session: Session, msg: Incoming, **extra: Any) -> int | None:
    """Insert the inbound Message in one statement; its id, or None when the sid was stored before.

    ``INSERT … ON CONFLICT (sid) DO NOTHING RETURNING id``: a concurrent duplicate waits for the
    first to commit and then sees the conflict, so only one delivery is ever processed.
    """
    dialect = session.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(Message)
    stmt = ins.values(**_message_values(msg, **extra)).on_conflict_do_nothing(index_elements=["sid"])
    return session.execute(stmt.returning(Message.id)).scalar()


def store_inbound(session: Session, msg: Incoming) -> Message | None:
    """Insert the inbound Message; None when this sid was stored before (a repeated delivery)."""
    mid = insert_inbound(session, msg)
    return session.get(Message, mid) if mid is not None else None


def previous_reply(session: Session, sid: str) -> list[str]:
    row = session.scalar(select(Message).where(Message.sid == sid))
    if row is None or row.reply is None:
        return []
    return [t for t in row.reply.split("\x1e") if t]


def sender_key(msg: Incoming) -> str:
    """Who a message is from, for the flood limit (the phone when known, so SMS and WhatsApp count together)."""
    if msg.phone:
        return msg.phone
    return msg.address if msg.address and not msg.wa_id else f"wa:{msg.wa_id or msg.from_addr}"


def _link_dialogue(session: Session, cit: Citizen, c: Complaint, now: datetime) -> None:
    """Link the turns of the dialogue that led to ``c`` to it, so its page shows those and nothing else.

    The dialogue is the citizen's still-unlinked messages since their previous registration, taken back
    from ``now`` while no pause between two turns is longer than the engine's idle expiry
    (``conversation.idle_expiry_minutes``: after such a pause the engine starts afresh). Turns of an
    earlier ticket (linked when it was registered) and calls (the voice path registers its own) are never
    taken; nor are STOP/START, which are not turns. Our free-form replies stored as their own rows (a
    refused photo, an answer sent later) to the citizen's addresses in that time are linked with them.
    """
    from zone import get_zone

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
    addrs = {a for a in (cit.phone, cit.wa_id) if a} | {f"whatsapp:{a}" for a in (cit.phone, cit.wa_id) if a}
    addrs |= {f"{sch}:{p}" for sch, p in session.execute(
        select(Contact.scheme, Contact.path).where(Contact.citizen_id == cit.id, Contact.scheme.notin_(("tel",))))}
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
                           wa_id=cit.wa_id if msg.channel == "whatsapp" else msg.address, now=now)
    _link_dialogue(session, cit, c, now)  # the same transaction: the ticket never exists without its turns
    replies = list(turn.replies)
    if any("{ref}" in r.text for r in replies):
        replies = [Reply(r.text.replace("{ref}", c.ref), r.buttons) for r in replies]
    else:
        lang = c.language if c.language in REGISTERED else "hi"
        replies.append(Reply(REGISTERED[lang].format(ref=c.ref)))
    return c, replies


def _short_answer(session: Session, msg: Incoming, cit: Citizen, status: str, text: str) -> list[str]:
    """Store a message answered without the engine (blocked, flooded); a duplicate gets its first answer."""
    if insert_inbound(session, msg, citizen_id=cit.id, status=status, reply=text) is None:
        return previous_reply(session, msg.sid)
    return [text]


# PostgreSQL's fast path (see :func:`_process_pg`): one statement finds or creates the citizen and the
# conversation (and the citizen's tel:/whatsapp: contacts), locks the conversation and checks the sid; one more
# stores the message and the new state.
_OPEN_TURN = """
WITH cit AS (
  INSERT INTO citizen (phone, wa_id, name, language, blocked, last_whatsapp_at, created_at)
  VALUES (%(phone)s, %(wa_id)s, %(name)s, 'hi', false, %(seen)s, %(now)s)
  ON CONFLICT ({key}) DO UPDATE
    SET last_whatsapp_at = COALESCE(EXCLUDED.last_whatsapp_at, citizen.last_whatsapp_at),
        wa_id = COALESCE(citizen.wa_id, EXCLUDED.wa_id)
  RETURNING id, phone, wa_id, language, blocked
), contact_in AS (
  INSERT INTO contact (citizen_id, scheme, path, created_at)
  SELECT cit.id, a.scheme, a.path, %(now)s
  FROM cit, (VALUES ('tel', %(phone)s::varchar), ('whatsapp', %(wa_id)s::varchar)) AS a (scheme, path)
  WHERE a.path IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM contact WHERE contact.scheme = a.scheme AND contact.path = a.path)
  ON CONFLICT (scheme, path) DO NOTHING
), conv AS (
  INSERT INTO conversation (citizen_id, state, channel, updated_at)
  SELECT id, '{{}}'::jsonb, %(channel)s, %(now)s FROM cit WHERE NOT blocked
  ON CONFLICT (citizen_id) DO UPDATE SET channel = conversation.channel
  RETURNING id, state
)
SELECT cit.id, cit.phone, cit.wa_id, cit.language, cit.blocked, conv.id, conv.state,
       EXISTS (SELECT 1 FROM message WHERE sid = %(sid)s)
FROM cit LEFT JOIN conv ON true
"""
_OPEN_BY_PHONE, _OPEN_BY_WA = _OPEN_TURN.format(key="phone"), _OPEN_TURN.format(key="wa_id")
_CLOSE_TURN = """
WITH m AS (
  INSERT INTO message (sid, direction, channel, citizen_id, from_addr, to_addr, body, kind, payload, reply,
                       status, created_at, updated_at)
  VALUES (%(sid)s, 'in', %(channel)s, %(citizen_id)s, %(from_addr)s, %(to_addr)s, %(body)s, %(kind)s,
          %(payload)s::jsonb, %(reply)s, %(status)s, %(at)s, %(now)s)
  ON CONFLICT (sid) DO NOTHING
  RETURNING id
), conv AS (
  UPDATE conversation SET state = %(state)s::jsonb, channel = %(channel)s, updated_at = %(at)s
  WHERE id = %(conversation_id)s AND %(has_state)s AND EXISTS (SELECT 1 FROM m)
), cit AS (
  UPDATE citizen SET language = %(language)s
  WHERE id = %(citizen_id)s AND language IS DISTINCT FROM %(language)s AND EXISTS (SELECT 1 FROM m)
)
SELECT id FROM m
"""


class _CitizenRef:
    """The few fields of a citizen the fast path needs (an ORM Citizen is loaded only to register)."""

    __slots__ = ("id", "phone", "wa_id", "language")

    def __init__(self, id: int, phone: str | None, wa_id: str | None, language: str | None) -> None:  # noqa: A002
        self.id, self.phone, self.wa_id, self.language = id, phone, wa_id, language


def _process_pg(session: Session, msg: Incoming, render, limit: bool) -> list[str] | None:
    """:func:`process` for a text message on PostgreSQL in two statements; None: take the general path.

    Returns None before changing anything when the statement cannot settle who the citizen is in one
    step (this WhatsApp id already belongs to another citizen row), so the general path decides.
    """
    from psycopg.types.json import Jsonb

    now = msg.at or utcnow()
    fresh = not session.in_transaction()
    conn = session.connection()
    params = {"phone": msg.phone, "wa_id": msg.wa_id, "name": msg.profile_name, "channel": msg.channel,
              "seen": now if msg.channel == "whatsapp" else None, "now": now, "sid": msg.sid}
    sql = _OPEN_BY_PHONE if msg.phone else _OPEN_BY_WA
    try:
        if fresh:  # nothing else in this transaction yet: no savepoint needed (two round trips saved)
            row = conn.exec_driver_sql(sql, params).one()
        else:
            with conn.begin_nested():
                row = conn.exec_driver_sql(sql, params).one()
    except IntegrityError:
        if fresh:
            session.rollback()
        return None
    cid, phone, wa_id, language, blocked, conv_id, state, dup = row
    lang = language if language in SORRY else "hi"
    if dup:
        return previous_reply(session, msg.sid)
    if blocked:
        return _short_answer(session, msg, _CitizenRef(cid, phone, wa_id, language), "blocked", BLOCKED[lang])
    if limit:
        from tasks.flood import over_limit
        from zone import get_zone

        if over_limit(sender_key(msg), get_zone().limits.per_sender_per_minute):
            return _short_answer(session, msg, _CitizenRef(cid, phone, wa_id, language), "flooded", FLOODED[lang])
    ref = _CitizenRef(cid, phone, wa_id, language)
    status = "received"
    try:
        turn = _turn(to_inbound(msg, [], phone), dict(state or {}), DbTicketView(session, ref))
        replies = list(turn.replies)
    except Exception:
        log.exception("engine failed on message %s", msg.sid)
        turn, status, replies = None, "error", [Reply(SORRY[lang])]
    texts = [render(r) for r in replies]
    new_state = Jsonb(turn.state) if turn is not None else None
    mid = conn.exec_driver_sql(_CLOSE_TURN, {
        "sid": msg.sid, "channel": msg.channel, "citizen_id": cid, "from_addr": msg.from_addr,
        "to_addr": msg.to_addr, "body": msg.body, "kind": msg.kind, "payload": Jsonb(msg.raw or {}),
        "reply": "\x1e".join(texts), "status": status, "at": now, "now": utcnow(), "state": new_state,
        "has_state": new_state is not None,
        "conversation_id": conv_id, "language": (turn.language if turn else None) or language}).scalar()
    if mid is None:  # a concurrent delivery of this sid won the insert: undo this turn, answer as it did
        session.rollback()
        return previous_reply(session, msg.sid)
    if turn is not None and turn.complaint is not None:
        cit = session.get(Citizen, cid)
        c, replies = _register(session, msg, cit, turn, now)
        texts = [render(r) for r in replies]
        session.execute(update(Message).where(Message.id == mid).values(
            reply="\x1e".join(texts), complaint_id=c.id))
    return texts


def process(session: Session, msg: Incoming, render=lambda r: r.as_text(), *, limit: bool = True) -> list[str]:
    """Handle one inbound message end to end in the caller's transaction; returns the reply texts.

    A repeated delivery of the same sid returns the first answer and changes nothing. A blocked
    sender's message is stored and answered neutrally without the engine; so is a message over the
    per-sender limit (``limits.per_sender_per_minute``), with a polite request to slow down.

    On PostgreSQL a text message costs two statements (:func:`_process_pg`): one finds or creates the
    citizen and the conversation, locks the conversation (one citizen's turns run one at a time) and
    checks the sid; one stores the message with its reply and the new state. Elsewhere (SQLite, media,
    a WhatsApp address already on another citizen row) the general path below takes five or more.

    Args:
        session: the caller's session; the caller commits.
        msg: the parsed message.
        render: a Reply → text (buttons as numbered text by default).
        limit: apply the flood limit (off for spool replays: those messages arrived long ago).
    """
    msg.body = clean_text(msg.body)
    dialect = session.get_bind().dialect
    opt = opt_change(msg)
    if (not msg.media and not opt and (msg.phone or msg.wa_id) and dialect.name == "postgresql"
            and dialect.driver == "psycopg"):
        texts = _process_pg(session, msg, render, limit)
        if texts is not None:
            return texts
    now = msg.at or utcnow()
    cit = find_citizen(session, msg.phone, msg.wa_id, now, msg.channel, msg.profile_name, msg.address)
    lang = cit.language if cit.language in SORRY else "hi"
    if cit.blocked:
        return _short_answer(session, msg, cit, "blocked", BLOCKED[lang])
    if opt:  # STOP / START: recorded on the citizen, not a turn of the conversation
        if session.scalar(select(Message.id).where(Message.sid == msg.sid)) is not None:
            return previous_reply(session, msg.sid)
        way, twilio_acted = opt
        cit.sms_opt_out = way == "out"
        texts = _short_answer(session, msg, cit, f"opt_{way}", "" if twilio_acted else OPTED[way][lang])
        return [t for t in texts if t]
    if limit:
        from tasks.flood import over_limit
        from zone import get_zone

        if over_limit(sender_key(msg), get_zone().limits.per_sender_per_minute):
            return _short_answer(session, msg, cit, "flooded", FLOODED[lang])
    conv = conversation_for(session, cit, msg.channel)
    # One citizen's messages are serialised by the conversation lock (SQLite: by BEGIN IMMEDIATE), and a
    # sid belongs to one sender, so this check cannot race with another delivery of the same sid.
    if session.scalar(select(Message.id).where(Message.sid == msg.sid)) is not None:
        return previous_reply(session, msg.sid)
    attachments: list[Attachment] = []
    mid = None
    if msg.media:  # attachments need the message's id before the engine sees them
        mid = insert_inbound(session, msg, citizen_id=cit.id)
        for url, ctype in msg.media:
            att = Attachment(message_id=mid, source_url=url, claimed_type=ctype, kind=media_kind(ctype),
                             status="pending")
            session.add(att)
            attachments.append(att)
        session.flush()
        for att in attachments:
            outbox.add(session, f"media:{att.id}", "media", {"attachment_id": att.id})
    status, complaint_id = "received", None
    try:
        turn = _turn(to_inbound(msg, attachments, cit.phone), dict(conv.state or {}),
                             DbTicketView(session, cit))
        replies = list(turn.replies)
    except Exception:
        log.exception("engine failed on message %s", msg.sid)
        turn, status, replies = None, "error", [Reply(SORRY[lang])]
    texts = [render(r) for r in replies]
    if mid is None:
        mid = insert_inbound(session, msg, citizen_id=cit.id, status=status, reply="\x1e".join(texts))
        if mid is None:  # a concurrent delivery of this sid won the insert: undo this turn, answer as it did
            session.rollback()
            return previous_reply(session, msg.sid)
    if turn is not None:
        conv.state, conv.channel, conv.updated_at = turn.state, msg.channel, now
        cit.language = turn.language or cit.language
        if turn.complaint is not None:
            c, replies = _register(session, msg, cit, turn, now)
            complaint_id = c.id
            texts = [render(r) for r in replies]
    if msg.media or complaint_id is not None:
        session.execute(update(Message).where(Message.id == mid).values(
            reply="\x1e".join(texts), status=status, complaint_id=complaint_id))
    return texts
