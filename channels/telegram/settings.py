"""Telegram's settings: its section of the one settings object (:mod:`zone.settings`), registered on import.

``TELEGRAM_BOT_TOKEN``: the bot's token from @BotFather (secret: never logged, never stored).
``TELEGRAM_WEBHOOK_SECRET``: the ``secret_token`` given to ``setWebhook``; Telegram sends it back in the
``X-Telegram-Bot-Api-Secret-Token`` header of every update. Without it the webhook refuses everything.
``TELEGRAM_API_BASE_URL``: the Bot API (default ``https://api.telegram.org``; tests point it at a recorder).
``TELEGRAM_HTTP_TIMEOUT``: seconds for one Bot API call (default 15).

``zone.settings.load()`` parses and checks them with every other setting (a bad one stops start-up in
production, naming it); :func:`settings` is what was loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zone import settings as zone_settings
from zone.settings import Var, seconds, url

SECTION = "telegram"
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


def _token(raw: str) -> str:
    if not _TOKEN.match(raw):
        raise ValueError("not a bot token (<digits>:<letters>)")
    return raw


def _secret(raw: str) -> str:
    if not _SECRET.match(raw):
        raise ValueError("may hold only A-Z a-z 0-9 _ - (1-256 characters)")
    return raw


FIELDS = (
    Var("TELEGRAM_BOT_TOKEN", _token, "", "the bot's token from @BotFather (never logged, never stored)",
        secret=True, attr="bot_token"),
    Var("TELEGRAM_WEBHOOK_SECRET", _secret, "", "the secret_token given to setWebhook (unset: the webhook "
        "refuses every update)", secret=True, attr="webhook_secret"),
    Var("TELEGRAM_API_BASE_URL", url("https", "http", loopback_http=True), DEFAULT_API,
        "the Bot API (tests point it at a local recorder)", attr="api_base_url"),
    Var("TELEGRAM_HTTP_TIMEOUT", seconds(300), 15.0, "seconds for one Bot API call", attr="http_timeout"),
)


def problems(s: TelegramSettings, is_set) -> list[str]:
    """What is wrong between the variables, each naming its variable (nothing when Telegram is not configured).

    ``is_set(name)``: whether the environment sets the variable (a bad token is set, though its value is not kept).
    """
    token, secret = is_set("TELEGRAM_BOT_TOKEN"), is_set("TELEGRAM_WEBHOOK_SECRET")
    if secret and not token:
        return ["TELEGRAM_BOT_TOKEN: not set, but TELEGRAM_WEBHOOK_SECRET is"]
    if token and not secret:
        return ["TELEGRAM_WEBHOOK_SECRET: not set: the webhook would refuse every update"]
    return []


zone_settings.register(SECTION, FIELDS, build=TelegramSettings, check=problems)


def settings() -> TelegramSettings:
    """Telegram's settings, as the process loaded them."""
    return zone_settings.get().section(SECTION)
