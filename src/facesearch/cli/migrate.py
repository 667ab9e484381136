"""``facesearch migrate``: copy an embedded data directory onto distributed backends."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from facesearch.cli.common import (
    NO_CREDENTIAL,
    Credential,
    DatabaseUrlOption,
    DataDirOption,
    authenticated,
    console,
    err_console,
    friendly_errors,
)
from facesearch.cli.groups import principal_for
from facesearch.cli.progress import stage_bars

if TYPE_CHECKING:
    from facesearch.app import Service

STAGES = {"catalog": "catalog rows", "blobs": "blobs", "vectors": "vectors", "verify": "probes"}


def register(app: typer.Typer, service_for: Callable[..., Service]) -> None:
    @app.command()
    @authenticated
    def migrate(
        ctx: typer.Context,
        to_database: Annotated[
            str,
            typer.Option(
                "--to-database", metavar="URL", help="Target catalog (postgresql+psycopg://...)."
            ),
        ],
        to_vector_store: Annotated[
            str,
            typer.Option(
                "--to-vector-store", metavar="URL", help="Target vectors (milvus://HOST:19530)."
            ),
        ],
        to_blobs: Annotated[
            str | None,
            typer.Option(
                "--to-blobs",
                metavar="URL",
                help="Target blob store (s3://BUCKET/PREFIX); default: keep the data dir's.",
                show_default=False,
            ),
        ] = None,
        sample: Annotated[
            int, typer.Option(min=0, help="Probes sampled to compare top-k results.")
        ] = 50,
        k: Annotated[int, typer.Option("-k", min=1, help="Top-k compared per probe.")] = 10,
        json_out: Annotated[bool, typer.Option("--json", help="JSON report.")] = False,
        cred: Credential = NO_CREDENTIAL,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
    ) -> None:
        """Copy an embedded data directory to server backends, then verify it (administrators).

        The catalog (SQLite) goes to a server database, the vectors (FAISS) to a vector store
        and, optionally, the files to object storage; counts and top-k results on sampled
        probes are compared before success is reported. Resumable: run it again to continue."""
        from facesearch.app.types import Backends

        with friendly_errors():
            target = Backends.parse(
                database_url=to_database, vector_store=to_vector_store, blobs=to_blobs
            )
            service = service_for(ctx, data_dir, database_url)
            who = principal_for(service, cred)
            with stage_bars(json_out, STAGES) as on_progress:
                report = service.library.migrate(
                    who, target, sample=sample, k=k, on_progress=on_progress
                )
        if json_out:
            sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        else:
            console.print(
                f"copied {report.rows_copied} catalog rows, {report.vectors_copied} vectors, "
                f"{report.blobs_copied} blobs"
            )
            console.print(
                f"verified: {len(report.tables)} tables, vectors {report.vectors[1]}/"
                f"{report.vectors[0]}, top-{report.k} equal on {report.topk_equal}/"
                f"{report.probes} sampled probes"
            )
        if not report.ok:
            for problem in report.problems:
                err_console.print(f"[bold red]not verified:[/] {problem}")
            err_console.print("run the command again to continue the copy")
            raise typer.Exit(1)
        if not json_out:
            shown = target.describe()
            console.print("[bold green]migration verified.[/] To use it, set:")
            console.print(f"  FACESEARCH_DATABASE_URL={shown['database']}")
            console.print(f"  FACESEARCH_VECTOR_STORE={shown['vector_store']}")
            if to_blobs:
                console.print(f"  FACESEARCH_BLOBS={shown['blobs']}")
