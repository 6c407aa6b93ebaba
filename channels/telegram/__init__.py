"""Telegram: the Bot API webhook (``POST /telegram/webhook``), ``parse``, replies and alerts by ``sendMessage``.

Who the sender is: the citizen's address is ``telegram:<chat id>`` (a private chat's id is the user's id),
kept in the contact table; a Telegram user has no phone number until they share their own contact, which
adds a ``tel:`` contact to the same citizen (the engine asks once, as it asks WhatsApp-only citizens, and
the question carries Telegram's share-contact button). Only private chats are served.

The webhook is verified by the ``X-Telegram-Bot-Api-Secret-Token`` header (``TELEGRAM_WEBHOOK_SECRET``):
403 without it. Anything else is answered 200 at once (Telegram re-sends a non-2xx answer for ever): a
malformed body or an update that is no message (an edit, a sticker, a callback) is logged and stored as
``ignored``. Each update is one Message row, sid ``tg:<update_id>``, so a re-sent update is stored once.
The replies are outbox rows (kind ``send``, ``to_chat`` = the citizen's address) that the worker delivers
through :mod:`channels.outbound` like SMS: durable, retried on 429/5xx, recorded when permanent (the bot
blocked). Chosen over a method call in the webhook's answer, which carries one message, is never retried,
and tells nothing of its failure. Only when the database is down does the answer carry one ``sendMessage``
(the apology) and the update go to the spool.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from channels.base import Incoming
from channels.inbound import SORRY, insert_inbound, process
from channels.telegram import api
from channels.telegram.settings import settings
from channels.telegram.texts import t
from models import Citizen, Conversation, db, utcnow
from models.conversations import add_contact, citizen_by_address, find_citizen
from tasks import outbox
from tickets.textsafe import clean_text
from zone import phones

NAME = "telegram"
ADDRESS = "telegram"  # the contact scheme
HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 256 * 1024
bp = Blueprint("telegram", __name__)
log = logging.getLogger(__name__)


class Ignored(ValueError):
    """An update Bharosa does not act on (stored as ``ignored`` with this reason)."""


def _chat_address(chat_id: Any) -> str:
    return f"{ADDRESS}:{int(chat_id)}"


def parse(update: dict, now: datetime | None = None) -> Incoming:
    """A Bot API update → :class:`Incoming` (a text, a photo's caption, or the sender's own shared contact).

    Raises:
        Ignored: an edit, a channel post, a callback, a sticker or a photo without caption, a group chat,
            a malformed message: nothing to answer.
    """
    uid = update.get("update_id")
    if not isinstance(uid, int) or isinstance(uid, bool) or uid < 0:
        raise Ignored("no update_id")
    m = update.get("message")
    if not isinstance(m, dict):
        kinds = [k for k in update if k != "update_id"]
        raise Ignored(f"not a message: {','.join(kinds)[:40] or 'empty'}")
    chat, frm = m.get("chat") or {}, m.get("from") or {}
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int) or not isinstance(frm, dict):
        raise Ignored("no chat")
    if chat.get("type") != "private":
        raise Ignored(f"{chat.get('type')} chat")
    addr = _chat_address(chat["id"])
    name = clean_text(" ".join(str(x) for x in (frm.get("first_name"), frm.get("last_name")) if x), 200) or None
    raw: dict[str, Any] = {"update_id": uid, "message_id": m.get("message_id"), "from_id": frm.get("id"),
                           "language_code": frm.get("language_code")}
    body = ""
    if isinstance(m.get("contact"), dict):
        c = m["contact"]
        raw["contact"] = "own" if c.get("user_id") is not None and c.get("user_id") == frm.get("id") else "other"
        if raw["contact"] == "own":
            num = str(c.get("phone_number") or "").strip()
            phone = phones.sender(num if num.startswith("+") else f"+{num}")
            if phone is None:
                raw["contact"] = "bad_number"
            body = phone or ""
    elif isinstance(m.get("text"), str):
        body = m["text"]
    elif isinstance(m.get("caption"), str):
        body = m["caption"]
    else:
        kinds = [k for k in ("photo", "sticker", "voice", "video", "document", "location", "audio") if k in m]
        raise Ignored(f"no text: {','.join(kinds) or 'unknown'}")
    at = datetime.fromtimestamp(m["date"], UTC) if isinstance(m.get("date"), int) else None
    return Incoming(sid=f"tg:{uid}", channel=NAME, from_addr=addr, to_addr="telegram:bot", body=body[:4000],
                    profile_name=name, at=now or at or utcnow(), raw=raw, address=addr, engine_channel="whatsapp")


def _ok(method_call: dict | None = None) -> Response:
    if method_call:
        return Response(json.dumps(method_call, ensure_ascii=False), mimetype="application/json")
    return Response("", status=200)


def _queue(session: Session, msg: Incoming, texts: list[str], lang: str, keyboard: bool = False) -> None:
    """The replies as outbox 'send' rows to the citizen's address (keyed by update: a re-sent update queues none)."""
    texts = [x for x in texts if x]
    for i, text in enumerate(texts):
        payload = {"to_phone": None, "to_chat": msg.address, "text": text, "template": None, "lang": lang,
                   "audience": "citizen"}
        if keyboard and i == len(texts) - 1:
            payload["reply_markup"] = api.contact_keyboard(t("share_contact_button", lang))
        outbox.add(session, f"{msg.sid}:{i}", "send", payload)


def _store_ignored(update: Any, reason: str) -> None:
    uid = update.get("update_id") if isinstance(update, dict) else None
    log.info("telegram update %s ignored: %s", uid, reason)
    if not isinstance(uid, int) or isinstance(uid, bool):
        return
    m = (update.get("message") or update.get("edited_message") or {}) if isinstance(update, dict) else {}
    chat = (m.get("chat") or {}).get("id") if isinstance(m, dict) else None
    msg = Incoming(sid=f"tg:{uid}", channel=NAME, from_addr=_chat_address(chat) if isinstance(chat, int) else "",
                   to_addr="telegram:bot", kind="ignored", raw={"update_id": uid, "reason": reason[:100]})
    try:
        with db.session() as s:
            insert_inbound(s, msg, status="ignored")
    except Exception:  # storing a note of an ignored update must not fail the answer
        log.warning("telegram update %s: could not store it as ignored", uid, exc_info=True)


def _asking_phone(session: Session, cit: Citizen | None) -> bool:
    if cit is None:
        return False
    state = session.scalar(select(Conversation.state).where(Conversation.citizen_id == cit.id)) or {}
    return state.get("asked") == "alert_phone"


def _keep_phone(session: Session, cit: Citizen, phone: str) -> None:
    """The sender's own number: a tel: contact of this citizen, and its phone for SMS alerts when free."""
    if add_contact(session, cit, f"tel:{phone}") and not cit.phone:
        if session.scalar(select(Citizen.id).where(Citizen.phone == phone)) is None:
            cit.phone, cit.sms_ok = phone, True


def handle(session: Session, msg: Incoming) -> None:
    """One parsed update in the caller's transaction: the turn, the contact, the queued replies."""
    contact = msg.raw.get("contact")
    cit = citizen_by_address(session, msg.address)
    lang = (cit.language if cit else None) or msg.raw.get("language_code")
    if contact in ("other", "bad_number") or (contact == "own" and not _asking_phone(session, cit)):
        cit = cit or find_citizen(session, None, None, address=msg.address, profile_name=msg.profile_name)
        if contact == "own":
            _keep_phone(session, cit, msg.body)
            text = t("contact_saved", cit.language, phone=msg.body)
        else:
            text = t("contact_not_yours", cit.language)
        msg.kind = "contact"
        if insert_inbound(session, msg, citizen_id=cit.id, status="contact", reply=text) is not None:
            _queue(session, msg, [text], cit.language)
        return
    texts = process(session, msg)
    cit = cit or citizen_by_address(session, msg.address)
    if cit is None:
        return
    if contact == "own":
        _keep_phone(session, cit, msg.body)
    _queue(session, msg, texts, cit.language or lang or "hi", keyboard=_asking_phone(session, cit))


@bp.post("/telegram/webhook")
def receive():
    """Telegram posts each update here (``setWebhook`` with ``secret_token``)."""
    secret = settings().webhook_secret
    got = request.headers.get(HEADER, "")
    if not secret or not hmac.compare_digest(got.encode(), secret.encode()):
        return Response("invalid secret token\n", status=403, mimetype="text/plain")
    raw = request.get_data(cache=False)
    try:
        if len(raw) > MAX_BODY:
            raise ValueError("too large")
        update = json.loads(raw)
        if not isinstance(update, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("telegram: malformed update ignored (%d bytes): %s", len(raw), exc)
        return _ok()
    try:
        msg = parse(update)
    except Ignored as exc:
        _store_ignored(update, str(exc))
        return _ok()
    try:
        with db.session() as s:
            handle(s, msg)
    except Exception as exc:  # the database is down, or a bug: keep the update, say sorry in the answer
        (log.error if isinstance(exc, OperationalError) else log.exception)("telegram %s: spooled", msg.sid)
        from channels import spool

        try:
            spool.save(msg)
        except OSError:
            log.critical("could not spool %s: the update is lost", msg.sid, exc_info=True)
        return _ok({"method": "sendMessage", "chat_id": int(msg.address.split(":", 1)[1]), "text": SORRY["hi"]})
    return _ok()


send = api.send  # the registry's sender (channels.send_for): one sendMessage per part
