"""Fixtures for the voice jobs: real speech from espeak-ng in the formats Twilio delivers, and bad input.

WhatsApp voice notes are OGG/Opus; helpline recordings are 8 kHz μ-law WAV. The Whisper model is
loaded once per test session (faster-whisper, int8, CPU).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

# Spoken complaints whose district and category are said, never typed (chosen so the packaged "base"
# model hears espeak-ng's district names: Lalitpur and Kanpur come through, Jhansi and Etawah do not).
EN_LALITPUR = "Someone stole my mobile phone near the railway station in Lalitpur."
# A helpline recording: what and where are spoken; the district is keyed on the keypad.
EN_CALL = "Someone stole my mobile phone near the railway station yesterday evening."

TOOLS = ("espeak-ng", "ffmpeg", "sox")


def _run(*cmd: str) -> None:
    subprocess.run(list(cmd), check=True, capture_output=True, timeout=120)


def speech(text: str, voice: str, out: Path) -> Path:
    """espeak-ng → 16-bit WAV."""
    _run("espeak-ng", "-v", voice, "-s", "150", "-w", str(out), text)
    return out


def as_mulaw(src: Path, out: Path) -> Path:
    """Like a Twilio call recording: 8 kHz mono μ-law WAV."""
    _run("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-ar", "8000", "-ac", "1", "-c:a", "pcm_mulaw",
         str(out))
    return out


def as_opus(src: Path, out: Path) -> Path:
    """Like a WhatsApp voice note: OGG/Opus, 16 kHz mono."""
    _run("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-ar", "16000", "-ac", "1", "-c:a", "libopus",
         "-b:a", "24k", str(out))
    return out


@pytest.fixture(scope="session")
def voice_clips(tmp_path_factory) -> dict[str, bytes]:
    """Name → bytes: speech in Twilio's formats, noise, silence, and broken files."""
    if not all(shutil.which(t) for t in TOOLS):
        pytest.skip("espeak-ng, ffmpeg and sox are needed")
    d = tmp_path_factory.mktemp("voice_jobs")
    c: dict[str, Path] = {}
    lal = speech(EN_LALITPUR, "en", d / "lalitpur.wav")
    c["lalitpur.ogg"] = as_opus(lal, d / "lalitpur.ogg")
    c["call_mulaw.wav"] = as_mulaw(speech(EN_CALL, "en", d / "call.wav"), d / "call_mulaw.wav")
    _run("sox", "-n", "-r", "16000", "-c", "1", str(d / "noise.wav"), "synth", "6", "brownnoise", "vol", "0.5")
    c["noise.ogg"] = as_opus(d / "noise.wav", d / "noise.ogg")
    _run("sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(d / "silent_mulaw.wav"), "trim", "0", "4")
    c["silent_mulaw.wav"] = d / "silent_mulaw.wav"
    _run("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=4:size=320x240:rate=25",
         "-i", str(lal), "-g", "25", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         "-shortest", str(d / "sign.mp4"))
    c["sign.mp4"] = d / "sign.mp4"
    _run("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=3:size=320x240:rate=25",
         "-g", "25", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(d / "mute.mp4"))
    c["mute.mp4"] = d / "mute.mp4"
    out = {k: v.read_bytes() for k, v in c.items()}
    ogg = out["lalitpur.ogg"]
    out["truncated.ogg"] = ogg[: len(ogg) // 2]
    out["empty.ogg"] = b""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("video.mp4", b"not really a video" * 100)
    out["zip"] = buf.getvalue()
    from tests.voice.conftest import ogg_claiming

    out["claims10h.ogg"] = ogg_claiming(ogg, 10)
    return out


@pytest.fixture(scope="session")
def whisper():
    """The process-wide transcriber, loaded once per session (the jobs use the same instance)."""
    from voice.transcribe import get_transcriber

    return get_transcriber()


@pytest.fixture
def media_dir(tmp_path, settings_env):
    """Attachments stored under the test's own folder."""
    settings_env(BHAROSA_MEDIA_DIR=tmp_path / "media")
    return tmp_path / "media"
