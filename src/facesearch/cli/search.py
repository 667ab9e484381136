"""``facesearch search``: a governed search of the gallery, inside a case."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
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
    read_probe,
    shown,
)
from facesearch.cli.groups import principal_for
from facesearch.cli.state import service_for

if TYPE_CHECKING:
    from facesearch.app import Principal, Service
    from facesearch.app.governed import SearchFilters


@authenticated
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
    cred: Credential = NO_CREDENTIAL,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Find the gallery faces most likely to be the person in PROBE, inside a case.

    Runs only inside an open, approved case, by an investigator assigned to it; anything else
    is refused with the reason, and the refusal is logged. Every search is in the audit log.
    """
    with friendly_errors():
        from facesearch.app.service import SearchRequest

        service = service_for(ctx, data_dir, database_url)
        who = principal_for(service, cred)
        filters = _filters(collection, captured_from, captured_to, source)
        if len(probes) > 1:
            if grid is not None or csv_out or include_flagged:
                raise typer.BadParameter(
                    "--grid, --csv and --include-flagged apply to a single probe"
                )
            _multi_search(service, who, case, probes, SearchRequest(k, face, filters), json_out)
            return
        data = read_probe(probes[0], service.settings.max_probe_bytes)
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

    photos = [read_probe(p, service.settings.max_probe_bytes) for p in probes]
    out = service.searches.multi_search(who, case, photos, request, names=[p.name for p in probes])
    view = out.to_dict()
    if json_out:
        sys.stdout.write(json.dumps(view, indent=2, default=str) + "\n")
        return
    print_multi(view)


def _filters(
    collection: str | None, captured_from: str | None, captured_to: str | None, source: str | None
) -> SearchFilters:
    from facesearch.app.governed import search_filters

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
                shown(x)
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
        table.add_row(str(c["rank"]), f"{c['score']:.3f}", band, shown(c["image_path"] or ""), prov)
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
    if "primary_match" in t:  # an agency model's fusion with other recognizers
        console.print(
            "Scores fuse the model's recognizers; a candidate without a member's vector keeps "
            f"the model's own score, banded at strong >= {t['primary_strong']}, possible >= "
            f"{t['primary_match']}."
        )
    console.print("Face crops: --grid FILE.png draws them; --json gives each crop_path.")
    console.print(f"Review each candidate: facesearch review mark {view['search_id']} FACE_ID ...")
    console.print(f"[bold]{view['statement']}[/]")
