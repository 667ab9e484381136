"""Progress bars of the long CLI commands, on standard error (one shape for all of them).

A library operation reports progress through ``on_progress(stage, done, total)``;
:func:`stage_bars` turns each stage into a bar labelled in words. Commands that answer JSON
pass ``quiet=True``: the bars are drawn while the work runs and removed at the end, so the
JSON on standard output stays alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from facesearch.cli.common import err_console

OnStage = Callable[[str, int, int], None]


@contextmanager
def stage_bars(
    quiet: bool, labels: Mapping[str, str] | None = None, *, in_bytes: bool = False
) -> Iterator[OnStage]:
    """A bar per stage: ``labels`` name the stages (a stage without a label shows its key);
    ``in_bytes`` counts bytes (sizes shown) instead of items (``done/total``)."""
    labels = labels or {}
    width = max((len(x) for x in labels.values()), default=10)
    with Progress(
        TextColumn(f"{{task.description:>{width}}}"),
        BarColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=quiet,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(labels.get(stage, stage), total=total)
            progress.update(tasks[stage], completed=done, total=total)

        yield on_progress
