"""The crash-isolating batch runner: order, bounded work in flight, and a worker that dies."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from facesearch.ingest.batches import CRASH_REASON, BatchRunner, process_pool
from facesearch.store.ports import Executor, InlineExecutor


def square_or_die(items: list[int]) -> list[int]:
    """The batch task of the tests: item -1 kills its worker process outright."""
    if -1 in items:
        os.kill(os.getpid(), signal.SIGKILL)
    return [i * i for i in items]


def _inline() -> Executor:
    return InlineExecutor()


def _task(executor: Executor) -> object:
    return square_or_die


def test_inline_batches_in_order_and_pulled_lazily():
    pulled: list[int] = []

    def batches() -> Iterator[list[int]]:
        for b in ([1, 2], [], [3], [4, 5, 6]):
            pulled.append(len(b))
            yield b

    runner: BatchRunner[int, list[int]] = BatchRunner(_inline, _task, ordered=True)  # type: ignore[arg-type]
    out = runner.run(batches())
    first = next(out)
    assert first.items == [1, 2] and first.result == [1, 4] and first.ok
    assert pulled == [2]  # one batch in flight at most: the rest not read yet
    rest = list(out)
    assert [o.result for o in rest] == [[9], [16, 25, 36]]
    assert runner.crashes == 0


def test_task_errors_propagate():
    def boom(items: list[int]) -> list[int]:
        raise ValueError("bad task")

    runner: BatchRunner[int, list[int]] = BatchRunner(_inline, lambda ex: boom)
    with pytest.raises(ValueError, match="bad task"):
        list(runner.run([[1]]))


@pytest.mark.parametrize("ordered", [True, False])
def test_a_killed_worker_fails_only_its_poisonous_item(ordered):
    batches = [[1, 2, 3], [4, -1, 5], [6, 7], [8, 9, 10]]
    runner: BatchRunner[int, list[int]] = BatchRunner(
        lambda: process_pool(2),
        _task,
        max_in_flight=4,
        ordered=ordered,  # type: ignore[arg-type]
    )
    outcomes = list(runner.run(batches))
    failed = [o for o in outcomes if not o.ok]
    assert [o.items for o in failed] == [[-1]] and failed[0].error == CRASH_REASON
    assert failed[0].result is None
    squares = {i: r for o in outcomes if o.ok for i, r in zip(o.items, o.result or [], strict=True)}
    assert squares == {i: i * i for b in batches for i in b if i != -1}
    assert runner.crashes >= 2  # the batch, then the item alone
    assert runner.rebuilt >= 1
    if ordered:
        order = [i for o in outcomes for i in o.items]
        assert order == [i for b in batches for i in b]
