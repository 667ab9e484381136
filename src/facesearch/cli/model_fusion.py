"""``facesearch calibrate --model NAME --fuse OTHER[,OTHER...] DATA [DATA...]``: the output of
choosing and recording a fusion for a store model (``app/model_fusion.py`` does the work;
``cli/evaluate.py``'s ``calibrate`` hands over to :func:`print_fusion_run` when ``--fuse`` is
given)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.table import Table

from facesearch.cli.common import console, err_console

if TYPE_CHECKING:
    from facesearch.app.model_fusion import FusionRun


def fuse_names(values: list[str] | None) -> list[str]:
    """``--fuse a,b --fuse c`` -> [a, b, c]."""
    return [n.strip() for v in values or [] for n in v.split(",") if n.strip()]


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def print_fusion_run(run: FusionRun, *, json_out: bool, dry_run: bool) -> None:
    if json_out:
        console.print_json(json.dumps(run.record))
        return
    lodo = run.lodo
    short = {k: n for k, n in zip(run.model_keys, run.names, strict=True)}
    table = Table(title=f"Fusion of {' + '.join(run.names)}: {lodo.method}")
    table.add_column("held out")
    table.add_column("chosen on the others")
    table.add_column("fused")
    for name in run.names:
        table.add_column(f"{name} alone")
    table.add_column("no worse")
    for h in lodo.held_out:
        table.add_row(
            h.name,
            h.selection.candidate.label,
            _pct(h.fused.accuracy),
            *(_pct(h.singles[k].accuracy) for k in run.model_keys),
            "yes" if h.no_worse else "[red]no[/]",
        )
    console.print(table)
    console.print(f"[dim]{lodo.note}[/]")
    weights = ", ".join(f"{short[m.model]} {m.weight:g}" for m in lodo.final.fusion.members)
    console.print(
        f"chosen on all sets: {lodo.final.candidate.normalisation}-norm, weights {weights} "
        f"({lodo.final.n_candidates} candidates"
        + (f", weight step {lodo.step:g})" if lodo.step is not None else ")")
    )
    idle = run.record.get("left_out_with_weight_0") or []
    if idle:
        console.print(f"recorded without {', '.join(idle)} (weight 0: it changes no score)")
    verdict = "accepted" if lodo.decision.accepted else "NOT accepted"
    console.print(
        f"{verdict}: "
        + (
            "no worse than the best single recognizer on every held-out set"
            if lodo.decision.accepted
            else "lost to a single recognizer on " + ", ".join(lodo.decision.failures)
        )
    )
    bands = run.bands
    console.print(
        f"fused bands: match {bands.match:.4f} (FAR 1e-3), strong {bands.strong:.4f} (FAR 1e-4) "
        f"on {bands.n_genuine} genuine and {bands.n_impostor} impostor pairs"
    )
    for warning in bands.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")
    if dry_run or run.target is None:
        console.print("dry run: nothing written")
    else:
        console.print(f'wrote the fusion into {run.target} (under "fusion")')
