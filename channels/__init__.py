"""One module per channel; ``CHANNELS`` is the registry ``create_app`` loops over.

A new channel is one module with ``NAME``, a blueprint ``bp`` and ``parse(form)``, one line here,
a fixtures folder under tests/fixtures/<name>/ and a case table.
"""

from __future__ import annotations

import importlib

# name -> module. Order is irrelevant; each module registers its own routes.
CHANNELS: dict[str, str] = {
    "sms": "channels.sms",
    "whatsapp": "channels.whatsapp",
    "voice": "channels.voice",
    "telegram": "channels.telegram",
}
# Blueprints that belong to no single channel.
SHARED: list[str] = ["channels.status", "channels.simulator"]


def blueprints():
    """Yield every channel's blueprint and the shared ones."""
    for mod in list(CHANNELS.values()) + SHARED:
        yield importlib.import_module(mod).bp


def settings_problems() -> list[str]:
    """Every channel's own start-up check (a module's ``check_settings()``), each problem naming its variable."""
    out: list[str] = []
    for mod in CHANNELS.values():
        check = getattr(importlib.import_module(mod), "check_settings", None)
        out.extend(check() if check else [])
    return out
