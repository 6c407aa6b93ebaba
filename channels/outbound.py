"""Outbound delivery of one outbox 'send' row: at most once per part, but for one stated window.

Route (:func:`pick_route`): the chat the citizen wrote from (``to_chat``: ``telegram:<chat id>`` always by
``sendMessage``; ``whatsapp:…`` free-form while the citizen's 24-hour window is open); else SMS when there is a
number; else an approved WhatsApp template (ContentSid + variables from config); else free-form
WhatsApp as a last try (Twilio answers 63016 outside the window, and the status callback then
falls back to SMS or the template, see :mod:`channels.status`).

Long texts are split on word boundaries (:mod:`channels.segments`); each part is one provider
message and one outbound Message row, committed as soon as the provider accepts it.

The send window (the only way a part can go out twice): the row is marked ``sending`` and
committed before the provider is called, and each part's Message row is committed right after the
provider's answer. If the process dies between the provider accepting a part and that commit (one
HTTP answer plus one commit: milliseconds), or the answer is lost on the network, the row stays
``sending`` and the relay hands it out again after ``tasks.outbox.REDELIVER_AFTER``. The status
callback carries ``outbox=<id>&part=<i>&parts=<n>`` in its URL and usually closes the window
first: the last part's callback stores the provider id and marks the row done, so nothing is
re-sent. Only when no callback has arrived is the unrecorded part sent again; each such re-send
is counted as an Event of kind ``resend_unknown`` (the measure of the window), and reconciled
against the provider's log by its outbox id.

Errors are typed (:class:`channels.twilio.SendError`): ``retryable`` puts the row back to
``enqueued`` and re-raises so rq retries with ``tasks.jobs.RETRY``; a permanent error (21610
unsubscribed, 63016 outside the window, a DLT mismatch...) is recorded on the Message, as an Event
``send_failed`` and on the outbox row, and never retried.
"""

from __future__ import annotations

import importlib
import json
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from channels import CHANNELS, send_for
from channels import twilio as tw
from channels.segments import SMS_MAX_CHARS, split_for
from models import Citizen, Complaint, Message, Outbox, utcnow
from models.tables import Contact
from tasks import outbox as ob
from tickets.actions import event
from tickets.notify import sms_stopped
from zone import get_zone, settings

SMS_MAX = SMS_MAX_CHARS
CODE_MASK = "••••••"  # a one-time code, once Twilio took it or refused it for good (channels.web.views writes the same)


def _code_of(payload: dict) -> str | None:
    """The one-time code an 'otp' send carries, until it is masked."""
    code = (payload.get("values") or {}).get("code") if payload.get("template") == "otp" else None
    return code if code and code != CODE_MASK else None


def _forget_code(row: Outbox, code: str | None) -> None:
    # The code is needed only until it is sent (a retry re-renders it); then no stored body keeps it.
    if code:
        row.payload = {**row.payload, "values": {**row.payload["values"], "code": CODE_MASK}}


def render(payload: dict) -> str:
    """The text of a templated message in its language."""
    if payload.get("text"):
        return payload["text"]
    tpl = get_zone().templates[payload["template"]]
    return tpl.render(payload.get("lang", "hi"), **payload.get("values", {}))


def status_callback_url(outbox_id: int, part: int = 0, parts: int = 1) -> str | None:
    """Where Twilio reports delivery of one part: the outbox id travels in the URL."""
    base = settings.get().public_base_url
    if not base:
        return None
    q = {"outbox": outbox_id} if parts == 1 else {"outbox": outbox_id, "part": part, "parts": parts}
    return f"{base.rstrip('/')}/twilio/status?{urlencode(q)}"


def reply_window(scheme: str) -> timedelta | None:
    """How long after the citizen last wrote a free-form message may go into a chat of this channel (the
    channel's ``REPLY_WINDOW``: WhatsApp's 24 hours); None: no limit (Telegram)."""
    mod = CHANNELS.get(scheme)
    return getattr(importlib.import_module(mod), "REPLY_WINDOW", None) if mod else None


def chat_window_open(session: Session, chat: str) -> bool:
    """True when a free-form message may go into ``chat`` (``scheme:path``) now."""
    scheme, _, path = chat.partition(":")
    window = reply_window(scheme)
    if window is None:
        return True
    last = session.scalar(select(Citizen.last_whatsapp_at).join(Contact, Contact.citizen_id == Citizen.id)
                          .where(Contact.scheme == scheme, Contact.path == path))
    return last is not None and utcnow() - last < window


def pick_route(session: Session, payload: dict) -> tuple[str, str, dict]:
    """Choose (channel, to, extra) for a payload.

    ``to_chat`` (the chat the citizen wrote from) while the channel lets us write there (always in
    Telegram, within 24 hours of their last message on WhatsApp); else SMS to ``to_phone``; else the
    channel's approved template (WhatsApp, ContentSid + variables from config); else free-form into the
    chat as a last try (Twilio answers 63016 outside the window, and the status callback then falls back).
    """
    extra: dict = {}
    chat = payload.get("to_chat")
    scheme = chat.partition(":")[0] if chat else ""
    if chat and reply_window(scheme) is None:  # no window, no template (Telegram)
        if payload.get("reply_markup"):
            extra["reply_markup"] = payload["reply_markup"]
        return scheme, chat, extra
    if chat and not payload.get("no_freeform") and chat_window_open(session, chat):
        return scheme, chat, extra
    # a citizen's STOP holds for everything sent to them; an officer's duty SMS are not theirs to stop
    stopped = (bool(payload.get("to_phone")) and payload.get("audience") != "officer"
               and sms_stopped(session, payload["to_phone"]))
    if payload.get("to_phone") and not stopped:
        return "sms", payload["to_phone"], extra
    wt = get_zone().whatsapp_templates.get(payload.get("template") or "") if scheme == "whatsapp" else None
    if wt and wt.content_sid:
        vals = payload.get("values", {})
        extra = {"content_sid": wt.content_sid,
                 "content_variables": json.dumps({str(i): vals.get(v, "") for i, v in enumerate(wt.variables, 1)})}
        return scheme, chat, extra
    if chat and not payload.get("no_freeform"):  # nothing else: try free-form, the provider says if not
        return scheme, chat, extra
    if stopped:  # recorded like Twilio's own refusal to a number that sent STOP
        raise tw.SendError("the citizen sent STOP: no SMS until START", 21610, False)
    raise tw.SendError("no address to send to", None, False)


def from_addr(channel: str) -> str:
    if channel == "telegram":
        return "telegram:bot"
    if channel == "whatsapp":
        return settings.get().twilio_whatsapp_from  # always whatsapp:+<number>
    return settings.get().twilio_sms_from


def dlt_check(payload: dict, body: str) -> str | None:
    """The DLT template id for a templated SMS text, after checking the text matches the template.

    Returns:
        The template's DLT id, or None for a free-form text (a reply within a conversation).

    Raises:
        SendError: (permanent) the text does not match its registered template: it is never sent.
    """
    name = payload.get("template")
    if not name or payload.get("text"):
        return None
    tpl = get_zone().templates[name]
    if not tpl.pattern(payload.get("lang", "hi")).match(body):
        raise tw.SendError(f"SMS text does not match DLT template {name} ({tpl.dlt_template_id})", None, False)
    return tpl.dlt_template_id


def _dev_sid(row_id: int, part: int) -> str:
    return f"DEV{row_id:027d}p{part:02d}"


def _send_part(channel: str, to: str, body: str, *, from_: str, callback: str | None, dlt_id: str | None,
               extra: dict, row_id: int, part: int) -> tuple[str, str]:
    """Send one part by the channel's own ``send`` (found through the registry); returns (provider id, status)."""
    if tw.records_only():  # dev mode: recorded, never sent, even with real credentials or a state gateway
        return _dev_sid(row_id, part), "recorded"
    send = send_for(channel)
    if send is None:
        raise tw.SendError(f"channel {channel!r} does not send", None, False)
    return send(to, body, from_=from_, callback=callback, dlt_id=dlt_id, extra=extra)


def deliver(session: Session, row: Outbox) -> None:
    """Send one outbox 'send' row, split into parts when long (idempotent; see the module docstring).

    Each part is recorded as an outbound Message (with its part number) and committed as soon as the
    provider accepts it, so a retry after part 2 of 3 failed sends only part 3.

    Raises:
        SendError: ``retryable`` True for a transient failure (the row goes back to ``enqueued`` and
            rq retries with :data:`tasks.jobs.RETRY`); permanent failures are recorded, not raised.
    """
    payload = row.payload
    code = _code_of(payload)

    def complaint() -> Complaint | None:  # only for the Events of a failure: not loaded on the common path
        return session.get(Complaint, payload.get("complaint_id")) if payload.get("complaint_id") else None

    done = {(m.payload or {}).get("part", 0): m for m in session.scalars(
        select(Message).where(Message.outbox_id == row.id, Message.direction == "out", Message.sid.is_not(None)))}
    try:
        channel, to, extra = pick_route(session, payload)
        body = render(payload)
        dlt_id = dlt_check(payload, body) if channel == "sms" else None
    except tw.SendError as exc:
        event(session, complaint(), "send_failed", "worker", template=payload.get("template"), code=exc.code,
              reason="dlt_mismatch" if "DLT" in exc.message else "no_route")
        ob.mark_failed(session, row.id, str(exc))
        _forget_code(row, code)
        return
    parts = [body] if extra.get("content_sid") else split_for(channel, body) or [body]
    if row.status == "sending":
        if all(i in done for i in range(len(parts))):
            ob.mark_done(session, row.id, done[0].sid)
            _forget_code(row, code)
            return
        event(session, complaint(), "resend_unknown", "worker", outbox=row.id)
    # Commit 'sending' before the call: from here a crash means "maybe sent" (the window).
    session.execute(update(Outbox).where(Outbox.id == row.id).values(status="sending", enqueued_at=utcnow()))
    session.commit()
    first_sid = done[0].sid if 0 in done else None
    for i, text in enumerate(parts):
        if i in done:
            continue
        msg = Message(direction="out", channel=channel, to_addr=to, from_addr=from_addr(channel), body=text,
                      outbox_id=row.id, complaint_id=payload.get("complaint_id"),
                      kind=(payload.get("template") or "text")[:16],
                      payload={"template": payload.get("template"), "part": i, "parts": len(parts),
                               "dlt_template_id": dlt_id, **extra})
        try:
            sid, status = _send_part(channel, to, text, from_=msg.from_addr,
                                     callback=status_callback_url(row.id, i, len(parts)), dlt_id=dlt_id,
                                     extra=extra, row_id=row.id, part=i)
        except tw.SendError as exc:
            if exc.retryable:
                session.execute(update(Outbox).where(Outbox.id == row.id).values(status="enqueued",
                                                                                 last_error=str(exc)[:500]))
                session.commit()
                raise
            msg.status, msg.error_code = "failed", str(exc.code or "")[:16]
            msg.body = text.replace(code, CODE_MASK) if code else text
            session.add(msg)
            event(session, complaint(), "send_failed", "worker", template=payload.get("template"), code=exc.code)
            ob.mark_failed(session, row.id, str(exc))
            _forget_code(row, code)
            return
        msg.status, msg.sid = status, sid
        msg.body = text.replace(code, CODE_MASK) if code else text
        early = session.scalar(select(Message).where(Message.sid == sid))
        if early is None:
            session.add(msg)
        else:  # the status callback came first: it stored the delivery state, this is the rest of the row
            for k in ("channel", "to_addr", "from_addr", "body", "outbox_id", "complaint_id", "kind", "payload"):
                setattr(early, k, getattr(msg, k))
            if early.status in ("accepted", "queued", "sending"):
                early.status = status
        first_sid = first_sid or sid
        if i < len(parts) - 1:
            session.commit()  # this part is sent: never again
    _forget_code(row, code)
    ob.mark_done(session, row.id, first_sid)  # the last part commits with the row's 'done' (the caller commits)
