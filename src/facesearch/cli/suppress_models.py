"""``facesearch suppress enrol-model``: a suppression entry moves with the gallery to another
recognizer (issue 25, item 3). An entry keeps no image, so the target model's vector of the
person is made from a new photo of them, checked against the entry with its own model first
(``app/standing_moves.StandingMoves.enrol_suppression``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facesearch.cli.common import NO_CREDENTIAL, Credential, authenticated, read_probe
from facesearch.cli.groups import ServiceFactory, acting_with, guard


def add_enrol_command(suppress_app: typer.Typer, factory: ServiceFactory) -> None:
    """Add ``enrol-model`` to the ``suppress`` group."""
    acting = acting_with(factory)

    @suppress_app.command("enrol-model")
    @guard
    @authenticated
    def suppress_enrol_model(
        ctx: typer.Context,
        entry: Annotated[int, typer.Argument(metavar="ID", help="The suppression entry's id.")],
        photo: Annotated[Path, typer.Argument(metavar="PHOTO", help="A photo of the person.")],
        model: Annotated[
            str | None,
            typer.Option(
                metavar="NAME",
                help="The model to enrol for (default: the one the gallery is moving to).",
            ),
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Enrol a photo of a suppressed person with the model the gallery moves to."""
        service, who = acting(ctx, cred)
        data = read_probe(photo, service.settings.max_probe_bytes, "photo")
        done = service.standing_moves.enrol_suppression(who, entry, data, model)
        typer.echo(
            f"suppression entry {done.suppression_id}: enrolled for {done.model} (the photo "
            f"scores {done.old_score:.4f} against the entry with {done.old_model})"
        )
