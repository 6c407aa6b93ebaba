"""What every channel module shares: the parsed inbound message and the webhook's common steps."""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers

log = logging.getLogger(__name__)


class BadRequest(ValueError):
    """A malformed webhook request: answered 400 with this reason."""


@dataclass
class Incoming:
    """A provider's inbound message, parsed; channel-agnostic."""

    sid: str
    channel: str
    from_addr: str
    to_addr: str = ""
    phone: str | None = None
    wa_id: str | None = None
    profile_name: str | None = None
    body: str = ""
    kind: str = "text"  # text, location, media, button, transcript
    lat: float | None = None
    lon: float | None = None
    media: list[tuple[str, str]] = field(default_factory=list)  # (url, claimed content type)
    button: str | None = None
    at: datetime | None = None
    raw: dict = field(default_factory=dict)


def clean_text(s: str | None, limit: int = 5000) -> str:
    """Text as the citizen wrote it: NFC, NUL and other C0 controls (but newline/tab) removed, capped."""
    if not s:
        return ""
    s = unicodedata.normalize("NFC", s)
    s = "".join(ch for ch in s if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return s[:limit]


def normalise_phone(raw: str | None, region: str = "IN") -> str | None:
    """E.164 for a phone number, or None when it is not one."""
    if not raw:
        return None
    raw = raw.strip()
    if raw.startswith("whatsapp:"):
        raw = raw[len("whatsapp:"):]
    try:
        num = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
