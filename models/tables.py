"""The tables. Personal text lives in Citizen, Message, Attachment and Complaint; never in Event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, JSONType, utcnow

ID = BigInteger().with_variant(Integer(), "sqlite")
# ids given by a client (JSON, a form, a URL) are whole numbers 1..MAX_ID: a bigger one is a 400/404, never an
# OverflowError from the driver (SQLite keeps 64-bit integers; JSON clients keep 2**53 exactly)
MAX_ID = 2**53


class Citizen(Base):
    """A complainant: one row per phone number; a WhatsApp id without a number gets its own row."""

    __tablename__ = "citizen"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    wa_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(5), default="hi")
    # None: never asked; False: declined SMS alerts; True: phone given for alerts.
    sms_ok: Mapped[bool | None] = mapped_column(Boolean)
    # True after STOP by SMS (until START): no SMS goes to this number; alerts go by WhatsApp template if possible.
    sms_opt_out: Mapped[bool | None] = mapped_column(Boolean)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    last_whatsapp_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(Base):
    """One address of a citizen, ``scheme:path`` as courier's URNs: ``tel:+91…``, ``whatsapp:<id>``,
    ``telegram:<chat id>``. An address belongs to one citizen; a citizen has as many as they used."""

    __tablename__ = "contact"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizen.id"), index=True)
    scheme: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("scheme", "path", name="uq_contact_scheme_path"),)

    @property
    def address(self) -> str:
        return f"{self.scheme}:{self.path}"


class Conversation(Base):
    """The dialogue state of one citizen, shared by every channel they use."""

    __tablename__ = "conversation"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizen.id"), unique=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    channel: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Station(Base):
    """A police station or unit, loaded from data/stations.csv."""

    __tablename__ = "station"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_hi: Mapped[str] = mapped_column(String(120))
    district: Mapped[str] = mapped_column(String(40), index=True)
    circle: Mapped[str] = mapped_column(String(80))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(20), default="thana")
    nodal: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(200), default="")


class Officer(Base):
    """A police officer; what they may see follows from their current postings."""

    __tablename__ = "officer"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    gender: Mapped[str | None] = mapped_column(String(1))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    # The TOTP time-step (unix time // 30) of the last code accepted: a code is good once, for a later step.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    postings: Mapped[list[Posting]] = relationship(back_populates="officer")


class Posting(Base):
    """An officer in a role at a unit for a time; assignments and ratings attach here."""

    __tablename__ = "posting"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officer.id"), index=True)
    # sho, eo, cell, interpreter, admin, or a rank of a chain (co, acp, sp, ig_zone, ...).
    role: Mapped[str] = mapped_column(String(20))
    # Scope: station for sho/eo; circle, district or zone for senior ranks.
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), index=True)
    circle: Mapped[str | None] = mapped_column(String(80))
    district: Mapped[str | None] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    # The API token acts in this posting only (as the console acts in one posting at a time): the posting's
    # end, a transfer or a posting not yet started makes it refused. Only its sha256 is stored.
    api_token_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    # When the API token stops working (issue_tokens sets it from limits.api_token_days); None: no expiry.
    api_token_expires_at: Mapped[datetime | None]
    officer: Mapped[Officer] = relationship(back_populates="postings")
    station: Mapped[Station | None] = relationship()


class Complaint(Base):
    """A ticket. ``due_at`` drives the clock; ``escalation_level`` counts levels above the SHO."""

    __tablename__ = "complaint"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizen.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    # the address its chat is answered at (``whatsapp:…``, ``telegram:…``); None for SMS, calls and the web
    chat_address: Mapped[str | None] = mapped_column(String(80))
    language: Mapped[str] = mapped_column(String(5), default="hi")
    complainant_name: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40), default="unknown")
    district: Mapped[str] = mapped_column(String(40), default="unknown", index=True)
    place: Mapped[str | None] = mapped_column(String(300))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    incident_at: Mapped[datetime | None]
    incident_text: Mapped[str | None] = mapped_column(String(200))
    requested_station: Mapped[str | None] = mapped_column(String(40))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), index=True)
    # received, routed, assigned, disposed, closed (a reopen returns to routed/assigned).
    status: Mapped[str] = mapped_column(String(16), default="received")
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_interpreter: Mapped[bool] = mapped_column(Boolean, default=False)
    # The 1 Number cell must call the citizen back (a helpline call that ended before its complaint was heard).
    needs_callback: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_reroute: Mapped[bool] = mapped_column(Boolean, default=False)
    woman_officer: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_posting_id: Mapped[int | None] = mapped_column(ForeignKey("posting.id"))
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    sla_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None]
    # Next moment the sweep must look at this ticket (reminder, breach, next escalation); NULL when stopped.
    next_check_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    # The level the current SLA started at (a police-conduct complaint starts above the SHO; a bad rating
    # reopens one level up); a breach climbs from here.
    sla_base_level: Mapped[int] = mapped_column(Integer, default=0)
    disposed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(30))
    outcome_number: Mapped[str | None] = mapped_column(String(60))
    closed_at: Mapped[datetime | None]
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"))
    transcript_confidence: Mapped[float | None] = mapped_column(Float)
    erased_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    station: Mapped[Station | None] = relationship()

    __table_args__ = (
        # The sweep claims tickets by next_check_at; its cost follows the due, not the open.
        Index("ix_complaint_next_check", "next_check_at", postgresql_where=text("next_check_at IS NOT NULL")),
        Index("ix_complaint_station_status", "station_id", "status"),
    )


class Message(Base):
    """One message in or out. Inbound rows are unique on the provider's id (MessageSid/CallSid/...)."""

    __tablename__ = "message"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(3))  # in / out
    channel: Mapped[str] = mapped_column(String(16))
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizen.id"), index=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), index=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), index=True)
    from_addr: Mapped[str | None] = mapped_column(String(80))
    to_addr: Mapped[str | None] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16), default="text")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The reply given to this inbound message, so a repeated delivery gets the same answer.
    reply: Mapped[str | None] = mapped_column(Text)
    # Outbound delivery: queued, sending, sent, delivered, read, failed, undelivered, recorded (dev).
    status: Mapped[str] = mapped_column(String(16), default="received")
    error_code: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Attachment(Base):
    """A file that came with a message or was uploaded; kept as evidence with its sha256."""

    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"), index=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), index=True)
    source_url: Mapped[str | None] = mapped_column(String(1000))
    claimed_type: Mapped[str | None] = mapped_column(String(100))
    mime: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str | None] = mapped_column(String(16))  # image, audio, video, document
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(String(500))
    duration: Mapped[float | None] = mapped_column(Float)
    # pending, stored, rejected, transcribed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    transcript: Mapped[str | None] = mapped_column(Text)
    transcript_language: Mapped[str | None] = mapped_column(String(5))
    transcript_confidence: Mapped[float | None] = mapped_column(Float)
    keyframes_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """One change or view of a ticket: who, what, when. Never personal text."""

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(80))  # system, citizen, officer:<id>, worker
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Note(Base):
    """An officer's case note on a ticket (personal text: kept out of Event, erased by retention)."""

    __tablename__ = "note"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text, default="")
    attachment_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    """A citizen's rating of a disposed ticket, addressed to a senior level."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), index=True)
    posting_id: Mapped[int | None] = mapped_column(ForeignKey("posting.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    addressed_to: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Outbox(Base):
    """Work for the worker, written in the same transaction as the data it concerns.

    ``key`` makes a piece of work unique (e.g. ``route:42``, ``sms:registered:42``), so writing it
    twice is harmless.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # pending → enqueued → (sending →) done | failed
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    provider_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_outbox_open", "status", "enqueued_at", postgresql_where=text("status IN ('pending','enqueued')")),
    )


class WorkerState(Base):
    """Heartbeats of worker loops (relay, sweep, rq worker), readable without Redis."""

    __tablename__ = "worker_state"
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(default=utcnow)
    info: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)



class LoginThrottle(Base):
    """Failed sign-ins per (username, IP): an exponential delay, never a lock-out of the account."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of username + IP
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleSession(Base):
    """A signed-in console session: the cookie carries only a random id whose sha256 is ``sid_hash``.

    Logging out, an idle timeout or a password change ends it on the server, so a copied cookie is
    worth nothing afterwards.
    """

    __tablename__ = "console_session"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officer.id"), index=True)
    posting_id: Mapped[int] = mapped_column(ForeignKey("posting.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class ApiKey(Base):
    """A key for other civic software on the Open311 API; only its sha256 is stored."""

    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatDaily(Base):
    """Dashboard aggregates: one row per (registration day, district, station, channel), kept up to date
    by ``tickets.stats.on_event`` so the dashboard never scans tickets."""

    __tablename__ = "stat_daily"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    day: Mapped[str] = mapped_column(String(10))  # local date, YYYY-MM-DD
    district: Mapped[str] = mapped_column(String(40))
    station_id: Mapped[int] = mapped_column(Integer, default=0)  # 0: not routed yet
    channel: Mapped[str] = mapped_column(String(16))
    received: Mapped[int] = mapped_column(Integer, default=0)
    disposed: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    in_sla: Mapped[int] = mapped_column(Integer, default=0)
    fir: Mapped[int] = mapped_column(Integer, default=0)
    esc1: Mapped[int] = mapped_column(Integer, default=0)
    esc2: Mapped[int] = mapped_column(Integer, default=0)
    esc3: Mapped[int] = mapped_column(Integer, default=0)
    esc4: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("uq_stat_daily_key", "day", "district", "station_id", "channel", unique=True),
        Index("ix_stat_daily_station", "station_id", "day"),
    )


class StatPosting(Base):
    """Dashboard aggregates per posting (the enquiry officer a ticket was assigned to)."""

    __tablename__ = "stat_posting"
    posting_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[int] = mapped_column(Integer, default=0, index=True)
    disposed: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)


class ComplaintStat(Base):
    """What one ticket currently contributes to the aggregates, so a change is applied as a delta."""

    __tablename__ = "complaint_stat"
    complaint_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contrib: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class WebPending(Base):
    """A citizen web page request waiting for its phone's one-time code: nothing is registered until then.

    ``purpose`` is file, video or track; ``data`` holds the form and the uploaded files (file/video) or
    the reference (track) and is emptied once the complaint is registered. Only hashes of the code and
    of the browser's token are kept.
    """

    __tablename__ = "web_pending"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(8))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    language: Mapped[str] = mapped_column(String(5), default="hi")
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[datetime | None]
    tries: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    sends: Mapped[int] = mapped_column(Integer, default=0)
    last_sent_at: Mapped[datetime | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaint.id"))
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
