"""``facesearch policy validate`` (what the jurisdiction profile requires and what this
installation does not meet yet), ``facesearch user training ...`` (training records) and
``facesearch collection basis ...`` (collections' lawful basis)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from facesearch.app.types import (
    BasisView,
    NewBasis,
    PolicyError,
    Profile,
    RequirementStatus,
    TrainingView,
    load_policy,
)
from facesearch.cli.common import NO_CREDENTIAL, Credential, authenticated, shown
from facesearch.cli.groups import ServiceFactory, acting_with, fail, guard

if TYPE_CHECKING:
    from facesearch.app import Service
    from facesearch.app.principal import Principal

JsonOption = Annotated[bool, typer.Option("--json", help="JSON output.")]


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _date(text: str | None, what: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{what} must be a date (YYYY-MM-DD), got {text!r}") from None


def print_requirements(profile: Profile, found: list[RequirementStatus]) -> int:
    """Print the profile's requirements; returns how many checked ones are not met."""
    typer.echo(f"profile: {profile.name} ({profile.title})")
    if not found:
        typer.echo("  no requirement beyond the policy")
    unmet = 0
    for r in found:
        mark = "agency" if r.met is None else ("met" if r.met else "NOT MET")
        unmet += r.met is False
        line = (
            f"  [{mark}] {r.id} ({r.rule}): {r.does}" if r.does else f"  [{mark}] {r.id} ({r.rule})"
        )
        typer.echo(shown(line, markup=False))
        if r.met is False:
            typer.echo(shown(f"      to do: {r.todo}", markup=False))
    typer.echo(f"{unmet} requirement(s) not met" if unmet else "every checked requirement is met")
    return unmet


def _training_line(t: TrainingView) -> str:
    until = f"until {t.expires_on}" if t.expires_on else "no expiry"
    state = "current" if t.current else "not current"
    return shown(
        f"#{t.id} {t.username}: {t.course} completed {t.completed_on}, {until} ({state}); "
        f"recorded by {t.recorded_by}",
        markup=False,
    )


def _basis_line(b: BasisView) -> str:
    if not b.recorded:
        text = f"{b.collection}: no basis recorded"
    else:
        bits = [f"legal basis: {b.legal_basis}"]
        if b.source_attestation:
            bits.append(f"source: {b.source_attestation}")
        if b.dpia_reference:
            bits.append(f"DPIA/PIA: {b.dpia_reference}")
        bits.append(f"retention: {b.retention_rule or 'keep'}")
        text = f"{b.collection}: " + "; ".join(bits)
    if b.missing:
        text += f" — NOT SEARCHABLE, missing {', '.join(b.missing)}"
    return shown(text, markup=False)


def purge_collections(service: Service, who: Principal, now: datetime | None) -> None:
    """The per-collection part of ``facesearch purge``: each collection's retention rule."""
    removed, flagged = service.compliance.purge_collections(who, now)
    for name, count in removed.items():
        typer.echo(
            shown(f"collection {name}: {count} faces past its retention removed", markup=False)
        )
    for name in flagged:
        typer.echo(
            shown(
                f"collection {name}: records of people not convicted must be removed "
                "(facesearch suppress)",
                markup=False,
            )
        )


def add_compliance_commands(apps: dict[str, typer.Typer], factory: ServiceFactory) -> None:
    """Add ``policy validate``, ``user training`` and the ``collection`` app to ``apps``."""
    acting = acting_with(factory)

    @apps["policy"].command("validate")
    @guard
    def policy_validate(
        ctx: typer.Context,
        file: Annotated[
            Path | None, typer.Argument(help="A policy file (default: the policy in force).")
        ] = None,
        json_out: JsonOption = False,
    ) -> None:
        """Check a policy and list what its jurisdiction profile requires here.

        Exit code 1 when the file is not valid, 2 when a requirement is not met."""
        parsed = None
        if file is not None:
            try:
                parsed = load_policy(file)
            except PolicyError as exc:
                fail(str(exc), 1)
                return
        service = factory(ctx)
        profile, found = service.compliance.requirements(service.accounts.local_operator(), parsed)
        if json_out:
            _json({"profile": profile.name, "requirements": [asdict(r) for r in found]})
        else:
            if parsed is not None:
                typer.echo(f"policy OK: {file} (sha256 {parsed.sha256})")
            print_requirements(profile, found)
        if any(r.met is False for r in found):
            raise typer.Exit(2)

    training_app = typer.Typer(help="Users' training records.", no_args_is_help=True)

    @training_app.command("add")
    @guard
    @authenticated
    def training_add(
        ctx: typer.Context,
        username: Annotated[str, typer.Argument(help="The user trained.")],
        course: Annotated[str, typer.Option("--course", help="The course completed.")],
        completed: Annotated[str, typer.Option("--completed", help="Completed on (YYYY-MM-DD).")],
        expires: Annotated[
            str | None, typer.Option(help="Expires on (YYYY-MM-DD).", show_default=False)
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Record a training a user completed (administrators; audited)."""
        done = _date(completed, "--completed")
        assert done is not None
        service, who = acting(ctx, cred)
        found = service.compliance.record_training(
            who, username, course, done, _date(expires, "--expires")
        )
        typer.echo(_training_line(found))

    @training_app.command("list")
    @guard
    @authenticated
    def training_list(
        ctx: typer.Context,
        username: Annotated[str | None, typer.Argument(help="Only this user's.")] = None,
        json_out: JsonOption = False,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Trainings, newest first (your own; anyone's for administrators and auditors)."""
        service, who = acting(ctx, cred)
        found = service.compliance.trainings(who, username)
        if json_out:
            _json([asdict(t) for t in found])
            return
        for t in found:
            typer.echo(_training_line(t))
        if not found:
            typer.echo("no training recorded")

    @training_app.command("expiring")
    @guard
    @authenticated
    def training_expiring(
        ctx: typer.Context, json_out: JsonOption = False, cred: Credential = NO_CREDENTIAL
    ) -> None:
        """Trainings expired or expiring within 30 days, not renewed (administrators)."""
        service, who = acting(ctx, cred)
        found = service.compliance.expiring_trainings(who)
        if json_out:
            _json([asdict(t) for t in found])
            return
        for t in found:
            typer.echo(_training_line(t))
        if not found:
            typer.echo("no training expires within 30 days")

    apps["user"].add_typer(training_app, name="training")

    collection_app = typer.Typer(help="Collections' lawful basis.", no_args_is_help=True)
    basis_app = typer.Typer(
        help="A collection's legal basis, source, DPIA/PIA and retention rule.",
        no_args_is_help=True,
    )

    @basis_app.command("set")
    @guard
    @authenticated
    def basis_set(
        ctx: typer.Context,
        collection: Annotated[str, typer.Argument(help="The collection.")],
        legal_basis: Annotated[str, typer.Option("--legal-basis", help="The law relied on.")],
        source: Annotated[str, typer.Option("--source", help="Source attestation.")] = "",
        dpia: Annotated[str, typer.Option("--dpia", help="DPIA or PIA reference.")] = "",
        retention: Annotated[
            str, typer.Option("--retention", help='"keep", "not-convicted-purge" or "N days".')
        ] = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Record a collection's lawful basis (administrators; audited)."""
        service, who = acting(ctx, cred)
        new = NewBasis(legal_basis, source, dpia, retention)
        typer.echo(_basis_line(service.compliance.record_basis(who, collection, new)))

    @basis_app.command("list")
    @guard
    @authenticated
    def basis_list(
        ctx: typer.Context, json_out: JsonOption = False, cred: Credential = NO_CREDENTIAL
    ) -> None:
        """Every collection with its basis (administrators, auditors, supervisors)."""
        service, who = acting(ctx, cred)
        found = service.compliance.bases(who)
        if json_out:
            _json([asdict(b) for b in found])
            return
        for b in found:
            typer.echo(_basis_line(b))
        if not found:
            typer.echo("no collection yet")

    collection_app.add_typer(basis_app, name="basis")
    apps["collection"] = collection_app
