"""``facesearch models``: the recognizers an agency adds with a model card (docs/models.md).

``add FILE.onnx --card CARD [--photos DIR]`` checks the card, copies and hashes the file into
the data directory's model store and smoke-tests it; ``list`` and ``show NAME`` tell what is
there (card, hash, smoke figures, calibration, whether the gallery searches with it);
``remove NAME`` takes a model out of the store when nothing uses its vectors. Adding and
removing are for administrators and audited; auditors may read.

:func:`register` returns the ``models`` group so that the model migration's commands
(``migrate``, ``switch``, ``drop``, ``status``) can be added to it from their own modules.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from facesearch.app.types import ModelView
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

JsonOption = Annotated[bool, typer.Option("--json", help="JSON output.")]


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _bands(view: ModelView) -> str:
    if not view.calibrated:
        return "not calibrated (run 'facesearch calibrate --model NAME' before switching to it)"
    return ", ".join(f"{k} {v}" for k, v in view.thresholds.items())


def _row(view: ModelView) -> str:
    flags = ["ACTIVE" if view.active else "", "calibrated" if view.calibrated else "uncalibrated"]
    return shown(
        f"{view.name} {view.version} [{view.source}] {view.key} — "
        f"{' '.join(f for f in flags if f)}; smoke: {view.smoke_summary}; licence: {view.licence}"
    )


def _show(view: ModelView) -> None:
    state = "ACTIVE: the gallery searches with it" if view.active else "not active"
    source = "model store (added by the agency)" if view.source == "store" else "shipped"
    size = f"{view.input_size[0]}x{view.input_size[1]}"
    lines = [
        f"{view.name} (version {view.version}), {state}",
        f"source:      {source}",
        f"licence:     {view.licence}",
        f"vectors key: {view.key}",
        f"SHA-256:     {view.sha256}",
        f"input:       {size}, {view.embedding_size}-d vectors, {view.runtime}",
        f"bands:       {_bands(view)}",
        f"fusion:      {json.dumps(view.fusion) if view.fusion else 'none'}",
    ]
    if view.description:
        lines.append(f"description: {view.description}")
    if view.source == "store":
        lines.append(f"added:       {view.added_at} by {view.added_by}")
        lines.append(f"smoke test:  {view.smoke_summary}")
        for key in ("photos", "people", "lowest_same", "highest_different", "margin", "dim",
                    "max_norm_error", "ms_per_face", "runtime", "tested_at"):  # fmt: skip
            if key in view.smoke:
                lines.append(f"  {key}: {view.smoke[key]}")
        lines.append("card:")
        lines += [f"  {k} = {json.dumps(v)}" for k, v in view.card.items()]
    for line in lines:
        console.print(shown(line), soft_wrap=True)


def register(app: typer.Typer, service_for: Callable[..., Service]) -> typer.Typer:
    """Add ``facesearch models`` to ``app``; returns the group, for more subcommands."""
    models_app = typer.Typer(
        help="Recognizers an agency adds with a model card: add, list, show, remove.",
        no_args_is_help=True,
    )

    @models_app.command("add")
    @authenticated
    def add(
        ctx: typer.Context,
        onnx: Annotated[Path, typer.Argument(help="The model's ONNX file.", show_default=False)],
        card: Annotated[
            Path, typer.Option("--card", help="Its model card (TOML or JSON; docs/models.md).")
        ],
        photos: Annotated[
            Path | None,
            typer.Option(
                "--photos",
                help="Smoke-test on this folder of identity folders instead of the demo "
                "photos (for machines without a network).",
                show_default=False,
            ),
        ] = None,
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Add a recognizer from its ONNX file and card, smoke-tested (administrators; audited)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            added = service.models.add(principal_for(service, cred), onnx, card, photos)
        if json_out:
            _json({"model": asdict(added.model), "smoke": added.smoke.to_dict()})
            return
        console.print(
            shown(f"added {added.model.name} {added.model.version} as {added.model.key}"),
            soft_wrap=True,
        )
        console.print(shown(f"smoke test passed: {added.smoke.measured()}"), soft_wrap=True)
        console.print(
            shown(
                f"next: calibrate it ('facesearch calibrate --model {added.model.name}'), then "
                f"'facesearch models migrate {added.model.name}' (docs/models.md)"
            ),
            soft_wrap=True,
        )

    @models_app.command("list")
    @authenticated
    def list_models(
        ctx: typer.Context,
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The recognizers: shipped and added, which one is active (administrators, auditors)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.models.list(principal_for(service, cred))
        if json_out:
            _json([asdict(v) for v in found])
            return
        for view in found:
            console.print(_row(view), soft_wrap=True)

    @models_app.command("show")
    @authenticated
    def show(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="The model's name.", show_default=False)],
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """A model's card, hash, smoke figures and calibration (administrators, auditors)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            view = service.models.show(principal_for(service, cred), name)
        if json_out:
            _json(asdict(view))
        else:
            _show(view)

    @models_app.command("remove")
    @authenticated
    def remove(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="The model's name.", show_default=False)],
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Remove an unused model from the store (administrators; audited)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            view = service.models.remove(principal_for(service, cred), name)
        console.print(shown(f"removed {view.name} {view.version} ({view.key})"), soft_wrap=True)

    app.add_typer(models_app, name="models")
    return models_app
