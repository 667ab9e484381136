"""``facesearch init``, ``ingest`` and ``second-pass``: set up a data directory and add photos."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

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
    NO_CREDENTIAL,
    Credential,
    DatabaseUrlOption,
    DataDirOption,
    authenticated,
    console,
    err_console,
    friendly_errors,
    shown,
)
from facesearch.cli.groups import principal_for
from facesearch.cli.state import service_for


class SecondVectorsChoice(StrEnum):
    """Where ingest makes each face's second vector (facesearch.ingest.second_vectors)."""

    AUTO = "auto"
    INGEST = "ingest"
    PASS = "pass"


def init(
    ctx: typer.Context,
    admin: Annotated[
        list[str],
        typer.Option(
            metavar="NAME",
            help="User name of a first administrator (repeatable: a second one lets the rules "
            "that need two administrators work from the start).",
        ),
    ],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the administrators' passwords from standard input, one line each, in "
            "the order of --admin (else each is prompted for on the terminal).",
        ),
    ] = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Set up a data directory and its first administrators, each with a password.

    Writes the catalog and the default policy (policy.toml) and makes the administrators
    named with --admin; refused once the catalog has any user."""
    with friendly_errors():
        passwords = [_first_password(name, password_stdin) for name in admin]
        service = service_for(ctx, data_dir, database_url)
        policy = service.library.initialise(list(zip(admin, passwords, strict=True)))
    names = " and ".join(repr(name.strip().lower()) for name in admin)
    plural = "s" if len(admin) > 1 else ""
    console.print(
        f"initialised {shown(service.settings.data_dir)}: administrator{plural} {shown(names)}, "
        f"policy {shown(policy)}"
    )
    console.print(
        "Next: each administrator makes a token ('facesearch token create --as NAME'), adds "
        "users ('facesearch user add'), ingests photos; an investigator opens a case."
    )


def _first_password(name: str, from_stdin: bool) -> str:
    """A first administrator's password: the next line of standard input, or typed twice at
    a hidden prompt. Without either, init is refused: no administrator without a password."""
    if from_stdin:
        line = sys.stdin.readline(1024)
        if not line:
            _refuse_init(f"no password for {name!r} on standard input (one line per --admin)")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        _refuse_init(
            f"{name!r} needs a password: give --password-stdin (one line per --admin) or run "
            "init on a terminal to be asked for it"
        )
    return str(
        typer.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True, err=True)
    )


def _refuse_init(reason: str) -> NoReturn:
    err_console.print(f"[bold red]refused:[/] {shown(reason)}")
    raise typer.Exit(2)


@authenticated
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
    cred: Credential = NO_CREDENTIAL,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Add every face in PATHS (and the manifest) to the gallery (administrators; logged).

    Faces of people on the suppression list are left out.
    """
    with friendly_errors():
        service = service_for(ctx, data_dir, database_url)
        who = principal_for(service, cred)
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
    if report.originals_kept or report.originals_too_large:  # FACESEARCH_KEEP_ORIGINALS
        kept = f"{report.originals_kept}  ({report.original_bytes:,} bytes)"
        if report.originals_too_large:
            kept += f", {report.originals_too_large} too large to keep"
        table.add_row("originals kept", kept)
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
        console.print(f"  [red]failed[/] {shown(path)}: {shown(reason)}")
    if len(report.failures) > 50:
        console.print(f"  ... and {len(report.failures) - 50} more (see 'facesearch runs')")


@authenticated
def second_pass(
    ctx: typer.Context,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per core; 0 = in-process).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    cred: Credential = NO_CREDENTIAL,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Make the second recognizer's vector of every face still waiting for one (administrators).

    'facesearch ingest' runs this pass after each ingest; run it alone to finish one that was
    interrupted. Resumable: Ctrl-C keeps what is done.
    """
    with friendly_errors():
        service = service_for(ctx, data_dir, database_url)
        who = principal_for(service, cred)
        with _ingest_progress(disable=json_out) as bars:
            report = service.library.second_pass(who, workers=workers, on_progress=bars.second)
    if json_out:
        sys.stdout.write(json.dumps(_second_pass_json(report)) + "\n")
    else:
        table = Table(title="Second-vector pass", show_header=False)
        _second_pass_rows(table, report)
        console.print(table)
        for face_id, reason in list(report.failed.items())[:50]:
            console.print(f"  [red]failed[/] face {face_id}: {shown(reason)}")
    if report.interrupted:
        raise typer.Exit(130)
