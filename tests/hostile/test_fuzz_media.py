"""The media validator's fuzzer (tests/hostile/fuzz_media.py), run briefly: no crash, no hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECONDS = int(os.environ.get("FUZZ_MEDIA_SECONDS", "10"))
# Seeded in `make test` so a run is repeatable; FUZZ_MEDIA_SEED=0 explores afresh (on demand).
SEED = int(os.environ.get("FUZZ_MEDIA_SEED", "20261122"))
CRASHES = HERE.parent / "corpus" / "fuzz"


def test_media_validator_survives_fuzzing(tmp_path):
    proc = subprocess.run([sys.executable, str(HERE / "fuzz_media.py"), f"-max_total_time={SECONDS}",
                           f"-seed={SEED}", f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True,
                          timeout=SECONDS + 120, cwd=tmp_path)
    tail = (proc.stdout + proc.stderr)[-3000:]
    assert proc.returncode == 0, tail
    assert "Done" in tail or "fallback" in tail or "hypothesis" in tail, tail


def test_seeds_and_bombs_are_handled():
    """The seeds themselves (the corpus' bombs' headers) go through every validator call."""
    sys.path.insert(0, str(HERE.parents[1]))
    from tests.hostile.fuzz_media import one_input, seeds

    for s in seeds():
        one_input(s)


def test_inputs_the_fuzzer_once_crashed_on():
    """Each crash the fuzzer found is kept under tests/corpus/fuzz/ and must stay fixed."""
    sys.path.insert(0, str(HERE.parents[1]))
    from tests.hostile.fuzz_media import one_input

    found = sorted(CRASHES.glob("*.bin"))
    assert found, "the regression corpus is missing"
    for f in found:
        one_input(f.read_bytes())
