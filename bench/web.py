"""Benchmark the citizen web page: first-load size and server time of /complaint, and filing end to end.

Run: ``.venv/bin/python bench/web.py [--db postgresql://postgres@127.0.0.1:5432/test] [-n 300]``
(default: that PostgreSQL when it answers, else a SQLite file).

* First load: the bytes of GET /complaint plus the CSS and script it links (nothing else is fetched).
* Server time of GET /complaint, median and p95 over ``n`` requests through the WSGI app, against a
  bare Flask "hello" app measured the same way in the same run (the baseline).
* Filing end to end, server time excluding uploads: POST the form (one small photo, so the file path
  runs; its transfer is not part of a WSGI timing) → POST the code → the complaint is registered, with
  its outbox rows. The code is read from the outbox row the worker would send. Cold (first filing of
  the process, NLU models not yet loaded) and warm figures.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# bench/ holds bot.py: drop this folder from the path so "bot" means the package
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p not in ("", _HERE)]
sys.path.insert(0, str(ROOT))


def pg_up() -> bool:
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", 5432))
        return True
    except OSError:
        return False
    finally:
        s.close()


def setup_db(url: str | None) -> str:
    from models import Base, db
    from tickets.stations import sync_stations

    if url and url.startswith("postgres"):
        import sqlalchemy as sa

        base = url.replace("postgresql://", "postgresql+psycopg://", 1)
        eng = sa.create_engine(base)
        with eng.begin() as c:
            c.execute(sa.text("DROP SCHEMA IF EXISTS bench_web CASCADE"))
            c.execute(sa.text("CREATE SCHEMA bench_web"))
        eng.dispose()
        db.init(base, connect_args={"options": "-csearch_path=bench_web", "connect_timeout": 3})
        kind = "PostgreSQL"
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
        db.init(url)
        kind = "SQLite"
    Base.metadata.create_all(db.engine)
    with db.session() as s:
        sync_stations(s)
    return kind


def stats(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs) * 1000, xs[min(len(xs) - 1, int(0.95 * len(xs)))] * 1000


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=os.environ.get("DATABASE_URL")
                    or ("postgresql://postgres@127.0.0.1:5432/test" if pg_up() else None))
    ap.add_argument("-n", type=int, default=300)
    args = ap.parse_args(argv)
    os.environ["BHAROSA_MEDIA_DIR"] = tempfile.mkdtemp()
    kind = setup_db(args.db)

    from flask import Flask
    from sqlalchemy import select

    from app import create_app
    from models import Complaint, Outbox, db
    from tests.web.helpers import png_bytes

    app = create_app(db.url, check_env=False)
    web = app.test_client()
    bare = Flask("hello")
    bare.add_url_rule("/", "hello", lambda: "hello")
    hello = bare.test_client()

    # -- first load -------------------------------------------------------------------------------
    r = web.get("/complaint")
    html = r.get_data(as_text=True)
    parts = {"html": len(r.data)}
    for ref in re.findall(r'(?:href|src)="(/static/[^"]+)"', html):
        parts[ref.split("/")[-1].split("?")[0]] = len(web.get(ref).data)
    total = sum(parts.values())

    # -- GET /complaint vs hello ------------------------------------------------------------------
    for _ in range(20):
        web.get("/complaint")
        hello.get("/")
    t_web = stats(timed(lambda: web.get("/complaint"), args.n))
    t_hello = stats(timed(lambda: hello.get("/"), args.n))

    # -- filing end to end ------------------------------------------------------------------------
    photo = png_bytes(64, 48)
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)

    def file_once(i: int) -> tuple[float, float]:
        form = {"csrf": csrf, "step": "submit", "phone": f"+9198{i:08d}",
                "description": "kal raat kalyanpur mein meri bike chori ho gayi", "when": "kal raat",
                "files": [(io.BytesIO(photo), "p.png", "image/png")]}
        t0 = time.perf_counter()
        r1 = web.post("/complaint", data=form, content_type="multipart/form-data")
        t1 = time.perf_counter()
        assert r1.status_code == 200, r1.status_code
        with db.session() as s:
            ob = s.scalar(select(Outbox).where(Outbox.key.like("otp:%")).order_by(Outbox.id.desc()).limit(1))
            code = ob.payload["values"]["code"]
        t2 = time.perf_counter()
        r2 = web.post("/complaint", data={"csrf": csrf, "step": "verify", "code": code})
        t3 = time.perf_counter()
        assert r2.status_code == 303, r2.get_data(as_text=True)[:300]
        return t1 - t0, t3 - t2

    cold = file_once(0)
    m = max(30, args.n // 5)
    runs = [file_once(i) for i in range(1, m + 1)]
    with db.session() as s:
        n_c = s.scalar(select(Complaint.id).order_by(Complaint.id.desc()).limit(1))
    sub = stats([a for a, _ in runs])
    ver = stats([b for _, b in runs])
    tot = stats([a + b for a, b in runs])

    print(f"database: {kind}; {args.n} GETs, {m} filings (+1 cold); complaints registered: {n_c}")
    print(f"first load of /complaint: {total} bytes ({', '.join(f'{k} {v}' for k, v in parts.items())}); "
          f"limit 200 KB = {200 * 1024}")
    print(f"GET /complaint server time: median {t_web[0]:.2f} ms, p95 {t_web[1]:.2f} ms")
    print(f"baseline bare Flask hello:   median {t_hello[0]:.2f} ms, p95 {t_hello[1]:.2f} ms")
    print(f"filing, cold (first of process, NLU loads): submit {cold[0] * 1000:.0f} ms + confirm "
          f"{cold[1] * 1000:.0f} ms")
    print(f"filing, warm: submit median {sub[0]:.1f} ms p95 {sub[1]:.1f}; confirm median {ver[0]:.1f} ms "
          f"p95 {ver[1]:.1f}; end to end median {tot[0]:.1f} ms p95 {tot[1]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
