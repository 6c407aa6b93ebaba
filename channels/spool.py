"""The local spool: inbound messages kept on disk while the database is down, replayed when it returns.

Each node replays its own spool (the worker's loop calls :func:`replay`). A file is removed only
after its message has been committed, and processing is idempotent on the message sid.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from datetime import datetime
from pathlib import Path

from channels.base import Incoming
from zone import settings

log = logging.getLogger(__name__)


def spool_dir() -> Path:
    d = settings.get().spool_dir
    d.mkdir(parents=True, exist_ok=True)
    return d


def save(msg: Incoming) -> Path:
    """Write one message durably (fsync, then an atomic rename)."""
    d = spool_dir()
    data = dataclasses.asdict(msg)
    data["at"] = msg.at.isoformat() if msg.at else None
    name = re.sub(r"[^A-Za-z0-9_-]", "_", msg.sid)[:80]
    tmp = d / f".{name}.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    final = d / f"{name}.json"
    if final.exists():  # Twilio's retry of a message already spooled: keep the first, and its place in line
        tmp.unlink()
        return final
    os.replace(tmp, final)
    return final


def _arrival(path: Path) -> tuple[int, str]:
    try:
        return path.stat().st_mtime_ns, path.name
    except OSError:
        return 0, path.name


def pending() -> list[Path]:
    """Spooled files in the order they arrived (a citizen's answers must reach the engine in order)."""
    return sorted(spool_dir().glob("*.json"), key=_arrival)


def replay(limit: int = 200) -> int:
    """Process spooled messages in order; stops at the first database error. Returns how many."""
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError

    from channels.inbound import process
    from models import Message, db

    n = 0
    for path in pending()[:limit]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data["at"] = datetime.fromisoformat(data["at"]) if data.get("at") else None
            data["media"] = [tuple(m) for m in data.get("media") or []]
            msg = Incoming(**data)
        except (ValueError, TypeError):
            log.error("spool: unreadable file %s moved aside", path)
            path.rename(path.with_suffix(".bad"))
            continue
        try:
            with db.session() as s:
                # The citizen got an apology when this arrived; the replies are queued as a follow-up.
                # Already stored: Twilio's retry was answered in TwiML, or an earlier replay queued them.
                stored = s.scalar(select(Message.id).where(Message.sid == msg.sid)) is not None
                texts = [] if stored else process(s, msg, limit=False)
                if texts:
                    from channels.followup import queue_followup

                    queue_followup(s, msg, texts)
        except OperationalError:
            return n
        except Exception:  # a bug, not an outage: keep the file for an operator, go on with the rest
            log.exception("spool: %s failed; kept as .error", path.name)
            path.rename(path.with_suffix(".error"))
            continue
        path.unlink()
        n += 1
    return n
