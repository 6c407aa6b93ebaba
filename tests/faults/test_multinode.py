"""More than one machine, as far as one machine can show it: two web nodes (separate gunicorns, each
message of a conversation landing on either, as behind a load balancer), three rq workers and two
worker loops against one PostgreSQL and one Redis — no double routing, no double notification.
Then a backup (pg_dump) restored into an empty database passes the same invariants.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.faults import invariants
from tests.faults.driver import Citizen
from tests.faults.harness import ROOT, TOKEN, Cluster, pg_database
from tests.faults.test_faults import fast_clock_config, wait_quiet

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                                                    reason="needs PostgreSQL (TEST_DATABASE_URL)")]
CITIZENS = int(os.environ.get("MULTINODE_CITIZENS", "24"))


class Balanced(Citizen):
    """A citizen whose every message may reach a different web node."""

    def __init__(self, bases: list[str], rng: random.Random, *a, **kw) -> None:
        super().__init__(bases[0], *a, **kw)
        self.bases, self.rng = bases, rng

    def send(self, body: str, retries: int = 120):
        self.base = self.rng.choice(self.bases)
        return super().send(body, retries)


def test_two_web_nodes_three_workers_two_loops_then_backup_restore():
    base = os.environ["TEST_DATABASE_URL"]
    tmp = Path(tempfile.mkdtemp(prefix="bharosa-multinode-"))
    url = pg_database(base, "bharosa_multinode")
    c = Cluster(tmp / "run", url, web_processes=2, web_workers=2, rq_workers=3, loops=2)
    cfg = fast_clock_config(tmp)
    orig_env = c.env
    c.env = lambda **extra: orig_env(**{"BHAROSA_CONFIG": str(cfg), **extra})
    c.start()
    try:
        subprocess.run([sys.executable, "-m", "tickets.seed"], cwd=ROOT, env=c.env(), check=True, capture_output=True)
        bases = [c.web_url(0), c.web_url(1)]

        def one(i: int):
            rng = random.Random(1000 + i)
            return Balanced(bases, rng, TOKEN, f"+9197{i:08d}", channel="sms" if i % 2 else "whatsapp").complain(
                rng=rng)

        with ThreadPoolExecutor(8) as ex:
            results = list(ex.map(one, range(CITIZENS)))
        assert all(r.registered for r in results), [r.transcript for r in results if not r.registered][:1]
        # let the sped-up clock escalate a few levels, with both loops sweeping at once
        import time

        time.sleep(35)
        wait_quiet(c, url)
        msgs = c.recorder_messages()
        rep = invariants.check(url, msgs, {r.phone: 1 for r in results})
        assert rep.ok, rep.problems
        assert rep.complaints == CITIZENS and rep.escalations > 0
        assert rep.duplicate_sends == 0  # nothing was killed: no window, no duplicate
    finally:
        c.stop()

    # Backup and restore into an empty database: the same invariants hold, the same rows are there.
    dump = tmp / "backup.dump"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    src = plain.rsplit("/", 1)[0] + "/bharosa_multinode"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), src], check=True)
    restored = pg_database(base, "bharosa_restored")
    subprocess.run(["pg_restore", "--no-owner", "-d", restored.replace("postgresql+psycopg://", "postgresql://"),
                    str(dump)], check=True)
    rep2 = invariants.check(restored, msgs, {r.phone: 1 for r in results})
    assert rep2.ok, rep2.problems
    assert (rep2.complaints, rep2.messages_in, rep2.escalations) == (rep.complaints, rep.messages_in, rep.escalations)
    shutil.rmtree(tmp, ignore_errors=True)
