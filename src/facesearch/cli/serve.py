"""``facesearch serve``: the HTTP API and the web app (uvicorn)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from facesearch.cli.common import err_console, friendly_errors

if TYPE_CHECKING:
    from facesearch.settings import Settings


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).", min=1, max=65535)] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", "-d", help="Data directory (default: $FACESEARCH_DATA_DIR)."),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Catalog URL.", show_default=False)
    ] = None,
) -> None:
    """Serve the REST API under /api/v1 and the web app at /.

    Settings come from FACESEARCH_* variables; outside development mode FACESEARCH_SECRET_KEY
    must be set."""
    import uvicorn

    from facesearch.serve.api.app import create_app
    from facesearch.settings import Settings
    from facesearch.store.private import PRIVATE_UMASK

    os.umask(PRIVATE_UMASK)  # the server's files are private too: folders 0700, files 0600
    with friendly_errors():
        settings = Settings.load(host=host, port=port, data_dir=data_dir, database_url=database_url)
        app = create_app(settings)
        limit_malloc_arenas(settings)
        err_console.print(
            f"facesearch serving {settings.data_dir} on http://{settings.host}:{settings.port} "
            f"({settings.environment})"
        )
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            server_header=False,
            date_header=True,
            proxy_headers=False,
            log_level="info",
        )


M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def limit_malloc_arenas(settings: Settings) -> bool:
    """Cap glibc's malloc arenas for the threads started from now on (uvicorn's request
    threads, the search threads). By default glibc gives each new thread its own arena, up
    to 8 per core, and memory freed in one is rarely handed back: under many concurrent
    clients the server's resident memory keeps growing though nothing leaks. One arena per
    search thread plus one keeps it flatter (what ``MALLOC_ARENA_MAX`` does when set before
    the process starts). ``FACESEARCH_MALLOC_ARENAS=0`` leaves glibc's default. Returns
    whether the cap was set (False outside glibc)."""
    import ctypes
    import ctypes.util

    arenas = settings.malloc_arenas
    if arenas == 0:
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        wanted = arenas if arenas is not None else max(2, settings.search_workers + 1)
        return bool(libc.mallopt(M_ARENA_MAX, wanted))
    except (OSError, AttributeError):
        return False
