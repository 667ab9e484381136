"""``facesearch`` commands: ingest, search, embed, compare, stats, reindex, runs."""

from __future__ import annotations

import csv
import json
import sys
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
    DatabaseUrlOption,
    DataDirOption,
    console,
    err_console,
    friendly_errors,
)
from facesearch.errors import DecodeError
from facesearch.store.catalog import SearchFilters

if TYPE_CHECKING:
    from facesearch.gallery import Gallery

app = typer.Typer(
    name="facesearch",
    help="Face search for accountable investigations: ingest lawfully held photos, search by face.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _open(data_dir: Path | None, database_url: str | None) -> Gallery:
    from facesearch.gallery import Gallery

    return Gallery.open(data_dir, database_url=database_url)


@app.command()
def ingest(
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
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Add every face in PATHS (and the manifest) to the gallery."""
    with friendly_errors():
        gallery = _open(data_dir, database_url)
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
            report = gallery.ingest(
                paths or [],
                collection=collection,
                manifest=manifest,
                workers=workers,
                on_progress=on_progress,
            )
        gallery.close()
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
    table.add_row("failures", str(len(report.failures)))
    table.add_row("time", f"{report.seconds:.1f} s")
    console.print(table)
    for path, reason in report.failures[:50]:
        console.print(f"  [red]failed[/] {path}: {reason}")
    if len(report.failures) > 50:
        console.print(f"  ... and {len(report.failures) - 50} more (see 'facesearch runs')")


@app.command()
def search(
    probe: Annotated[Path, typer.Argument(help="Probe photo.")],
    k: Annotated[int, typer.Option("-k", help="Number of candidates.", min=1, max=1000)] = 20,
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
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="CSV output.")] = False,
    grid: Annotated[
        Path | None, typer.Option(help="Also write a PNG grid of the probe and candidate faces.")
    ] = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Find the gallery faces most likely to be the person in PROBE."""
    with friendly_errors():
        gallery = _open(data_dir, database_url)
        filters = _filters(collection, captured_from, captured_to, source)
        decoded = gallery.decode(probe)
        result = gallery.search(decoded, k=k, face=face, filters=filters)
        if grid is not None:
            from facesearch.render import result_grid

            grid.write_bytes(result_grid(result, decoded.pixels[:, :, ::-1], gallery.blobs))
            err_console.print(f"result grid written to {grid}")
        gallery.close()
    if json_out:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
        return
    if csv_out:
        _write_search_csv(result)
        return
    _print_search(result)


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


def _write_search_csv(result: Any) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(
        [
            "rank",
            "score",
            "band",
            "face_id",
            "image_path",
            "image_sha256",
            "crop_path",
            "collection",
            "source_url",
            "page_url",
            "title",
            "captured_at",
        ]
    )
    for c in result.candidates:
        for p in c.provenance or [{}]:
            writer.writerow(
                [
                    c.rank,
                    c.score,
                    c.band,
                    c.face_id,
                    c.image_path,
                    c.image_sha256,
                    c.crop_path or "",
                    p.get("collection", ""),
                    p.get("source_url") or "",
                    p.get("page_url") or "",
                    p.get("title") or "",
                    p.get("captured_at") or "",
                ]
            )


def _print_search(result: Any) -> None:
    faces = result.probe_faces
    if len(faces) > 1:
        console.print(
            f"The probe has {len(faces)} faces; searched face {result.face} "
            f"(use --face N to pick another):"
        )
        for f in faces:
            mark = "*" if f.index == result.face else " "
            console.print(
                f"  {mark} face {f.index}: box {f.bbox}, quality {f.quality:.2f}"
                + (f", flagged {','.join(f.flags)}" if f.flags else "")
            )
    chosen = faces[result.face] if faces else None
    if chosen is not None and chosen.flags:
        console.print(
            f"[yellow]warning:[/] the probe face is flagged {', '.join(chosen.flags)}; "
            "results are less reliable."
        )
    table = Table(
        title=f"{len(result.candidates)} candidates from {result.gallery_size} faces "
        f"({result.seconds * 1000:.0f} ms, model {result.model})"
    )
    for col in ("#", "score", "band", "image", "provenance"):
        table.add_column(col, overflow="fold")
    colours = {"strong": "green", "possible": "yellow", "weak": "dim"}
    for c in result.candidates:
        prov = "\n".join(
            " | ".join(
                str(x)
                for x in (
                    p["collection"],
                    p.get("source_url"),
                    p.get("title"),
                    p.get("captured_at"),
                )
                if x
            )
            for p in c.provenance
        )
        table.add_row(
            str(c.rank), f"{c.score:.3f}", f"[{colours[c.band]}]{c.band}[/]", c.image_path, prov
        )
    console.print(table)
    console.print(
        f"Bands: strong >= {result.thresholds['strong']}, possible >= "
        f"{result.thresholds['match']}, weak below."
    )
    console.print("Face crops: --grid FILE.png draws them; --json gives each crop_path.")
    console.print(f"[bold]{result.notice}[/]")


@app.command()
def embed(
    files: Annotated[list[Path], typer.Argument(help="Image files.")],
    json_out: Annotated[bool, typer.Option("--json", help="JSON Lines (the only format).")] = True,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
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
    database_url: DatabaseUrlOption = None,
) -> None:
    """1:1 verification: similarity of the largest face in A and in B, and the decision."""
    from facesearch.verify import PairError, compare_pairs, read_pair_list

    with friendly_errors():
        from facesearch.gallery import Gallery

        if pairs is not None:
            gallery = Gallery.open(data_dir, database_url=database_url)
            for row in compare_pairs(gallery, read_pair_list(pairs)):
                _jsonl(row) if json_out else console.print(
                    f"{row['score'] if row['score'] is not None else '-':>7}  "
                    f"{'same' if row['same'] else 'different':9}  {row['a']}  {row['b']}"
                    + (f"  ({row['error']})" if row.get("error") else "")
                )
            return
        if a is None or b is None:
            raise PairError("give two photos, or --pairs FILE")
        gallery = Gallery.open(data_dir, database_url=database_url)
        result = gallery.compare(a, b)
    if json_out:
        _jsonl({"a": str(a), "b": str(b), **result.to_dict()})
        return
    verdict = (
        "[green]same person (possible match)[/]" if result.same else "[red]different people[/]"
    )
    console.print(
        f"similarity {result.score:.4f} ({result.band}); threshold {result.threshold}: {verdict}"
    )
    console.print(f"[dim]{result.notice}[/]")


@app.command()
def stats(
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Images, faces, flags, collections and the index of the gallery."""
    with friendly_errors():
        gallery = _open(data_dir, database_url)
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
    run_id: Annotated[int | None, typer.Argument(help="Show failures of this run.")] = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """List ingest runs, or the failures of one run."""
    with friendly_errors():
        gallery = _open(data_dir, database_url)
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
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Rebuild the vector index from the catalog (the source of truth)."""
    with friendly_errors():
        gallery = _open(data_dir, database_url)
        n = gallery.reindex()
        gallery.close()
    console.print(f"index rebuilt: {n} faces")


def main() -> None:
    app()
