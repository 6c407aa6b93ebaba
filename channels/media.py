"""The 'media' outbox job: download one inbound attachment safely, check it, and keep it as evidence.

``process_media(session, row)`` runs for each Attachment that ``channels.inbound.process`` stored
(outbox kind ``media``, payload ``{attachment_id}``). The download follows docs/architecture.md's media rules through
:func:`voice.media.fetch` (only the ``TWILIO_API_BASE_URL`` origin, with credentials, or Twilio's
media CDN, without; every redirect checked; private addresses refused; a size cap; the type sniffed
from the bytes), then :func:`voice.media.probe` checks duration and frame size. The file is stored
under ``var/media/`` (``BHAROSA_MEDIA_DIR``) named by its sha256. Voice notes and videos get an
outbox row ``transcribe`` for the voice worker. A rejected file is marked ``rejected`` with its
reason and the citizen gets a polite message; the complaint itself is never held back by media.
"""

from __future__ import annotations

import logging
import os

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels import twilio as tw
from channels.followup import answer
from models import Attachment, Citizen, Message, Outbox
from tasks import outbox as ob
from voice.media import media_dir
from zone import messages

log = logging.getLogger(__name__)

REJECTED = messages.section("media_rejected")




def _reject(session: Session, att: Attachment, reason: str, detail: str) -> None:
    att.status, att.reject_reason = "rejected", f"{reason}: {detail}"[:200]
    log.info("attachment %s rejected: %s %s", att.id, reason, detail)
    msg = session.get(Message, att.message_id) if att.message_id else None
    if msg is None:
        return
    cit = session.get(Citizen, msg.citizen_id) if msg.citizen_id else None
    lang = cit.language if cit is not None and cit.language in ("hi", "en") else "hi"
    text = REJECTED.get(reason, REJECTED["default"])[lang]
    answer(session, f"media_rejected:{att.id}", msg, cit, text, lang)


def process_media(session: Session, row: Outbox) -> None:
    """Download, sniff, probe and store one attachment (the rq job for outbox kind ``media``).

    Idempotent: an attachment no longer ``pending`` is left alone; the file name is its sha256.

    Raises:
        voice.errors.FetchFailed: a transient network or 5xx failure (``retryable``: rq retries).
    """
    from voice.errors import MediaRejected
    from voice.media import ProbeLimits, fetch, probe
    from zone import get_zone

    att = session.get(Attachment, row.payload["attachment_id"])
    if att is None or att.status != "pending":
        return
    limits = get_zone().limits
    try:
        got = fetch(att.source_url or "", media_dir() / "incoming", api_base_url=tw.api_base_url(),
                    auth=tw.credentials(), max_bytes=limits.media_max_bytes)
    except MediaRejected as exc:
        _reject(session, att, exc.reason, exc.detail)
        return
    try:
        pr = probe(got.path, limits=ProbeLimits.from_zone())
    except MediaRejected as exc:
        got.path.unlink(missing_ok=True)
        _reject(session, att, exc.reason, exc.detail)
        return
    final = media_dir() / got.sha256[:2] / got.path.name
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(got.path, final)
    att.path, att.sha256, att.size, att.mime, att.kind = str(final), got.sha256, got.size, pr.mime, pr.kind
    att.duration = pr.duration
    att.status = "stored"
    if pr.kind in ("audio", "video"):
        ob.add(session, f"transcribe:{att.id}", "transcribe", {"attachment_id": att.id})


def attachments_of(session: Session, message_id: int) -> list[Attachment]:
    """The attachments of one message, in order."""
    return list(session.scalars(select(Attachment).where(Attachment.message_id == message_id).order_by(Attachment.id)))
