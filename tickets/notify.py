"""Notifications: turn "tell X about Y" into outbox rows for the channels' senders.

Every alert has a deterministic outbox key (template, ticket, recipient, occasion), so writing it
twice — two sweepers, a retried job — queues it once. The sweep builds many at once with
:func:`citizen_row` / :func:`officer_row` and inserts them in one statement.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Citizen, Complaint
from tasks import outbox
from zone import get_zone, local, messages


def local_time(dt: datetime | None, lang: str = "hi") -> str:
    """A short local time for messages: ``22/11 18:30``."""
    if dt is None:
        return "-"
    return local(dt).strftime("%d/%m %H:%M")


def station_name(complaint: Complaint, lang: str) -> str:
    st = complaint.station
    if st is None:
        return "-"
    return messages.name(st, lang)


def rank_name(rank: str, lang: str) -> str:
    """A rank's display name in the language (``co`` → ``Circle Officer``)."""
    r = get_zone().ranks.get(rank)
    if r is None:
        return rank
    return messages.name(r, lang)


def citizen_row(complaint_id: int, ref: str, phone: str | None, chat: str | None, lang: str, template: str, /,
                key_suffix: str = "", **values: Any) -> tuple[str, dict] | None:
    """(outbox key, payload) of an alert to a complainant, or None when there is no way to reach them.

    ``phone``: their number for SMS; ``chat``: the address of the chat they wrote from (``whatsapp:…``,
    ``telegram:…``). The sender picks the way (:func:`channels.outbound.pick_route`)."""
    if not phone and not chat:
        return None
    values.setdefault("ref", ref)
    payload = {
        "to_phone": phone, "to_chat": chat, "template": template, "lang": lang,
        "values": {k: str(v) for k, v in values.items()}, "complaint_id": complaint_id, "audience": "citizen",
    }
    return f"send:{template}:{complaint_id}:{key_suffix}", payload


def officer_row(complaint_id: int, ref: str, to: str | None, template: str, /, key_suffix: str = "",
                lang: str = "hi", **values: Any) -> tuple[str, dict] | None:
    """(outbox key, payload) of an SMS to an officer or station phone, or None without a phone."""
    if not to:
        return None
    values.setdefault("ref", ref)
    payload = {"to_phone": to, "to_chat": None, "template": template, "lang": lang, "audience": "officer",
               "values": {k: str(v) for k, v in values.items()}, "complaint_id": complaint_id}
    return f"send:{template}:{complaint_id}:{to}:{key_suffix}"[:120], payload


def notify_citizen(session: Session, complaint: Complaint, template: str, /, key_suffix: str = "",
                   **values: Any) -> None:
    """Queue a templated alert to the complainant (SMS, or WhatsApp where they came by WhatsApp only).

    The outbox key makes each alert unique per ticket (plus ``key_suffix`` for repeatable ones), so
    writing it twice sends it once.
    """
    row = citizen_row(complaint.id, complaint.ref, complaint.phone, complaint.chat_address, complaint.language,
                      template, key_suffix=key_suffix, **values)
    if row is not None:
        outbox.add(session, row[0], "send", row[1])


def notify_officer(session: Session, complaint: Complaint, template: str, to: str | None, /, key_suffix: str = "",
                   lang: str = "hi", **values: Any) -> bool:
    """Queue a templated SMS to an officer or station phone; False when there is no phone to send to."""
    row = officer_row(complaint.id, complaint.ref, to, template, key_suffix=key_suffix, lang=lang, **values)
    if row is None:
        return False
    outbox.add(session, row[0], "send", row[1])
    return True


def sms_stopped(session: Session, phone: str) -> bool:
    """True when this number sent STOP by SMS (and not START since): nothing may be sent to it by SMS."""
    return bool(session.scalar(select(Citizen.sms_opt_out).where(Citizen.phone == phone)))
