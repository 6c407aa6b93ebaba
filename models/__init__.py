"""SQLAlchemy 2.0 models and the database session. Imports nothing of Bharosa's own."""

from models.base import Base, utcnow
from models.db import Database, db
from models.tables import (
    MAX_ID,
    Attachment,
    Citizen,
    Complaint,
    ConsoleSession,
    Conversation,
    Event,
    Feedback,
    Message,
    Note,
    Officer,
    Outbox,
    Posting,
    Station,
    WorkerState,
)

__all__ = [
    "MAX_ID", "Attachment", "Base", "Citizen", "Complaint", "ConsoleSession", "Conversation", "Database", "Event",
    "Feedback", "Message", "Note", "Officer", "Outbox", "Posting", "Station", "WorkerState", "db", "utcnow",
]
