"""The invariants a police service must keep, checked by SQL over the database and against the
Twilio recorder's log. Used by the fault tests, the multi-node test and after a backup restore:

    python -m tests.faults.invariants DATABASE_URL [RECORDER_LOG.jsonl]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import create_engine, text


@dataclass
class Report:
    complaints: int = 0
    messages_in: int = 0
    problems: list[str] = field(default_factory=list)
    duplicate_sends: int = 0  # recorded twice for one outbox row: the stated window
    window_resends: int = 0  # resend_unknown events: how often the window was entered
    escalations: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _q(conn, sql: str, **params):
    return conn.execute(text(sql), params).all()


def check(database_url: str, recorder_messages: list[dict] | None = None,
          expected_complaints: dict[str, int] | None = None) -> Report:
    """Check every invariant; ``expected_complaints`` maps a phone to how many complaints it filed."""
    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1) if database_url.startswith(
        "postgresql://") else database_url
    eng = create_engine(url)
    r = Report()
    with eng.connect() as c:
        r.complaints = c.execute(text("SELECT count(*) FROM complaint")).scalar_one()
        r.messages_in = c.execute(text("SELECT count(*) FROM message WHERE direction = 'in'")).scalar_one()
        dup_sql = "SELECT sid, count(*) FROM message WHERE sid IS NOT NULL GROUP BY sid HAVING count(*) > 1"
        for sid, n in _q(c, dup_sql):
            r.problems.append(f"message {sid} stored {n} times")
        for ref, n in _q(c, "SELECT ref, count(*) FROM complaint GROUP BY ref HAVING count(*) > 1"):
            r.problems.append(f"reference {ref} used {n} times")
        # one complaint per finished conversation: the reference is announced in the reply to exactly one
        # inbound message (the dialogue's earlier turns are linked to the ticket too, so complaint_id on the
        # messages counts turns, not registrations)
        for cid, n in _q(c, "SELECT k.id, count(*) FROM complaint k JOIN message m ON m.direction = 'in' "
                            "AND m.reply LIKE '%' || k.ref || '%' GROUP BY k.id HAVING count(*) > 1"):
            r.problems.append(f"complaint {cid} registered by {n} messages")
        for cid, n in _q(c, "SELECT complaint_id, count(*) FROM event WHERE kind = 'routed' "
                            "GROUP BY complaint_id HAVING count(*) > 1"):
            r.problems.append(f"complaint {cid} routed {n} times")
        unrouted = c.execute(text("SELECT count(*) FROM complaint WHERE station_id IS NULL")).scalar_one()
        if unrouted:
            r.problems.append(f"{unrouted} complaints never routed")
        rows = _q(c, "SELECT complaint_id, data FROM event WHERE kind = 'escalated'")
        r.escalations = len(rows)
        levels = Counter()
        for cid, data in rows:
            d = data if isinstance(data, dict) else json.loads(data)
            levels[(cid, d.get("level"), d.get("cycle", 0))] += 1
        for (cid, level, _cycle), n in levels.items():
            if n > 1:
                r.problems.append(f"complaint {cid} escalated to level {level} {n} times")
        stuck = c.execute(text(
            "SELECT count(*) FROM outbox WHERE status IN ('pending','enqueued','sending')")).scalar_one()
        if stuck:
            r.problems.append(f"{stuck} outbox rows not finished")
        failed = _q(c, "SELECT kind, last_error FROM outbox WHERE status = 'failed'")
        for kind, err in failed:
            r.problems.append(f"outbox {kind} failed: {err}")
        r.window_resends = c.execute(text("SELECT count(*) FROM event WHERE kind = 'resend_unknown'")).scalar_one()
        if expected_complaints:
            got = dict(_q(c, "SELECT phone, count(*) FROM complaint GROUP BY phone"))
            for phone, want in expected_complaints.items():
                if got.get(phone, 0) != want:
                    r.problems.append(f"{phone}: {got.get(phone, 0)} complaints, expected {want}")
        if recorder_messages is not None:
            per_outbox = Counter()
            body_to = Counter((m["To"], m["Body"]) for m in recorder_messages)
            for m in recorder_messages:
                oid = (m.get("StatusCallback") or "").rpartition("outbox=")[2]
                if oid:
                    per_outbox[oid] += 1
            dup_rows = {k: n for k, n in per_outbox.items() if n > 1}
            r.duplicate_sends = sum(n - 1 for n in dup_rows.values())
            if r.duplicate_sends > r.window_resends:
                r.problems.append(f"{r.duplicate_sends} duplicate sends but only {r.window_resends} entered the window")
            done = c.execute(text("SELECT count(*) FROM outbox WHERE kind = 'send' AND status = 'done'")).scalar_one()
            missing = done - len(per_outbox)
            if missing > 0:
                r.problems.append(f"{missing} sends marked done never reached the recorder")
            r.notes.append(f"{len(recorder_messages)} messages recorded, {sum(1 for v in body_to.values() if v > 1)} "
                           "identical (to, body) pairs")
    eng.dispose()
    return r


def main(argv: list[str]) -> int:
    msgs = None
    if len(argv) > 1:
        msgs = [json.loads(line) for line in open(argv[1], encoding="utf-8") if '"message"' in line]
    rep = check(argv[0], msgs)
    print(f"complaints {rep.complaints}, inbound messages {rep.messages_in}, duplicate sends {rep.duplicate_sends} "
          f"(window entered {rep.window_resends} times)")
    for n in rep.notes:
        print("note:", n)
    for p in rep.problems:
        print("PROBLEM:", p)
    print("invariants hold" if rep.ok else f"{len(rep.problems)} invariant(s) broken")
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
