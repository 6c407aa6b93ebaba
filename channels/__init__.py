"""One folder per channel; ``CHANNELS`` is the registry ``create_app`` and the outbound path loop over.

A channel is a package ``channels/<name>/`` that exports ``NAME``, a blueprint ``bp`` (its webhook,
verified), ``parse`` (the provider's request → :class:`channels.base.Incoming`) and, when it sends,
``send(to, body, *, from_, callback, dlt_id, extra) -> (provider_id, status)``; optionally
``check_settings()`` (its start-up problems, each naming its variable). It is one line here, its tests
and fixtures are ``tests/channels/<name>/`` (fixtures in ``fixtures/``), and no channel imports another.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

# name -> package. Order is irrelevant; each channel registers its own routes.
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


def send_for(name: str) -> Callable[..., tuple[str, str]] | None:
    """The channel's ``send`` (None for an unknown channel or one that only receives, as the helpline)."""
    mod = CHANNELS.get(name)
    return getattr(importlib.import_module(mod), "send", None) if mod else None


def settings_problems() -> list[str]:
    """Every channel's own start-up check (a module's ``check_settings()``), each problem naming its variable."""
    out: list[str] = []
    for mod in CHANNELS.values():
        check = getattr(importlib.import_module(mod), "check_settings", None)
        out.extend(check() if check else [])
    return out
