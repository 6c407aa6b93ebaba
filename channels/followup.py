"""Replies that could not go back in the webhook's answer (spool replays, voice jobs) go out later."""

from __future__ import annotations

from sqlalchemy.orm import Session

from channels.base import Incoming, address_of, reply_chat
from models import Citizen, Message
from tasks import outbox


def queue_followup(session: Session, msg: Incoming, texts: list[str]) -> None:
    """Queue the engine's replies to a message as free-form outbound messages (one outbox row)."""
    payload = {"to_phone": None if msg.chat else msg.phone, "to_chat": msg.chat,
               "text": "\n\n".join(texts), "template": None, "lang": "hi", "audience": "citizen"}
    outbox.add(session, f"reply:{msg.sid}", "send", payload)


def answer(session: Session, key: str, msg: Message, cit: Citizen | None, text: str, lang: str) -> bool:
    """Queue a free-form ``text`` back to whoever sent the stored ``msg``: into the chat it came from, else by
    SMS to the citizen's number; once per ``key``. False when there is no way to reach them."""
    chat = reply_chat(address_of(msg.channel, msg.from_addr))
    payload = {"to_phone": None if chat else (cit.phone if cit else None), "to_chat": chat, "text": text,
               "template": None, "lang": lang, "audience": "citizen", "complaint_id": msg.complaint_id}
    if not (payload["to_phone"] or payload["to_chat"]):
        return False
    outbox.add(session, key, "send", payload)
    return True
