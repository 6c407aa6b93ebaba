"""One job shape: every outbox row reaches rq as tasks.jobs.run_outbox over a list of ids."""

from __future__ import annotations

from sqlalchemy import select

from models import Outbox, utcnow
from tasks.jobs import JOB_SIZE, RETRY, enqueue_rows, run_outbox
from tasks.queue import queues


def _rows(db, kinds: dict[str, int]) -> list[Outbox]:
    with db.session() as s:
        for kind, n in kinds.items():
            for i in range(n):
                s.add(Outbox(key=f"{kind}:{i}", kind=kind, payload={}, status="pending", created_at=utcnow()))
        s.commit()
        rows = list(s.scalars(select(Outbox).order_by(Outbox.id)))
        s.expunge_all()
    return rows


def test_every_kind_is_one_job_function_sized_by_kind(db, redis_conn):
    rows = _rows(db, {"route": JOB_SIZE["route"] + 1, "send": 3, "media": 2, "transcribe": 1})
    qs = queues(redis_conn)
    enqueue_rows(qs, rows)
    jobs = [j for q in qs.values() for j in q.jobs]
    assert {j.func_name for j in jobs} == {"tasks.jobs.run_outbox"}
    assert all(len(j.args) == 1 and isinstance(j.args[0], list) for j in jobs)
    assert all(j.retries_left == RETRY.max for j in jobs)
    by_kind: dict[str, list[int]] = {}
    kind_of = {r.id: r.kind for r in rows}
    for j in jobs:
        kinds = {kind_of[i] for i in j.args[0]}
        assert len(kinds) == 1, "a job holds one kind"
        by_kind.setdefault(kinds.pop(), []).append(len(j.args[0]))
    assert sorted(by_kind["route"]) == [1, JOB_SIZE["route"]]
    assert by_kind["send"] == [3]
    assert by_kind["media"] == [1, 1] and by_kind["transcribe"] == [1]  # slow work: one row a job
    assert {j.id for j in qs["media"].jobs} == {f"outbox-{r.id}-1" for r in rows if r.kind in ("media", "transcribe")}
    assert len(qs["default"].jobs) == 3


def test_finished_rows_are_counted_not_run_again(db):
    rows = _rows(db, {"send": 2})
    with db.session() as s:
        for r, status in zip(rows, ("done", "failed"), strict=True):
            s.get(Outbox, r.id).status = status
        s.commit()
    assert run_outbox([r.id for r in rows]) == {"done": 1, "failed": 1}
    assert run_outbox(rows[0].id) == {"done": 1}  # a bare id: a job enqueued by an earlier version
