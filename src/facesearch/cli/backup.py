"""``facesearch backup`` and ``facesearch restore``: a checksummed copy of the installation,
and a new installation made from one (facesearch.app.backup)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from facesearch.app.backup import Backups, restore
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
from facesearch.cli.progress import stage_bars
from facesearch.settings import Settings

if TYPE_CHECKING:
    from facesearch.app import Service

STAGES = {
    "catalog": "catalog",
    "files": "files",
    "verify": "checking backup",
    "copy": "restoring",
}

JsonOption = Annotated[bool, typer.Option("--json", help="JSON report.")]


def register(app: typer.Typer, service_for: Callable[..., Service]) -> None:
    @app.command("backup")
    @authenticated
    def backup(
        ctx: typer.Context,
        dest: Annotated[
            Path,
            typer.Argument(
                metavar="DEST", help="A new or empty folder, outside the data directory."
            ),
        ],
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Copy the whole installation to DEST while searches go on (administrators; audited).

        The SQLite catalog (through SQLite's backup API, at one moment), the vector index,
        the blobs, the policy and every other file of the data directory, with a manifest of
        every file's size and SHA-256 (manifest.json) and the manifest's own SHA-256
        (manifest.json.sha256, also in the audit log). Encrypted data is copied encrypted;
        the key is not copied. A PostgreSQL catalog is refused: use pg_dump (docs/deploy.md)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            who = principal_for(service, cred)
            with stage_bars(json_out, STAGES, in_bytes=True) as on_progress:
                report = Backups(service.ctx).backup(who, dest, on_progress=on_progress)
        if json_out:
            sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
            return
        console.print(
            f"backed up to {shown(report.dest)}: {report.files} files, {report.bytes:,} bytes, "
            f"audit log to #{report.audit_head_seq}"
        )
        console.print(f"manifest SHA-256 {report.manifest_sha256}")
        for note in report.notes:
            console.print(f"note: {shown(note)}")

    @app.command("restore")
    def restore_cmd(
        src: Annotated[
            Path, typer.Argument(metavar="SRC", help="A backup folder ('facesearch backup').")
        ],
        target: Annotated[
            Path, typer.Argument(metavar="DIR", help="The new data directory (new or empty).")
        ],
        manifest_sha256: Annotated[
            str | None,
            typer.Option(
                "--manifest-sha256",
                metavar="HEX",
                help="Also require the manifest to have this SHA-256 (from the source's "
                "audit log or the backup's report).",
                show_default=False,
            ),
        ] = None,
        json_out: JsonOption = False,
    ) -> None:
        """Make a new installation in DIR from the backup SRC (the operator; audited there).

        Checks the manifest and every file's SHA-256 (a changed, missing or extra file is
        refused, named), refuses a DIR that is not empty, copies, then opens the restored
        installation and verifies its audit chain; logs 'restore' in it. The encryption key
        and the backends come from the environment, as for any command."""
        with friendly_errors():
            settings = Settings.load(data_dir=target)
            with stage_bars(json_out, STAGES, in_bytes=True) as on_progress:
                report = restore(
                    src,
                    target,
                    settings=settings,
                    expected_sha256=manifest_sha256,
                    on_progress=on_progress,
                )
        if json_out:
            sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
            return
        console.print(
            f"restored {shown(src)} into {shown(report.target)}: {report.files} files, "
            f"{report.bytes:,} bytes; audit chain verified ({report.audit_checked} entries)"
        )
        for note in report.notes:
            console.print(f"note: {shown(note)}")
