"""Files in the console: storing officers' uploads as evidence and finding stored files on disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from flask import abort
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from console.language import t
from models import Attachment
from voice.media import SNIFF_BYTES, media_dir
from voice.media import sniff as media_sniff
from zone import get_zone


def resolve(path: str | None) -> Path | None:
    """The file of a stored path (absolute, or relative to the media root); None when missing."""
    if not path:
        return None
    p = Path(path)
    if not p.is_absolute():
        p = media_dir() / p
    return p if p.is_file() else None


def kind_of(mime: str) -> str:
    top = mime.split("/", 1)[0]
    return top if top in ("image", "audio", "video") else "document"


def sniff(data: bytes) -> str:
    """The type from the bytes (voice.media's one sniffer, naming every type it knows: an officer's evidence
    may be any file), never from the header the browser sent; else plain text, or bytes kept as they are."""
    hit = media_sniff(data[:SNIFF_BYTES], any_type=True)
    if hit is not None:
        return hit[0]
    try:
        data[:65536].decode("utf-8")
        return "text/plain"
    except UnicodeDecodeError:
        return "application/octet-stream"


def store_uploads(session: Session, files: list[FileStorage], complaint_id: int | None = None) -> list[Attachment]:
    """Store uploaded files (size-capped, sha256, type sniffed) as Attachments. 413 when too many or too big."""
    lim = get_zone().limits
    files = [f for f in files if f and f.filename]
    if len(files) > lim.web_max_files:
        abort(413, t("e_too_many_files", n=lim.web_max_files))
    out = []
    for f in files:
        data = f.stream.read(lim.web_max_file_bytes + 1)
        if len(data) > lim.web_max_file_bytes:
            abort(413, t("e_file_too_large", file=f.filename[:80], mib=lim.web_max_file_bytes // (1024 * 1024)))
        if not data:
            continue
        sha = hashlib.sha256(data).hexdigest()
        mime = sniff(data)
        rel = Path("uploads") / sha[:2] / sha
        dest = media_dir() / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            tmp = dest.with_suffix(".part")
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        att = Attachment(complaint_id=complaint_id, claimed_type=(f.mimetype or "")[:100], mime=mime,
                         kind=kind_of(mime), size=len(data), sha256=sha, path=str(rel), status="stored",
                         source_url="upload:" + f.filename[:200])
        session.add(att)
        out.append(att)
    session.flush()
    return out
