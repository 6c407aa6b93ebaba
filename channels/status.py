"""Message and call status callbacks: ``POST /twilio/status?outbox=<id>[&part=<i>&parts=<n>]``.

Each callback moves the outbound Message's delivery state forward (never back: callbacks arrive
out of order). The last part's callback closes its outbox row's send window (see
:mod:`channels.outbound`). A WhatsApp alert refused because the 24-hour window had closed (63016)
or undelivered is sent again another way: by SMS when there is a number, else by the approved
WhatsApp template, so registration, assignment and disposal alerts always arrive.

Shared by the Twilio channels (channels/sms/, channels/whatsapp/) rather than one copy in each folder:
Twilio posts one format for both to the one URL every part carries, and a callback that beats the send's
own row names its channel only by the ``To`` prefix.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from channels import twilio as tw
from channels.webhook import bad_request, forbidden
from models import Message, Outbox, db, utcnow
from tasks import outbox as ob

log = logging.getLogger(__name__)
bp = Blueprint("twilio_status", __name__)
ORDER = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3, "failed": 4, "undelivered": 4, "delivered": 5,
         "read": 6, "canceled": 4, "received": 5}
# WhatsApp failures another route can cure: outside the 24-hour window, not a WhatsApp user.
FALLBACK_CODES = {"63016", "63003", "63024"}


def _int_arg(name: str, default: int) -> int:
    v = request.args.get(name, "")
    if not v:
        return default
    if not v.isascii() or not v.isdigit() or len(v) > 9:  # an id past the database's integer range is no id of ours
        raise ValueError(name)
    return int(v)


def fallback(session, row: Outbox, code: str | None) -> bool:
    """Queue a templated alert again by SMS or WhatsApp template after a WhatsApp failure; True if queued."""
    p = dict(row.payload or {})
    if not p.get("template") or p.get("no_freeform"):
        return False  # a free-form reply has no other route; a fallback is not retried twice
    p["no_freeform"] = True
    ob.add(session, f"fallback:{row.id}", "send", p)
    log.info("outbox %s: WhatsApp failed (%s); queued fallback", row.id, code)
    return True


@bp.post("/twilio/status")
def status_callback():
    """Update an outbound message's delivery state; closes the send window of its outbox row."""
    if not tw.signature_ok(request):
        return forbidden()
    sid = (request.form.get("MessageSid") or request.form.get("SmsSid") or "").strip()
    state = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "").strip().lower()
    if not sid or len(sid) > 64 or state not in ORDER:
        return bad_request("MessageSid and a known MessageStatus are required")
    try:
        outbox_id, part, parts = _int_arg("outbox", 0), _int_arg("part", 0), _int_arg("parts", 1)
    except ValueError as exc:
        return bad_request(f"{exc} must be a number")
    code = (request.form.get("ErrorCode") or "")[:16] or None
    with db.session() as s:
        msg = s.scalar(select(Message).where(Message.sid == sid))
        early = msg is None
        if early and outbox_id and s.get(Outbox, outbox_id) is not None:
            # The callback beat Twilio's REST answer to us: keep the state; the sender fills in the rest.
            to = (request.form.get("To") or "")[:80]
            stub = Message(sid=sid, direction="out", channel="whatsapp" if to.startswith("whatsapp:") else "sms",
                           to_addr=to, from_addr=(request.form.get("From") or "")[:80], outbox_id=outbox_id,
                           status=state, error_code=code, payload={"part": part, "parts": parts})
            try:
                with s.begin_nested():
                    s.add(stub)
            except IntegrityError:  # the sender stored its row meanwhile: update that one
                msg = s.scalar(select(Message).where(Message.sid == sid))
        if msg is not None:
            # Callbacks arrive out of order: never step back (delivered must not become sent).
            if ORDER.get(state, 0) >= ORDER.get(msg.status, 0):
                msg.status = state
                msg.error_code = code or msg.error_code
        if outbox_id and part == parts - 1:  # the last part: every part was accepted
            s.execute(update(Outbox).where(Outbox.id == outbox_id, Outbox.provider_id.is_(None))
                      .values(provider_id=sid))
            s.execute(update(Outbox).where(Outbox.id == outbox_id, Outbox.status == "sending")
                      .values(status="done", done_at=utcnow()))
        if outbox_id and state in ("failed", "undelivered") and code in FALLBACK_CODES:
            row = s.get(Outbox, outbox_id)
            to = (msg.to_addr if msg is not None else "") or ""
            if row is not None and row.kind == "send" and (to.startswith("whatsapp:") or early):
                fallback(s, row, code)
    return Response("", status=204)
