"""voice.transcribe: real espeak-ng speech, language limited to hi/en, confidence, both backends."""

from __future__ import annotations

import importlib.util

import pytest

from voice.audio import decode
from voice.transcribe import Transcript, get_transcriber, pick_language, segment_confidence


def test_english_clip(transcriber, clips):
    t = transcriber.transcribe(clips["en.ogg"])
    assert isinstance(t, Transcript) and t.language == "en" and t.backend == "faster-whisper"
    assert "mobile" in t.text.lower() and "complaint" in t.text.lower()
    assert t.confidence > 0.4 and 5 < t.duration < 10


def test_hindi_clip_is_detected_as_hindi(transcriber, clips):
    t = transcriber.transcribe(decode(clips["hi.wav"]).samples)
    assert t.language == "hi"
    assert t.language in ("hi", "en")


def test_noise_takes_the_low_confidence_path(transcriber, clips):
    from zone import get_zone

    t = transcriber.transcribe(decode(clips["noise.wav"]).samples)
    assert t.confidence < get_zone().conversation.low_confidence
    assert t.language in ("hi", "en")


def test_singleton():
    assert get_transcriber() is get_transcriber("faster-whisper")
    with pytest.raises(ValueError):
        get_transcriber("nope")


def test_pick_language_is_limited_to_the_configured_ones():
    probs = {"ur": 0.6, "hi": 0.1, "en": 0.05, "de": 0.25}
    assert pick_language(probs, ("hi", "en"), {})[0] == "hi"
    lang, p, share = pick_language({"de": 0.9, "en": 0.08, "hi": 0.0002}, ("hi", "en"), {"hi": 100})
    assert lang == "en" and share < 0.2
    assert pick_language({"en": 0.9, "hi": 0.001}, ("hi", "en"), {"hi": 100})[0] == "en"


def test_segment_confidence_empty():
    assert segment_confidence(()) == 0.0


@pytest.mark.skipif(importlib.util.find_spec("whisper") is None, reason="openai-whisper extra not installed")
def test_openai_backend_batched_path_on_cpu(clips):
    from voice.transcribe import OpenAIWhisperTranscriber

    t = OpenAIWhisperTranscriber(device="cpu", beam_size=1)
    en, hi = decode(clips["en.wav"]).samples, decode(clips["hi.wav"]).samples
    out = t.transcribe_many([en, hi], batched=True, batch_size=2)
    assert [x.language for x in out] == ["en", "hi"]
    assert "mobile" in out[0].text.lower() and out[0].extra["batched"]
    assert 0 <= out[1].confidence <= 1


def test_hindi_decoding_suppresses_other_scripts():
    from voice.transcribe import _foreign, suppress_for

    assert _foreign("ملیں".encode()) and _foreign("கண்".encode()) and _foreign("বাং".encode())
    assert not _foreign("चोरी".encode()) and not _foreign(b" Kanpur") and not _foreign("café…".encode())
    assert not _foreign(b"\xe0")  # a lone lead byte could still become Devanagari
    assert suppress_for("hi", [7, 9]) == [-1, 7, 9] and suppress_for("en", [7, 9]) == [-1]


def test_prompt_echo_is_removed_but_a_named_district_stays():
    from voice.transcribe import strip_prompt_echo, zone_prompt

    assert "Lalitpur" in zone_prompt("hi") and "Lalitpur" in zone_prompt("en")
    assert strip_prompt_echo("Jalaun, Jhansi, Lalitpur.", "hi") == ""
    assert strip_prompt_echo("Police complaint, Kanpur Nagar, Kanpur Dehat, my phone", "en") == "my phone"
    assert strip_prompt_echo("Police complaint, Jhansi, my phone", "en") == "Police complaint, Jhansi, my phone"
    said = "Mera phone Kanpur Dehat me chori ho gaya"
    assert strip_prompt_echo(said, "hi") == said


def test_language_detection_and_decoding_share_one_encoder_pass(transcriber, clips):
    samples = decode(clips["en.wav"]).samples  # one 30 s window
    before = transcriber.encoder_passes
    t = transcriber.transcribe(samples)
    assert t.language == "en" and "mobile" in t.text.lower()
    assert transcriber.encoder_passes - before == 1  # detection's pass is reused for decoding
    before = transcriber.encoder_passes
    transcriber.transcribe(samples, language="en")
    assert transcriber.encoder_passes - before == 1
