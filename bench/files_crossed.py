"""The files a WhatsApp text crosses: which project files' code runs while one text is handled.

``.venv/bin/python bench/files_crossed.py [--turns 2] [--json out.json] [--show-modules]``

The real app (``app.create_app()``, production settings but the environment check, as the tests build it)
on a fresh SQLite file (schema by ``app.init_database()``, as ``app.py init``), a private Redis
(tests/redis_server.py) and the local Twilio stand-in (tests/twilio_recorder.py). One signed WhatsApp text,
"mera phone chori ho gaya", from a new sender goes through Flask's test client (the "web request"); then the
outbox and the rq work it left are drained (``worker.drain()``: relay + a burst rq worker, the "worker").
With ``--turns 2`` (the default) the same citizen answers once more and that is drained too.

Before the traced conversation an untraced one from another sender runs the same steps, so lazy imports,
caches and first-use set-up are behind us. Tracing is ``sys.settrace`` + ``threading.settrace`` on "call"
events only (no line tracing): a file counts when a function (or a compiled template) defined in it runs.
Module bodies (``<module>``: an import running) are left out unless ``--show-modules``; the ``__init__``
SQLAlchemy generates for a mapped class counts for the file that declares the class.

Project files: under the checkout this script sits in, not .venv/, tests/ or bench/. Copy the script into a
``git worktree`` of an older commit to count that commit (it imports nothing but ``app``, ``worker`` and the
tests' Redis/recorder helpers). A file of another checkout (this venv's editable install points at
/work/main) is listed apart as a leak.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PUBLIC = "https://bharosa.test"
HOOK = "/twilio/whatsapp"
ACCOUNT = "AC" + "0" * 30 + "01"
TOKEN = "files-crossed-token-0123456789abcdef"  # noqa: S105
TURNS = ["mera phone chori ho gaya", "kal shaam Rawatpur bus stand pe, Kanpur Nagar"]
SKIP_DIRS = (".venv", "tests", "bench")
GENERATED = re.compile(r"^<sqlalchemy generated \S+ for class ([\w.]+)>$")


def form_for(sender: str, n: int, body: str) -> dict[str, str]:
    sid = f"SM{sender[-6:]}{n:026d}"[:34]
    return {"SmsMessageSid": sid, "NumMedia": "0", "ProfileName": "Ramesh Kumar", "MessageType": "text",
            "SmsSid": sid, "WaId": sender[1:], "SmsStatus": "received", "Body": body,
            "To": "whatsapp:+14155238886", "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": sid,
            "AccountSid": ACCOUNT, "From": f"whatsapp:{sender}", "ApiVersion": "2010-04-01"}


class Tracer:
    """Collects the code objects' files of every Python call, in every thread, while on."""

    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = {}  # filename -> code names
        self.lock = threading.Lock()

    def _trace(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            names = self.seen.get(code.co_filename)
            if names is None:
                with self.lock:
                    names = self.seen.setdefault(code.co_filename, set())
            names.add(code.co_name)
        return None  # no line events

    def __enter__(self) -> Tracer:
        self.seen = {}
        threading.settrace(self._trace)
        sys.settrace(self._trace)
        return self

    def __exit__(self, *exc) -> None:
        sys.settrace(None)
        threading.settrace(None)  # threads started meanwhile keep tracing until they end; their calls count


def project_files(seen: dict[str, set[str]], show_modules: bool) -> tuple[list[str], list[str]]:
    """(files of this checkout, files of another checkout of the project), relative, sorted."""
    mine, leaks = set(), set()
    other = Path("/work/main").resolve()
    for fname, names in seen.items():
        if not show_modules and names <= {"<module>"}:
            continue
        generated = GENERATED.search(fname)  # SQLAlchemy's __init__ of a mapped class: the class's file
        if generated:
            mod = sys.modules.get(generated.group(1).rpartition(".")[0])
            fname = getattr(mod, "__file__", None) or ""
        if not os.path.isabs(fname) or not os.path.isfile(fname):  # <frozen os>, <string>, other generated code
            continue
        try:
            p = Path(fname).resolve()
        except (OSError, ValueError):
            continue
        for root, into in ((ROOT, mine), (other, leaks)):
            try:
                rel = p.relative_to(root)
            except ValueError:
                continue
            if rel.parts and rel.parts[0] not in SKIP_DIRS:
                into.add(str(rel))
            break
    if other == ROOT:
        leaks = set()
    return sorted(mine), sorted(leaks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=2, choices=(1, 2))
    ap.add_argument("--json", help="also write the lists here")
    ap.add_argument("--show-modules", action="store_true", help="count files whose module body alone ran")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="files-crossed-"))
    from tests.redis_server import start_redis
    from tests.twilio_recorder import RecorderServer

    redis = start_redis()
    recorder = RecorderServer().start()
    os.environ.update(DATABASE_URL=f"sqlite:///{tmp / 'bharosa.db'}", REDIS_URL=redis.url,
                      TWILIO_API_BASE_URL=recorder.url, PUBLIC_BASE_URL=PUBLIC, TWILIO_ACCOUNT_SID=ACCOUNT,
                      TWILIO_AUTH_TOKEN=TOKEN, TWILIO_SMS_FROM="+15005550006",
                      TWILIO_WHATSAPP_FROM="whatsapp:+14155238886", BHAROSA_SECRET_KEY="files-crossed-secret",  # noqa: S106
                      BHAROSA_SPOOL_DIR=str(tmp / "spool"), BHAROSA_MEDIA_DIR=str(tmp / "media"))
    os.environ.pop("BHAROSA_ENV", None)
    try:
        import contextlib
        import io

        from twilio.request_validator import RequestValidator

        import app as app_module
        import worker

        with contextlib.redirect_stdout(io.StringIO()):
            app_module.init_database()
        flask_app = app_module.create_app(check_env=False, TESTING=True)
        client = flask_app.test_client()
        validator = RequestValidator(TOKEN)

        def post(form: dict) -> str:
            sig = validator.compute_signature(PUBLIC + HOOK, form)
            r = client.post(HOOK, data=urlencode(form), content_type="application/x-www-form-urlencoded",
                            headers={"X-Twilio-Signature": sig})
            if r.status_code != 200:
                raise RuntimeError(f"webhook answered {r.status_code}: {r.get_data(as_text=True)[:300]}")
            return r.get_data(as_text=True)

        def conversation(sender: str, tracer: Tracer | None) -> list[dict]:
            steps = []
            for n, body in enumerate(TURNS[:args.turns]):
                for phase, fn in (("web request", lambda b=body, n=n: post(form_for(sender, n, b))),
                                  ("worker", worker.drain)):
                    if tracer is None:
                        out = fn()
                        seen = {}
                    else:
                        with tracer:
                            out = fn()
                        seen = tracer.seen
                    steps.append({"turn": n + 1, "phase": phase, "seen": seen,
                                  "reply": out if isinstance(out, str) else None})
            return steps

        conversation("+919839000001", None)  # warm: imports, caches, the engine's first turn
        sent_before = len(recorder.recorder.messages)
        steps = conversation("+919839000002", Tracer())
        sent = recorder.recorder.messages[sent_before:]
    finally:
        recorder.stop()
        redis.proc.terminate()
        redis.proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)

    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "?", ""
    print(f"checkout {ROOT} at {commit}{' + uncommitted changes' if dirty else ''}; {args.turns} turn(s), "
          f"new sender; {len(sent)} message(s) sent through the Twilio stand-in")
    report: dict = {"commit": commit, "dirty": bool(dirty), "turns": args.turns, "steps": []}
    union: dict[str, set[str]] = {"web request": set(), "worker": set()}
    all_leaks: set[str] = set()
    for st in steps:
        files, leaks = project_files(st["seen"], args.show_modules)
        union[st["phase"]].update(files)
        all_leaks.update(leaks)
        reply = (st["reply"] or "").replace("\n", " ")
        print(f"\nturn {st['turn']}, {st['phase']}: {len(files)} files"
              + (f"   (TwiML: {reply[:100]}{'…' if len(reply) > 100 else ''})" if st["reply"] else ""))
        for f in files:
            print(f"  {f}")
        report["steps"].append({"turn": st["turn"], "phase": st["phase"], "files": files, "leaks": leaks})
    both = union["web request"] | union["worker"]
    print(f"\nall turns: web request {len(union['web request'])} files, worker {len(union['worker'])} files, "
          f"together {len(both)} distinct")
    first = [s for s in report["steps"] if s["turn"] == 1]
    first_files = set().union(*(s["files"] for s in first))
    print(f"turn 1 alone: web request {len(first[0]['files'])}, worker {len(first[1]['files'])}, "
          f"together {len(first_files)}")
    if all_leaks:
        print(f"warning: {len(all_leaks)} file(s) of /work/main ran instead of this checkout's: "
              + ", ".join(sorted(all_leaks)))
    report.update(web=sorted(union["web request"]), worker=sorted(union["worker"]), together=sorted(both),
                  leaks=sorted(all_leaks))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
