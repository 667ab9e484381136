"""``facesearch serve``: the HTTP API and the web app (uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facesearch.cli.common import err_console, friendly_errors


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
    """Serve the REST API under /api/v1 and the web app at / (settings: FACESEARCH_* variables;
    outside development mode FACESEARCH_SECRET_KEY must be set)."""
    import uvicorn

    from facesearch.serve.api.app import create_app
    from facesearch.settings import Settings

    with friendly_errors():
        settings = Settings.load(host=host, port=port, data_dir=data_dir, database_url=database_url)
        app = create_app(settings)
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
