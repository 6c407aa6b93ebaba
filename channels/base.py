"""What every channel module shares: the parsed inbound message and the webhook's common steps."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

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
    phone: str | None = None  # the sender's number, when the channel knows it (for SMS alerts)
    profile_name: str | None = None
    body: str = ""
    kind: str = "text"  # text, location, media, button, transcript
    lat: float | None = None
    lon: float | None = None
    media: list[tuple[str, str]] = field(default_factory=list)  # (url, claimed content type)
    button: str | None = None
    at: datetime | None = None
    raw: dict = field(default_factory=dict)
    confidence: float | None = None  # kind 'transcript': the transcriber's confidence 0..1
    language: str | None = None  # kind 'transcript': the spoken language (hi, en)
    # The sender's address (``scheme:path``: ``tel:+91…``, ``whatsapp:<id>``, ``telegram:<chat id>``), as the
    # contact table writes it: the citizen is found by it.
    address: str | None = None
    # The engine's name for this kind of conversation when it differs from ``channel`` (Telegram: "whatsapp",
    # a chat whose citizen may have no phone number, asked once for one).
    engine_channel: str | None = None

    @property
    def chat(self) -> str | None:
        """The address of the chat this came from, answered there (None for an SMS: a number, not a chat)."""
        return reply_chat(self.address)


def reply_chat(address: str | None) -> str | None:
    """``address`` when it is a chat (``whatsapp:…``, ``telegram:…``), None for a phone number (``tel:…``)."""
    return address if address and not address.startswith("tel:") else None


def address_of(channel: str, from_addr: str | None) -> str | None:
    """A stored message's sender as an address: chats store theirs (``whatsapp:…``), SMS a bare number."""
    if not from_addr:
        return None
    if from_addr.startswith("+"):
        return f"tel:{from_addr}"
    return from_addr if ":" in from_addr else None






MAX_MEDIA = 10  # Twilio sends at most 10 attachments per message


def parse_media(form: dict[str, str]) -> list[tuple[str, str]]:
    """The (MediaUrlN, MediaContentTypeN) pairs of a Twilio form.

    Raises:
        BadRequest: NumMedia is not a small non-negative number.
    """
    raw = (form.get("NumMedia") or "0").strip()
    if not raw.isdigit() or int(raw) > 100:
        raise BadRequest("NumMedia is not a number")
    media = []
    for i in range(min(int(raw), MAX_MEDIA)):
        url = (form.get(f"MediaUrl{i}") or "").strip()
        if url:
            if len(url) > 1000:
                raise BadRequest(f"MediaUrl{i} too long")
            media.append((url, (form.get(f"MediaContentType{i}") or "")[:100]))
    return media


def message_sid(form: dict[str, str]) -> str:
    """The MessageSid (or its older SmsSid/SmsMessageSid spellings).

    Raises:
        BadRequest: missing, too long, or not a plain token.
    """
    sid = (form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid") or "").strip()
    if not sid or len(sid) > 64 or not sid.replace("_", "").replace("-", "").isalnum():
        raise BadRequest("MessageSid missing or malformed")
    return sid


def raw_form(form: dict[str, str]) -> dict[str, str]:
    """The form as stored with the message (Body lives in its own column)."""
    # NUL removed: PostgreSQL's JSON cannot hold it, and the message would be spooled for ever.
    return {k.replace("\x00", ""): v[:1000].replace("\x00", "") for k, v in form.items() if k != "Body"}
