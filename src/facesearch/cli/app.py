"""``facesearch`` commands: init, ingest, search, embed, compare, stats, runs, reindex, and the
governance sub-commands (user, token, case, review, audit, policy, suppress, purge)."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

from facesearch.cli.common import (
    Actor,
    DatabaseUrlOption,
    DataDirOption,
    TokenOpt,
    console,
    err_console,
    friendly_errors,
)
from facesearch.cli.evaluate import register as register_evaluate
from facesearch.cli.govern import GovernHooks, register
from facesearch.cli.serve import register as register_serve
from facesearch.errors import DecodeError
from facesearch.store.catalog import SearchFilters

if TYPE_CHECKING:
    from facesearch.gallery import Gallery
    from facesearch.govern import Governance
    from facesearch.workspace import Workspace

app = typer.Typer(
    name="facesearch",
    help="Face search for accountable investigations: ingest lawfully held photos, search by face.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass
class CliState:
    data_dir: Path | None = None
    database_url: str | None = None
    workspace: Workspace | None = None


@app.callback()
def main_options(
    ctx: typer.Context,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Face search for accountable investigations: ingest lawfully held photos, search by face.

    Searches run only inside an open, approved case (see 'facesearch case'); every search,
    view, review and administrative act is written to a hash-chained audit log.
    """
    ctx.obj = CliState(data_dir, database_url)


def _state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


def _workspace(
    ctx: typer.Context, data_dir: Path | None = None, database_url: str | None = None
) -> Workspace:
    """The workspace for this invocation: command options win over the global ones."""
    from facesearch.workspace import Workspace

    state = _state(ctx)
    if state.workspace is None:
        state.workspace = Workspace.open(
            data_dir or state.data_dir, database_url=database_url or state.database_url
        )
        ctx.call_on_close(state.workspace.close)
    return state.workspace


def _open(ctx: typer.Context, data_dir: Path | None, database_url: str | None) -> Gallery:
    return _workspace(ctx, data_dir, database_url).gallery


def _actor(ws: Workspace, actor: str | None, token: str | None) -> str:
    return ws.governance.resolve_actor(actor, token)


@app.command()
def init(
    ctx: typer.Context,
    admin: Annotated[str, typer.Option(help="User name of the first administrator.")],
    password_stdin: Annotated[
        bool, typer.Option(help="Read the administrator's password from standard input.")
    ] = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Set up a data directory: catalog, default policy (policy.toml) and first administrator."""
    with friendly_errors():
        ws = _workspace(ctx, data_dir, database_url)
        password = sys.stdin.readline().rstrip("\n") if password_stdin else None
        policy = ws.init(admin, password)
    console.print(f"initialised {ws.gallery.data_dir}: administrator {admin!r}, policy {policy}")
    console.print("Next: add users ('facesearch user add'), ingest photos, open a case.")


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files, folders, zip/tar archives.")
    ] = None,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Collection for these photos.")
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            help="CSV or JSON Lines manifest: path, source_url, page_url, title, "
            "captured_at, collection."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per core; 0 = in-process).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    second_vectors: Annotated[
        bool,
        typer.Option(
            "--second-vectors",
            help="Also run the second recognizer (dlib) on every face now, about 120 ms per "
            "face, instead of on a face's first search.",
        ),
    ] = False,
    actor: Actor = None,
    token: TokenOpt = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Add every face in PATHS (and the manifest) to the gallery (administrators; logged).

    Faces of people on the suppression list are left out.
    """
    with friendly_errors():
        ws = _workspace(ctx, data_dir, database_url)
        ws.gallery.second_vectors_at_ingest = second_vectors
        who = _actor(ws, actor, token)
        with Progress(
            TextColumn("[bold]ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files"),
            TextColumn("{task.fields[faces]} faces"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=json_out or not err_console.is_terminal,
        ) as progress:
            task = progress.add_task("ingest", total=None, faces=0, rate="")

            def on_progress(p: Any) -> None:
                elapsed = progress.tasks[task].elapsed or 0.0
                rate = f"{p.files_done / elapsed:.1f} files/s" if elapsed > 0 else ""
                progress.update(
                    task, total=p.files_total, completed=p.files_done, faces=p.faces, rate=rate
                )

            if not paths and manifest is None:
                raise typer.BadParameter("give files, folders or archives, or --manifest FILE")
            report = ws.ingest(
                who,
                paths or [],
                collection=collection,
                manifest=manifest,
                workers=workers,
                on_progress=on_progress,
            )
    if json_out:
        console.print_json(
            json.dumps(
                {
                    **report.counts(),
                    "run_id": report.run_id,
                    "faces_flagged_by_reason": report.faces_flagged,
                    "failures": [{"path": p, "reason": r} for p, r in report.failures],
                    "seconds": round(report.seconds, 2),
                    "interrupted": report.interrupted,
                }
            )
        )
    else:
        _print_ingest_summary(report)
    if report.interrupted:
        raise typer.Exit(130)


def _print_ingest_summary(report: Any) -> None:
    rate = report.images_new / report.seconds if report.seconds else 0.0
    table = Table(
        title=f"Ingest run {report.run_id}" + (" (interrupted)" if report.interrupted else ""),
        show_header=False,
    )
    table.add_row("files read", str(report.files_read))
    table.add_row("new images", f"{report.images_new}  ({rate:.1f}/s)")
    table.add_row("already stored (skipped)", str(report.images_already_stored))
    table.add_row("duplicates (provenance added)", str(report.duplicates))
    table.add_row("images without a face", str(report.images_without_face))
    table.add_row("faces indexed", str(report.faces_indexed))
    flagged = ", ".join(f"{k} {v}" for k, v in sorted(report.faces_flagged.items())) or "none"
    table.add_row(
        "faces flagged (kept, not searched)", f"{report.faces_flagged_total}  ({flagged})"
    )
    if report.faces_suppressed:
        table.add_row("faces suppressed (not stored)", str(report.faces_suppressed))
    table.add_row("failures", str(len(report.failures)))
    table.add_row("time", f"{report.seconds:.1f} s")
    console.print(table)
    for path, reason in report.failures[:50]:
        console.print(f"  [red]failed[/] {path}: {reason}")
    if len(report.failures) > 50:
        console.print(f"  ... and {len(report.failures) - 50} more (see 'facesearch runs')")


@app.command()
def search(
    ctx: typer.Context,
    probe: Annotated[Path, typer.Argument(help="Probe photo.")],
    case: Annotated[
        str | None, typer.Option("--case", help="The open, approved case this search serves.")
    ] = None,
    k: Annotated[
        int | None,
        typer.Option("-k", help="Number of candidates (default and cap: the policy's).", min=1),
    ] = None,
    face: Annotated[
        int | None, typer.Option("--face", help="Which face of the probe (default: largest).")
    ] = None,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Search this collection only.")
    ] = None,
    captured_from: Annotated[
        str | None, typer.Option(help="Only photos captured on or after this ISO date.")
    ] = None,
    captured_to: Annotated[
        str | None, typer.Option(help="Only photos captured on or before this ISO date.")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Only photos whose source URL starts with this.")
    ] = None,
    include_flagged: Annotated[
        bool,
        typer.Option(help="Also search faces flagged for low quality (slower, less reliable)."),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="CSV output.")] = False,
    grid: Annotated[
        Path | None, typer.Option(help="Also write a PNG grid of the probe and candidate faces.")
    ] = None,
    actor: Actor = None,
    token: TokenOpt = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Find the gallery faces most likely to be the person in PROBE, inside a case.

    Runs only inside an open, approved case, by an investigator assigned to it; anything else
    is refused with the reason, and the refusal is logged. Every search is in the audit log.
    """
    with friendly_errors():
        ws = _workspace(ctx, data_dir, database_url)
        who = _actor(ws, actor, token)
        if not case:
            ws.governance.refuse(
                who,
                "search",
                "a search needs --case CASE (an open, approved case)",
                {"probe": str(probe)},
            )
        filters = _filters(collection, captured_from, captured_to, source)
        data = probe.read_bytes()
        outcome, engine = ws.search(
            who, case, data, k=k, face=face, filters=filters, include_flagged=include_flagged
        )
        view = _search_view(ws, outcome, engine)
        if grid is not None:
            from facesearch.render import result_grid

            pixels = ws.gallery.decode(data).pixels[:, :, ::-1]
            grid.write_bytes(result_grid(view, pixels, ws.gallery.blobs))
            err_console.print(f"result grid written to {grid}")
    if json_out:
        sys.stdout.write(json.dumps(view, indent=2, default=str) + "\n")
        return
    if csv_out:
        _write_search_csv(view)
        return
    _print_search(view)


def _search_view(ws: Workspace, outcome: Any, engine: Any) -> dict[str, Any]:
    """What a search shows: the governed outcome, with the engine's probe faces and timing."""
    view = asdict(outcome)
    view["face"] = engine.face if engine else None
    view["probe_faces"] = [asdict(f) for f in engine.probe_faces] if engine else []
    view["gallery_size"] = engine.gallery_size if engine else None
    view["seconds"] = engine.seconds if engine else None
    for cand in view["candidates"]:
        cand["crop_path"] = str(ws.gallery.blobs.path(cand["crop"])) if cand["crop"] else None
        first = cand["provenance"][0] if cand["provenance"] else {}
        cand["image_path"] = first.get("path")
    return view


def _filters(
    collection: str | None, captured_from: str | None, captured_to: str | None, source: str | None
) -> SearchFilters:
    from facesearch.ingest.sources import parse_datetime

    try:
        start = parse_datetime(captured_from) if captured_from else None
        end = parse_datetime(captured_to) if captured_to else None
    except ValueError as exc:
        raise typer.BadParameter(f"dates must be ISO 8601 (YYYY-MM-DD): {exc}") from None
    if end is not None and captured_to and len(captured_to.strip()) == 10:
        end = end.replace(hour=23, minute=59, second=59, microsecond=999999)  # whole last day
    return SearchFilters(collection, start, end, source)


CSV_COLUMNS = (
    "rank", "score", "band", "face_id", "image_path", "image_sha256", "crop_path",
    "collection", "source_url", "page_url", "title", "captured_at",
)  # fmt: skip


def _write_search_csv(view: dict[str, Any]) -> None:
    """One row per candidate and provenance record."""
    writer = csv.writer(sys.stdout)
    writer.writerow(["search_id", "case", *CSV_COLUMNS])
    for c in view["candidates"]:
        for p in c["provenance"] or [{}]:
            row = {**c, **{k: p.get(k) for k in CSV_COLUMNS[7:]}}
            writer.writerow(
                [view["search_id"], view["case"], *(row.get(k) or "" for k in CSV_COLUMNS)]
            )


def _print_search(view: dict[str, Any]) -> None:
    faces = view["probe_faces"]
    chosen = view["face"]
    if len(faces) > 1:
        console.print(
            f"The probe has {len(faces)} faces; searched face {chosen} "
            "(use --face N to pick another):"
        )
        for f in faces:
            mark = "*" if f["index"] == chosen else " "
            flags = f", flagged {','.join(f['flags'])}" if f["flags"] else ""
            console.print(
                f"  {mark} face {f['index']}: box {f['bbox']}, quality {f['quality']:.2f}{flags}"
            )
    if faces and chosen is not None and faces[chosen]["flags"]:
        console.print(
            f"[yellow]warning:[/] the probe face is flagged {', '.join(faces[chosen]['flags'])};"
            " results are less reliable."
        )
    ms = f"{view['seconds'] * 1000:.0f} ms, " if view.get("seconds") is not None else ""
    table = Table(
        title=f"Search {view['search_id']} in case {view['case']} by {view['user']}: "
        f"{len(view['candidates'])} candidates from {view['gallery_size']} faces "
        f"({ms}model {view['model']})"
    )
    for col in ("#", "score", "band", "image", "provenance"):
        table.add_column(col, overflow="fold")
    colours = {"strong": "green", "possible": "yellow", "weak": "dim"}
    for c in view["candidates"]:
        prov = "\n".join(
            " | ".join(
                str(x)
                for x in (
                    p.get("collection"),
                    p.get("source_url"),
                    p.get("title"),
                    p.get("captured_at"),
                )
                if x
            )
            for p in c["provenance"]
        )
        band = f"[{colours.get(c['band'], 'white')}]{c['band']}[/]"
        table.add_row(str(c["rank"]), f"{c['score']:.3f}", band, c["image_path"] or "", prov)
    console.print(table)
    hidden = view["hidden_below_band"] + view["hidden_suppressed"]
    if hidden:
        console.print(
            f"{view['hidden_below_band']} candidates below the band shown "
            f"('{view['min_band_shown']}') and {view['hidden_suppressed']} of suppressed "
            "people are not shown."
        )
    t = view["thresholds"]
    if "strong" in t and "match" in t:
        console.print(f"Bands: strong >= {t['strong']}, possible >= {t['match']}, weak below.")
    if "sface_match" in t:
        console.print(
            "Scores fuse both recognizers; a candidate without the second one's vector keeps "
            f"SFace's score, banded at strong >= {t['sface_strong']}, possible >= "
            f"{t['sface_match']}."
        )
    console.print("Face crops: --grid FILE.png draws them; --json gives each crop_path.")
    console.print(f"Review each candidate: facesearch review mark {view['search_id']} FACE_ID ...")
    console.print(f"[bold]{view['statement']}[/]")


@app.command()
def embed(
    files: Annotated[list[Path], typer.Argument(help="Image files.")],
    json_out: Annotated[bool, typer.Option("--json", help="JSON Lines (the only format).")] = True,
) -> None:
    """Print one JSON line per detected face: box, landmarks, quality, model, embedding."""
    from facesearch.decode import decode_file
    from facesearch.models.manifest import load_manifest
    from facesearch.pipeline import FacePipeline

    with friendly_errors():
        pipeline = FacePipeline.load()
        model = load_manifest().recognizer.model_key
        for path in files:
            try:
                faces = pipeline.process_image(decode_file(path)).faces
            except DecodeError as exc:
                _jsonl(
                    {
                        "file": str(path),
                        "face": None,
                        "model": model,
                        "embedding": None,
                        "error": str(exc),
                    }
                )
                continue
            if not faces:
                _jsonl(
                    {
                        "file": str(path),
                        "face": None,
                        "model": model,
                        "embedding": None,
                        "reason": "no face found",
                    }
                )
            for f in faces:
                _jsonl(
                    {
                        "file": str(path),
                        "face": f.index,
                        "bbox": [round(v, 2) for v in f.bbox],
                        "landmarks": f.landmarks.astype(float).round(2).tolist(),
                        "detector_score": round(f.detector_score, 4),
                        "quality": f.quality.score,
                        "flags": list(f.quality.flags),
                        "model": f.model,
                        "embedding": [round(float(v), 7) for v in f.embedding],
                    }
                )


def _jsonl(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")


@app.command()
def compare(
    a: Annotated[Path | None, typer.Argument(help="First photo.")] = None,
    b: Annotated[Path | None, typer.Argument(help="Second photo.")] = None,
    pairs: Annotated[
        Path | None, typer.Option(help="TSV of image pairs (two paths per line) to score.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """1:1 verification: similarity of the largest face in A and in B, and the decision.

    Compares the two photos given; it does not search or touch a gallery.
    """
    from facesearch.verify import PairError, Verifier, compare_pairs, read_pair_list

    with friendly_errors():
        if pairs is not None:
            verifier = Verifier.load(data_dir)
            for row in compare_pairs(verifier, read_pair_list(pairs)):
                _jsonl(row) if json_out else console.print(
                    f"{row['score'] if row['score'] is not None else '-':>7}  "
                    f"{'same' if row['same'] else 'different':9}  {row['a']}  {row['b']}"
                    + (f"  ({row['error']})" if row.get("error") else "")
                )
            return
        if a is None or b is None:
            raise PairError("give two photos, or --pairs FILE")
        result = Verifier.load(data_dir).compare(a, b)
    if json_out:
        _jsonl({"a": str(a), "b": str(b), **result.to_dict()})
        return
    verdict = (
        "[green]same person (possible match)[/]" if result.same else "[red]different people[/]"
    )
    scored_by = "SFace + dlib, fused" if result.fused else "SFace"
    console.print(
        f"similarity {result.score:.4f} ({result.band}; {scored_by}); threshold "
        f"{result.threshold}: {verdict}"
    )
    console.print(f"[dim]{result.notice}[/]")


@app.command()
def stats(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Images, faces, flags, collections and the index of the gallery."""
    with friendly_errors():
        gallery = _open(ctx, data_dir, database_url)
        info = gallery.stats()
        info["collections"] = gallery.catalog.collections()
        gallery.close()
    if json_out:
        sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
        return
    table = Table(show_header=False, title="Gallery")
    for key, value in info.items():
        table.add_row(
            key, json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
        )
    console.print(table)


@app.command()
def runs(
    ctx: typer.Context,
    run_id: Annotated[int | None, typer.Argument(help="Show failures of this run.")] = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """List ingest runs, or the failures of one run."""
    with friendly_errors():
        gallery = _open(ctx, data_dir, database_url)
        if run_id is not None:
            for path, reason in gallery.catalog.failures(run_id):
                console.print(f"{path}: {reason}")
            return
        table = Table(title="Ingest runs")
        for col in ("id", "started", "status", "sources", "counts"):
            table.add_column(col, overflow="fold")
        for r in gallery.catalog.runs():
            table.add_row(
                str(r["id"]),
                str(r["started_at"])[:19],
                r["status"],
                "\n".join(r["sources"]),
                json.dumps(r["counts"]),
            )
        console.print(table)


@app.command()
def reindex(
    ctx: typer.Context,
    actor: Actor = None,
    token: TokenOpt = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Rebuild the vector index from the catalog, the source of truth (administrators)."""
    with friendly_errors():
        ws = _workspace(ctx, data_dir, database_url)
        n = ws.reindex(_actor(ws, actor, token))
    console.print(f"index rebuilt: {n} faces")


def _governance_for(ctx: typer.Context) -> Governance:
    return _workspace(ctx).governance


def _hooks() -> GovernHooks:
    """Engine functions for the governance commands, bound to this invocation's workspace."""
    from facesearch.govern.suppression import index_finder

    return GovernHooks(
        embed_images=lambda ctx, paths: _workspace(ctx).embed_first_faces(paths),
        remove_faces=lambda ctx, ids: _workspace(ctx).gallery.remove_faces(ids),
        face_finder=lambda ctx, gov, model: index_finder(
            _workspace(ctx).gallery.index.search, k=1000
        ),
    )


register(app, _governance_for, _hooks())
register_evaluate(app)
register_serve(app)


def main() -> None:
    app()
