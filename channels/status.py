"""Message and call status callbacks: ``POST /twilio/status?outbox=<id>``."""

from __future__ import annotations

from flask import Blueprint, Response, request
from sqlalchemy import select, update

from channels import twilio as tw
from channels.webhook import bad_request, forbidden
from models import Message, Outbox, db, utcnow

bp = Blueprint("twilio_status", __name__)
ORDER = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3, "failed": 4, "undelivered": 4, "delivered": 5,
         "read": 6, "canceled": 4}


@bp.post("/twilio/status")
def status_callback():
    """Update an outbound message's delivery state; closes the send window of its outbox row."""
    if not tw.signature_ok(request):
        return forbidden()
    sid = (request.form.get("MessageSid") or request.form.get("SmsSid") or "").strip()
    state = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "").strip().lower()
    if not sid or state not in ORDER:
        return bad_request("MessageSid and a known MessageStatus are required")
    try:
        outbox_id = int(request.args.get("outbox", "0") or 0)
    except ValueError:
        return bad_request("outbox must be a number")
    code = (request.form.get("ErrorCode") or "")[:16] or None
    with db.session() as s:
        msg = s.scalar(select(Message).where(Message.sid == sid))
        if msg is not None:
            # Callbacks arrive out of order: never step back (delivered must not become sent).
            if ORDER.get(state, 0) >= ORDER.get(msg.status, 0):
                msg.status = state
                msg.error_code = code or msg.error_code
        if outbox_id:
            s.execute(update(Outbox).where(Outbox.id == outbox_id, Outbox.provider_id.is_(None))
                      .values(provider_id=sid))
            s.execute(update(Outbox).where(Outbox.id == outbox_id, Outbox.status == "sending")
                      .values(status="done", done_at=utcnow()))
    return Response("", status=204)
