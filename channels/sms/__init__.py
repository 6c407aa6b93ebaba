"""SMS: Twilio's inbound SMS webhook (``POST /twilio/sms``) and ``parse``.

Sending is in :mod:`channels.sender` (an interface: Twilio by default, a state gateway by
``BHAROSA_SMS_SENDER``) and :mod:`channels.outbound`; splitting and segment counting in
:mod:`channels.segments`.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint

from channels.base import BadRequest, Incoming, message_sid, parse_media, raw_form
from channels.webhook import handle_messaging
from models import utcnow
from zone import phones

NAME = "sms"
bp = Blueprint("sms", __name__)


def parse(form: dict[str, str], now: datetime | None = None) -> Incoming:
    """Twilio's SMS form → :class:`Incoming`.

    Raises:
        BadRequest: when MessageSid or From is missing or From is not a phone number.
    """
    sid = message_sid(form)
    frm = (form.get("From") or "").strip()
    if not frm:
        raise BadRequest("From missing")
    phone = phones.sender(frm)
    if phone is None:
        raise BadRequest("From is not a phone number")
    media = parse_media(form)
    return Incoming(sid=sid, channel=NAME, from_addr=frm, to_addr=form.get("To", ""), phone=phone,
                    body=form.get("Body", ""), kind="media" if media and not form.get("Body") else "text",
                    media=media, at=now or utcnow(), raw=raw_form(form))


@bp.post("/twilio/sms")
def receive():
    """Twilio posts each inbound SMS here."""
    return handle_messaging(parse)
