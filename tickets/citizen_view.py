"""The dialogue engine's window on one citizen's own tickets (``bot.types.TicketView``, implemented here)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from models import Complaint, Posting
from tickets import actions


class CitizenTickets:
    """A citizen's tickets as the engine sees them: the last few, one by reference, and rating one.

    ``citizen`` is anything with the citizen's ``id`` and ``phone`` (a Citizen row, or the conversation
    store's :class:`models.conversations.OpenTurn`): tickets filed for that phone number by another
    channel are the citizen's too.
    """

    def __init__(self, session: Session, citizen: Any) -> None:
        self.s, self.citizen = session, citizen

    def _row(self, c: Complaint) -> dict[str, Any]:
        st = c.station
        officer = None
        if c.assigned_posting_id:
            p = self.s.get(Posting, c.assigned_posting_id)
            if p is not None:
                officer = {"name": p.officer.name, "phone": p.phone or p.officer.phone}
        return {"ref": c.ref, "status": c.status, "station": st.name_en if st else None,
                "station_hi": st.name_hi if st else None, "officer": officer, "due_at": c.due_at,
                "outcome": c.outcome, "registered_at": c.registered_at, "category": c.category}

    def _mine(self):
        cond = Complaint.citizen_id == self.citizen.id
        if self.citizen.phone:
            cond = cond | (Complaint.phone == self.citizen.phone)
        return select(Complaint).where(cond)

    def my_tickets(self) -> list[dict[str, Any]]:
        return [self._row(c) for c in self.s.scalars(self._mine().order_by(desc(Complaint.registered_at)).limit(5))]

    def find_ticket(self, ref: str) -> dict[str, Any] | None:
        c = self.s.scalar(self._mine().where(Complaint.ref == (ref or "").strip().upper()))
        return self._row(c) if c else None

    def give_feedback(self, ref: str, rating: int, comment: str, level: str | None) -> str:
        c = self.s.scalar(self._mine().where(Complaint.ref == (ref or "").strip().upper()))
        if c is None:
            return "not_found"
        return actions.rate(self.s, c, rating, comment, level, actor="citizen")
