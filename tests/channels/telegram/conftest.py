"""Telegram test fixtures: the Bot API recorder, the channel's settings, a client that signs with the secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TOKEN = "7000000001:AAtestTOKENnot-a-real-one_0123456789"  # noqa: S105
SECRET = "tg-webhook-secret-0123"  # noqa: S105
CHAT = 5512340001
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def bot_api():
    from tests.channels.telegram.recorder import BotApiRecorder

    srv = BotApiRecorder().start()
    yield srv
    srv.stop()


@pytest.fixture
def tg_env(bot_api, settings_env):
    bot_api.clear()
    settings_env(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_WEBHOOK_SECRET=SECRET, TELEGRAM_API_BASE_URL=bot_api.url)
    return bot_api


def update(name: str, **message) -> dict:
    """A real Bot API update from tests/channels/telegram/fixtures/<name>.json; ``message`` keys override."""
    u = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    if message:
        u["message"].update(message)
    return u


class TelegramClient:
    def __init__(self, client) -> None:
        self.client, self.n = client, 734230000

    def post(self, body, *, secret: str | None = SECRET):
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.client.post("/telegram/webhook", data=data, headers=headers, content_type="application/json")

    def say(self, text: str):
        """A fresh text update from the fixture citizen."""
        self.n += 1
        return self.post({**update("text_message", text=text), "update_id": self.n})


@pytest.fixture
def telegram(client, tg_env):
    return TelegramClient(client)
