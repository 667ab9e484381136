"""Two processes appending to one audit log at once (issue 22, finding 8).

The audit chain's head is read and advanced in the same transaction as the entry. Within one
process a lock serialises governance transactions on SQLite, but a second process (a CLI
command next to ``facesearch serve``, two workers) has its own: both used to read the same
head and the second commit failed with ``UNIQUE constraint failed: gov_audit.seq``. Each
test starts two real processes on one catalog, each appending entries as fast as it can, and
requires both to finish without error and the chain to verify with every entry present.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from facesearch.govern.audit import verify
from facesearch.govern.policy import load_policy
from facesearch.govern.unit import GovernanceCore
from facesearch.store.database import make_engine, migrate

ENTRIES = 100

# One appender: waits for the start file so that both processes append at the same time.
APPENDER = """
import sys, time
from pathlib import Path
from sqlalchemy.orm import sessionmaker
from facesearch.govern.policy import load_policy
from facesearch.govern.unit import GovernanceCore
from facesearch.store.database import make_engine

url, name, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
core = GovernanceCore(sessionmaker(make_engine(url), expire_on_commit=False), load_policy(None))
core.record("system", "warm.up", {"who": name})
while not start.exists():
    time.sleep(0.005)
for i in range(n):
    core.record(name, "test.append", {"i": i})
"""


def append_from_two_processes(url: str, tmp_path: Path) -> None:
    engine = make_engine(url)
    migrate(engine)
    core = GovernanceCore(sessionmaker(engine, expire_on_commit=False), load_policy(None))
    core.record("system", "test.start", {})  # the policy is recorded before the race
    start = tmp_path / "start"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, url, name, str(ENTRIES), str(start)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    time.sleep(0.5)
    start.touch()
    errors = []
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        if proc.returncode != 0:
            errors.append(err[-2000:])
    assert not errors, "an appender failed:\n" + "\n".join(errors)
    with core.session() as s:
        result = verify(s)
        actors = [e.actor for e in core._audit(s).entries(action="test.append")]
    engine.dispose()
    assert result.ok, result.summary()
    assert sorted(actors) == sorted(["alpha"] * ENTRIES + ["beta"] * ENTRIES)


def test_two_processes_append_to_one_sqlite_audit_log(tmp_path: Path) -> None:
    append_from_two_processes(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path)


@pytest.mark.postgres
def test_two_processes_append_to_one_postgres_audit_log(tmp_path: Path, postgres_url: str) -> None:
    append_from_two_processes(postgres_url, tmp_path)
