"""Shared CLI options and error handling."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from facesearch.errors import FacesearchError

console = Console()
err_console = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        "-d",
        metavar="DIR",
        help="Data directory (default: $FACESEARCH_DATA or ./facesearch-data).",
        show_default=False,
    ),
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        metavar="URL",
        help="Catalog database URL (default: $FACESEARCH_DATABASE_URL or SQLite in the data dir).",
        show_default=False,
    ),
]


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn facesearch errors into one clear line on stderr: exit code 2 for a refusal by the
    policy (it is in the audit log too), 1 for anything else."""
    from facesearch.app.types import RefusedError

    try:
        yield
    except RefusedError as exc:
        err_console.print(f"[bold red]refused:[/] {exc.reason}")
        sys.exit(2)
    except FacesearchError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)
    except FileNotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {exc.strerror}: {exc.filename}")
        sys.exit(1)


Actor = Annotated[
    str | None,
    typer.Option(
        "--as", envvar="FACESEARCH_USER", metavar="USER", help="Acting user (or FACESEARCH_USER)."
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="FACESEARCH_TOKEN",
        metavar="TOKEN",
        help="API token; the acting user is its owner (or FACESEARCH_TOKEN).",
        show_default=False,
    ),
]
