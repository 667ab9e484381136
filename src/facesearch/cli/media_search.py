"""``facesearch media search|alerts|crosscheck`` and the printing of multi-probe results
(also used by ``facesearch search PROBE PROBE ...``). Thin: the application service
(:class:`facesearch.app.Service`) and its media acts (:mod:`facesearch.app.media`) do the work."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from facesearch.cli.common import (
    NO_CREDENTIAL,
    Credential,
    authenticated,
    console,
    friendly_errors,
)
from facesearch.cli.groups import principal_for

if TYPE_CHECKING:
    from facesearch.app import Service
    from facesearch.app.media import MediaService

CaseArg = Annotated[str, typer.Argument(metavar="CASE", help="Case number.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(media: typer.Typer, service_for: Callable[[typer.Context], Service]) -> None:
    """Add the commands to the ``media`` group."""

    @media.command("search")
    @authenticated
    def search_cluster(
        ctx: typer.Context,
        case: CaseArg,
        cluster: Annotated[
            int,
            typer.Option("--cluster", metavar="ID", help="The media-set cluster (person) of CASE."),
        ],
        probes: Annotated[
            int,
            typer.Option(
                "--probes", metavar="N", min=1, max=20, help="Its N best faces by quality."
            ),
        ] = 5,
        k: Annotated[
            int | None,
            typer.Option(
                "-k", metavar="N", help="Candidates (default and cap: the policy's).", min=1
            ),
        ] = None,
        json_out: JsonOpt = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Search the gallery with a person found in CASE's media, as one query.

        The best faces of the cluster are searched together (mean of their embeddings; the best
        single score and the matching faces are shown).

        Governed and logged like any search: an open case, an assigned investigator."""
        with friendly_errors():
            from facesearch.app.service import SearchRequest

            service = service_for(ctx)
            who = principal_for(service, cred)
            out = service.searches.cluster_search(who, case, cluster, SearchRequest(k=k), probes)
        view = out.to_dict()
        if json_out:
            sys.stdout.write(json.dumps(view, indent=2, default=str) + "\n")
            return
        print_multi(view)

    @media.command()
    @authenticated
    def alerts(
        ctx: typer.Context,
        case: CaseArg,
        json_out: JsonOpt = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Cross-case alerts of CASE: other cases with a strong match, and who supervises them.

        Nothing else of those cases is shown: only their number and supervisor, and which of
        CASE's own faces matched."""
        with friendly_errors():
            svc, who = _media(service_for(ctx), cred)
            found = svc.alerts(who, case)
        if json_out:
            sys.stdout.write(
                json.dumps({"alerts": [a.to_dict() for a in found]}, indent=2, default=str) + "\n"
            )
            return
        if not found:
            console.print(f"No cross-case alerts for case {case}.")
            return
        for a in found:
            console.print(a.message)
            console.print(f"  this case's faces: {', '.join(str(f) for f in a.faces)}")

    @media.command()
    @authenticated
    def crosscheck(
        ctx: typer.Context,
        case: CaseArg,
        json_out: JsonOpt = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Compare CASE's media faces with every other case's now (done after each import)."""
        with friendly_errors():
            svc, who = _media(service_for(ctx), cred)
            found = svc.crosscheck(who, case)
        if json_out:
            sys.stdout.write(
                json.dumps(
                    {
                        "faces": found.faces,
                        "compared_with": found.compared_with,
                        "new_pairs": found.new_pairs,
                        "cases_with_new_alerts": list(found.cases_with_new_alerts),
                    }
                )
                + "\n"
            )
            return
        console.print(
            f"Compared {found.faces} faces of case {case} with {found.compared_with} faces of "
            f"other cases: {found.new_pairs} new strong matches"
            + (
                f" (cases {', '.join(found.cases_with_new_alerts)})"
                if found.cases_with_new_alerts
                else ""
            )
            + f". See: facesearch media alerts {case}"
        )


def _media(service: Service, cred: Credential) -> tuple[MediaService, str]:
    """The media acts with the invocation's settings, and the acting user."""
    from facesearch.app.media import media_service

    who = principal_for(service, cred).username
    return media_service(service), who


def print_multi(view: dict[str, Any]) -> None:
    """A multi-probe result: the probes, then per candidate the mean score (rank), its band,
    the best single score and probe, and which probes matched."""
    probes = view["probes"]
    what = f"cluster {view['cluster']}" if view.get("cluster") is not None else "photos"
    console.print(f"Probes ({what}):")
    for p in probes:
        q = f", quality {p['quality']:.2f}" if p["quality"] is not None else ""
        console.print(f"  {p['position']}: {p['label']}  sha256 {p['sha256'][:16]}…{q}")
    table = Table(
        title=f"Multi-probe search {view['search_id']} in case {view['case']} by {view['user']}: "
        f"{len(view['candidates'])} candidates (model {view['model']})"
    )
    for col in ("#", "mean", "band", "best", "best probe", "matched probes", "provenance"):
        table.add_column(col, overflow="fold")
    colours = {"strong": "green", "possible": "yellow", "weak": "dim"}
    for c in view["candidates"]:
        prov = "\n".join(
            " | ".join(str(x) for x in (p.get("collection"), p.get("title"), p.get("path")) if x)
            for p in c["provenance"]
        )
        band = f"[{colours.get(c['band'], 'white')}]{c['band']}[/]"
        best = "-" if c["best_score"] is None else f"{c['best_score']:.3f} ({c['best_band']})"
        matched = ", ".join(str(m) for m in c["matched_probes"]) or "none"
        table.add_row(
            str(c["rank"]),
            f"{c['score']:.3f}",
            band,
            best,
            str(c["best_probe"] or "-"),
            matched,
            prov,
        )
    console.print(table)
    hidden = view["hidden_below_band"] + view["hidden_suppressed"]
    if hidden:
        console.print(
            f"{view['hidden_below_band']} below the band shown, "
            f"{view['hidden_suppressed']} suppressed: not shown."
        )
    console.print(view["statement"])
