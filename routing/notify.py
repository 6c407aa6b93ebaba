"""Notifications: turn "tell X about Y" into outbox rows for the channels' senders."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from models import Complaint
from routing import outbox
from zone import get_zone


def local_time(dt: datetime | None, lang: str = "hi") -> str:
    """A short local time for messages: ``22/11 18:30``."""
    if dt is None:
        return "-"
    return dt.astimezone(ZoneInfo(get_zone().zone.timezone)).strftime("%d/%m %H:%M")


def station_name(complaint: Complaint, lang: str) -> str:
    st = complaint.station
    if st is None:
        return "-"
    return st.name_hi if lang == "hi" else st.name_en


def notify_citizen(session: Session, complaint: Complaint, template: str, key_suffix: str = "", **values: Any) -> None:
    """Queue a templated alert to the complainant (SMS, or WhatsApp where they came by WhatsApp only).

    The outbox key makes each alert unique per ticket (plus ``key_suffix`` for repeatable ones), so
    writing it twice sends it once.
    """
    if not complaint.phone and not complaint.wa_id:
        return
    lang = complaint.language
    values.setdefault("ref", complaint.ref)
    payload = {
        "to_phone": complaint.phone, "to_wa": complaint.wa_id, "template": template, "lang": lang,
        "values": {k: str(v) for k, v in values.items()}, "complaint_id": complaint.id, "audience": "citizen",
    }
    outbox.add(session, f"send:{template}:{complaint.id}:{key_suffix}", "send", payload)


def notify_officer(session: Session, complaint: Complaint, template: str, phone: str | None, key_suffix: str = "",
                   lang: str = "hi", **values: Any) -> bool:
    """Queue a templated SMS to an officer or station phone; False when there is no phone to send to."""
    if not phone:
        return False
    values.setdefault("ref", complaint.ref)
    payload = {"to_phone": phone, "to_wa": None, "template": template, "lang": lang, "audience": "officer",
               "values": {k: str(v) for k, v in values.items()}, "complaint_id": complaint.id}
    outbox.add(session, f"send:{template}:{complaint.id}:{phone}:{key_suffix}", "send", payload)
    return True
