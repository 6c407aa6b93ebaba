"""Replies that could not go back in the webhook's answer (spool replays, voice jobs) go out later."""

from __future__ import annotations

from sqlalchemy.orm import Session

from channels.base import Incoming
from tasks import outbox


def queue_followup(session: Session, msg: Incoming, texts: list[str]) -> None:
    """Queue the engine's replies to a message as free-form outbound messages (one outbox row)."""
    payload = {"to_phone": msg.phone if msg.channel != "whatsapp" else None,
               "to_wa": msg.wa_id if msg.channel == "whatsapp" else None,
               "text": "\n\n".join(texts), "template": None, "lang": "hi", "audience": "citizen"}
    outbox.add(session, f"reply:{msg.sid}", "send", payload)
