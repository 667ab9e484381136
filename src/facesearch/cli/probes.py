"""``facesearch probe-faces`` and ``facesearch override``: the faces of a probe before any
search, and the supervised quality overrides of a probe face below the policy's minimum
quality (the rules: ``facesearch.govern.overrides``)."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from facesearch.app.types import fmt_time
from facesearch.cli.common import NO_CREDENTIAL, Credential, authenticated, read_probe, shown
from facesearch.cli.groups import ServiceFactory, acting_with, guard

if TYPE_CHECKING:
    from facesearch.govern.overrides import OverrideView


class OverrideStatus(StrEnum):
    """Statuses, for ``override list --status``."""

    PENDING = "pending"
    GRANTED = "granted"
    REFUSED = "refused"
    USED = "used"


def print_override(o: OverrideView) -> None:
    quality = "quality not given" if o.quality is None else f"quality {o.quality:.2f}"
    typer.echo(
        f"override {o.id} in case {o.case}: {o.status}; face {o.face} of probe "
        f"{o.probe_sha256[:16]}… ({quality}); asked by {o.requested_by}, "
        f"{fmt_time(o.requested_at)}: {shown(o.reason, markup=False)}"
    )
    if o.decided_by:
        note = f": {shown(o.decision_note, markup=False)}" if o.decision_note else ""
        typer.echo(f"    decided by {o.decided_by}, {fmt_time(o.decided_at)}{note}")
    if o.search_id is not None:
        typer.echo(f"    used by search {o.search_id}, {fmt_time(o.used_at)}")


def register(app: typer.Typer, factory: ServiceFactory) -> None:
    """Add ``probe-faces`` and the ``override`` group to ``app``."""
    acting = acting_with(factory)

    @app.command("probe-faces")
    @guard
    @authenticated
    def probe_faces(
        ctx: typer.Context,
        case: str,
        probe: Path,
        json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The faces of PROBE before any search in CASE (nothing searched or logged)."""
        service, who = acting(ctx, cred)
        data = read_probe(probe, service.settings.max_probe_bytes)
        found = service.searches.probe_faces(who, case, data)
        if json_out:
            sys.stdout.write(json.dumps(asdict(found), indent=2) + "\n")
            return
        typer.echo(f"probe {found.sha256} ({found.width}x{found.height}): {found.message}")
        for f in found.faces:
            marks = [
                "preselected" if f.index == found.preselected else "",
                "" if f.likely_face else "doubtful: perhaps not a face",
                f"below the policy minimum {found.min_quality:.2f}" if f.below_minimum else "",
                *f.causes,
            ]
            x, y, w, h = f.bbox
            typer.echo(
                f"  face {f.index}: box {x:.0f},{y:.0f} {w:.0f}x{h:.0f}, confidence "
                f"{f.detector_score:.2f}, quality {f.quality:.2f}"
                + "".join(f"; {m}" for m in marks if m)
            )

    override_app = typer.Typer(
        help="Quality overrides: a probe face below the policy's minimum quality searched once "
        "with a supervisor's grant.",
        no_args_is_help=True,
    )
    app.add_typer(override_app, name="override")

    @override_app.command("request")
    @guard
    @authenticated
    def override_request(
        ctx: typer.Context,
        case: str,
        probe: Path,
        face: Annotated[int, typer.Option(metavar="N", help="The probe face (0 = largest).")],
        reason: Annotated[str, typer.Option(metavar="TEXT", help="Why it must be searched.")],
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Ask a supervisor to let face N of PROBE be searched in CASE despite its quality."""
        service, who = acting(ctx, cred)
        data = read_probe(probe, service.settings.max_probe_bytes)
        sha = hashlib.sha256(data).hexdigest()
        print_override(service.searches.overrides.request(who, case, sha, face, reason))

    @override_app.command("grant")
    @guard
    @authenticated
    def override_grant(
        ctx: typer.Context,
        override_id: int,
        note: Annotated[str, typer.Option(metavar="TEXT", help="A note kept with it.")] = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Grant an override (a supervisor who did not ask for it): one search may use it."""
        service, who = acting(ctx, cred)
        print_override(service.searches.overrides.decide(who, override_id, True, note))

    @override_app.command("refuse")
    @guard
    @authenticated
    def override_refuse(
        ctx: typer.Context,
        override_id: int,
        note: Annotated[str, typer.Option(metavar="TEXT", help="Why.")],
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Refuse an override (a supervisor who did not ask for it), saying why."""
        service, who = acting(ctx, cred)
        print_override(service.searches.overrides.decide(who, override_id, False, note))

    @override_app.command("list")
    @guard
    @authenticated
    def override_list(
        ctx: typer.Context,
        case: Annotated[
            str | None, typer.Option("--case", metavar="CASE", help="This case's only.")
        ] = None,
        status: Annotated[OverrideStatus | None, typer.Option(help="Only these.")] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Overrides, newest first (supervisors and auditors: all; investigators: theirs)."""
        service, who = acting(ctx, cred)
        found = service.searches.overrides.list(
            who, case=case, status=status.value if status else None
        )
        if not found:
            typer.echo("no quality overrides")
        for o in found:
            print_override(o)
