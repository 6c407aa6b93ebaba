"""Sending through the Bot API: ``sendMessage`` at ``TELEGRAM_API_BASE_URL`` with ``TELEGRAM_BOT_TOKEN``.

Errors are :class:`channels.twilio.SendError` (the one error type the outbound path knows), typed by
Telegram's answer: 429 (``retry_after``) and 5xx or a network failure are retryable; 400 (chat not
found, bad request) and 403 (the bot was blocked by the user) are permanent and recorded. The token is
part of every URL, so no URL and no exception text from the HTTP library ever leaves this module.
"""

from __future__ import annotations

import logging
import threading

import requests

from channels.telegram.settings import settings
from channels.twilio import SendError

log = logging.getLogger(__name__)
_local = threading.local()


def _session() -> requests.Session:
    s = getattr(_local, "session", None)
    if s is None:
        s = _local.session = requests.Session()
        s.trust_env = False  # the Bot API, or a loopback recorder: no proxy walk per message
    return s


def contact_keyboard(label: str) -> dict:
    """A one-time reply keyboard with Telegram's share-contact button."""
    return {"keyboard": [[{"text": label, "request_contact": True}]], "one_time_keyboard": True,
            "resize_keyboard": True}


def call(method: str, body: dict) -> dict:
    """One Bot API call; returns its ``result``.

    Raises:
        SendError: retryable for 429, 5xx and network failures; permanent otherwise (the code is the HTTP one).
    """
    cfg = settings()
    if not cfg.bot_token:
        raise SendError("TELEGRAM_BOT_TOKEN is not set", None, False)
    url = f"{cfg.api_base_url}/bot{cfg.bot_token}/{method}"
    try:
        r = _session().post(url, json=body, timeout=cfg.http_timeout)
    except requests.RequestException as exc:  # its text holds the URL, and so the token: only the type leaves
        raise SendError(f"telegram {method}: {type(exc).__name__}", None, True) from None
    try:
        data = r.json()
    except ValueError:
        data = {}
    if r.status_code == 200 and data.get("ok"):
        return data.get("result") or {}
    code = int(data.get("error_code") or r.status_code)
    desc = str(data.get("description") or f"HTTP {r.status_code}")[:200]
    retry = code == 429 or code >= 500
    if code == 429:
        desc += f" (retry after {(data.get('parameters') or {}).get('retry_after', '?')} s)"
    raise SendError(f"telegram {method}: {desc}", code, retry)


def send_message(to: str, text: str, *, reply_markup: dict | None = None) -> str:
    """Send one text to ``telegram:<chat id>``; returns an id for the Message row (``tg:<chat>:<message_id>``)."""
    chat = to.removeprefix("telegram:")
    body: dict = {"chat_id": int(chat) if chat.lstrip("-").isdigit() else chat, "text": text[:4096]}
    if reply_markup:
        body["reply_markup"] = reply_markup
    result = call("sendMessage", body)
    return f"tg:{chat}:{result.get('message_id', '')}"[:64]


def send(to: str, body: str, *, from_: str, callback: str | None = None, dlt_id: str | None = None,
         extra: dict | None = None) -> tuple[str, str]:
    """The channel's sender for :mod:`channels.outbound`: one ``sendMessage`` (``extra`` may carry a
    ``reply_markup``); returns (its id, "sent"). Telegram has no delivery callback: the answer is the status.
    """
    return send_message(to, body, reply_markup=(extra or {}).get("reply_markup")), "sent"
