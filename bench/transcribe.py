"""Transcription speed: faster-whisper int8 vs openai-whisper fp32, and a voice note's whole job.

Same clip (a ~30 s complaint spoken by espeak-ng), same weights (the packaged Whisper "base"; the
openai-whisper checkpoint is converted from it), same beam (5), same preprocessing (PyAV decode to
16 kHz; optionally the same Silero VAD trim applied to the samples before either backend sees them),
the same language detection limited to hi/en, the same thread count, without timestamps for both.

Both backends detect the language on the encoder output of the first 30 s window and reuse it for decoding
that window (one encoder pass instead of two; ``voice/transcribe.py``). Runs are interleaved (each run times
both backends back to back) so load from other work on a shared machine falls on both alike.

Usage: .venv/bin/python bench/transcribe.py [--runs 3] [--threads 2] [--beam 5] [--no-openai] [--compute-type int8]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = ROOT / "var" / "bench-audio"
TEXT = (
    "Hello, I want to register a complaint. My name is Ramesh Kumar and I live near Rawatpur crossing in Kanpur. "
    "Yesterday evening at about seven o'clock, two young men on a black motorcycle snatched my mobile phone "
    "while I was talking near the bus stop. The phone is a blue Samsung and it has my bank apps in it. "
    "Please block the number and help me find the thieves. You can call me back on this number."
)


def make_clip() -> tuple[Path, Path]:
    """The ~30 s espeak-ng clip as WAV and as an Opus voice note (cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    wav, ogg = CACHE / "bench_30s_en.wav", CACHE / "bench_30s_en.ogg"
    if not wav.exists():
        subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(wav), TEXT], check=True)
    if not ogg.exists():
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-ar", "16000", "-c:a", "libopus",
                        "-b:a", "24k", str(ogg)], check=True)
    return wav, ogg


def vad_trim(samples):
    """Silero VAD (faster-whisper's) applied once to the samples: identical input for both backends."""
    import numpy as np
    from faster_whisper.vad import collect_chunks, get_speech_timestamps

    chunks = get_speech_timestamps(samples)
    return np.concatenate(collect_chunks(samples, chunks)[0]) if chunks else samples


def timed(fn, runs: int) -> tuple[float, object]:
    """Median wall time of ``runs`` calls after one warm-up."""
    out = fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def whole_job(ogg: Path, transcriber, runs: int) -> float:
    """Fetch from a local HTTP server + decode + transcribe + sha256 + a SQLite row, median seconds."""
    from voice.audio import decode
    from voice.media import fetch

    handler = partial(SimpleHTTPRequestHandler, directory=str(ogg.parent))
    handler.log_message = lambda *a: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-job-"))
    db = sqlite3.connect(tmp / "job.sqlite3")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE attachment (id INTEGER PRIMARY KEY, sha256 TEXT, size INT, mime TEXT, path TEXT, "
               "transcript TEXT, language TEXT, confidence REAL)")

    def job():
        f = fetch(f"{base}/{ogg.name}", tmp / "media", api_base_url=base, auth=("AC0", "token"))
        with open(f.path, "rb") as fh:  # the evidence hash, recomputed from disk as the job stores it
            sha = hashlib.file_digest(fh, "sha256").hexdigest()
        audio = decode(f.path)
        t = transcriber.transcribe(audio.samples)
        with db:
            db.execute("INSERT INTO attachment (sha256, size, mime, path, transcript, language, confidence) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", (sha, f.size, f.mime, str(f.path), t.text, t.language,
                                                        t.confidence))
        return t

    try:
        sec, _ = timed(job, runs)
    finally:
        httpd.shutdown()
        db.close()
    return sec


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--no-openai", action="store_true")
    ap.add_argument("--compute-type", default=None, help="faster-whisper compute type (default int8 on CPU)")
    ap.add_argument("--with-timestamps", action="store_true", help="decode with timestamp tokens (both backends)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    os.environ["BHAROSA_WHISPER_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    from voice.audio import decode
    from voice.transcribe import FasterWhisperTranscriber, OpenAIWhisperTranscriber

    wav, ogg = make_clip()
    samples = decode(wav).samples
    duration = samples.size / 16000
    trimmed = vad_trim(samples)
    wt = not args.with_timestamps
    print(f"clip: {wav.name}, {duration:.1f} s ({trimmed.size / 16000:.1f} s after VAD); beam {args.beam}; "
          f"{args.threads} threads; without_timestamps={wt}; {args.runs} runs, median")

    fw = FasterWhisperTranscriber(cpu_threads=args.threads, beam_size=args.beam, without_timestamps=wt,
                                  compute_type=args.compute_type)
    backends = [("faster-whisper " + fw.compute_type, fw)]
    if not args.no_openai:
        try:
            backends.append(("openai-whisper fp32", OpenAIWhisperTranscriber(
                device="cpu", cpu_threads=args.threads, beam_size=args.beam, without_timestamps=wt, fp16=False)))
        except ImportError as e:
            print(f"openai-whisper not installed ({e}); pip install torch==2.13.0 openai-whisper")
    # Interleaved: each run times every backend on the same input back to back, so load from other work on a
    # shared machine falls on both alike; the speed-up is the median of the per-run ratios.
    times: dict[tuple[str, str], list[float]] = {}
    outs: dict[tuple[str, str], object] = {}
    for label, x in (("plain", samples), ("vad", trimmed)):
        for name, tr in backends:
            outs[(name, label)] = tr.transcribe(x)  # warm-up
        for _ in range(args.runs):
            for name, tr in backends:
                t0 = time.perf_counter()
                outs[(name, label)] = tr.transcribe(x)
                times.setdefault((name, label), []).append(time.perf_counter() - t0)
    for (name, label), ts in times.items():
        sec, t = statistics.median(ts), outs[(name, label)]
        print(f"{name:20} {label:5}  {sec:6.2f} s  RTF {sec / duration:.3f}  ({duration / sec:4.1f}x real time)  "
              f"min {min(ts):.2f} max {max(ts):.2f}  [{t.language} {t.confidence:.2f}] {t.text[:60]}")
    if len(backends) > 1:
        for label in ("plain", "vad"):
            f, o = times[(backends[0][0], label)], times[(backends[1][0], label)]
            ratios = [b / a for a, b in zip(f, o, strict=True)]
            print(f"speed-up ({label}): faster-whisper is {statistics.median(o) / statistics.median(f):.2f}x "
                  f"openai-whisper (medians); per-run ratios {', '.join(f'{r:.2f}' for r in ratios)}")

    bare, _ = timed(lambda: fw.transcribe(samples), args.runs)
    job = whole_job(ogg, fw, args.runs)
    print(f"bare transcription {bare:.2f} s; whole job (fetch+decode+transcribe+sha256+SQLite) {job:.2f} s; "
          f"overhead {100 * (job - bare) / bare:+.1f}%")


if __name__ == "__main__":
    main()
