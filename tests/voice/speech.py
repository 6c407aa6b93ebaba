"""Test-audio helpers shared by tests/voice and bench/voice_accuracy.py."""

from __future__ import annotations

from pathlib import Path


def to_amr(src: Path, out: Path) -> Path:
    """AMR-NB via PyAV's libopencore_amrnb encoder (Debian's ffmpeg has the decoder only)."""
    import av

    with av.open(str(src)) as inp, av.open(str(out), "w", format="amr") as dst:
        st = dst.add_stream("libopencore_amrnb", rate=8000)
        st.layout = "mono"
        st.bit_rate = 12200
        rs = av.AudioResampler(format="s16", layout="mono", rate=8000, frame_size=160)
        for fr in inp.decode(audio=0):
            fr.pts = None
            for f in rs.resample(fr):
                for p in st.encode(f):
                    dst.mux(p)
        for f in rs.resample(None):
            for p in st.encode(f):
                dst.mux(p)
        for p in st.encode(None):
            dst.mux(p)
    return out
