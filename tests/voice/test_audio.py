"""voice.audio: every accepted format decodes to 16 kHz mono float32; bad input gets a typed reason."""

from __future__ import annotations

import numpy as np
import pytest

from voice.audio import SAMPLE_RATE, AudioLimits, decode, decode_audio
from voice.errors import MediaRejected


@pytest.mark.parametrize("name", ["en.wav", "hi.wav", "en.ogg", "hi.ogg", "en.mp3", "en.m4a", "en_mulaw.wav", "en.amr"])
def test_formats_decode_to_16k_mono_float32(clips, name):
    a = decode(clips[name])
    assert a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert 5.0 < a.duration < 10.0
    assert a.peak > 0.1 and not a.truncated
    assert abs(a.samples.size / SAMPLE_RATE - a.duration) < 1e-6


def test_bytes_and_file_objects(clips):
    data = clips["en.ogg"].read_bytes()
    assert decode_audio(data).size == decode_audio(clips["en.ogg"]).size
    with open(clips["en.ogg"], "rb") as fh:
        assert decode(fh).codec == "opus"


@pytest.mark.parametrize(("name", "reason"), [
    ("empty.ogg", "empty"),
    ("truncated.ogg", "truncated"),
    ("silence.wav", "silent"),
    ("claims10h.ogg", "too_long"),
    ("notaudio.ogg", "not_audio"),
    ("video.mp4", None),  # a video's audio track is fine
])
def test_bad_input_is_rejected_with_a_reason(clips, name, reason):
    if reason is None:
        assert decode(clips[name]).duration > 3
        return
    with pytest.raises(MediaRejected) as e:
        decode(clips[name])
    assert e.value.reason == reason and not e.value.retryable


def test_truncated_can_be_kept(clips):
    a = decode(clips["truncated.ogg"], reject_truncated=False)
    assert a.truncated and a.duration > 1


def test_caps(clips):
    with pytest.raises(MediaRejected) as e:
        decode(clips["en.wav"], limits=AudioLimits(max_bytes=1000))
    assert e.value.reason == "too_large"
    with pytest.raises(MediaRejected) as e:
        decode(clips["en.mp3"], limits=AudioLimits(max_seconds=2))
    assert e.value.reason == "too_long"
    with pytest.raises(MediaRejected) as e:
        decode(clips["en.mp3"], limits=AudioLimits(max_decode_seconds=0))
    assert e.value.reason == "decode_timeout"


def test_limits_from_zone():
    lim = AudioLimits.from_zone()
    assert lim.max_seconds > 0 and lim.max_bytes > 0 and lim.max_decode_seconds > 0
