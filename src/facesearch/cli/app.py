"""``facesearch`` commands: init, ingest, search, embed, compare, stats, runs, reindex, and the
governance sub-commands (user, token, case, review, audit, policy, suppress, purge)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
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
from facesearch.cli.govern import register
from facesearch.cli.media import register as register_media
from facesearch.cli.migrate import register as register_migrate
from facesearch.cli.serve import register as register_serve

if TYPE_CHECKING:
    from facesearch.app import Principal, Service
    from facesearch.app.searches import SearchFilters


class SecondVectorsChoice(StrEnum):
    """Where ingest makes each face's second vector (facesearch.ingest.second_vectors)."""

    AUTO = "auto"
    INGEST = "ingest"
    PASS = "pass"


class FaceRuleChoice(StrEnum):
    """Which face of a photo is compared when none is given."""

    LARGEST = "largest"
    CENTRAL = "central"


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
    service: Service | None = None


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


def _service(
    ctx: typer.Context, data_dir: Path | None = None, database_url: str | None = None
) -> Service:
    """The application service for this invocation (the typed settings, with the command's
    options winning over the global ones), closed when the command ends."""
    from facesearch.app import Service
    from facesearch.settings import Settings

    state = _state(ctx)
    if state.service is None:
        settings = Settings.load(
            data_dir=data_dir or state.data_dir, database_url=database_url or state.database_url
        )
        state.service = Service.for_cli(settings)
        ctx.call_on_close(state.service.close)
    return state.service


def _who(service: Service, actor: str | None, token: str | None) -> Principal:
    return service.accounts.for_cli(actor, token)


@app.command()
def init(
    ctx: typer.Context,
    admin: Annotated[
        str, typer.Option(metavar="NAME", help="User name of the first administrator.")
    ],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the administrator's password from standard input."
        ),
    ] = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Set up a data directory: catalog, default policy (policy.toml) and first administrator."""
    with friendly_errors():
        service = _service(ctx, data_dir, database_url)
        password = sys.stdin.readline().rstrip("\n") if password_stdin else None
        policy = service.library.initialise(admin, password)
    console.print(
        f"initialised {service.gallery.data_dir}: administrator {admin!r}, policy {policy}"
    )
    console.print("Next: add users ('facesearch user add'), ingest photos, open a case.")


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files, folders, zip/tar archives.", show_default=False),
    ] = None,
    collection: Annotated[
        str | None,
        typer.Option("--collection", "-c", metavar="NAME", help="Collection for these photos."),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="CSV or JSON Lines manifest: path, source_url, page_url, title, "
            "captured_at, collection.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(metavar="N", help="Worker processes (default: one per core; 0 = in-process)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    second_vectors: Annotated[
        SecondVectorsChoice | None,
        typer.Option(
            "--second-vectors",
            help="Where each face's second-recognizer vector is made: 'ingest' (in the "
            "workers, stored with the face), 'pass' (chips queued, described by the "
            "second-vector pass after ingest), 'auto' ('ingest' unless the second recognizer "
            "runs on dlib's own slow code). Default: $FACESEARCH_SECOND_VECTORS, else auto.",
            show_default=False,
        ),
    ] = None,
    actor: Actor = None,
    token: TokenOpt = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Add every face in PATHS (and the manifest) to the gallery (administrators; logged).

    Faces of people on the suppression list are left out.
    """
    with friendly_errors():
        service = _service(ctx, data_dir, database_url)
        who = _who(service, actor, token)
        if not paths and manifest is None:
            raise typer.BadParameter("give files, folders or archives, or --manifest FILE")
        with _ingest_progress(disable=json_out) as bars:
            report = service.library.ingest(
                who,
                paths or [],
                collection=collection,
                manifest=manifest,
                workers=workers,
                on_progress=bars.sface,
                on_second_progress=bars.second,
                second_vectors=None if second_vectors is None else second_vectors.value,
            )
    if json_out:
        second = report.second_pass
        console.print_json(
            json.dumps(
                {
                    **report.counts(),
                    "run_id": report.run_id,
                    "faces_flagged_by_reason": report.faces_flagged,
                    "failures": [{"path": p, "reason": r} for p, r in report.failures],
                    "seconds": round(report.seconds, 2),
                    "interrupted": report.interrupted,
                    "second_vectors": report.second_vectors,
                    "second_errors": report.second_errors,
                    "second_pass": _second_pass_json(second) if second else None,
                }
            )
        )
    else:
        _print_ingest_summary(report)
    if report.interrupted or (report.second_pass and report.second_pass.interrupted):
        raise typer.Exit(130)


class _IngestBars:
    """Progress bars on stderr: one for the SFace pass (files), one for the second pass
    (faces), added when it starts."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._sface: Any = None
        self._second: Any = None

    def sface(self, p: Any) -> None:
        if self._sface is None:
            self._sface = self.progress.add_task("ingest", total=None, unit="files", rate="")
        self._update(self._sface, p.files_total, p.files_done, f"{p.faces} faces")

    def second(self, p: Any) -> None:
        if self._second is None:
            self._second = self.progress.add_task(
                "second vectors", total=None, unit="faces", rate=""
            )
        failed = f"{p.failed} failed" if p.failed else ""
        self._update(self._second, p.total, p.done + p.failed, failed)

    def _update(self, task: Any, total: int, done: int, note: str) -> None:
        elapsed = self.progress.tasks[task].elapsed or 0.0
        unit = self.progress.tasks[task].fields["unit"]
        rate = f"{done / elapsed:.1f} {unit}/s" if elapsed > 0 else ""
        self.progress.update(task, total=total, completed=done, rate=f"{note} {rate}".strip())


@contextmanager
def _ingest_progress(disable: bool) -> Iterator[_IngestBars]:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=disable or not err_console.is_terminal,
    ) as progress:
        yield _IngestBars(progress)


def _second_pass_json(report: Any) -> dict[str, Any]:
    return {
        **report.counts(),
        "faces_per_s": round(report.faces_per_second, 2),
        "interrupted": report.interrupted,
        "executor": report.executor,
        "failures": [{"face_id": i, "reason": r} for i, r in report.failed.items()],
    }


def _second_pass_rows(table: Table, second: Any) -> None:
    made = f"{second.described}  ({second.faces_per_second:.1f}/s)"
    if second.from_crop:
        made += f", {second.from_crop} from stored crops"
    table.add_row("second vectors made", made)
    if second.requeued:
        table.add_row("of an older model, remade", str(second.requeued))
    if second.failed:
        table.add_row("second vectors failed", str(len(second.failed)))
    if second.interrupted or second.remaining:
        table.add_row(
            "second vectors left",
            f"{second.remaining}  (run 'facesearch second-pass' to finish)",
        )
    table.add_row("second pass time", f"{second.seconds:.1f} s")


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
    if report.second_vectors != "off":
        made = f"{report.second_vectors_made} made at ingest"
        if report.second_vectors_queued:
            made += f", {report.second_vectors_queued} queued for the second-vector pass"
        table.add_row("second vectors", made)
    for error in report.second_errors[:3]:
        table.add_row("second recognizer error", error)
    second = report.second_pass
    if second is not None and (second.described or second.failed or second.remaining):
        _second_pass_rows(table, second)
    console.print(table)
    for path, reason in report.failures[:50]:
        console.print(f"  [red]failed[/] {path}: {reason}")
    if len(report.failures) > 50:
        console.print(f"  ... and {len(report.failures) - 50} more (see 'facesearch runs')")


@app.command("second-pass")
def second_pass(
    ctx: typer.Context,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per core; 0 = in-process).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    actor: Actor = None,
    token: TokenOpt = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Make the second recognizer's vector of every face still waiting for one (administrators).

    'facesearch ingest' runs this pass after each ingest; run it alone to finish one that was
    interrupted. Resumable: Ctrl-C keeps what is done.
    """
    with friendly_errors():
        service = _service(ctx, data_dir, database_url)
        who = _who(service, actor, token)
        with _ingest_progress(disable=json_out) as bars:
            report = service.library.second_pass(who, workers=workers, on_progress=bars.second)
    if json_out:
        sys.stdout.write(json.dumps(_second_pass_json(report)) + "\n")
    else:
        table = Table(title="Second-vector pass", show_header=False)
        _second_pass_rows(table, report)
        console.print(table)
        for face_id, reason in list(report.failed.items())[:50]:
            console.print(f"  [red]failed[/] face {face_id}: {reason}")
    if report.interrupted:
        raise typer.Exit(130)


@app.command()
def search(
    ctx: typer.Context,
    probes: Annotated[
        list[Path],
        typer.Argument(
            metavar="PROBE...",
            help="Probe photo; several photos of one person are searched as one query "
            "(mean of their embeddings; the best single score and the matching photos shown).",
        ),
    ],
    case: Annotated[
        str | None,
        typer.Option("--case", metavar="CASE", help="The open, approved case this search serves."),
    ] = None,
    k: Annotated[
        int | None,
        typer.Option(
            "-k", metavar="N", help="Number of candidates (default and cap: the policy's).", min=1
        ),
    ] = None,
    face: Annotated[
        int | None,
        typer.Option("--face", metavar="N", help="Which face of the probe (default: largest)."),
    ] = None,
    collection: Annotated[
        str | None,
        typer.Option("--collection", "-c", metavar="NAME", help="Search this collection only."),
    ] = None,
    captured_from: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="Only photos captured on or after this ISO date."),
    ] = None,
    captured_to: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="Only photos captured on or before this ISO date."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(metavar="URL-PREFIX", help="Only photos whose source URL starts with this."),
    ] = None,
    include_flagged: Annotated[
        bool,
        typer.Option(
            "--include-flagged",
            help="Also search faces flagged for low quality (slower, less reliable).",
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="CSV output.")] = False,
    grid: Annotated[
        Path | None,
        typer.Option(metavar="PNG", help="Also write a PNG grid of the probe and candidate faces."),
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
        from facesearch.app.service import SearchRequest

        service = _service(ctx, data_dir, database_url)
        who = _who(service, actor, token)
        filters = _filters(collection, captured_from, captured_to, source)
        if len(probes) > 1:
            if grid is not None or csv_out or include_flagged:
                raise typer.BadParameter(
                    "--grid, --csv and --include-flagged apply to a single probe"
                )
            _multi_search(service, who, case, probes, SearchRequest(k, face, filters), json_out)
            return
        data = probes[0].read_bytes()
        result = service.searches.search(
            who, case, data, SearchRequest(k, face, filters, include_flagged)
        )
        view = result.to_dict(service.faces.crop_file)
        if grid is not None:
            grid.write_bytes(service.searches.grid(result, data))
            err_console.print(f"result grid written to {grid}")
    if json_out:
        sys.stdout.write(json.dumps(view, indent=2, default=str) + "\n")
        return
    if csv_out:
        _write_search_csv(view)
        return
    _print_search(view)


def _multi_search(
    service: Service,
    who: Principal,
    case: str | None,
    probes: list[Path],
    request: Any,
    json_out: bool,
) -> None:
    from facesearch.cli.media_search import print_multi

    photos = [p.read_bytes() for p in probes]
    out = service.searches.multi_search(who, case, photos, request, names=[p.name for p in probes])
    view = out.to_dict()
    if json_out:
        sys.stdout.write(json.dumps(view, indent=2, default=str) + "\n")
        return
    print_multi(view)


def _filters(
    collection: str | None, captured_from: str | None, captured_to: str | None, source: str | None
) -> SearchFilters:
    from facesearch.app.searches import search_filters

    try:
        return search_filters(collection, captured_from, captured_to, source)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


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
    if view.get("probe_ambiguous"):
        err_console.print(
            f"[yellow]warning:[/] the probe's largest faces are of similar size; searched face "
            f"{chosen}. Check it is the person meant (--face N picks another)."
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
    json_out: Annotated[
        bool,
        typer.Option("--json", help="JSON Lines (the only format).", show_default=False),
    ] = True,
) -> None:
    """Print one JSON line per detected face: box, landmarks, quality, model, embedding."""
    from facesearch.app.tools import embed_rows

    with friendly_errors():
        for row in embed_rows(files):
            _jsonl(row)


def _jsonl(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")


@app.command()
def compare(
    a: Annotated[Path | None, typer.Argument(help="First photo.")] = None,
    b: Annotated[Path | None, typer.Argument(help="Second photo.")] = None,
    pairs: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="TSV of image pairs to score: A<TAB>B per line, optionally <TAB>FACE_A<TAB>FACE_B "
            "(face numbers; empty = the rule's face).",
        ),
    ] = None,
    face_a: Annotated[
        int | None,
        typer.Option("--face-a", min=0, help="Face of A to compare (0 = largest; see the list)."),
    ] = None,
    face_b: Annotated[
        int | None,
        typer.Option("--face-b", min=0, help="Face of B to compare (0 = largest)."),
    ] = None,
    face_rule: Annotated[
        FaceRuleChoice,
        typer.Option(
            "--face-rule",
            help="Face compared when none is given: 'largest' (as Rekognition) or 'central' "
            "(box centre nearest the image centre).",
        ),
    ] = FaceRuleChoice.LARGEST,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """1:1 verification: similarity of a face in A and one in B, and the decision.

    Every face found in each photo is listed with the one compared; a photo whose two largest
    faces are of similar size is reported ambiguous (a warning and a JSON field). Compares the
    photos given; it does not search or touch a gallery.
    """
    from facesearch.app.tools import PairError, check_rule, compare_pair_file, compare_photos

    with friendly_errors():
        check_rule(str(face_rule))
        if pairs is not None:
            if face_a is not None or face_b is not None:
                raise PairError(
                    "--face-a/--face-b are for two photos; with --pairs give the faces in the "
                    "pair file's face columns"
                )
            _print_pair_rows(compare_pair_file(data_dir, pairs, str(face_rule)), json_out)
            return
        if a is None or b is None:
            raise PairError("give two photos, or --pairs FILE")
        result = compare_photos(data_dir, a, b, face_a=face_a, face_b=face_b, rule=str(face_rule))
    for side, photo, option in (("a", a, "--face-a N"), ("b", b, "--face-b N")):
        choice = result.choice(side)
        if choice.decided_by_rule:
            err_console.print(
                f"[yellow]warning:[/] {choice.warning(f'{side.upper()} ({photo})', option)}"
            )
    if json_out:
        _jsonl({"a": str(a), "b": str(b), **result.to_dict()})
        return
    for side, photo in (("a", a), ("b", b)):
        _print_faces(f"{side.upper()} {photo}", result.choice(side))
    verdict = (
        "[green]same person (possible match)[/]" if result.same else "[red]different people[/]"
    )
    scored_by = "SFace + dlib, fused" if result.fused else "SFace"
    console.print(
        f"similarity {result.score:.4f} ({result.band}; {scored_by}); threshold "
        f"{result.threshold}: {verdict}"
    )
    console.print(f"[dim]{result.notice}[/]")


def _print_faces(label: str, choice: Any) -> None:
    """One photo's faces, the compared one starred, and how it was chosen."""
    n = len(choice.faces)
    console.print(
        f"{label}: {n} face{'s' if n != 1 else ''}; compared face {choice.used} "
        f"({choice.chosen_by})" + (", [yellow]ambiguous[/]" if choice.ambiguous else "")
    )
    for f in choice.faces:
        mark = "*" if f.index == choice.used else " "
        flags = f", flagged {','.join(f.flags)}" if f.flags else ""
        console.print(
            f"  {mark} face {f.index}: box {list(f.bbox)}, quality {f.quality:.2f}{flags}"
        )


def _print_pair_rows(rows: Iterator[dict[str, Any]], json_out: bool) -> None:
    """``compare --pairs``: a line per pair (JSON or text), a warning per ambiguous photo
    whose face the rule picked (on stderr, so that the output stays one row per pair)."""
    warned = 0
    for row in rows:
        if json_out:
            _jsonl(row)
        else:
            console.print(
                f"{row['score'] if row['score'] is not None else '-':>7}  "
                f"{'same' if row['same'] else 'different':9}  {row['a']}  {row['b']}  "
                f"faces {_face_used(row, 'a')} {_face_used(row, 'b')}"
                + (f"  ({row['error']})" if row.get("error") else "")
            )
        for side in ("a", "b"):
            if row[f"ambiguous_{side}"] and row.get(f"chosen_{side}") not in (None, "given"):
                warned += 1
                if not json_out:
                    err_console.print(
                        f"[yellow]warning:[/] line {row.get('line', '?')}: {row[side]} holds "
                        f"faces of similar size; compared face {row[f'face_{side}']['index']} "
                        f"({row[f'chosen_{side}']}). Choose it in the face_{side} column."
                    )
    if warned and json_out:
        err_console.print(
            f"[yellow]warning:[/] {warned} photo(s) hold faces of similar size and were "
            "compared on the rule's face (ambiguous_a/ambiguous_b in the rows); choose their "
            "faces in the pair file's face columns."
        )


def _face_used(row: dict[str, Any], side: str) -> str:
    """'0/2': face 0 of 2 compared (or '-/2' when none could be)."""
    face = row[f"face_{side}"]
    return f"{face['index'] if face else '-'}/{len(row[f'faces_{side}'])}"


@app.command()
def stats(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Images, faces, flags, collections and the index of the gallery."""
    with friendly_errors():
        service = _service(ctx, data_dir, database_url)
        who = service.accounts.local_operator()
        info = service.library.stats(who)
        info["collections"] = service.library.collections(who)
    if json_out:
        sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
        return
    second = info.pop("second_vectors", None)
    table = Table(show_header=False, title="Gallery")
    for key, value in info.items():
        table.add_row(
            key, json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
        )
    if second is not None:
        sources = ", ".join(
            f"{n} {label}"
            for label, n in (
                ("from the photo", second["from_photo"]),
                ("from the stored crop", second["from_crop"]),
                ("made before 0004", second["made_before_0004"]),
            )
            if n
        )
        table.add_row(
            "faces with a second vector",
            f"{second['with']}" + (f"  ({sources})" if sources else ""),
        )
        table.add_row(
            "faces without one (scored by SFace alone)",
            f"{second['without']}  (pending {second['pending']}, failed {second['failed']})",
        )
        if second.get("other_model"):
            table.add_row(
                "second vectors of an older model (scored by SFace alone)",
                f"{second['other_model']}  (run 'facesearch second-pass' to remake them)",
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
        service = _service(ctx, data_dir, database_url)
        who = service.accounts.local_operator()
        if run_id is not None:
            for path, reason in service.library.run_failures(who, run_id):
                console.print(f"{path}: {reason}")
            return
        table = Table(title="Ingest runs")
        for col in ("id", "started", "status", "sources", "counts"):
            table.add_column(col, overflow="fold")
        for r in service.library.runs(who, limit=20):
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
        service = _service(ctx, data_dir, database_url)
        n = service.library.reindex(_who(service, actor, token))
    console.print(f"index rebuilt: {n} faces")


register(app, lambda ctx: _service(ctx))
register_evaluate(app)
register_serve(app)
register_migrate(app, _service)
register_media(app, lambda ctx: _service(ctx).workspace, lambda ctx: _service(ctx))


def main() -> None:
    app()
