"""Speech to text: one interface, two Whisper backends, language limited to the zone's languages.

* ``faster-whisper`` (default): CTranslate2, int8 on CPU, the packaged multilingual "base" model.
* ``openai-whisper`` (optional extra ``pip install torch==2.13.0 openai-whisper``): the reference
  implementation on the very same weights (converted by :func:`voice.model.ensure_openai_checkpoint`);
  on a CUDA machine :meth:`OpenAIWhisperTranscriber.transcribe_many` batches many voice notes'
  30-second windows through ``whisper.decode``, which is where a GPU's speed is.

Settings (:mod:`zone.settings`):
    BHAROSA_WHISPER_BACKEND: ``faster-whisper`` (default) or ``openai-whisper``.
    BHAROSA_WHISPER_THREADS: CPU threads for inference (default 2).
    BHAROSA_WHISPER_BEAM: beam size (default 5).
    BHAROSA_WHISPER_DEVICE: ``cpu``/``cuda``/``auto`` (default: cpu for faster-whisper, auto for openai-whisper).
    BHAROSA_WHISPER_MODEL: see :mod:`voice.model`.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from voice.audio import SAMPLE_RATE, Source, decode
from zone import settings

BACKENDS = settings.WHISPER_BACKENDS
DEFAULT_BACKEND = "faster-whisper"
WINDOW_SAMPLES = 30 * SAMPLE_RATE


@dataclass(frozen=True)
class Segment:
    """One decoded stretch of speech.

    Attributes:
        start: seconds from the start of the audio.
        end: seconds from the start of the audio.
        text: the words.
        avg_logprob: mean token log-probability.
        no_speech_prob: the model's probability that the window holds no speech.
    """

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float


@dataclass(frozen=True)
class Transcript:
    """What was said.

    Attributes:
        text: the transcript, stripped.
        language: the language chosen among the zone's languages (``hi`` or ``en``).
        confidence: 0..1; below the zone's ``conversation.low_confidence`` the bot reads it back or hands
            it to staff. Product of the duration-weighted ``exp(avg_logprob) * (1 - no_speech_prob)`` and a
            penalty when the configured languages carry less than half of the detector's probability.
        duration: seconds of audio.
        segments: the segments, in order.
        language_probability: probability of ``language`` among the configured languages.
        language_share: the detector's total probability on the configured languages (low: another language).
        backend: which backend made it.
    """

    text: str
    language: str
    confidence: float
    duration: float
    segments: tuple[Segment, ...] = ()
    language_probability: float = 0.0
    language_share: float = 1.0
    backend: str = ""
    extra: dict = field(default_factory=dict, compare=False, repr=False)


class Transcriber(Protocol):
    """What every backend offers."""

    name: str
    languages: tuple[str, ...]

    def detect_language(self, audio: np.ndarray) -> dict[str, float]:
        """Probabilities of every language the model knows, for the first 30 s."""

    def transcribe(self, audio: np.ndarray | Source, *, language: str | None = None) -> Transcript:
        """Transcribe one clip."""

    def transcribe_many(self, audios: Sequence[np.ndarray], *, language: str | None = None) -> list[Transcript]:
        """Transcribe several clips (batched where the backend can)."""


def configured_languages() -> tuple[str, ...]:
    """The zone's languages (config.yaml ``languages``), e.g. ``("hi", "en")``."""
    from zone import get_zone

    return tuple(get_zone().languages)


def language_weights() -> dict[str, float]:
    """Prior weights on the detector's language probabilities: ``BHAROSA_LANGUAGE_WEIGHTS`` (``hi=100,en=1``).

    Whisper's language identification learnt its prior from training data in which English outweighs
    Hindi by orders of magnitude; in this zone Hindi is the default language. Measured on espeak-ng clips
    with the "base" model, p(hi)/p(en) was <= 0.004 for English speech and >= 0.025 for Hindi speech, so
    a weight of 100 on Hindi separates them (see docs/voice.md); real voices separate far more easily.
    """
    return dict(settings.get().language_weights)


def pick_language(probs: dict[str, float], allowed: Sequence[str],
                  weights: dict[str, float] | None = None) -> tuple[str, float, float]:
    """Choose the most probable language among ``allowed``, after the prior weights.

    Args:
        probs: language code → probability, over all of the model's languages.
        allowed: the configured languages.
        weights: language → prior weight; default :func:`language_weights`.

    Returns:
        ``(language, its probability among the allowed ones, share of all (weighted) probability on the
        allowed ones)``; a low share means the speech is probably in another language.
    """
    weights = language_weights() if weights is None else weights
    wp = {k: v * weights.get(k, 1.0) for k, v in probs.items()}
    total = sum(wp.values()) or 1.0
    share = sum(wp.get(lang, 0.0) for lang in allowed)
    best = max(allowed, key=lambda lang: wp.get(lang, 0.0))
    return best, (wp.get(best, 0.0) / share if share > 0 else 1.0 / len(allowed)), share / total


def segment_confidence(segments: Sequence[Segment]) -> float:
    """Duration-weighted ``exp(avg_logprob) * (1 - no_speech_prob)`` over segments; 0 when there are none."""
    num = den = 0.0
    for s in segments:
        if not s.text.strip():
            continue
        w = max(s.end - s.start, 0.1)
        num += w * math.exp(min(s.avg_logprob, 0.0)) * (1.0 - s.no_speech_prob)
        den += w
    return num / den if den else 0.0


def _confidence(segments: Sequence[Segment], share: float) -> float:
    conf = segment_confidence(segments) * min(1.0, share / 0.5)
    return float(min(1.0, max(0.0, conf)))


# Whisper's "hi" token was trained on Hindustani written in Devanagari, in Urdu script and in Latin letters; with
# the "base" model a forced-Hindi decode of unclear speech often comes out in Urdu script, or drifts into Tamil or
# Bengali, none of which the NLU (Devanagari and romanised Hindi) can read. When decoding Hindi, every token that
# holds bytes of another script is suppressed: UTF-8 lead bytes other than ASCII, Latin-1 (C2/C3), the
# three-byte block E0 followed by anything but A4/A5 (U+0900-U+097F, Devanagari) and E2 (punctuation).
_OK_LEADS = {0xC2, 0xC3, 0xE0, 0xE2}


def _foreign(b: bytes) -> bool:
    for i, x in enumerate(b):
        if x < 0x80 or x < 0xC0:  # ASCII, or a continuation byte (judged with its lead byte)
            continue
        if x not in _OK_LEADS:
            return True
        if x == 0xE0 and i + 1 < len(b) and b[i + 1] not in (0xA4, 0xA5):
            return True
    return False


def _gpt2_byte_decoder() -> dict[str, int]:
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


def foreign_script_tokens(token_bytes: dict[int, bytes]) -> list[int]:
    """Ids of the tokens holding bytes of a script other than Latin or Devanagari (see ``_OK_LEADS``)."""
    return sorted(i for i, b in token_bytes.items() if _foreign(b))


def suppress_for(language: str | None, tokens: list[int]) -> list[int]:
    """The ``suppress_tokens`` both backends get: Whisper's default (-1) plus, for Hindi, other scripts' tokens.

    ``BHAROSA_WHISPER_SCRIPT_MASK=0`` turns the Hindi part off.
    """
    if language == "hi" and settings.get().whisper_script_mask:
        return [-1, *tokens]
    return [-1]


def _as_samples(audio: np.ndarray | Source) -> np.ndarray:
    if isinstance(audio, np.ndarray):
        return audio.astype(np.float32, copy=False).reshape(-1)
    return decode(audio).samples


def collapsed(text: str, duration: float) -> bool:
    """True when a decode produced far fewer words than the audio's length implies (under one per 2 s).

    People speak two to three words a second; "पुलर।" for a 4-second English sentence is a decode in the wrong
    language that collapsed, not what was said.
    """
    return duration >= 1.0 and len(re.findall(r"[\w\u0900-\u097F]+", text)) < 0.5 * duration


def _finish(tr, samples: np.ndarray, duration: float, segments: tuple[Segment, ...], language: str, lang_p: float,
            share: float, probs: dict[str, float] | None) -> Transcript:
    """The transcript; when the language was detected and the decode collapsed, the other language is tried.

    Two-pass language handling: the detector's prior on Hindi (``BHAROSA_LANGUAGE_WEIGHTS``) sometimes sends
    a short English clip to Hindi (or the reverse). Only then is the runner-up language decoded too, and the
    decode with the higher :func:`segment_confidence` is kept. Both backends do the same.
    """
    text = strip_prompt_echo(" ".join(s.text for s in segments if s.text).strip(), language)
    if probs is not None and len(tr.languages) > 1 and collapsed(text, duration):
        weights = language_weights()
        other = max((lang for lang in tr.languages if lang != language),
                    key=lambda lang: probs.get(lang, 0.0) * weights.get(lang, 1.0))
        again = tr._decode(samples, other)
        if segment_confidence(again) > segment_confidence(segments):
            language, segments, lang_p = other, again, 1.0 - lang_p
            text = strip_prompt_echo(" ".join(s.text for s in segments if s.text).strip(), language)
    return Transcript(text, language, _confidence(segments, share), duration, segments, lang_p, share, tr.name)


def _detect_and_decode(tr, samples: np.ndarray, duration: float, language: str | None) -> Transcript:
    """Either backend's transcribe: detect the language on the first window (unless given), decode reusing
    that window's encoder output (the backend's one-shot memo), then :func:`_finish`."""
    share, lang_p, probs = 1.0, 1.0, None
    if language is None:
        probs, tr._memo.hit = tr._detect(samples)
        language, lang_p, share = pick_language(probs, tr.languages)
    try:
        segments = tr._decode(samples, language)
    finally:
        tr._memo.hit = None
    return _finish(tr, samples, duration, segments, language, lang_p, share, probs)


class FasterWhisperTranscriber:
    """faster-whisper (CTranslate2) backend: the CPU default, int8."""

    name = "faster-whisper"

    def __init__(self, model: str | None = None, *, device: str | None = None, compute_type: str | None = None,
                 cpu_threads: int | None = None, beam_size: int | None = None, languages: Sequence[str] | None = None,
                 without_timestamps: bool = True, vad_filter: bool = False):
        """Load the model.

        Args:
            model: model folder or name; default :func:`voice.model.resolve_model` (the packaged model).
            device: ``cpu`` (default) or ``cuda``.
            compute_type: default ``int8`` on CPU, ``float16`` on CUDA.
            cpu_threads: default ``BHAROSA_WHISPER_THREADS`` or 2.
            beam_size: default ``BHAROSA_WHISPER_BEAM`` or 5.
            languages: allowed languages; default the zone's.
            without_timestamps: decode without timestamp tokens (faster; segments then span 30 s windows).
            vad_filter: drop non-speech with Silero VAD before decoding.
        """
        from faster_whisper import WhisperModel

        from voice.model import resolve_model

        s = settings.get()
        self.device = device or s.whisper_device or "cpu"
        if self.device == "auto":
            self.device = "cpu"
        self.compute_type = compute_type or ("int8" if self.device == "cpu" else "float16")
        self.cpu_threads = cpu_threads or s.whisper_threads
        self.beam_size = beam_size or s.whisper_beam
        self.languages = tuple(languages or configured_languages())
        self.without_timestamps = without_timestamps
        self.vad_filter = vad_filter
        self.model_path = resolve_model(model)
        self.model = WhisperModel(self.model_path, device=self.device, compute_type=self.compute_type,
                                  cpu_threads=self.cpu_threads, num_workers=1, local_files_only=True)
        self._memo = threading.local()  # (features, encoder output) of the window language detection encoded
        self.encoder_passes = 0
        encode = self.model.encode

        def encode_once(features: np.ndarray):
            # Detection and the first decoded window see the same 30 s of features: encode them once.
            memo = getattr(self._memo, "hit", None)
            if memo is not None and memo[0].shape == features.shape and np.array_equal(memo[0], features):
                return memo[1]
            self.encoder_passes += 1
            return encode(features)

        self.model.encode = encode_once
        dec = _gpt2_byte_decoder()
        vocab = self.model.hf_tokenizer.get_vocab()
        self._foreign = foreign_script_tokens({i: bytes(dec.get(ch, 0) for ch in t) for t, i in vocab.items()
                                             if not t.startswith("<|")})

    def detect_language(self, audio: np.ndarray) -> dict[str, float]:
        """Language probabilities for the first 30 s of 16 kHz mono audio.

        Args:
            audio: 16 kHz mono float32 samples.

        Returns:
            Language code → probability, every language the model knows.
        """
        return self._detect(_as_samples(audio))[0]

    def _detect(self, samples: np.ndarray):
        """Language probabilities from the encoder output of the first window exactly as decoding cuts it."""
        from faster_whisper.audio import pad_or_trim

        fe = self.model.feature_extractor
        feats = fe(samples)
        first = pad_or_trim(feats[:, :max(1, min(fe.nb_max_frames, feats.shape[-1] - 1))])
        enc = self.model.encode(first)
        probs = {tok[2:-2]: p for tok, p in self.model.model.detect_language(enc)[0]}
        return probs, (first, enc)

    def transcribe(self, audio: np.ndarray | Source, *, language: str | None = None) -> Transcript:
        """Transcribe one clip, choosing the language among the configured ones unless given.

        Args:
            audio: 16 kHz mono float32 samples, or a path/bytes/file that :func:`voice.audio.decode` reads.
            language: force a language (skips detection).

        Returns:
            The transcript.
        """
        samples = _as_samples(audio)
        return _detect_and_decode(self, samples, samples.size / SAMPLE_RATE, language)

    def _decode(self, samples: np.ndarray, language: str) -> tuple[Segment, ...]:
        segs, _ = self.model.transcribe(samples, language=language, task="transcribe", beam_size=self.beam_size,
                                        without_timestamps=self.without_timestamps, vad_filter=self.vad_filter,
                                        initial_prompt=zone_prompt(language),
                                        suppress_tokens=suppress_for(language, self._foreign))
        return tuple(Segment(s.start, s.end, s.text.strip(), s.avg_logprob, s.no_speech_prob) for s in segs)

    def transcribe_many(self, audios: Sequence[np.ndarray], *, language: str | None = None) -> list[Transcript]:
        """Transcribe several clips one after another (CTranslate2 on CPU gains nothing from batching here)."""
        return [self.transcribe(a, language=language) for a in audios]


class OpenAIWhisperTranscriber:
    """openai-whisper (PyTorch) backend: the reference, and the batched GPU path."""

    name = "openai-whisper"

    def __init__(self, checkpoint: str | None = None, *, device: str | None = None, cpu_threads: int | None = None,
                 beam_size: int | None = None, languages: Sequence[str] | None = None, without_timestamps: bool = True,
                 vad_filter: bool = False, fp16: bool | None = None):
        """Load the model (converted from the same CTranslate2 weights unless a checkpoint is given).

        Args:
            checkpoint: an openai-whisper ``.pt`` file or model name in the local whisper cache; default
                ``BHAROSA_WHISPER_MODEL`` if it is a ``.pt`` file, else the converted packaged model.
            device: ``cpu``, ``cuda`` or ``auto`` (default: ``BHAROSA_WHISPER_DEVICE`` or auto).
            cpu_threads: torch threads; default ``BHAROSA_WHISPER_THREADS`` or 2.
            beam_size: default ``BHAROSA_WHISPER_BEAM`` or 5.
            languages: allowed languages; default the zone's.
            without_timestamps: decode without timestamp tokens.
            vad_filter: drop non-speech with Silero VAD (the same one faster-whisper uses) before decoding.
            fp16: half precision; default True on CUDA, False on CPU.
        """
        import torch
        import whisper

        from voice.model import configured_model, ensure_openai_checkpoint

        s = settings.get()
        dev = device or s.whisper_device or "auto"
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = dev
        self.cpu_threads = cpu_threads or s.whisper_threads
        if dev == "cpu":
            torch.set_num_threads(self.cpu_threads)
        self.beam_size = beam_size or s.whisper_beam
        self.languages = tuple(languages or configured_languages())
        self.without_timestamps = without_timestamps
        self.vad_filter = vad_filter
        self.fp16 = (dev == "cuda") if fp16 is None else fp16
        if checkpoint is None:
            conf = configured_model()
            if conf and conf.endswith(".pt"):
                checkpoint = conf
            elif conf and not os.path.isdir(conf):
                checkpoint = conf  # a name: whisper.load_model finds it in ~/.cache/whisper or fails
            else:
                checkpoint = str(ensure_openai_checkpoint(model_dir=conf))
        self.checkpoint = checkpoint
        self.model = whisper.load_model(checkpoint, device=dev)
        if not self.fp16:
            self.model = self.model.float()
        self._whisper = whisper
        self._torch = torch
        self._memo = threading.local()
        self.encoder_passes = 0
        encoder_forward = self.model.encoder.forward

        def encode_once(mel):
            # Same as faster-whisper: detection's encoder pass is the first decoded window's.
            memo = getattr(self._memo, "hit", None)
            if memo is not None and memo[0].shape == mel.shape and memo[0].dtype == mel.dtype and torch.equal(
                    memo[0], mel):
                return memo[1]
            self.encoder_passes += 1
            return encoder_forward(mel)

        self.model.encoder.forward = encode_once
        enc = whisper.tokenizer.get_tokenizer(True, num_languages=self.model.num_languages).encoding
        eot = enc.eot_token
        self._foreign = foreign_script_tokens({i: enc.decode_single_token_bytes(i) for i in range(eot)})

    def _mel(self, samples: np.ndarray):
        w = self._whisper
        audio = w.pad_or_trim(self._torch.from_numpy(np.ascontiguousarray(samples)).to(self.device))
        mel = w.log_mel_spectrogram(audio, n_mels=self.model.dims.n_mels)
        return w.pad_or_trim(mel, w.audio.N_FRAMES)

    def detect_language(self, audio: np.ndarray) -> dict[str, float]:
        """Language probabilities for the first 30 s of 16 kHz mono audio.

        Args:
            audio: 16 kHz mono float32 samples.

        Returns:
            Language code → probability, every language the model knows.
        """
        return self._detect(_as_samples(audio))[0]

    def _detect(self, samples: np.ndarray):
        """Language probabilities from the first window exactly as ``whisper.transcribe`` cuts it for decoding."""
        w, torch = self._whisper, self._torch
        n_frames = w.audio.N_FRAMES
        dtype = torch.float16 if self.fp16 else torch.float32
        mel = w.log_mel_spectrogram(torch.from_numpy(np.ascontiguousarray(samples)), self.model.dims.n_mels,
                                    padding=w.audio.N_SAMPLES)
        content = mel.shape[-1] - n_frames
        first = w.pad_or_trim(mel[:, :max(1, min(n_frames, content))], n_frames).to(self.device).to(dtype)
        with torch.inference_mode():
            enc = self.model.encoder(first.unsqueeze(0))
            _, probs = self.model.detect_language(enc)
        return dict(probs[0] if isinstance(probs, list) else probs), (first.unsqueeze(0), enc)

    def _vad(self, samples: np.ndarray) -> np.ndarray:
        from faster_whisper.vad import collect_chunks, get_speech_timestamps

        chunks = get_speech_timestamps(samples)
        return np.concatenate(collect_chunks(samples, chunks)[0]) if chunks else samples[:0]

    def transcribe(self, audio: np.ndarray | Source, *, language: str | None = None) -> Transcript:
        """Transcribe one clip with ``whisper.transcribe``, choosing the language among the configured ones.

        Args:
            audio: 16 kHz mono float32 samples, or a path/bytes/file that :func:`voice.audio.decode` reads.
            language: force a language (skips detection).

        Returns:
            The transcript.
        """
        samples = _as_samples(audio)
        duration = samples.size / SAMPLE_RATE
        if self.vad_filter:
            samples = self._vad(samples)
        return _detect_and_decode(self, samples, duration, language)

    def _decode(self, samples: np.ndarray, language: str) -> tuple[Segment, ...]:
        with self._torch.inference_mode():
            res = self._whisper.transcribe(self.model, samples, language=language, task="transcribe",
                                           beam_size=self.beam_size, best_of=self.beam_size, fp16=self.fp16,
                                           without_timestamps=self.without_timestamps, verbose=None,
                                           initial_prompt=zone_prompt(language),
                                           suppress_tokens=suppress_for(language, self._foreign))
        return tuple(Segment(float(s["start"]), float(s["end"]), s["text"].strip(), float(s["avg_logprob"]),
                             float(s["no_speech_prob"])) for s in res["segments"])

    def transcribe_many(self, audios: Sequence[np.ndarray], *, language: str | None = None,
                        batched: bool | None = None, batch_size: int = 16,
                        beam_size: int | None = None) -> list[Transcript]:
        """Transcribe many clips; on CUDA, their 30-second windows are decoded in batches with ``whisper.decode``.

        Each clip is cut into 30 s windows; every window's log-mel is made on the device; the language is
        detected per clip (first window, batched) among the configured ones; windows are grouped by language
        and decoded ``batch_size`` at a time without timestamps. Windows are decoded independently (no
        conditioning on the previous window's text), which is what makes batching possible.

        Args:
            audios: 16 kHz mono float32 arrays.
            language: force one language for all clips.
            batched: use the batched path; default: only on CUDA (on CPU, per-clip ``transcribe``).
            batch_size: windows per ``whisper.decode`` call.
            beam_size: default greedy (1) on the batched path, the best throughput on a GPU.

        Returns:
            One transcript per clip, in order.
        """
        if batched is None:
            batched = self.device == "cuda"
        if not batched:
            return [self.transcribe(a, language=language) for a in audios]
        torch, w = self._torch, self._whisper
        dtype = torch.float16 if self.fp16 else torch.float32
        clips = [_as_samples(a) for a in audios]
        windows: list[tuple[int, int]] = []  # (clip index, window index)
        mels = []
        for i, a in enumerate(clips):
            for j, start in enumerate(range(0, max(a.size, 1), WINDOW_SAMPLES)):
                windows.append((i, j))
                mels.append(self._mel(a[start:start + WINDOW_SAMPLES]))
        langs: dict[int, tuple[str, float, float]] = {}
        with torch.inference_mode():
            if language is None:
                firsts = [k for k, (_, j) in enumerate(windows) if j == 0]
                for b in range(0, len(firsts), batch_size):
                    idx = firsts[b:b + batch_size]
                    _, probs = self.model.detect_language(torch.stack([mels[k] for k in idx]).to(dtype))
                    for k, p in zip(idx, probs, strict=True):
                        langs[windows[k][0]] = pick_language(p, self.languages)
            else:
                langs = {i: (language, 1.0, 1.0) for i in range(len(clips))}
            results: dict[tuple[int, int], object] = {}
            for lang in sorted({v[0] for v in langs.values()}):
                ks = [k for k, (i, _) in enumerate(windows) if langs[i][0] == lang]
                opts = w.DecodingOptions(task="transcribe", language=lang, beam_size=beam_size, fp16=self.fp16,
                                         without_timestamps=True, suppress_tokens=suppress_for(lang, self._foreign))
                for b in range(0, len(ks), batch_size):
                    idx = ks[b:b + batch_size]
                    out = w.decode(self.model, torch.stack([mels[k] for k in idx]).to(dtype), opts)
                    for k, r in zip(idx, out, strict=True):
                        results[windows[k]] = r
        transcripts = []
        for i, a in enumerate(clips):
            segs = []
            for (_, j), r in sorted((key, r) for key, r in results.items() if key[0] == i):
                start = j * 30.0
                end = min(a.size / SAMPLE_RATE, start + 30.0)
                segs.append(Segment(start, end, r.text.strip(), float(r.avg_logprob), float(r.no_speech_prob)))
            lang, lang_p, share = langs[i]
            text = " ".join(s.text for s in segs if s.text).strip()
            transcripts.append(Transcript(text, lang, _confidence(segs, share), a.size / SAMPLE_RATE, tuple(segs),
                                          lang_p, share, self.name, {"batched": True}))
        return transcripts


_instances: dict[str, Transcriber] = {}
_lock = threading.Lock()


def get_transcriber(backend: str | None = None) -> Transcriber:
    """The process-wide transcriber for a backend, loaded on first use.

    Args:
        backend: ``faster-whisper`` or ``openai-whisper``; default ``BHAROSA_WHISPER_BACKEND`` or faster-whisper.

    Returns:
        The shared instance (thread-safe to obtain; callers serialise inference through the worker).

    Raises:
        ValueError: unknown backend.
        voice.model.ModelError: the model cannot be prepared.
    """
    backend = backend or settings.get().whisper_backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown transcription backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    inst = _instances.get(backend)
    if inst is None:
        with _lock:
            inst = _instances.get(backend)
            if inst is None:
                cls = FasterWhisperTranscriber if backend == "faster-whisper" else OpenAIWhisperTranscriber
                inst = _instances[backend] = cls()
    return inst


def _prompt_names(language: str | None) -> list[str]:
    from zone import get_zone

    return [d.name_en for d in get_zone().districts]


def _prompt_lead(language: str | None) -> str:
    from zone import messages

    return messages.t("transcribe.prompt_lead", language or "en")  # no language (Whisper detects it): English


def zone_prompt(language: str | None) -> str | None:
    """A decoding prompt naming the zone's districts, so Whisper spells them as the NLU knows them.

    Both backends get the same prompt (a fair comparison). ``BHAROSA_WHISPER_PROMPT=0`` turns it off.
    For Hindi the prompt is romanised ("Police shikayat, Kanpur Nagar, ..."): measured on espeak-ng Hindi
    with the "base" model (docs/voice.md), a Devanagari prompt made the decoder loop on its words
    ("पुर नगर नगर नगर") while a romanised one steered it to romanised Hindi, which it writes far more
    legibly than Devanagari and which the NLU reads (it is trained on Hinglish).
    """
    if not settings.get().whisper_prompt:
        return None
    return _prompt_lead(language) + ", " + ", ".join(_prompt_names(language)) + "."


def strip_prompt_echo(text: str, language: str | None) -> str:
    """Remove the decoder echoing its prompt: three or more of the prompt's names in the prompt's order, or the
    prompt's opening words and first name (and the names after it, in order).

    A citizen names one district, perhaps two; "Jalaun, Jhansi, Lalitpur." or "Police complaint, Kanpur Nagar"
    is the prompt coming back.
    """
    if not settings.get().whisper_prompt or not text:
        return text
    names = _prompt_names(language)
    sep = r"[\s,.;।]*"
    # the prompt's beginning: its opening words and first name, then as many of the next names as follow
    lead = re.escape(_prompt_lead(language)) + sep + re.escape(names[0])
    for x in names[1:]:
        lead += "(?:" + sep + re.escape(x)
    text = re.sub(r"(?i)" + lead + ")?" * (len(names) - 1) + sep, " ", text)
    for n in range(len(names), 2, -1):
        for i in range(len(names) - n + 1):
            rx = sep.join(re.escape(x) for x in names[i:i + n])
            text = re.sub(r"(?i)" + rx + r"[\s,.;।]*", " ", text)
    return re.sub(r"\s+", " ", text).strip(" ,")


def transcribe(audio: np.ndarray | Source, *, language: str | None = None, backend: str | None = None) -> Transcript:
    """Transcribe one clip with the process-wide transcriber (see :func:`get_transcriber`)."""
    return get_transcriber(backend).transcribe(audio, language=language)


def transcribe_many(audios: Sequence[np.ndarray], *, language: str | None = None,
                    backend: str | None = None) -> list[Transcript]:
    """Transcribe many clips with the process-wide transcriber (batched on the openai-whisper CUDA path)."""
    return get_transcriber(backend).transcribe_many(audios, language=language)
