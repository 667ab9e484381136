"""``facesearch eval --groups FILE.csv``: the option, and the per-group tables and flags printed
after the evaluation (the work is :mod:`facesearch.app.group_eval`'s)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from facesearch.cli.common import console

if TYPE_CHECKING:
    from facesearch.app.group_eval import GroupRun

GroupsOption = Annotated[
    Path | None,
    typer.Option(
        "--groups",
        metavar="FILE.csv",
        help="Accuracy per group and age: a CSV mapping image paths or identities to the "
        "agency's group labels (docs/accuracy.md); with --out writes groups.html/.pdf/.json.",
        show_default=False,
    ),
]


def print_groups(run: GroupRun) -> None:
    """The per-group table of each label column, the flags, and the files written."""
    from facesearch.app.group_eval import column_header, column_rows, flag_text, rate_short

    r = run.report
    for col in r.columns:
        table = Table(title=f"by {col.column} at threshold {r.threshold:.4f}")
        for name in column_header(r.gallery_sizes):
            table.add_column(name, overflow="fold")
        for row in column_rows(col, r.gallery_sizes, rate_short):
            table.add_row(*row)
        console.print(table)
    console.print("rates: percent, errors (or hits) / pairs (or probes), [Wilson 95% interval]")
    if r.age is not None:
        bands = ", ".join(f"{k}: {rate_short(v)}" for k, v in r.age.bands.items())
        gaps = ", ".join(f"{k}: {rate_short(v)}" for k, v in r.age.gaps.items())
        console.print(f"FNMR by age band: {bands}\nFNMR by age gap (years): {gaps}")
    for note in r.notes:
        console.print(f"[dim]note: {note}[/]")
    flags = r.flags
    console.print(
        f"{len(flags)} group(s) flagged (error rate more than {r.disparity_factor:g}x the best "
        f"group's; factor from {r.factor_source})"
    )
    for f in flags:
        console.print(f"  [red]flag[/] {flag_text(f)}")
    for path in run.written:
        console.print(f"[dim]wrote {path}[/]")
    if run.summary_file is not None:
        console.print(f"[dim]summary for the accountability report: {run.summary_file}[/]")
    else:
        console.print(
            f"[yellow]note:[/] no data directory at {run.data_dir}: the summary for the "
            "accountability report was not stored (give --data-dir)"
        )
