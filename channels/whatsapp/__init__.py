"""WhatsApp: Twilio's inbound WhatsApp webhook (``POST /twilio/whatsapp``), ``parse`` and ``send``.

Who the sender is: ``From=whatsapp:+91...`` is a phone number (the citizen is found by it, so the
same number on SMS is the same citizen); ``From=whatsapp:<id>`` without a leading ``+`` is a
WhatsApp id with no number, and the citizen is known by that id alone (the engine asks once for
a number for SMS alerts). The sender's address is ``From`` itself (``whatsapp:<what follows>``), so an
outbound message to it reaches exactly the address that wrote.

``send`` is Twilio's Messages API: a free-form text, or an approved template when ``extra`` names one
(``content_sid`` and ``content_variables``, chosen by :func:`channels.outbound.pick_route` outside the
24-hour window). Delivery statuses come to ``POST /twilio/status`` (:mod:`channels.status`, shared with
SMS), which sends a templated alert again another way when WhatsApp refused it.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from flask import Blueprint

from channels import twilio as tw
from channels.base import BadRequest, Incoming, message_sid, parse_media, raw_form
from channels.webhook import handle_messaging
from models import utcnow
from tickets.textsafe import clean_text
from zone import phones

NAME = "whatsapp"
bp = Blueprint("whatsapp", __name__)
# A free-form message may go to a citizen up to 24 hours after they last wrote; later only an approved template.
REPLY_WINDOW = timedelta(hours=24)
_WA_ID = re.compile(r"^[A-Za-z0-9._:+-]{1,64}$")


def _coord(form: dict[str, str], key: str, bound: float) -> float:
    try:
        v = float(form.get(key, ""))
    except ValueError:
        raise BadRequest(f"{key} is not a number") from None
    if not math.isfinite(v) or abs(v) > bound:
        raise BadRequest(f"{key} out of range")
    return v


def parse(form: dict[str, str], now: datetime | None = None) -> Incoming:
    """Twilio's WhatsApp form → :class:`Incoming` (text, media, location or button reply).

    Raises:
        BadRequest: MessageSid or From missing or malformed, or bad coordinates.
    """
    sid = message_sid(form)
    frm = (form.get("From") or "").strip()
    if not frm.startswith("whatsapp:"):
        raise BadRequest("From is not a whatsapp: address")
    addr = frm[len("whatsapp:"):]
    if not _WA_ID.match(addr):
        raise BadRequest("From is not a WhatsApp id")
    phone = phones.sender(addr) if addr.startswith("+") else None
    if addr.startswith("+") and phone is None:
        raise BadRequest("From is not a phone number")
    media = parse_media(form)
    body = form.get("Body", "")
    kind, lat, lon, button = "text", None, None, None
    if (form.get("MessageType") or "").lower() == "location" or form.get("Latitude"):
        kind = "location"
        lat, lon = _coord(form, "Latitude", 90), _coord(form, "Longitude", 180)
        place = " ".join(x for x in (form.get("Label"), form.get("Address")) if x)
        body = body or place
    elif form.get("ButtonPayload") or form.get("ButtonText"):
        kind = "button"
        button = (form.get("ButtonPayload") or form.get("ButtonText") or "")[:200]
        body = body or form.get("ButtonText", "")
    elif media and not body:
        kind = "media"
    return Incoming(sid=sid, channel=NAME, from_addr=frm, to_addr=form.get("To", ""), phone=phone,
                    address=f"whatsapp:{addr}",
                    profile_name=clean_text(form.get("ProfileName"), 200) or None, body=body, kind=kind, lat=lat,
                    lon=lon, media=media, button=button, at=now or utcnow(), raw=raw_form(form))


@bp.post("/twilio/whatsapp")
def receive():
    """Twilio posts each inbound WhatsApp message here."""
    return handle_messaging(parse)


def send(to: str, body: str, *, from_: str, callback: str | None = None, dlt_id: str | None = None,
         extra: dict | None = None) -> tuple[str, str]:
    """Send one message to ``to`` (``whatsapp:<wa_id>``) through Twilio; returns (Twilio's Message SID, "sent").

    Raises:
        channels.twilio.SendError: typed by Twilio's error code (63016 outside the window is permanent).
    """
    return tw.get_sender().send(to, body, from_=from_, status_callback=callback, **(extra or {})), "sent"
