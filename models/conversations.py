"""The conversation store: who wrote (citizen and contacts), their dialogue state, and the inbound message.

One turn of a dialogue is two calls, whatever the database:

- :func:`open_turn` finds or creates the citizen for the sender's address (and its contacts), finds or
  creates and locks their conversation (one citizen's turns run one at a time), and tells whether this
  message id was stored before;
- :func:`close_turn` stores the message with the reply given to it, the new dialogue state and the
  language, unless a concurrent delivery of the same message id got there first.

On PostgreSQL (psycopg) a text turn costs two statements, one for each call. Elsewhere (SQLite), and on
PostgreSQL when one statement cannot settle who the sender is (their WhatsApp id is already another
citizen row's), the same calls take the ORM road: a few more statements, the same outcome. The dialect
is this module's business only; the channel layer calls the two functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.base import utcnow
from models.tables import Citizen, Contact, Conversation, Message


@dataclass
class OpenTurn:
    """What :func:`open_turn` found: the citizen (its few fields), their conversation, and whether the
    message was seen before. ``citizen`` / ``conversation`` are the ORM rows when the ORM road loaded them."""

    citizen_id: int
    phone: str | None
    wa_id: str | None
    language: str | None
    blocked: bool
    conversation_id: int | None = None
    state: dict[str, Any] = field(default_factory=dict)
    duplicate: bool = False
    citizen: Citizen | None = None
    conversation: Conversation | None = None

    @property
    def id(self) -> int:  # the engine's ticket view reads a citizen's id and phone
        return self.citizen_id


# --- addresses -------------------------------------------------------------------------------------------


def split_address(address: str) -> tuple[str, str]:
    """``"telegram:123"`` → ``("telegram", "123")``.

    Raises:
        ValueError: no scheme, or an empty path.
    """
    scheme, sep, path = (address or "").partition(":")
    if not sep or not scheme or not path:
        raise ValueError(f"not an address: {address!r}")
    return scheme, path


def addresses_of(phone: str | None, wa_id: str | None) -> list[str]:
    """The contact addresses a phone number and a WhatsApp id stand for."""
    return ([f"tel:{phone}"] if phone else []) + ([f"whatsapp:{wa_id}"] if wa_id else [])


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


def find_citizen(session: Session, phone: str | None, wa_id: str | None, *, address: str | None = None,
                 profile_name: str | None = None, window_at: datetime | None = None) -> Citizen:
    """The one Citizen for this address (or phone number, or WhatsApp id), created on first contact.

    ``address`` (``telegram:<chat id>``…) is looked up in the contact table; a citizen created here gets
    a contact for each address it came with, so the same citizen is found by any of them later.
    ``window_at``: the citizen wrote on a channel with a reply window (WhatsApp's 24 hours) at this time.
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
                for scheme, path in map(split_address, ([address] if address else []) + addresses_of(phone, wa_id)):
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
        with session.no_autoflush:
            taken = session.scalar(select(Citizen.id).where(Citizen.wa_id == wa_id, Citizen.id != cit.id))
        if taken is None:  # the id is nobody else's: this citizen's from now on
            cit.wa_id = wa_id
            wanted.append(f"whatsapp:{wa_id}")
    for a in wanted:
        add_contact(session, cit, a)
    if window_at is not None:
        cit.last_whatsapp_at = window_at
    return cit


def conversation_for(session: Session, citizen_id: int, channel: str) -> Conversation:
    """The citizen's conversation, created on first use; locked for this transaction on PostgreSQL."""
    q = select(Conversation).where(Conversation.citizen_id == citizen_id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()  # one turn at a time per citizen
    conv = session.scalar(q)
    if conv is None:
        conv = Conversation(citizen_id=citizen_id, state={}, channel=channel)
        try:
            with session.begin_nested():
                session.add(conv)
                session.flush()
        except IntegrityError:  # a concurrent first message created it
            conv = session.scalar(q)
    return conv


# --- the inbound message ---------------------------------------------------------------------------------


def insert_message(session: Session, values: dict[str, Any]) -> int | None:
    """Insert an inbound Message in one statement; its id, or None when its sid was stored before.

    ``INSERT … ON CONFLICT (sid) DO NOTHING RETURNING id``: a concurrent duplicate waits for the
    first to commit and then sees the conflict, so only one delivery is ever processed.
    """
    dialect = session.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(Message)
    stmt = ins.values(**values).on_conflict_do_nothing(index_elements=["sid"])
    return session.execute(stmt.returning(Message.id)).scalar()


def seen(session: Session, sid: str) -> bool:
    return session.scalar(select(Message.id).where(Message.sid == sid)) is not None


def previous_reply(session: Session, sid: str) -> list[str]:
    """The reply texts given to the message with this sid (a repeated delivery gets them again)."""
    row = session.scalar(select(Message).where(Message.sid == sid))
    if row is None or row.reply is None:
        return []
    return [t for t in row.reply.split("\x1e") if t]


# --- one turn --------------------------------------------------------------------------------------------

# PostgreSQL, open: one statement finds or creates the citizen and the conversation (and the citizen's
# tel:/whatsapp: contacts), locks the conversation (ON CONFLICT DO UPDATE takes the row lock) and checks the sid.
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
# PostgreSQL, close: one statement stores the message, the new state and the language, only if the message is new.
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


def _fast(session: Session) -> bool:
    dialect = session.get_bind().dialect
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def _open_pg(session: Session, *, sid: str, channel: str, now: datetime, phone: str | None, wa_id: str | None,
             profile_name: str | None, window_at: datetime | None) -> OpenTurn | None:
    """:func:`open_turn` in one statement; None (nothing changed) when it cannot settle who the citizen is."""
    fresh = not session.in_transaction()
    conn = session.connection()
    params = {"phone": phone, "wa_id": wa_id, "name": profile_name, "channel": channel, "seen": window_at,
              "now": now, "sid": sid}
    sql = _OPEN_BY_PHONE if phone else _OPEN_BY_WA
    try:
        if fresh:  # nothing else in this transaction yet: no savepoint needed (two round trips saved)
            row = conn.exec_driver_sql(sql, params).one()
        else:
            with conn.begin_nested():
                row = conn.exec_driver_sql(sql, params).one()
    except IntegrityError:  # this WhatsApp id is another citizen row's: the ORM road decides
        if fresh:
            session.rollback()
        return None
    cid, phone, wa_id, language, blocked, conv_id, state, dup = row
    return OpenTurn(cid, phone, wa_id, language, bool(blocked), conv_id, dict(state or {}), bool(dup))


def open_turn(session: Session, *, sid: str, channel: str, now: datetime, phone: str | None = None,
              address: str | None = None, profile_name: str | None = None,
              window_at: datetime | None = None) -> OpenTurn:
    """Find or create the sender's citizen and conversation, lock the conversation, check the sid.

    A blocked citizen gets no conversation (``conversation_id`` None). The caller's transaction holds the
    conversation lock until it ends.

    Args:
        sid: the provider's message id (unique).
        channel: the channel name, stored on a new conversation.
        now: the message's time.
        phone: the sender's number, when known.
        address: who wrote (``tel:+91…``, ``whatsapp:<id>``, ``telegram:<chat id>``). A ``tel:`` or ``whatsapp:``
            address is kept on the citizen row too (its phone and WhatsApp id, unique: how the one-statement
            road finds the citizen); any other is found through the contact table.
        profile_name: the sender's name as the provider gives it, kept on a new citizen.
        window_at: the citizen wrote on a channel with a reply window at this time (WhatsApp).
    """
    scheme, _, path = (address or "").partition(":")
    wa_id = path if scheme == "whatsapp" and path else None
    if scheme == "tel" and path:
        phone = phone or path
    if scheme in ("tel", "whatsapp"):
        address = None  # the phone and WhatsApp id columns (and their contacts) stand for it
    if _fast(session) and (phone or wa_id) and address is None:
        opened = _open_pg(session, sid=sid, channel=channel, now=now, phone=phone, wa_id=wa_id,
                          profile_name=profile_name, window_at=window_at)
        if opened is not None:
            return opened
    cit = find_citizen(session, phone, wa_id, address=address, profile_name=profile_name, window_at=window_at)
    opened = OpenTurn(cit.id, cit.phone, cit.wa_id, cit.language, bool(cit.blocked), citizen=cit)
    if cit.blocked:
        opened.duplicate = seen(session, sid)
        return opened
    conv = conversation_for(session, cit.id, channel)
    # One citizen's messages are serialised by the conversation lock (SQLite: by BEGIN IMMEDIATE), and a
    # sid belongs to one sender, so this check cannot race with another delivery of the same sid.
    opened.conversation, opened.conversation_id, opened.state = conv, conv.id, dict(conv.state or {})
    opened.duplicate = seen(session, sid)
    return opened


def close_turn(session: Session, opened: OpenTurn, values: dict[str, Any], *, state: dict | None,
               language: str | None, message_id: int | None = None) -> int | None:
    """Store the turn: the message (``values``: its columns, with ``reply`` and ``status``), the new state
    (None: keep the old one) and the citizen's language. Returns the message's id, or None when a
    concurrent delivery of the same sid stored it first (the caller rolls back and answers as that one did).

    ``message_id``: the message was inserted earlier in this transaction (its attachments needed its id):
    it is updated with the reply and status instead.
    """
    now = utcnow()
    if (_fast(session) and message_id is None and opened.citizen is None
            and opened.conversation_id is not None):
        from psycopg.types.json import Jsonb

        return session.connection().exec_driver_sql(_CLOSE_TURN, {
            "sid": values["sid"], "channel": values["channel"], "citizen_id": opened.citizen_id,
            "from_addr": values.get("from_addr"), "to_addr": values.get("to_addr"), "body": values.get("body", ""),
            "kind": values.get("kind", "text"), "payload": Jsonb(values.get("payload") or {}),
            "reply": values.get("reply"), "status": values.get("status", "received"),
            "at": values.get("created_at") or now, "now": now,
            "state": Jsonb(state) if state is not None else None, "has_state": state is not None,
            "conversation_id": opened.conversation_id, "language": language or opened.language}).scalar()
    if message_id is None:
        message_id = insert_message(session, values)
        if message_id is None:
            return None
    else:
        session.execute(update(Message).where(Message.id == message_id).values(
            reply=values.get("reply"), status=values.get("status", "received"), updated_at=now))
    at = values.get("created_at") or now
    if state is not None and opened.conversation_id is not None:
        if opened.conversation is not None:
            conv = opened.conversation
            conv.state, conv.channel, conv.updated_at = state, values["channel"], at
        else:
            session.execute(update(Conversation).where(Conversation.id == opened.conversation_id).values(
                state=state, channel=values["channel"], updated_at=at))
    if language and language != opened.language:
        if opened.citizen is not None:
            opened.citizen.language = language
        else:
            session.execute(update(Citizen).where(Citizen.id == opened.citizen_id).values(language=language))
        opened.language = language
    return message_id


def citizen_of(session: Session, opened: OpenTurn) -> Citizen:
    """The ORM citizen of a turn (loaded now when the one-statement road did not)."""
    if opened.citizen is None:
        opened.citizen = session.get(Citizen, opened.citizen_id)
    return opened.citizen
