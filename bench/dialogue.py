"""Benchmark the dialogue engine: fresh-process start-up, per-turn latency (median / p95), held-out figures.

Run: ``.venv/bin/python bench/dialogue.py``.

Start-up is measured in fresh Python processes: the baseline has an empty model cache (what every
worker restart cost before the cache: train the intent and category models on the first message);
then a process that finds the cache, with and without ``bot.engine.warm()`` at start.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

# this file is named bot.py: drop its own folder from the path so "bot" means the package
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p not in ("", _HERE)]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.engine import handle  # noqa: E402
from bot.evaluate import evaluate  # noqa: E402
from bot.types import Inbound  # noqa: E402

IST = timezone(timedelta(hours=5, minutes=30))
CONVERSATIONS = [
    ["mera phone kal shaam Rawatpur bus stand pe chori ho gaya", "Ramesh Kumar", "1"],
    ["मेरी बाइक चोरी हो गई है कल्याणपुर से", "आज सुबह", "सुनीता देवी", "हाँ"],
    ["someone is harassing my sister near Kakadeo", "yesterday 7 pm", "Anjali", "yes"],
    ["shikayat karni hai", "meri scooty chori ho gayi", "4", "civil lines", "kal", "Pooja", "1"],
    ["hello", "help", "status", "KNP-7F3K9Q"],
]


_FRESH = """
import json, sys, time
t0 = time.perf_counter()
from datetime import datetime, timedelta, timezone
from bot import engine
from bot.types import Inbound
t1 = time.perf_counter()
if sys.argv[1] == "warm":
    engine.warm()
t2 = time.perf_counter()
at = datetime(2025, 3, 12, 10, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
engine.handle(Inbound("whatsapp", at, "mera phone kal shaam Rawatpur bus stand pe chori ho gaya",
                      phone="+919800000001"), {})
t3 = time.perf_counter()
print(json.dumps({"import": (t1 - t0) * 1000, "warm": (t2 - t1) * 1000, "first": (t3 - t2) * 1000,
                  "sklearn": "sklearn" in sys.modules}))
"""


def fresh(cache: str, mode: str) -> dict:
    """Run one fresh interpreter: import the engine, maybe warm() it, then time its first turn."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "BHAROSA_CACHE_DIR": cache, "PYTHONPATH": root}
    out = subprocess.run([sys.executable, "-c", _FRESH, mode], cwd=root, env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def startup(runs: int = 3) -> None:
    """Print fresh-process start-up figures: empty cache (baseline) vs cached model, lazy vs warm()."""
    rows: dict[str, list[dict]] = {"no cache (baseline)": [], "no cache + warm()": [], "cache, lazy": [],
                                   "cache + warm()": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as tmp:
            rows["no cache (baseline)"].append(fresh(empty, "lazy"))  # what every restart cost before
            rows["no cache + warm()"].append(fresh(tmp, "warm"))  # first start ever: trains both, writes the cache
            rows["cache, lazy"].append(fresh(tmp, "lazy"))
            rows["cache + warm()"].append(fresh(tmp, "warm"))  # what app.create_app now does
    for name, rs in rows.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("import", "warm", "first")}
        print(f"fresh process, {name:<19}: import {med['import']:7.0f} ms, warm() {med['warm']:7.0f} ms, "
              f"first turn {med['first']:8.1f} ms, scikit-learn imported: {rs[0]['sklearn']} (median of {runs})")


def main() -> None:
    """Time start-up and every turn of a few conversations many times, then print the evaluation."""
    startup()
    at = datetime(2025, 3, 12, 10, 0, tzinfo=IST)
    handle(Inbound("whatsapp", at, "hi", phone="+919800000001"), {})  # load the zone and train once
    times = []
    for _ in range(40):
        for conv in CONVERSATIONS:
            state: dict = {}
            for i, text in enumerate(conv):
                msg = Inbound("whatsapp", at + timedelta(minutes=i), text, phone="+919800000001")
                t0 = time.perf_counter()
                state = handle(msg, state).state
                times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(f"turns timed: {len(times)}")
    print(f"turn latency: median {statistics.median(times):.2f} ms, p95 {times[int(len(times) * 0.95)]:.2f} ms")
    evaluate()


if __name__ == "__main__":
    main()
