"""Shared CLI options and error handling."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape as escape_markup

from facesearch.errors import FacesearchError

console = Console()
err_console = Console(stderr=True)

# C0 and C1 control characters, DEL, and the Unicode bidirectional overrides and isolates
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(value: object, *, markup: bool = True) -> str:
    """``value`` (a name from the data: a file or archive member's name, a path, a title) made
    safe to print on a terminal: every control character written as its escape (ESC as
    ``\\x1b``, a newline as ``\\x0a``) so no name can move the cursor, recolour or rewrite
    the screen; with ``markup`` (text for a rich console or table) its ``[`` are escaped too,
    so a name cannot style the output. ``markup=False`` for ``typer.echo``."""
    text = _CONTROL.sub(_escaped, str(value))
    return escape_markup(text) if markup else text


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
        err_console.print(f"[bold red]refused:[/] {shown(exc.reason)}")
        sys.exit(2)
    except FacesearchError as exc:
        err_console.print(f"[bold red]error:[/] {shown(exc)}")
        sys.exit(1)
    except FileNotFoundError as exc:
        err_console.print(f"[bold red]error:[/] {shown(exc.strerror)}: {shown(exc.filename)}")
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
