"""``facesearch media``: a case's seized material (media sets), known-image elimination with hash
sets, and the persons found in it. A thin layer over the media acts of the application layer
(:mod:`facesearch.app.media`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from facesearch.cli import media_search
from facesearch.cli.common import (
    NO_CREDENTIAL,
    Credential,
    authenticated,
    console,
    err_console,
    friendly_errors,
    shown,
)
from facesearch.cli.groups import principal_for

if TYPE_CHECKING:
    from facesearch.app import Service
    from facesearch.app.media import MediaService

ServiceFor = Callable[[typer.Context], "Service"]

CaseArg = Annotated[str, typer.Argument(metavar="CASE", help="Case number.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ClusterArg = Annotated[int, typer.Argument(metavar="CLUSTER", help="Cluster id.")]
NoteOpt = Annotated[str, typer.Option("--note", help="Why (kept with the decision).")]


def register(app: typer.Typer, service_for: ServiceFor) -> None:
    """Add the ``media`` command group to ``app`` (``service_for``: the application service of
    the invocation, whose settings, governance and gallery the media acts use)."""
    media = typer.Typer(
        name="media",
        help="Victim identification: import a case's seized material, eliminate known "
        "images with hash sets, review the persons found in it.",
        no_args_is_help=True,
    )
    app.add_typer(media)
    media_search.register(media, service_for)

    def _service(
        ctx: typer.Context,
        cred: Credential,
        pdq_threshold: int | None = None,
        cluster_threshold: float | None = None,
        video_fps: float | None = None,
    ) -> tuple[MediaService, str]:
        """The media acts with the invocation's settings (the options given win) and the
        acting user."""
        from facesearch.app.media import media_service

        service = service_for(ctx)
        who = principal_for(service, cred).username
        svc = media_service(
            service,
            pdq_threshold=pdq_threshold,
            cluster_threshold=cluster_threshold,
            video_fps=video_fps,
        )
        return svc, who

    @media.command("import")
    @authenticated
    def import_(
        ctx: typer.Context,
        paths: Annotated[
            list[Path], typer.Argument(help="Files, folders, zip/tar archives.", show_default=False)
        ],
        case: Annotated[str, typer.Option("--case", metavar="CASE", help="Case number.")],
        set_name: Annotated[
            str, typer.Option("--set", metavar="NAME", help="Media set within the case.")
        ] = "default",
        workers: Annotated[
            int | None,
            typer.Option(metavar="N", help="Worker processes (default: one per core; 0 = here)."),
        ] = None,
        pdq_threshold: Annotated[
            int | None,
            typer.Option(
                metavar="BITS",
                help="PDQ Hamming distance that eliminates a file "
                "(default $FACESEARCH_MEDIA_PDQ_THRESHOLD or 31).",
                show_default=False,
            ),
        ] = None,
        video_fps: Annotated[
            float | None,
            typer.Option(
                metavar="N",
                help="Video frames sampled per second (default $FACESEARCH_MEDIA_VIDEO_FPS or 2).",
                show_default=False,
            ),
        ] = None,
        json_out: JsonOpt = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Import seized material into CASE: hashes, elimination of known images, faces.

        Resumable: run it again and files already imported are skipped."""
        with friendly_errors():
            svc, who = _service(ctx, cred, pdq_threshold, video_fps=video_fps)
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[faces]} faces, {task.fields[eliminated]} eliminated"),
                TimeElapsedColumn(),
                console=err_console,
                disable=json_out,
            ) as bars:
                task = bars.add_task("importing", total=None, faces=0, eliminated=0)

                def progress(p: Any) -> None:
                    bars.update(
                        task,
                        total=p.files_total,
                        completed=p.files_done,
                        faces=p.faces,
                        eliminated=p.eliminated,
                    )

                report = svc.import_media(
                    who, case, paths, set_name=set_name, workers=workers, on_progress=progress
                )
        counts = report.counts()
        if json_out:
            console.print_json(
                json.dumps({**counts, "import_id": report.import_id, "failed": report.failures})
            )
            return
        table = Table(title=f"Media import {report.import_id} into case {report.case}")
        table.add_column("")
        table.add_column("")
        rate = report.files_read / report.seconds if report.seconds else 0.0
        table.add_row("files read", f"{report.files_read}  ({rate:.1f}/s)")
        table.add_row("new files", str(report.files_new))
        table.add_row("already imported (skipped)", str(report.already_imported))
        table.add_row("duplicates (same bytes)", str(report.duplicates))
        table.add_row("eliminated (known)", str(report.eliminated))
        for cat, n in sorted(report.eliminated_by_category.items()):
            table.add_row(f"  category {cat}", str(n))
        for how, n in sorted(report.eliminated_by_match.items()):
            table.add_row(f"  by {how}", str(n))
        if report.videos:
            frames = report.video_frames.get("sampled", 0)
            table.add_row("videos", f"{report.videos}  ({frames} frames sampled)")
        table.add_row("files without a face", str(report.without_face))
        table.add_row("faces", str(report.faces))
        table.add_row("faces flagged (kept aside)", str(report.faces_flagged))
        table.add_row("failures", str(len(report.failures)))
        table.add_row("time", f"{report.seconds:.1f} s")
        console.print(table)
        for path, reason in report.failures:
            err_console.print(f"[yellow]failed:[/] {shown(path)}: {shown(reason)}")
        for alert in svc.alerts(who, case) if report.faces else []:
            err_console.print(f"[bold yellow]cross-case alert:[/] {alert.message}")
        if report.interrupted:
            err_console.print("interrupted: run the same command again to resume")

    @media.command()
    @authenticated
    def summary(
        ctx: typer.Context,
        case: CaseArg,
        json_out: JsonOpt = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """What CASE's media hold: files by outcome, eliminations by category, persons."""
        with friendly_errors():
            svc, who = _service(ctx, cred)
            out = svc.summary(who, case)
        if json_out:
            console.print_json(json.dumps(out))
            return
        table = Table(title=f"Media of case {out['case']}")
        table.add_column("")
        table.add_column("")
        for key, value in out.items():
            if key != "case":
                table.add_row(key.replace("_", " "), _plain(value))
        console.print(table)

    @media.command()
    @authenticated
    def files(
        ctx: typer.Context,
        case: CaseArg,
        status: Annotated[
            str | None,
            typer.Option(metavar="STATUS", help="faces, no_face, eliminated or duplicate."),
        ] = None,
        limit: Annotated[int, typer.Option(metavar="N", help="At most N files.")] = 1000,
        json_out: JsonOpt = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """CASE's files with their hashes and outcome (and why each was eliminated)."""
        with friendly_errors():
            svc, who = _service(ctx, cred)
            rows = svc.files(who, case, status=status, limit=limit)
        if json_out:
            console.print_json(json.dumps({"files": rows}))
            return
        table = Table(title=f"Files of case {case}")
        for col in ("path", "size", "md5", "status", "why"):
            table.add_column(col)
        for r in rows:
            e = r["elimination"]
            why = (
                f"{e['match']} in {e['hash_set']} (category {e.get('category') or '-'}"
                + (f", distance {e['distance']}" if "distance" in e else "")
                + ")"
                if e
                else f"{r['faces']} faces"
            )
            table.add_row(shown(r["path"]), str(r["size"]), r["md5"], r["status"], why)
        console.print(table)

    @media.command("hashset-import")
    @authenticated
    def hashset_import(
        ctx: typer.Context,
        file: Annotated[Path, typer.Argument(metavar="FILE", help="VICS JSON, CAID or a list.")],
        name: Annotated[
            str | None, typer.Option(metavar="NAME", help="Name (default: the file's).")
        ] = None,
        fmt: Annotated[
            str | None,
            typer.Option("--format", metavar="FMT", help="vics, caid or list (default: detect)."),
        ] = None,
        category: Annotated[
            str | None,
            typer.Option(metavar="CAT", help="Category of entries that name none."),
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Import a known-image hash set (supervisors, administrators)."""
        with friendly_errors():
            svc, who = _service(ctx, cred)
            s = svc.import_hash_set(who, file, name=name, fmt=fmt, category=category)
        console.print(
            f"hash set {s.name!r} ({s.format}): {s.entries} entries, {s.with_pdq} with PDQ; "
            f"categories {_plain(s.categories)}"
        )

    @media.command("hashsets")
    @authenticated
    def hashsets_(
        ctx: typer.Context, json_out: JsonOpt = False, cred: Credential = NO_CREDENTIAL
    ) -> None:
        """The hash sets imported."""
        with friendly_errors():
            svc, who = _service(ctx, cred)
            sets = svc.hash_sets(who)
        if json_out:
            console.print_json(json.dumps({"hash_sets": [dataclasses.asdict(x) for x in sets]}))
            return
        table = Table(title="Hash sets")
        for col in ("name", "format", "entries", "with PDQ", "categories"):
            table.add_column(col)
        for x in sets:
            table.add_row(x.name, x.format, str(x.entries), str(x.with_pdq), _plain(x.categories))
        console.print(table)

    @media.command("hashset-export")
    @authenticated
    def hashset_export(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(metavar="NAME")],
        out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="VICS JSON file.")],
        vics_version: Annotated[int, typer.Option(metavar="1|2", help="VICS data model.")] = 2,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Write a hash set as VICS JSON."""
        from facesearch.app.media import dump_vics

        with friendly_errors():
            svc, who = _service(ctx, cred)
            doc = svc.export_hash_set(who, name, version=vics_version)
        out.write_text(dump_vics(doc), encoding="utf-8")
        console.print(f"{len(doc['value'])} entries written to {out}")

    @media.command("export")
    @authenticated
    def export(
        ctx: typer.Context,
        case: CaseArg,
        out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="VICS JSON file.")],
        category: Annotated[
            str | None, typer.Option(metavar="CAT", help="Category to give the entries.")
        ] = None,
        vics_version: Annotated[int, typer.Option(metavar="1|2", help="VICS data model.")] = 2,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Write CASE's new material (what no hash set knew) as VICS JSON, with PDQ."""
        from facesearch.app.media import dump_vics

        with friendly_errors():
            svc, who = _service(ctx, cred)
            doc = svc.export_new_material(who, case, category=category, version=vics_version)
        out.write_text(dump_vics(doc), encoding="utf-8")
        console.print(f"{len(doc['value'])} entries written to {out}")

    @media.command()
    @authenticated
    def picture(
        ctx: typer.Context,
        case: CaseArg,
        face: Annotated[int, typer.Argument(metavar="FACE", help="Face id.")],
        out: Annotated[Path, typer.Option("--out", "-o", metavar="FILE", help="JPEG file.")],
        reveal: Annotated[
            bool, typer.Option("--reveal", help="In colour, unblurred (logged as a reveal).")
        ] = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Write the picture of FACE: greyscale, blurred outside the face (default)."""
        with friendly_errors():
            svc, who = _service(ctx, cred)
            data = svc.face_picture(who, case, face, reveal=reveal)
        out.write_bytes(data)
        console.print(f"{'revealed ' if reveal else ''}picture of face {face} written to {out}")

    @media.command()
    @authenticated
    def cluster(
        ctx: typer.Context,
        case: CaseArg,
        threshold: Annotated[
            float | None,
            typer.Option(
                metavar="SIM",
                help="Cosine similarity joining faces (default 0.50).",
                show_default=False,
            ),
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Group CASE's faces into persons (again after more material; decisions are kept)."""
        with friendly_errors():
            svc, who = _service(ctx, cred, cluster_threshold=threshold)
            r = svc.cluster(who, case)
        console.print(
            f"{r.faces} faces in {r.clusters} clusters ({r.new_clusters} new); "
            f"{r.kept_by_decision} faces kept where a person put them; "
            f"{r.flagged_aside} flagged faces kept aside"
        )

    @media.command()
    @authenticated
    def clusters(
        ctx: typer.Context,
        case: CaseArg,
        include_hidden: Annotated[bool, typer.Option("--all", help="Hidden clusters too.")] = False,
        json_out: JsonOpt = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """CASE's persons, largest first."""
        with friendly_errors():
            svc, who = _service(ctx, cred)
            views = svc.clusters(who, case, include_hidden=include_hidden)
        if json_out:
            console.print_json(
                json.dumps(
                    {
                        "clusters": [
                            {
                                "cluster": v.cluster,
                                "name": v.name,
                                "hidden": v.hidden,
                                "reviewed": v.reviewed,
                                "faces": [dataclasses.asdict(f) for f in v.faces],
                            }
                            for v in views
                        ]
                    }
                )
            )
            return
        table = Table(title=f"Persons in case {case}")
        for col in ("cluster", "name", "faces", "files"):
            table.add_column(col)
        from facesearch.app.media import media_clock

        for v in views:
            named = sorted({shown(f"{f.file} {media_clock(f.frame_ms)}".strip()) for f in v.faces})
            table.add_row(
                str(v.cluster), shown(v.name or ""), str(len(v.faces)), ", ".join(named[:3])
            )
        console.print(table)

    @media.command()
    @authenticated
    def tracks(
        ctx: typer.Context,
        case: CaseArg,
        json_out: JsonOpt = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The appearances of faces in CASE's videos: file, from-to time, faces kept."""
        with friendly_errors():
            svc, who = _service(ctx, cred)
            views = svc.tracks(who, case)
        if json_out:
            console.print_json(json.dumps({"tracks": [dataclasses.asdict(v) for v in views]}))
            return
        table = Table(title=f"Faces in the videos of case {case}")
        table.add_column("file", overflow="fold")
        for col in ("track", "time", "frames", "faces kept", "clusters"):
            table.add_column(col)
        for v in views:
            clusters = sorted({f.cluster for f in v.faces if f.cluster is not None})
            table.add_row(
                shown(v.file),
                str(v.track),
                v.when,
                str(v.frames),
                ", ".join(str(f.face_id) for f in v.faces),
                ", ".join(map(str, clusters)),
            )
        console.print(table)

    def _decide(ctx: typer.Context, cred: Credential, case: str, action: str, **kw: Any) -> None:
        with friendly_errors():
            svc, who = _service(ctx, cred)
            details = svc.decide(who, case, action, **kw)
        console.print(f"{action}: {_plain(details)}")

    @media.command()
    @authenticated
    def merge(
        ctx: typer.Context,
        case: CaseArg,
        cluster: ClusterArg,
        other: Annotated[int, typer.Argument(metavar="OTHER", help="Cluster merged into CLUSTER.")],
        note: NoteOpt = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Merge cluster OTHER into CLUSTER (one person)."""
        _decide(ctx, cred, case, "merge", cluster=cluster, other=other, note=note)

    @media.command()
    @authenticated
    def split(
        ctx: typer.Context,
        case: CaseArg,
        cluster: ClusterArg,
        faces: Annotated[list[int], typer.Argument(metavar="FACE...", help="Faces to take out.")],
        note: NoteOpt = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Take FACEs out of CLUSTER into a new cluster (another person)."""
        _decide(ctx, cred, case, "split", cluster=cluster, faces=faces, note=note)

    @media.command()
    @authenticated
    def move(
        ctx: typer.Context,
        case: CaseArg,
        cluster: ClusterArg,
        faces: Annotated[list[int], typer.Argument(metavar="FACE...", help="Faces to move.")],
        note: NoteOpt = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Move FACEs into CLUSTER."""
        _decide(ctx, cred, case, "move", cluster=cluster, faces=faces, note=note)

    @media.command()
    @authenticated
    def name(
        ctx: typer.Context,
        case: CaseArg,
        cluster: ClusterArg,
        label: Annotated[str, typer.Argument(metavar="NAME", help="Name or label of the person.")],
        note: NoteOpt = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Name the person of CLUSTER (kept across re-clustering)."""
        _decide(ctx, cred, case, "name", cluster=cluster, name=label, note=note)

    @media.command()
    @authenticated
    def hide(
        ctx: typer.Context,
        case: CaseArg,
        cluster: ClusterArg,
        note: NoteOpt = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Hide CLUSTER from the list (e.g. not a person of interest)."""
        _decide(ctx, cred, case, "hide", cluster=cluster, note=note)

    @media.command()
    @authenticated
    def show(
        ctx: typer.Context,
        case: CaseArg,
        cluster: ClusterArg,
        note: NoteOpt = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Show a hidden CLUSTER again."""
        _decide(ctx, cred, case, "show", cluster=cluster, note=note)


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value) or "-"
    return "-" if value is None else str(value)
