"""Fixtures for voice/: real speech made with espeak-ng, converted into every format we accept."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.voice.speech import to_amr

EN_TEXT = "My mobile phone was stolen at Rawatpur crossing in Kanpur yesterday evening. Please register my complaint."
HI_TEXT = "कल शाम कानपुर के रावतपुर में मेरा मोबाइल फोन चोरी हो गया। कृपया मेरी शिकायत दर्ज करें।"

needs_tools = pytest.mark.skipif(not all(shutil.which(t) for t in ("espeak-ng", "ffmpeg", "sox")),
                                 reason="espeak-ng, ffmpeg and sox are needed")


def speak(text: str, voice: str, out: Path) -> Path:
    """espeak-ng → WAV."""
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), text], check=True, capture_output=True)
    return out


def ffmpeg(src: Path, out: Path, *args: str) -> Path:
    """Convert with ffmpeg."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *args, str(out)], check=True)
    return out


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def ogg_claiming(data: bytes, hours: float, rate: int = 48000) -> bytes:
    """Rewrite an Ogg file's last granule position (with a valid page CRC) so it claims ``hours``."""
    i = data.rfind(b"OggS")
    page = bytearray(data[i:])
    struct.pack_into("<q", page, 6, int(hours * 3600 * rate))
    struct.pack_into("<I", page, 22, 0)
    crc = 0
    for x in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) & 0xFF) ^ x]
    struct.pack_into("<I", page, 22, crc)
    return data[:i] + bytes(page)


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """English and Hindi speech in each accepted format, plus bad inputs."""
    if not all(shutil.which(t) for t in ("espeak-ng", "ffmpeg", "sox")):
        pytest.skip("espeak-ng, ffmpeg and sox are needed")
    d = tmp_path_factory.mktemp("clips")
    c: dict[str, Path] = {}
    c["en.wav"] = speak(EN_TEXT, "en", d / "en.wav")
    c["hi.wav"] = speak(HI_TEXT, "hi", d / "hi.wav")
    c["en.ogg"] = ffmpeg(c["en.wav"], d / "en.ogg", "-ar", "16000", "-c:a", "libopus", "-b:a", "24k")
    c["hi.ogg"] = ffmpeg(c["hi.wav"], d / "hi.ogg", "-ar", "16000", "-c:a", "libopus", "-b:a", "24k")
    c["en.mp3"] = ffmpeg(c["en.wav"], d / "en.mp3", "-c:a", "libmp3lame")
    c["en.m4a"] = ffmpeg(c["en.wav"], d / "en.m4a", "-c:a", "aac")
    c["en_mulaw.wav"] = ffmpeg(c["en.wav"], d / "en_mulaw.wav", "-ar", "8000", "-ac", "1", "-c:a", "pcm_mulaw")
    c["en.amr"] = to_amr(c["en.wav"], d / "en.amr")
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(d / "silence.wav"), "trim", "0", "3"], check=True)
    c["silence.wav"] = d / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(d / "noise.wav"), "synth", "5", "whitenoise",
                    "vol", "0.3"], check=True)
    c["noise.wav"] = d / "noise.wav"
    ogg = c["en.ogg"].read_bytes()
    (d / "truncated.ogg").write_bytes(ogg[: len(ogg) // 2])
    c["truncated.ogg"] = d / "truncated.ogg"
    (d / "claims10h.ogg").write_bytes(ogg_claiming(ogg, 10))
    c["claims10h.ogg"] = d / "claims10h.ogg"
    (d / "empty.ogg").write_bytes(b"")
    c["empty.ogg"] = d / "empty.ogg"
    (d / "notaudio.ogg").write_bytes(b"<html><body>not audio</body></html>" * 20)
    c["notaudio.ogg"] = d / "notaudio.ogg"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=duration=4:size=320x240:rate=25", "-f", "lavfi", "-i", "sine=duration=4", "-g", "25",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(d / "video.mp4")],
                   check=True)
    c["video.mp4"] = d / "video.mp4"
    return c


@pytest.fixture(scope="session")
def transcriber():
    """The default (faster-whisper) transcriber, loaded once per session."""
    from voice.transcribe import get_transcriber

    return get_transcriber("faster-whisper")
