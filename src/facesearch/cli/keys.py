"""``facesearch keys``: the encryption key's upkeep (generate a key, rotate to a new one)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from facesearch.app.keys import Keys
from facesearch.cli.common import (
    NO_CREDENTIAL,
    Credential,
    DatabaseUrlOption,
    DataDirOption,
    authenticated,
    console,
    friendly_errors,
)
from facesearch.cli.groups import principal_for
from facesearch.cli.progress import stage_bars

if TYPE_CHECKING:
    from facesearch.app import Service

STAGES = {
    "embeddings": "face vectors",
    "face-vectors": "other models' vectors",
    "index": "vector index",
    "probes": "probe images",
    "blobs": "crops, thumbnails",
    "media-blobs": "media files",
    "suppressions": "suppression entries",
    "media-faces": "media face vectors",
    "standing": "standing queries",
    "moved-vectors": "standing data's other models' vectors",
}


def register(app: typer.Typer, service_for: Callable[..., Service]) -> None:
    keys = typer.Typer(
        help="The encryption key: generate one, rotate the data to a new one.",
        no_args_is_help=True,
    )

    @keys.command("generate")
    def generate() -> None:
        """Print a new random encryption key (64 hex digits).

        Put it in FACESEARCH_ENCRYPTION_KEY, a key file (chmod 600, outside the data
        directory) or the secrets manager FACESEARCH_KEY_COMMAND reads."""
        sys.stdout.write(Keys.generate() + "\n")

    @keys.command("rotate")
    @authenticated
    def rotate(
        ctx: typer.Context,
        old_key_file: Annotated[
            Path | None,
            typer.Option(
                "--old-key-file",
                metavar="FILE",
                help="The old key's file (else FACESEARCH_OLD_ENCRYPTION_KEY).",
                show_default=False,
            ),
        ] = None,
        from_plain: Annotated[
            bool,
            typer.Option(
                "--from-plain", help="Also encrypt data stored before encryption was turned on."
            ),
        ] = False,
        json_out: Annotated[bool, typer.Option("--json", help="JSON report.")] = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Re-encrypt the stored data under the configured key (administrators; audited).

        Face vectors, the saved vector index, probe images, blobs (renamed: their names are
        keyed), suppression entries and media faces' vectors go from the old key
        (FACESEARCH_OLD_ENCRYPTION_KEY or --old-key-file), or from plain data with
        --from-plain, to the key set now. Stop the server first.
        Resumable: run it again after an interruption."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            who = principal_for(service, cred)
            with stage_bars(json_out, STAGES) as on_progress:
                report = Keys(service.ctx).rotate(
                    who, old_key_file=old_key_file, from_plain=from_plain, on_progress=on_progress
                )
        if json_out:
            sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
            return
        c = report.counts
        console.print(
            f"rotated to key id {report.new_key_id}"
            + (" (resumed)" if report.resumed else "")
            + f": {c.get('embeddings', 0)} faces' vectors, {c.get('index', 0)} index, "
            f"{c.get('probes', 0)} probes, {c.get('blobs', 0)} blobs, "
            f"{c.get('media-blobs', 0)} media blobs, {c.get('suppressions', 0)} suppression "
            f"entries, {c.get('media-faces', 0)} media faces' vectors, "
            f"{c.get('standing', 0)} standing queries' vectors and probes"
        )

    app.add_typer(keys, name="keys")
