"""Telegram's settings, read from the environment where they are used (tests change them per test).

``TELEGRAM_BOT_TOKEN``: the bot's token from @BotFather (secret: never logged, never stored).
``TELEGRAM_WEBHOOK_SECRET``: the ``secret_token`` given to ``setWebhook``; Telegram sends it back in the
``X-Telegram-Bot-Api-Secret-Token`` header of every update. Without it the webhook refuses everything.
``TELEGRAM_API_BASE_URL``: the Bot API (default ``https://api.telegram.org``; tests point it at a recorder).
``TELEGRAM_HTTP_TIMEOUT``: seconds for one Bot API call (default 15).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

DEFAULT_API = "https://api.telegram.org"
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what setWebhook accepts as secret_token
_TOKEN = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,100}$")


@dataclass(frozen=True)
class TelegramSettings:
    bot_token: str
    webhook_secret: str
    api_base_url: str
    http_timeout: float

    def __repr__(self) -> str:  # the token never reaches a log line through a repr
        return f"TelegramSettings(api_base_url={self.api_base_url!r}, token={'set' if self.bot_token else 'unset'})"


def settings() -> TelegramSettings:
    try:
        timeout = float(os.environ.get("TELEGRAM_HTTP_TIMEOUT") or 15)
    except ValueError:
        timeout = 15.0
    return TelegramSettings(bot_token=os.environ.get("TELEGRAM_BOT_TOKEN", "").strip(),
                            webhook_secret=os.environ.get("TELEGRAM_WEBHOOK_SECRET", "").strip(),
                            api_base_url=(os.environ.get("TELEGRAM_API_BASE_URL") or DEFAULT_API).rstrip("/"),
                            http_timeout=timeout if 0 < timeout <= 300 else 15.0)


def problems() -> list[str]:
    """What is wrong with the settings, each naming its variable (none when Telegram is not configured)."""
    s, out = settings(), []
    if not s.bot_token and not s.webhook_secret:
        return out
    if not s.bot_token:
        out.append("TELEGRAM_BOT_TOKEN is not set but TELEGRAM_WEBHOOK_SECRET is")
    elif not _TOKEN.match(s.bot_token):
        out.append("TELEGRAM_BOT_TOKEN is not a bot token (<digits>:<letters>)")
    if not s.webhook_secret:
        out.append("TELEGRAM_WEBHOOK_SECRET is not set: the webhook would refuse every update")
    elif not _SECRET.match(s.webhook_secret):
        out.append("TELEGRAM_WEBHOOK_SECRET may hold only A-Z a-z 0-9 _ - (1-256 characters)")
    if not s.api_base_url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        out.append("TELEGRAM_API_BASE_URL must be https (or a loopback recorder)")
    if "TELEGRAM_HTTP_TIMEOUT" in os.environ:
        try:
            if not 0 < float(os.environ["TELEGRAM_HTTP_TIMEOUT"]) <= 300:
                raise ValueError
        except ValueError:
            out.append("TELEGRAM_HTTP_TIMEOUT is not a number of seconds (0-300)")
    return out
