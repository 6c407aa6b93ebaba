"""Mutation check: remove a safety mechanism and show that the fault tests catch it.

Each mutant is a copy of the tree with one textual change; the named tests run against it (SQLite,
and PostgreSQL when TEST_DATABASE_URL is set). A mutant the tests do not catch is reported as
"survived". Run once and record the result in docs/faults.md:

    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/mutation.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MUTANTS = [
    {
        "name": "no unique constraint on Message.sid, no duplicate check",
        "edits": [
            ("models/tables.py", 'sid: Mapped[str | None] = mapped_column(String(64), unique=True)',
             'sid: Mapped[str | None] = mapped_column(String(64))'),
            ("channels/inbound.py",
             "    if session.scalar(select(Message.id).where(Message.sid == msg.sid)) is not None:", "    if False:"),
            ("channels/inbound.py", '.on_conflict_do_nothing(index_elements=["sid"])', ""),
        ],
        "tests": ["tests/channels/test_reliability.py::test_same_message_sid_50_times_concurrently",
                  "tests/hostile/test_corpus.py -k replay"],
    },
    {
        "name": "no unique constraint on Message.sid (the duplicate check alone)",
        "edits": [
            ("models/tables.py", 'sid: Mapped[str | None] = mapped_column(String(64), unique=True)',
             'sid: Mapped[str | None] = mapped_column(String(64))'),
            ("channels/inbound.py", '.on_conflict_do_nothing(index_elements=["sid"])', ""),
        ],
        "tests": ["tests/channels/test_reliability.py::test_same_message_sid_50_times_concurrently"],
    },
    {
        "name": "escalation without the conditional UPDATE and without FOR UPDATE SKIP LOCKED",
        "edits": [
            ("tickets/clock.py", ".where(Complaint.id == cid, Complaint.escalation_level == lvl_old, "
             "Complaint.reminders_sent == rem_old,", ".where(Complaint.id == cid,"),
            ("tickets/clock.py", "                   Complaint.next_check_at == nx_old)", "                   )"),
            ("tickets/clock.py", "        q = q.with_for_update(skip_locked=True, of=Complaint)", "        pass"),
        ],
        "tests": ["tests/tickets/test_faults.py::test_two_sweepers_in_threads_escalate_once",
                  "tests/tickets/test_faults.py::test_two_sweeper_processes_escalate_once"],
    },
    {
        "name": "escalation without the conditional UPDATE (row locks alone)",
        "edits": [
            ("tickets/clock.py", ".where(Complaint.id == cid, Complaint.escalation_level == lvl_old, "
             "Complaint.reminders_sent == rem_old,", ".where(Complaint.id == cid,"),
            ("tickets/clock.py", "                   Complaint.next_check_at == nx_old)", "                   )"),
        ],
        "tests": ["tests/tickets/test_faults.py::test_two_sweepers_in_threads_escalate_once",
                  "tests/tickets/test_faults.py::test_two_sweeper_processes_escalate_once"],
    },
]


def copy_tree(dest: Path) -> None:
    ignore = shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", "test-artifacts", "*.pyc")
    shutil.copytree(ROOT, dest, ignore=ignore)


def run_mutant(m: dict) -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix="bharosa-mutant-") as tmp:
        tree = Path(tmp) / "tree"
        copy_tree(tree)
        for rel, old, new in m["edits"]:
            p = tree / rel
            text = p.read_text(encoding="utf-8")
            if old not in text:
                return "stale", f"pattern not found in {rel}: {old[:60]!r}"
            p.write_text(text.replace(old, new, 1), encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=str(tree))
        where = subprocess.run([sys.executable, "-c", "import models, tickets.clock; print(tickets.clock.__file__)"],
                               cwd=tree, env=env, capture_output=True, text=True).stdout.strip()
        if not where.startswith(str(tree)):
            return "error", f"the mutant's code was not the one imported ({where})"
        out = []
        failed = False
        for t in m["tests"]:
            args = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-x", *t.split()]
            r = subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True, timeout=900)
            lines = r.stdout.strip().splitlines() or ["?"]
            why = next((ln.strip() for ln in lines if ln.startswith("E ")), "")
            summary = next((ln for ln in reversed(lines) if " passed" in ln or " failed" in ln or " error" in ln),
                           lines[-1])
            out.append(f"{t}: {summary.strip()}" + (f" [{why[:200]}]" if why else ""))
            failed = failed or r.returncode != 0
        return ("killed" if failed else "survived"), "; ".join(out)


def main() -> int:
    print(f"databases: SQLite{' + PostgreSQL' if os.environ.get('TEST_DATABASE_URL') else ''}")
    for m in MUTANTS:
        verdict, detail = run_mutant(m)
        print(f"[{verdict:8s}] {m['name']}\n           {detail}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
