"""Decode any voice note or call recording to 16 kHz mono float32, within byte, duration and time caps.

Accepted: OGG/Opus (WhatsApp voice notes), AMR, MP3, M4A/AAC, WAV (PCM and 8 kHz μ-law call
recordings), WebM/3GP/MP4 audio tracks. The type is sniffed from the bytes first (see
:func:`voice.media.sniff`), then PyAV's bundled FFmpeg decodes. Bad input raises
:class:`voice.errors.MediaRejected` with a reason code, never a bare PyAV error.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from voice.errors import DECODE_TIMEOUT, EMPTY, NOT_AUDIO, SILENT, TOO_LARGE, TOO_LONG, TRUNCATED, MediaRejected
from voice.media import sniff

SAMPLE_RATE = 16000
# Below this peak (about -60 dBFS) a clip is treated as silence: nothing to transcribe.
SILENCE_PEAK = 1e-3
MIN_SECONDS = 0.2


@dataclass(frozen=True)
class AudioLimits:
    """Caps applied while decoding.

    Attributes:
        max_bytes: largest input accepted.
        max_seconds: longest audio accepted, whether claimed by the header or found while decoding.
        max_decode_seconds: wall-clock budget for decoding.
    """

    max_bytes: int = 16 * 1024 * 1024
    max_seconds: float = 600.0
    max_decode_seconds: float = 30.0

    @classmethod
    def from_zone(cls) -> AudioLimits:
        """The caps from config.yaml's ``limits`` (media_max_bytes, media_max_seconds, media_decode_seconds)."""
        from zone import get_zone

        lim = get_zone().limits
        return cls(lim.media_max_bytes, lim.media_max_seconds, lim.media_decode_seconds)


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded audio.

    Attributes:
        samples: mono float32 samples at :data:`SAMPLE_RATE`.
        duration: seconds of decoded audio.
        container: the demuxer's format name (``ogg``, ``amr``, ``wav``...).
        codec: the audio codec name (``opus``, ``amrnb``, ``pcm_mulaw``...).
        source_rate: the stream's own sample rate.
        peak: the largest absolute sample.
        truncated: the file ends before its stream does (an Ogg stream without its last page).
    """

    samples: np.ndarray
    duration: float
    container: str
    codec: str
    source_rate: int
    peak: float
    truncated: bool = False


Source = str | os.PathLike | bytes | BinaryIO


def _head(src: Source, n: int = 4096) -> bytes:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src[:n])
    if isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as fh:
            return fh.read(n)
    pos = src.tell()
    data = src.read(n)
    src.seek(pos)
    return data


def _tail(src: Source, n: int = 65536) -> bytes:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src[-n:])
    if isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as fh:
            fh.seek(0, io.SEEK_END)
            fh.seek(max(0, fh.tell() - n))
            return fh.read()
    pos = src.tell()
    src.seek(0, io.SEEK_END)
    src.seek(max(pos, src.tell() - n))
    data = src.read()
    src.seek(pos)
    return data


def ogg_complete(tail: bytes) -> bool:
    """Whether Ogg data ends with a whole page carrying the end-of-stream flag (``tail``: its last bytes)."""
    i = tail.rfind(b"OggS")
    while i >= 0:
        if len(tail) - i >= 27 and tail[i + 4] == 0:
            nseg = tail[i + 26]
            if len(tail) - i >= 27 + nseg:
                size = 27 + nseg + sum(tail[i + 27:i + 27 + nseg])
                return i + size == len(tail) and bool(tail[i + 5] & 0x04)
        i = tail.rfind(b"OggS", 0, i)
    return False


def _open_source(src: Source, max_bytes: int):
    if isinstance(src, (bytes, bytearray, memoryview)):
        size = len(src)
        handle = io.BytesIO(bytes(src))
    elif isinstance(src, (str, os.PathLike)):
        size = Path(src).stat().st_size
        handle = str(src)
    else:
        pos = src.tell()
        src.seek(0, io.SEEK_END)
        size = src.tell() - pos
        src.seek(pos)
        handle = src
    if size == 0:
        raise MediaRejected(EMPTY, "0 bytes")
    if size > max_bytes:
        raise MediaRejected(TOO_LARGE, f"{size} bytes > {max_bytes}")
    return handle


def decode(src: Source, *, limits: AudioLimits | None = None, reject_silence: bool = True,
           reject_truncated: bool = True) -> DecodedAudio:
    """Decode audio to 16 kHz mono float32 with PyAV, enforcing the caps.

    Args:
        src: a path, the bytes, or a binary file object.
        limits: the caps; default :class:`AudioLimits` defaults (use :meth:`AudioLimits.from_zone` for config's).
        reject_silence: raise ``silent`` when the clip has no signal.
        reject_truncated: raise ``truncated`` for a file cut short (else return it with ``truncated=True``).

    Returns:
        The decoded audio.

    Raises:
        MediaRejected: ``empty``, ``too_large``, ``not_audio``, ``truncated``, ``too_long`` (claimed or real),
            ``decode_timeout`` or ``silent``.
    """
    import av

    limits = limits or AudioLimits()
    handle = _open_source(src, limits.max_bytes)
    tail = _tail(src)
    kind = sniff(_head(src))
    if kind is None or kind[1] not in ("audio", "video"):
        raise MediaRejected(NOT_AUDIO, f"sniffed as {kind[0] if kind else 'unknown bytes'}")
    started = time.monotonic()
    try:
        container = av.open(handle, mode="r", metadata_errors="ignore",
                            options={"probesize": "5000000", "analyzeduration": "5000000"})
    except av.error.EOFError as e:
        raise MediaRejected(TRUNCATED, f"ends early: {e}") from None
    except av.error.FFmpegError as e:
        raise MediaRejected(NOT_AUDIO, f"unreadable: {e}") from None
    with container:
        streams = container.streams.audio
        if not streams:
            raise MediaRejected(NOT_AUDIO, f"no audio stream in {container.format.name}")
        stream = streams[0]
        claimed = None
        if container.duration is not None:
            claimed = container.duration / av.time_base
        if stream.duration is not None and stream.time_base is not None:
            claimed = max(claimed or 0.0, float(stream.duration * stream.time_base))
        if claimed is not None and claimed > limits.max_seconds:
            raise MediaRejected(TOO_LONG, f"claims {claimed:.0f} s > {limits.max_seconds:.0f} s")
        if stream.codec_context is None:  # e.g. a WAV whose format tag names no codec (found by the fuzzer)
            raise MediaRejected(NOT_AUDIO, "no decoder for this audio stream")
        codec = stream.codec_context.name
        source_rate = stream.codec_context.sample_rate or 0
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        max_samples = int(limits.max_seconds * SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        n = 0
        error: Exception | None = None
        try:
            for frame in container.decode(stream):
                frame.pts = None  # let the resampler keep its own clock (broken timestamps in some AMR/OGG)
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1)
                    chunks.append(arr)
                    n += arr.size
                if n > max_samples:
                    raise MediaRejected(TOO_LONG, f"more than {limits.max_seconds:.0f} s of audio")
                if time.monotonic() - started > limits.max_decode_seconds:
                    raise MediaRejected(DECODE_TIMEOUT, f"decoding took over {limits.max_decode_seconds} s")
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except MediaRejected:
            raise
        except (av.error.FFmpegError, ValueError) as e:
            error = e
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    duration = samples.size / SAMPLE_RATE
    if error is not None and duration < MIN_SECONDS:
        raise MediaRejected(TRUNCATED, f"decode failed: {error}")
    if duration < MIN_SECONDS:
        raise MediaRejected(TRUNCATED if claimed and claimed >= MIN_SECONDS else EMPTY,
                            f"only {duration:.2f} s decoded")
    truncated = error is not None
    if container.format.name == "ogg" and not ogg_complete(tail):
        truncated = True
    if truncated and reject_truncated:
        raise MediaRejected(TRUNCATED, f"cut short after {duration:.1f} s" + (f" ({error})" if error else ""))
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if reject_silence and peak < SILENCE_PEAK:
        raise MediaRejected(SILENT, f"peak {peak:.2e}")
    return DecodedAudio(samples, duration, container.format.name, codec, source_rate, peak, truncated)


def decode_audio(src: Source, *, limits: AudioLimits | None = None, reject_silence: bool = True) -> np.ndarray:
    """Like :func:`decode`, returning only the 16 kHz mono float32 samples."""
    return decode(src, limits=limits, reject_silence=reject_silence).samples
