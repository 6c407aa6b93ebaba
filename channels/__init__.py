"""One folder per channel; ``CHANNELS`` is the registry ``create_app`` and the outbound path loop over.

A channel is a package ``channels/<name>/`` that exports ``NAME``, a blueprint ``bp`` (its webhook,
verified), ``parse`` (the provider's request → :class:`channels.base.Incoming`) and, when it sends,
``send(to, body, *, from_, callback, dlt_id, extra) -> (provider_id, status)``; optionally a ``settings.py``
registering its variables with :mod:`zone.settings` (see :func:`register_settings`). It is one line here, its tests
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
    "web": "channels.web",
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


def register_settings() -> None:
    """Import every channel, so that each registers its own settings section (``channels/<name>/settings.py``,
    through ``zone.settings.register``) before an entry point loads the settings."""
    for mod in CHANNELS.values():
        importlib.import_module(mod)
