"""SMS: Twilio's inbound SMS webhook (``POST /twilio/sms``), ``parse`` and ``send``.

``send`` goes through the SMS sender interface (:mod:`channels.sender`: Twilio by default, a state
gateway by ``BHAROSA_SMS_SENDER``), asked by :mod:`channels.outbound` for each part; splitting and
segment counting are in :mod:`channels.segments`. Delivery statuses come to ``POST /twilio/status``
(:mod:`channels.status`, shared with WhatsApp: Twilio reports both in one format).
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint

from channels.base import BadRequest, Incoming, message_sid, parse_media, raw_form
from channels.sender import get_sms_sender
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
                    address=f"tel:{phone}", body=form.get("Body", ""),
                    kind="media" if media and not form.get("Body") else "text", media=media, at=now or utcnow(),
                    raw=raw_form(form))


@bp.post("/twilio/sms")
def receive():
    """Twilio posts each inbound SMS here."""
    return handle_messaging(parse)


def send(to: str, body: str, *, from_: str, callback: str | None = None, dlt_id: str | None = None,
         extra: dict | None = None) -> tuple[str, str]:
    """Send one SMS part to ``to`` (a phone number) with its DLT template id; returns (gateway id, "sent").

    Raises:
        channels.twilio.SendError: ``retryable`` for transient failures; permanent ones are recorded.
    """
    return get_sms_sender().send_sms(to, body, from_=from_, status_callback=callback, dlt_template_id=dlt_id), "sent"
