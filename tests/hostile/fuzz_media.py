"""Fuzz the media validator: voice.media.sniff / sniff_file / image_size / probe and voice.audio.decode
on arbitrary bytes. Only MediaRejected (bad input) may come out, within a time budget per input.

On demand (atheris, coverage-guided, seeded from real clips):
    .venv/bin/python tests/hostile/fuzz_media.py -max_total_time=600
In the tests: ``test_fuzz_media.py`` runs it briefly (about 15 s) in a subprocess.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# Calls that may take real time (ffprobe, PyAV) are capped; a single input over this is a finding.
PER_INPUT_S = float(os.environ.get("FUZZ_PER_INPUT_S", "25"))
TMP = Path(tempfile.mkdtemp(prefix="fuzz-media-"))


def seeds() -> list[bytes]:
    """Real headers to mutate from: the corpus' media bombs and small valid files."""
    from tests.hostile import blobs

    out = [blobs.png_header(4, 3), blobs.gif_header(2, 2), blobs.jpeg_header(8, 8), blobs.webp_vp8x(4, 4),
           blobs.wav_claiming(1)[:2000], blobs.zip_bytes()[:500], b"%PDF-1.4\n", b"#!AMR\n\x3c" + b"\x00" * 31,
           b"\x1a\x45\xdf\xa3\x01\x00\x00\x00webm", b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"]
    try:
        out.append(blobs.real_ogg()[:3000])
    except Exception:  # noqa: BLE001, S110 - no ffmpeg: fewer seeds
        pass
    return out


def one_input(data: bytes) -> None:
    """Everything the validator does with bytes from a citizen; anything but MediaRejected is a bug."""
    from voice.audio import AudioLimits, decode
    from voice.errors import MediaRejected
    from voice.media import ProbeLimits, image_size, probe, sniff, sniff_file

    t0 = time.monotonic()
    sniffed = sniff(data)
    assert sniffed is None or (isinstance(sniffed, tuple) and len(sniffed) == 2)
    wh = image_size(data)
    assert wh is None or (len(wh) == 2 and all(isinstance(x, int) for x in wh))
    path = TMP / "input.bin"
    path.write_bytes(data)
    try:
        sniff_file(path)
    except MediaRejected:
        pass
    limits = ProbeLimits(timeout=5.0, memory_bytes=512 * 1024 * 1024)
    try:
        probe(path, limits=limits)
    except MediaRejected:
        pass
    if sniffed is not None and sniffed[1] in ("audio", "video"):
        try:
            decode(data, limits=AudioLimits(max_seconds=60, max_decode_seconds=5.0))
        except MediaRejected:
            pass
    took = time.monotonic() - t0
    assert took < PER_INPUT_S, f"one input took {took:.1f} s"


def main(argv: list[str]) -> int:
    try:
        import atheris
    except ImportError:
        print("atheris is not installed; falling back to the hypothesis byte fuzzer", file=sys.stderr)
        return fallback(argv)
    corpus_dir = TMP / "corpus"
    corpus_dir.mkdir()
    for i, s in enumerate(seeds()):
        (corpus_dir / f"seed{i}").write_bytes(s)
    with atheris.instrument_imports(include=["voice"]):
        import voice.audio  # noqa: F401
        import voice.media  # noqa: F401
    atheris.Setup([argv[0], *argv[1:], "-rss_limit_mb=4096", "-max_len=65536", str(corpus_dir)], one_input)
    atheris.Fuzz()
    return 0


def fallback(argv: list[str]) -> int:
    """Without atheris: hypothesis draws bytes (and mutates the seeds) for ``-max_total_time`` seconds."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    budget = 15.0
    for a in argv[1:]:
        if a.startswith("-max_total_time="):
            budget = float(a.split("=", 1)[1])
    seeds_ = seeds()
    data = st.one_of(st.binary(max_size=4096),
                     st.tuples(st.sampled_from(seeds_), st.binary(max_size=64), st.integers(0, 4096)).map(
                         lambda t: t[0][: t[2]] + t[1] + t[0][t[2] + len(t[1]):]))
    end = time.monotonic() + budget

    @settings(max_examples=10**6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data)
    def run(b):
        if time.monotonic() > end:
            return
        one_input(b)

    run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
