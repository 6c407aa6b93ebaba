"""The stale-call sweep: a call whose end Twilio never reported is handed on with what the caller gave."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, literal, select

from channels.voice.call import maybe_queue, save_state, state_of
from models import Message, Outbox, db, utcnow
from zone import get_zone

log = logging.getLogger(__name__)

# A call still open this long after its first request has ended without Twilio telling us (the call
# status callback not configured, or lost): longer than any call this IVR can make.
STALE_AFTER = timedelta(minutes=30)


def sweep_stale_calls(now: datetime | None = None, limit: int = 200) -> int:
    """Hand on calls whose end was never reported, with what the caller gave; returns how many.

    Such a call would otherwise wait forever for the status callback: the keyed district, the caller's
    number and any recording already noted go to the ``recording`` job like an ended call's (a call-back
    ticket when there is no recording). Run by the worker's loop; safe on several nodes at once (rows are
    claimed with ``SKIP LOCKED`` on PostgreSQL, and the job's outbox key is unique per call).
    """
    now = now or utcnow()
    cutoff = now - STALE_AFTER - timedelta(seconds=get_zone().voice.max_record_seconds)
    queued = exists().where(Outbox.key == literal("recording:").concat(Message.sid))
    q = (select(Message).where(Message.kind == "call", Message.direction == "in", Message.complaint_id.is_(None),
                               Message.created_at < cutoff, Message.created_at > now - timedelta(days=7), ~queued)
         .order_by(Message.id).limit(limit))
    n = 0
    with db.session() as s:
        if s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        for row in s.scalars(q).all():
            st = state_of(row)
            if not st.get("ended_at"):
                st["ended_at"], st["call_status"] = now.isoformat(), "unreported"
            st.setdefault("alert_phone", st.get("caller"))
            if not st.get("recording_ready"):  # its callback would have come long ago: go with what is noted
                st["recording_expected"] = False
            if maybe_queue(s, row, st):
                n += 1
                log.warning("call %s: no end reported after %s; handed on with what was given", row.sid, STALE_AFTER)
            save_state(row, st)
    return n
