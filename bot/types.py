"""The dialogue engine's contract with the channels: what comes in, what goes out.

Nothing here knows about Twilio or HTTP. A channel turns its request into an :class:`Inbound`,
calls :func:`bot.engine.handle`, and shows the :class:`Reply` list its own way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass
class Media:
    """An attachment the citizen sent; ``kind`` is image, audio, video or document."""

    kind: str
    content_type: str = ""
    attachment_id: int | None = None


@dataclass
class Inbound:
    """One message from a citizen, whatever the channel.

    ``kind`` is ``text``, ``transcript`` (speech turned into text, with ``confidence`` and
    ``language``), ``location`` (``lat``/``lon``), ``media`` or ``button`` (``button`` holds the id).
    """

    channel: str
    at: datetime
    text: str = ""
    kind: str = "text"
    confidence: float | None = None
    language: str | None = None
    lat: float | None = None
    lon: float | None = None
    media: list[Media] = field(default_factory=list)
    button: str | None = None
    phone: str | None = None


@dataclass
class Button:
    id: str
    title: str


@dataclass
class Reply:
    """A reply: text and optional buttons (shown as numbered text where a channel has none)."""

    text: str
    buttons: list[Button] = field(default_factory=list)
    listed: bool = False  # the text already lists the buttons by number (a registered SMS template)

    def as_text(self) -> str:
        """The reply with its buttons as numbered text ("1. हाँ  2. नहीं")."""
        if not self.buttons or self.listed:
            return self.text
        opts = "  ".join(f"{i}. {b.title}" for i, b in enumerate(self.buttons, 1))
        return f"{self.text}\n{opts}"


@dataclass
class ComplaintDraft:
    """A finished complaint handed from the engine to ticket registration.

    Fields the citizen could not give are None; the 1 Number cell completes them.
    """

    description: str
    language: str = "hi"
    category: str | None = None
    district: str | None = None
    place: str | None = None
    station_code: str | None = None
    lat: float | None = None
    lon: float | None = None
    incident_at: datetime | None = None
    incident_text: str | None = None
    complainant_name: str | None = None
    confidential: bool = False
    emergency: bool = False
    needs_interpreter: bool = False
    attachment_ids: list[int] = field(default_factory=list)
    transcript_confidence: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Turn:
    """What the engine returns for one inbound message."""

    replies: list[Reply]
    state: dict[str, Any]
    complaint: ComplaintDraft | None = None
    handoff: bool = False
    language: str = "hi"


class TicketView(Protocol):
    """What the engine may learn about the citizen's own tickets (given by the caller)."""

    def my_tickets(self) -> list[dict[str, Any]]:
        """The citizen's tickets, newest first: dicts with ref, status, station, officer, due_at."""

    def find_ticket(self, ref: str) -> dict[str, Any] | None:
        """One of the citizen's own tickets by reference; None if not theirs or not found."""

    def give_feedback(self, ref: str, rating: int, comment: str, level: str | None) -> str:
        """Record a rating 1-5; returns 'ok', 'not_disposed', 'not_found' or 'already'."""
