"""``facesearch eval`` and ``facesearch calibrate``: accuracy you can state.

The main CLI registers both commands with::

    from facesearch.cli.evaluate import register as register_evaluate
    register_evaluate(app)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from facesearch.cli.common import DataDirOption, console, err_console, friendly_errors, shown
from facesearch.cli.eval_groups import GroupsOption, print_groups

if TYPE_CHECKING:
    from facesearch.app.evaluation import Dataset
    from facesearch.settings import Settings


class ProtocolChoice(StrEnum):
    """Evaluation protocols, for ``--protocol``."""

    CFP_FF = "cfp-ff"
    CFP_FP = "cfp-fp"
    LFW = "lfw"
    PAIRS = "pairs"
    FOLDERS = "folders"
    MANIFEST = "manifest"


ProtocolOption = Annotated[
    ProtocolChoice | None,
    typer.Option(
        "--protocol",
        "-p",
        help="How DATA is laid out (default: guessed; CFP must be named).",
        show_default=False,
    ),
]
IncludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--include",
        metavar="GLOB",
        help="Only images whose path (relative to DATA) matches this glob, e.g. "
        "'*/frontal/*'. Repeatable. Folders and manifests only.",
        show_default=False,
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        metavar="N", help="Worker processes (default: one per core; 0 = in-process).", min=0
    ),
]
SfaceOnlyOption = Annotated[
    bool,
    typer.Option(
        "--sface-only",
        help="Score with SFace alone (to measure it), not as search and compare do (SFace "
        "fused with the second recognizer, dlib ResNet).",
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        metavar="NAME",
        help="The recognizer to use: a model added with 'facesearch models add' or a packaged "
        "one (default: the one the gallery searches with).",
        show_default=False,
    ),
]
ImagesOption = Annotated[
    Path | None,
    typer.Option(
        metavar="FOLDER", help="LFW image root (default: the 'lfw' folder beside pairs.txt)."
    ),
]


FuseOption = Annotated[
    list[str] | None,
    typer.Option(
        "--fuse",
        metavar="OTHER[,OTHER...]",
        help="Choose a fusion of --model with these recognizers (leave-one-dataset-out over "
        "the DATA sets; k-fold within one) and record it, with its fused bands, in the "
        "model's calibration.json in the model store.",
        show_default=False,
    ),
]


def _protocol(choice: ProtocolChoice | None) -> str | None:
    return choice.value if choice is not None else None


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("images"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not enabled,
    ) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def _fmt_pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f}%"


def _settings(ctx: typer.Context, option: Path | None) -> Settings:
    """The typed settings, with the command's --data-dir, else the main app's global
    --data-dir (if any)."""
    from facesearch.settings import Settings

    if option is None:
        found = getattr(ctx.find_root().obj, "data_dir", None)
        option = Path(found) if found is not None else None
    return Settings.load(data_dir=option)


def eval_command(
    ctx: typer.Context,
    data: Annotated[
        Path,
        typer.Argument(
            help="Identity folders, a manifest, an LFW pairs.txt, the CFP folder or a pair "
            "table (img_a, img_b, same_person)."
        ),
    ],
    protocol: ProtocolOption = None,
    images: ImagesOption = None,
    include: IncludeOption = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            "-g",
            metavar="COLUMN",
            help="Manifest column to report FMR/FNMR per value of (repeatable; default: "
            "every column with at most 20 values that is not provenance).",
            show_default=False,
        ),
    ] = None,
    json_file: Annotated[
        Path | None,
        typer.Option("--json", metavar="FILE", help="Write every figure to this JSON file."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", help="Write roc.png and scores.png (and scores.tsv) here."
        ),
    ] = None,
    workers: WorkersOption = None,
    seed: Annotated[
        int, typer.Option(metavar="N", help="Seed for sampled pairs, folds and splits.")
    ] = 2016,
    max_impostors: Annotated[
        int,
        typer.Option(
            metavar="N", help="Impostor pairs sampled from identity sets (0 = all of them).", min=0
        ),
    ] = 2_000_000,
    flip: Annotated[
        bool,
        typer.Option(
            "--flip", help="Embed with flip fusion (to measure it; the pipeline does not use it)."
        ),
    ] = False,
    sface_only: SfaceOnlyOption = False,
    model: ModelOption = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            metavar="NAME[,NAME...]",
            help="Compare the current model with these models (and fusions of them) side by "
            "side, with 95% confidence intervals.",
            show_default=False,
        ),
    ] = None,
    groups: GroupsOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Measure 1:1 and 1:N accuracy on labelled photos through the search pipeline.

    Figures at the operating point use the search bands of the data directory (its
    calibration.json if there is one, else the packaged manifest's).
    """
    from facesearch.app import evaluation, group_eval, model_compare

    with friendly_errors():
        try:
            dataset = evaluation.load_dataset(
                data, _protocol(protocol), images=images, include=include or (), group_columns=group
            )
            labels = None
            if groups is not None:
                labels = group_eval.prepare(
                    dataset, groups, _settings(ctx, data_dir).data_dir, include or ()
                )
        except ValueError as exc:  # GroupLabelsError too: every problem, with its line
            raise typer.BadParameter(str(exc)) from None
        if compare is not None:
            if model is not None:
                raise typer.BadParameter("--compare compares with the current model: no --model")
            compare_eval(
                dataset,
                data,
                [n.strip() for n in compare.split(",") if n.strip()],
                settings=_settings(ctx, data_dir),
                fusion=not sface_only,
                workers=workers,
                seed=seed,
                max_impostors=max_impostors or None,
                out=out,
                json_file=json_file,
            )
            return
        with _progress("embed", err_console.is_terminal) as update:
            report = model_compare.evaluate_model(
                dataset,
                settings=_settings(ctx, data_dir),
                name=model,
                flip=flip,
                fusion=not sface_only,
                workers=workers,
                seed=seed,
                max_impostors=max_impostors or None,
                on_progress=update,
                note=_note,
            )
        written = evaluation.write_outputs(
            report, dataset, name=data.name or str(data), out=out, json_file=json_file
        )
        group_run = None
        if labels is not None:
            group_run = group_eval.run_groups(
                report,
                dataset,
                labels,
                seed=seed,
                max_impostors=max_impostors or None,
                out=out,
            )
    emb = report.embeddings
    table = Table(
        title=f"{dataset.kind}: {data}  (model {emb.model_key}, {emb.variant})",
        show_header=False,
    )
    table.add_column("figure", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in evaluation.summary_rows(report):
        table.add_row(name, value)
    console.print(table)
    for note in [*dataset.notes, *report.notes]:
        console.print(f"[dim]note: {note}[/]")
    missing = report.no_face + [r.path for r in report.unreadable]
    for path in missing[:20]:
        console.print(f"  [yellow]no face / unreadable[/] {shown(path)}")
    if len(missing) > 20:
        console.print(f"  ... and {len(missing) - 20} more (see the JSON report)")
    if group_run is not None:
        print_groups(group_run)
    for path in written:
        console.print(f"[dim]wrote {path}[/]")


def _note(text: str) -> None:
    err_console.print(f"[yellow]note:[/] {text}")


def calibrate_command(
    ctx: typer.Context,
    data: Annotated[
        Path,
        typer.Argument(
            help="Labelled photos: identity folders or a manifest (path, identity). Pair "
            "protocols work too but seldom hold enough impostor pairs."
        ),
    ],
    more_data: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[DATA]...",
            help="More labelled sets (only with --fuse: the fusion's weights are chosen "
            "leave-one-dataset-out over all of them).",
            show_default=False,
        ),
    ] = None,
    protocol: ProtocolOption = None,
    images: ImagesOption = None,
    include: IncludeOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Calibration file to write (default: calibration.json in the data directory).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show old and new thresholds; write nothing.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the calibration as JSON.")
    ] = False,
    workers: WorkersOption = None,
    sface_only: SfaceOnlyOption = False,
    model: ModelOption = None,
    data_dir: DataDirOption = None,
    fuse: FuseOption = None,
) -> None:
    """Calibrate the match/strong thresholds (FAR 1e-3 / 1e-4) on your own labelled photos.

    With --model NAME (a model added with 'facesearch models add'), its own bands are
    written to its calibration.json in the model store, never to the gallery's.
    """
    from facesearch.app import evaluation, model_compare

    if fuse:
        _calibrate_fusion(
            ctx,
            [data, *(more_data or [])],
            protocol,
            images,
            include,
            model,
            fuse,
            dry_run,
            json_out,
            data_dir,
        )
        return
    if more_data:
        raise typer.BadParameter("more than one DATA is taken only with --fuse")
    with friendly_errors():
        try:
            dataset = evaluation.load_dataset(
                data, _protocol(protocol), images=images, include=include or ()
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        with _progress("embed", err_console.is_terminal and not json_out) as update:
            settings = _settings(ctx, data_dir)
            try:
                run = model_compare.calibrate_model(
                    dataset,
                    settings=settings,
                    name=model,
                    output=output,
                    fusion=not sface_only,
                    workers=workers,
                    include=include or (),
                    dry_run=dry_run,
                    on_progress=update,
                    note=_note,
                )
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
    calibration, current, current_fused = run.calibration, run.current, run.current_fused
    root, target = run.root, run.target
    if json_out:
        console.print_json(json.dumps(calibration.to_dict()))
        return
    old_match = float(current.get("match", math.nan))
    old_strong = float(current.get("strong", math.nan))
    table = Table(title=f"Calibration on {data} ({calibration.protocol})")
    for col in ("band", "old threshold", "new threshold", "FAR target", "TAR on this data"):
        table.add_column(col)
    for band, old, new, far in (
        ("match (possible)", old_match, calibration.match, "1e-03"),
        ("strong", old_strong, calibration.strong, "1e-04"),
    ):
        fig = calibration.figures.get(f"far_{far}", {})
        shown_old = "-" if math.isnan(old) else f"{old:.4f}"
        table.add_row(band, shown_old, f"{new:.4f}", far, _fmt_pct(fig.get("tar")))
    if calibration.fused:
        fused_figs = calibration.fused.get("figures", {})
        for band, key, far in (
            ("fused match", "match", "1e-03"),
            ("fused strong", "strong", "1e-04"),
        ):
            old_fused = current_fused.get(key)
            table.add_row(
                band,
                "-" if old_fused is None else f"{float(old_fused):.4f}",
                f"{float(calibration.fused[key]):.4f}",
                far,
                _fmt_pct(fused_figs.get(f"far_{far}", {}).get("tar")),
            )
    console.print(table)
    console.print(
        f"{calibration.n_images} images ({calibration.n_no_face} without a face, counted), "
        f"{calibration.n_genuine} genuine and {calibration.n_impostor} impostor comparisons; "
        f"model {calibration.model_key} ({calibration.embedding})."
    )
    for warning in calibration.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if dry_run:
        console.print("dry run: nothing written")
    elif root != settings.data_dir:  # a model of the model store: its own bands
        console.print(
            f"wrote {target}: the bands of {calibration.model_key}, used when the gallery "
            "searches with it (the gallery's calibration.json is not touched)."
        )
    else:
        console.print(
            f"wrote {target}; galleries in {root} use these thresholds. "
            "Delete the file to return to the packaged ones."
        )


def compare_eval(
    dataset: Dataset,
    data: Path,
    names: list[str],
    *,
    settings: Settings,
    fusion: bool,
    workers: int | None,
    seed: int,
    max_impostors: int | None,
    out: Path | None,
    json_file: Path | None,
) -> None:
    """``eval --compare``: the current model and each named one (and their fusions) side by
    side in one table."""
    from facesearch.app import model_compare

    if not names:
        raise typer.BadParameter("--compare needs one or more model names")
    with _progress("embed", err_console.is_terminal) as update:
        comparison = model_compare.compare_models(
            dataset,
            names,
            settings=settings,
            fusion=fusion,
            workers=workers,
            seed=seed,
            max_impostors=max_impostors,
            on_progress=update,
            note=_note,
        )
    written = model_compare.write_comparison(
        comparison, name=data.name or str(data), out=out, json_file=json_file
    )
    table = Table(title=f"{dataset.kind}: {data}  (95% confidence intervals)")
    table.add_column("figure", style="bold")
    for row in comparison.rows:
        table.add_column(f"{row.label}\n({row.role})", overflow="fold")
    labels = {"accuracy_10fold": "10-fold accuracy"}
    labels.update({f"rank1_gallery_{g}": f"rank-1, gallery {g}" for g in comparison.gallery_sizes})
    for name in comparison.figure_names():
        title = labels.get(name) or "TAR @ FAR " + name.rsplit("_", 1)[-1]
        cells = []
        for row in comparison.rows:
            fig = row.figures.get(name)
            cells.append("n/a" if fig is None else fig.shown())
        table.add_row(title, *cells)
    for title, key in (
        ("genuine / impostor pairs", ""),
        ("identities / probes", ""),
        ("photos without a face", "n_no_face"),
    ):
        cells = []
        for row in comparison.rows:
            c = row.counts
            if title.startswith("genuine"):
                cells.append(f"{c.get('n_genuine', 0)} / {c.get('n_impostor', 0)}")
            elif title.startswith("identities"):
                cells.append(f"{c.get('n_identities', '-')} / {c.get('n_probes', '-')}")
            else:
                cells.append(str(c.get(key, 0)))
        table.add_row(title, *cells)
    console.print(table)
    console.print(f"[dim]intervals: {model_compare.CI_METHOD}[/]")
    for note in [*dataset.notes, *comparison.notes]:
        console.print(f"[dim]note: {note}[/]")
    for row in comparison.rows:
        for note in [*row.notes, *row.report.notes]:
            console.print(f"[dim]note ({row.label}): {note}[/]")
    for path in written:
        console.print(f"[dim]wrote {path}[/]")


def _calibrate_fusion(
    ctx: typer.Context,
    data: list[Path],
    protocol: ProtocolChoice | None,
    images: Path | None,
    include: list[str] | None,
    model: str | None,
    fuse: list[str],
    dry_run: bool,
    json_out: bool,
    data_dir: Path | None,
) -> None:
    """``calibrate --model NAME --fuse OTHER ... DATA [DATA...]`` (app/model_fusion.py)."""
    from facesearch.app import evaluation, model_fusion
    from facesearch.cli.model_fusion import fuse_names, print_fusion_run

    if not model:
        raise typer.BadParameter("--fuse needs --model NAME (a model of the model store)")
    with friendly_errors():
        datasets: dict[str, evaluation.Dataset] = {}
        for path in data:
            try:
                ds = evaluation.load_dataset(
                    path, _protocol(protocol), images=images, include=include or ()
                )
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
            name = path.name or str(path)
            datasets[name if name not in datasets else f"{name} ({len(datasets) + 1})"] = ds
        with _progress("embed", err_console.is_terminal and not json_out) as update:
            run = model_fusion.calibrate_fusion(
                datasets,
                model=model,
                fuse=fuse_names(fuse),
                settings=_settings(ctx, data_dir),
                dry_run=dry_run,
                on_progress=update,
                note=_note,
            )
    print_fusion_run(run, json_out=json_out, dry_run=dry_run)


def register(app: typer.Typer) -> None:
    """Add ``eval`` and ``calibrate`` to the main ``facesearch`` app."""
    app.command("eval")(eval_command)
    app.command("calibrate")(calibrate_command)


def make_app() -> typer.Typer:
    """A stand-alone app with just these two commands (tests, or before registration)."""
    app = typer.Typer(
        name="facesearch-eval",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    register(app)
    return app
