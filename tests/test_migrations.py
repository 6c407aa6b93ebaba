"""The Alembic migrations build exactly the schema the models describe."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(args, url):
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_upgrade_then_check_finds_nothing_to_do(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    r = _run([sys.executable, "app.py", "init"], url)
    assert r.returncode == 0, r.stderr
    assert "stations loaded" in r.stdout
    r = _run([str(Path(sys.executable).parent / "alembic"), "check"], url)
    assert r.returncode == 0 and "No new upgrade operations" in r.stdout, r.stdout + r.stderr


def test_bad_config_stops_start_up_with_one_line(tmp_path):
    bad = tmp_path / "config.yaml"
    text = (ROOT / "config.yaml").read_text(encoding="utf-8").replace("key: lalitpur", "key: lalitpur_x")
    bad.write_text(text, encoding="utf-8")
    env = dict(os.environ, BHAROSA_CONFIG=str(bad), DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    r = subprocess.run([sys.executable, "app.py", "init"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "lalitpur" in r.stderr
