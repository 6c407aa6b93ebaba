"""Helpers for the citizen web page tests: real image/video bytes, forms, codes from the recorder."""

from __future__ import annotations

import re
import struct
import subprocess
import zlib
from pathlib import Path

from sqlalchemy import func, select

from zone import get_zone

CSRF_RX = re.compile(r'name="csrf" value="([^"]+)"')
CODE_RX = re.compile(r"\b(\d{6})\b")


def png_bytes(w: int = 8, h: int = 6, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real PNG (IHDR, IDAT, IEND with CRCs) of one colour."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def ffmpeg_bytes(out: Path, *args: str) -> bytes:
    """Bytes of a file made by ffmpeg from a lavfi source (a real JPEG, a real MP4)."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args, str(out)], check=True, timeout=60)
    return out.read_bytes()


def csrf_of(html: str) -> str:
    m = CSRF_RX.search(html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def get_csrf(client, path: str = "/complaint") -> str:
    r = client.get(path)
    assert r.status_code == 200
    return csrf_of(r.get_data(as_text=True))


def latest_code(recorder, phone: str) -> str:
    msgs = recorder.to(phone)
    assert msgs, f"no SMS reached {phone}"
    tpl = get_zone().templates["otp"]
    body = msgs[-1]["Body"]
    assert tpl.pattern("hi").match(body) or tpl.pattern("en").match(body), f"OTP SMS off its DLT template: {body!r}"
    return CODE_RX.search(body).group(1)


def count(db, model, *where) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))
