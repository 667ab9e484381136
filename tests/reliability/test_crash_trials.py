"""Crash trials in the test suite (``make test-trials``; left out of the default run): one
trial per class of operation, each a real ``facesearch`` process (or ``facesearch serve``)
SIGKILLed with its process group at a moment drawn from a fixed seed, run again to the end
and compared with an uninterrupted run (``tests/support/trials.py``; many trials:
``benchmarks/crash_trials.py``, figures in docs/reliability.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import POSTGRES_URL, _postgres_available
from tests.support.trials import Bench, trial

pytestmark = [pytest.mark.trials, pytest.mark.shared_data]
SEED = 2026

# a writer of new faces, a deletion, index maintenance, re-encryption, a copy, the server
CLASSES = ["ingest", "removal", "reindex", "keys-rotate", "backup", "serve-search"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, shared_faces: Path, pipeline: Any) -> Bench:
    return Bench(tmp_path_factory.mktemp("crash"), shared_faces, pipeline)


@pytest.mark.parametrize("op", CLASSES)
def test_an_operation_killed_at_random_finishes_with_nothing_lost(bench: Bench, op: str) -> None:
    result = trial(bench, op, SEED)
    assert result.ok, f"{op} killed at {result.kill_after:.1f} s: " + "; ".join(result.problems)


@pytest.fixture
def distributed(bench: Bench, milvus_uri: str) -> Iterator[Bench]:
    if not _postgres_available():
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    bench.milvus_uri, bench.postgres_url = milvus_uri, POSTGRES_URL
    yield bench


@pytest.mark.postgres
def test_a_migrate_killed_at_random_finishes_and_verifies(distributed: Bench) -> None:
    result = trial(distributed, "migrate", SEED)
    assert result.ok, f"killed at {result.kill_after:.1f} s: " + "; ".join(result.problems)
