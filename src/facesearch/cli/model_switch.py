"""``facesearch models switch NEW``, ``models switch-back`` and ``models drop MODEL_KEY``: the
atomic, audited switch of the gallery to another recognizer once a model migration covers
every searchable face, the switch back to the previous one, and dropping a model's kept
vectors (``app/model_switch.py``). Administrators; each asks for confirmation (``--yes`` to
skip it in scripts), and a running server picks the switch up before its next search."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from facesearch.cli.common import (
    NO_CREDENTIAL,
    Credential,
    DatabaseUrlOption,
    DataDirOption,
    authenticated,
    console,
    friendly_errors,
    shown,
)
from facesearch.cli.groups import principal_for

if TYPE_CHECKING:
    from facesearch.app import Service

YesOption = Annotated[
    bool, typer.Option("--yes", help="Do it without asking (scripts; the act is audited).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON output.")]


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _confirmed(question: str, yes: bool) -> None:
    """Go on when ``yes``, or when the operator answers yes at a terminal; else stop (exit 1)."""
    if yes:
        return
    if not sys.stdin.isatty():
        typer.echo(f"{question}: not confirmed (give --yes to run it without a terminal)", err=True)
        raise typer.Exit(1)
    if not typer.confirm(question, default=False, err=True):
        typer.echo("nothing changed", err=True)
        raise typer.Exit(1)


def register(models_app: typer.Typer, service_for: Callable[..., Service]) -> None:
    """Add ``switch``, ``switch-back`` and ``drop`` to the ``models`` group."""

    @models_app.command("switch")
    @authenticated
    def switch(
        ctx: typer.Context,
        target: Annotated[
            str, typer.Argument(help="The recognizer to search with.", show_default=False)
        ],
        yes: YesOption = False,
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Switch the gallery to a migrated recognizer, in one audited step (administrators)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            who = principal_for(service, cred)
            _confirmed(f"switch every search of this gallery to {target}?", yes)
            report = service.model_switch.switch(who, target)
        _said(report, json_out)

    @models_app.command("switch-back")
    @authenticated
    def switch_back(
        ctx: typer.Context,
        yes: YesOption = False,
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Switch back to the recognizer used before the last switch (administrators)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            who = principal_for(service, cred)
            _confirmed("switch the gallery back to its previous recognizer?", yes)
            report = service.model_switch.switch_back(who)
        _said(report, json_out)

    @models_app.command("drop")
    @authenticated
    def drop(
        ctx: typer.Context,
        model_key: Annotated[
            str,
            typer.Argument(
                help="The model key (or name) whose kept vectors go.", show_default=False
            ),
        ],
        yes: YesOption = False,
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Delete a model's kept vectors: no switch back to it after (administrators)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            who = principal_for(service, cred)
            _confirmed(f"delete every kept vector of {model_key} (no switch back to it)?", yes)
            report = service.model_switch.drop(who, model_key)
        if json_out:
            _json(asdict(report))
            return
        console.print(
            shown(
                f"dropped {report.vectors} vectors of {report.model_key}"
                + "".join(f"; {k}: {n}" for k, n in report.standing.items())
                + f" (audit entry {report.audit_seq})"
            ),
            soft_wrap=True,
        )


def _said(report: Any, json_out: bool) -> None:
    if json_out:
        _json(asdict(report))
        return
    verb = "switched back" if report.action == "models.switch_back" else "switched"
    console.print(
        shown(
            f"{verb} from {report.source} ({report.source_model_key}) to {report.target} "
            f"({report.target_model_key}): {report.moved} faces now answer with it"
            + (f", {report.kept} left on the old model (not searchable)" if report.kept else "")
            + "".join(f"; {k}: {n} moved" for k, n in report.standing.items())
            + f" (audit entry {report.audit_seq})"
        ),
        soft_wrap=True,
    )
    console.print(
        "A running server answers with it from its next search; the old vectors are kept "
        "until 'facesearch models drop'.",
        soft_wrap=True,
    )
