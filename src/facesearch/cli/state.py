"""The state of one ``facesearch`` invocation: the global options and the application
service, built once from the typed settings and closed when the command ends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from facesearch.app import Service


@dataclass
class CliState:
    data_dir: Path | None = None
    database_url: str | None = None
    service: Service | None = None


def state_of(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


def service_for(
    ctx: typer.Context, data_dir: Path | None = None, database_url: str | None = None
) -> Service:
    """The application service for this invocation (the typed settings, with the command's
    options winning over the global ones), closed when the command ends."""
    from facesearch.app import Service
    from facesearch.settings import Settings

    state = state_of(ctx)
    if state.service is None:
        settings = Settings.load(
            data_dir=data_dir or state.data_dir, database_url=database_url or state.database_url
        )
        state.service = Service.for_cli(settings)
        ctx.call_on_close(state.service.close)
    return state.service
