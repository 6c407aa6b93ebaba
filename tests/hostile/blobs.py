"""Hostile media bytes for the corpus (``media_bombs.yaml`` names these generators with their args)."""

from __future__ import annotations

import io
import struct
import subprocess
import tempfile
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header(w: int, h: int) -> bytes:
    """A PNG whose IHDR claims w×h, with a tiny IDAT (a decompression bomb's header)."""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + _chunk(b"IEND", b""))


def gif_header(w: int, h: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", w, h) + b"\x00\x00\x00" + b"\x3b"


def jpeg_header(w: int, h: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def webp_vp8x(w: int, h: int) -> bytes:
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (w - 1).to_bytes(3, "little") \
        + (h - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def raw(text: str) -> bytes:
    """The string's code points as bytes (YAML cannot hold raw bytes; every code point here is < 256)."""
    return text.encode("latin-1")


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb.txt", b"\x00" * 2_000_000)  # 2 MB of zeros in a few KB
    return buf.getvalue()


def ftyp_then_zip() -> bytes:
    return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + zip_bytes()


def wav_claiming(seconds: int) -> bytes:
    """A WAV header whose data chunk claims ``seconds`` of 8 kHz 16-bit mono; one second actually follows."""
    rate, claimed = 8000, seconds * 8000 * 2
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + claimed) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", claimed) + b"\x10\x00" * rate)


def wav_real(seconds: int) -> bytes:
    """A WAV that really holds ``seconds`` of 8 kHz 8-bit mono (small enough for the byte cap, too long)."""
    n = seconds * 8000
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 8000, 1, 8)
    return (b"RIFF" + struct.pack("<I", 36 + n) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", n) + bytes([128, 200]) * (n // 2))


@lru_cache(maxsize=1)
def real_ogg() -> bytes:
    """Two seconds of Opus in Ogg, made by ffmpeg."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "a.ogg"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
                        "-c:a", "libopus", "-b:a", "16k", str(p)], check=True, timeout=60)
        return p.read_bytes()


def ogg_truncated() -> bytes:
    data = real_ogg()
    return data[: len(data) // 3]


def over_cap(n: int) -> bytes:
    return b"OggS" + b"\x00" * (n - 4)


def make(spec: list) -> bytes:
    """``[name, *args]`` from the corpus → bytes."""
    name, *args = spec
    return globals()[name](*args)
