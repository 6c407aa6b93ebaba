"""SMS: Twilio's inbound SMS webhook and the SMS sender."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint

from channels.base import BadRequest, Incoming, normalise_phone
from channels.webhook import handle_messaging
from models import utcnow

NAME = "sms"
bp = Blueprint("sms", __name__)


def parse(form: dict[str, str], now: datetime | None = None) -> Incoming:
    """Twilio's SMS form → :class:`Incoming`.

    Raises:
        BadRequest: when MessageSid or From is missing or From is not a phone number.
    """
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    frm = (form.get("From") or "").strip()
    if not sid or len(sid) > 64:
        raise BadRequest("MessageSid missing or too long")
    if not frm:
        raise BadRequest("From missing")
    phone = normalise_phone(frm)
    if phone is None:
        raise BadRequest("From is not a phone number")
    media = []
    try:
        n = int(form.get("NumMedia") or 0)
    except ValueError:
        raise BadRequest("NumMedia is not a number") from None
    for i in range(min(n, 10)):
        url = form.get(f"MediaUrl{i}")
        if url:
            media.append((url, form.get(f"MediaContentType{i}", "")))
    return Incoming(sid=sid, channel=NAME, from_addr=frm, to_addr=form.get("To", ""), phone=phone,
                    body=form.get("Body", ""), kind="media" if media and not form.get("Body") else "text",
                    media=media, at=now or utcnow(), raw={k: v for k, v in form.items() if k != "Body"})


@bp.post("/twilio/sms")
def receive():
    """Twilio posts each inbound SMS here."""
    return handle_messaging(parse)
