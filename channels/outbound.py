"""Outbound delivery of one outbox 'send' row, at most once per row but for one stated window.

The window: the row is marked ``sending`` and committed before Twilio is called. If the process
dies after Twilio accepted the message but before its answer was stored, the row stays ``sending``
and the relay hands it out again. The status callback (which carries the outbox id in its URL)
usually closes that window first by storing the provider id; only when it has not yet arrived is
the message sent again. Such re-sends are counted as Events of kind ``resend_unknown``.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from channels import twilio as tw
from models import Complaint, Message, Outbox, utcnow
from routing import outbox as ob
from routing.actions import event
from zone import get_zone

SMS_MAX = 1600


def render(payload: dict) -> str:
    """The text of a templated message in its language."""
    if payload.get("text"):
        return payload["text"]
    tpl = get_zone().templates[payload["template"]]
    return tpl.render(payload.get("lang", "hi"), **payload.get("values", {}))


def status_callback_url(outbox_id: int) -> str | None:
    base = os.environ.get("PUBLIC_BASE_URL")
    if not base:
        return None
    return f"{base.rstrip('/')}/twilio/status?{urlencode({'outbox': outbox_id})}"


def whatsapp_window_open(session: Session, payload: dict) -> bool:
    """True when a free-form WhatsApp message may be sent (citizen wrote within 24 h)."""
    from models import Citizen

    wa = payload.get("to_wa")
    if not wa:
        return False
    cit = session.scalar(select(Citizen).where(Citizen.wa_id == wa))
    if cit is None or cit.last_whatsapp_at is None:
        return False
    return (utcnow() - cit.last_whatsapp_at).total_seconds() < 24 * 3600


def pick_route(session: Session, payload: dict) -> tuple[str, str, dict]:
    """Choose (channel, to, extra) for a payload: WhatsApp in the window, a WA template, else SMS."""
    extra: dict = {}
    if payload.get("to_wa") and whatsapp_window_open(session, payload):
        return "whatsapp", f"whatsapp:{payload['to_wa']}", extra
    if payload.get("to_phone"):
        return "sms", payload["to_phone"], extra
    wt = get_zone().whatsapp_templates.get(payload.get("template") or "")
    if payload.get("to_wa") and wt and wt.content_sid:
        vals = payload.get("values", {})
        extra = {"content_sid": wt.content_sid,
                 "content_variables": json.dumps({str(i): vals.get(v, "") for i, v in enumerate(wt.variables, 1)})}
        return "whatsapp", f"whatsapp:{payload['to_wa']}", extra
    if payload.get("to_wa"):  # nothing else reaches them: try free-form, Twilio will tell us if it fails
        return "whatsapp", f"whatsapp:{payload['to_wa']}", extra
    raise tw.SendError("no address to send to", None, False)


def from_addr(channel: str) -> str:
    if channel == "whatsapp":
        f = os.environ.get("TWILIO_WHATSAPP_FROM", "whatsapp:+14155238886")
        return f if f.startswith("whatsapp:") else f"whatsapp:{f}"
    return os.environ.get("TWILIO_SMS_FROM", "+15005550006")


def deliver(session: Session, row: Outbox) -> None:
    """Send one outbox 'send' row (idempotent; see the module docstring for the one window)."""
    if row.status == "sending":
        already = session.scalar(select(Message).where(Message.outbox_id == row.id, Message.direction == "out"))
        if already is not None and already.sid:
            ob.mark_done(session, row.id, already.sid)
            return
        c = session.get(Complaint, row.payload.get("complaint_id")) if row.payload.get("complaint_id") else None
        event(session, c, "resend_unknown", "worker", outbox=row.id)
    payload = row.payload
    channel, to, extra = pick_route(session, payload)
    body = render(payload)
    if channel == "sms" and len(body) > SMS_MAX:
        body = body[: SMS_MAX - 1] + "…"
    # Commit 'sending' before the call: from here a crash means "maybe sent" (the window).
    session.execute(update(Outbox).where(Outbox.id == row.id).values(status="sending", enqueued_at=utcnow()))
    session.commit()
    sender = tw.get_sender()
    msg = Message(direction="out", channel=channel, to_addr=to, from_addr=from_addr(channel), body=body,
                  outbox_id=row.id, complaint_id=payload.get("complaint_id"), kind=payload.get("template") or "text",
                  payload={"template": payload.get("template"), **extra})
    if sender is None:  # dev mode without credentials: recorded, not sent
        msg.status, msg.sid = "recorded", f"DEV{row.id:030d}"
    else:
        try:
            sid = sender.send(to, body, from_=msg.from_addr, status_callback=status_callback_url(row.id), **extra)
        except tw.SendError as exc:
            if exc.retryable:
                session.execute(update(Outbox).where(Outbox.id == row.id).values(status="enqueued",
                                                                                 last_error=str(exc)[:500]))
                session.commit()
                raise
            msg.status, msg.error_code = "failed", str(exc.code or "")
            session.add(msg)
            c = session.get(Complaint, payload.get("complaint_id")) if payload.get("complaint_id") else None
            event(session, c, "send_failed", "worker", template=payload.get("template"), code=exc.code)
            ob.mark_failed(session, row.id, str(exc))
            return
        msg.status, msg.sid = "sent", sid
    existing = session.scalar(select(Message).where(Message.sid == msg.sid)) if msg.sid else None
    if existing is None:
        session.add(msg)
    ob.mark_done(session, row.id, msg.sid)
