"""``facesearch authorisation``, ``facesearch receipts`` and ``facesearch search-record``:
authorisations of a case's searches (urgent use and its deadline), signed deletion receipts,
and the Art. 12(3) record of a search."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from facesearch.app.types import (
    AUTHORISATION_KINDS,
    AuthorisationView,
    NewAuthorisation,
    ReceiptView,
    checkpoint,
    verify_receipt,
)
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


def _line(a: AuthorisationView) -> str:
    bits = [f"#{a.id}", a.case, a.kind_label, a.status]
    if a.authority or a.reference:
        bits.append(f"{a.authority} {a.reference}".strip())
    if a.reason:
        bits.append(f"({a.reason})")
    if a.awaiting and a.deadline_at:
        bits.append(f"deadline {a.deadline_at:%Y-%m-%d %H:%M} UTC")
    if a.scan_sha256:
        bits.append(f"scan {a.scan_sha256[:12]}")
    if a.receipt_id:
        bits.append(f"deletion receipt #{a.receipt_id}")
    bits.append(f"recorded {a.recorded_at:%Y-%m-%d %H:%M} by {a.recorded_by}")
    if a.validated_by:
        bits.append(f"validated by {a.validated_by}")
    return shown(" ".join(bits))


def _receipt_line(r: ReceiptView) -> str:
    signed = f"signed (key {r.key_fingerprint})" if r.signed else "UNSIGNED"
    return shown(
        f"receipt #{r.id} case {r.case}: {r.reason}, searches "
        f"{', '.join(map(str, r.searches)) or '-'}; {signed}; {r.created_at:%Y-%m-%d %H:%M}"
    )


def register(app: typer.Typer, service_for: Callable[..., Service]) -> None:
    authz = typer.Typer(
        help="Authorisations of a case's searches, urgent use and its deadline.",
        no_args_is_help=True,
    )

    @authz.command("record")
    @authenticated
    def record(
        ctx: typer.Context,
        case: Annotated[str, typer.Argument(help="The case number.")],
        kind: Annotated[
            str, typer.Option("--kind", help=f"One of: {', '.join(AUTHORISATION_KINDS)}.")
        ],
        authority: Annotated[str, typer.Option("--authority", help="Who issued it.")] = "",
        reference: Annotated[str, typer.Option("--reference", help="Its reference.")] = "",
        issued: Annotated[
            str | None, typer.Option("--issued", metavar="DATE", help="Its date (ISO).")
        ] = None,
        reason: Annotated[
            str, typer.Option("--reason", help="Why none is required (not_required).")
        ] = "",
        refused: Annotated[
            bool, typer.Option("--refused", help="The authorisation was refused.")
        ] = False,
        scan: Annotated[
            Path | None, typer.Option("--scan", metavar="FILE", help="The document (PDF/image).")
        ] = None,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Record an authorisation of a case's searches (audited)."""
        try:
            when = datetime.fromisoformat(issued) if issued else None
        except ValueError:
            raise typer.BadParameter(f"--issued must be an ISO date, got {issued!r}") from None
        with friendly_errors():
            data = scan.read_bytes() if scan is not None else None
            new = NewAuthorisation(kind, authority, reference, when, reason, not refused, data)
            service = service_for(ctx, data_dir, database_url)
            found = service.authorisations.record(principal_for(service, cred), case, new)
        console.print(_line(found))

    @authz.command("list")
    @authenticated
    def list_authorisations(
        ctx: typer.Context,
        case: Annotated[str, typer.Argument(help="The case number.")],
        json_out: JsonOption = False,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """A case's authorisations (an urgent use past its deadline is enforced first)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.authorisations.of_case(principal_for(service, cred), case)
        if json_out:
            _json([asdict(a) for a in found])
            return
        for a in found:
            console.print(_line(a))
        if not found:
            console.print(f"no authorisation recorded for case {case}")

    @authz.command("validate")
    @authenticated
    def validate(
        ctx: typer.Context,
        authorisation: Annotated[int, typer.Argument(help="The authorisation's id.")],
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Validate an authorisation against its document (supervisors; audited)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.authorisations.validate(principal_for(service, cred), authorisation)
        console.print(_line(found))

    @authz.command("deadlines")
    @authenticated
    def deadlines(
        ctx: typer.Context,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Urgent uses awaiting their authorisation, nearest deadline first."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.authorisations.deadlines(principal_for(service, cred))
        for a in found:
            console.print(_line(a))
        if not found:
            console.print("no urgent use awaits its authorisation")

    @authz.command("enforce")
    @authenticated
    def enforce(
        ctx: typer.Context,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Delete the searches of urgent uses past their deadline (administrators)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.authorisations.enforce(principal_for(service, cred))
        for r in found:
            console.print(_receipt_line(r))
        console.print(f"{len(found)} urgent use(s) past the deadline enforced")

    receipts = typer.Typer(help="Signed deletion receipts.", no_args_is_help=True)

    @receipts.command("list")
    @authenticated
    def list_receipts(
        ctx: typer.Context,
        case: Annotated[str | None, typer.Option("--case", help="Only this case's.")] = None,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Deletion receipts, newest first (supervisors, administrators, auditors)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            found = service.authorisations.receipts(principal_for(service, cred), case)
        for r in found:
            console.print(_receipt_line(r))
        if not found:
            console.print("no deletion receipt")

    @receipts.command("get")
    @authenticated
    def get_receipt(
        ctx: typer.Context,
        receipt: Annotated[int, typer.Argument(help="The receipt's id.")],
        out: Annotated[
            Path | None, typer.Option("--out", metavar="FILE", help="Write it to FILE.")
        ] = None,
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The signed receipt document (JSON), to stdout or a file."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            document = service.authorisations.receipt(principal_for(service, cred), receipt)
            text = json.dumps(document, indent=2, sort_keys=True) + "\n"
            if out is None:
                sys.stdout.write(text)
            else:
                out.write_text(text, "utf-8")
                console.print(f"receipt #{receipt} written to {shown(str(out))}")

    @receipts.command("verify")
    def verify(
        file: Annotated[Path, typer.Argument(help="The receipt file (JSON).")],
        public_key: Annotated[
            Path,
            typer.Option(
                "--public-key",
                envvar=checkpoint.PUBLIC_KEY_ENV,
                metavar="FILE",
                help="The trusted public key (the audit checkpoint key's .pub).",
            ),
        ],
    ) -> None:
        """Verify a deletion receipt's signature under the trusted public key (exit 3 if not)."""
        with friendly_errors():
            trusted = checkpoint.load_public_key(public_key)
            try:
                document = json.loads(file.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise typer.BadParameter(f"cannot read {file}: {exc}") from None
        problems = verify_receipt(document, trusted)
        if problems:
            for p in problems:
                console.print(shown(f"{file}: {p}"))
            raise typer.Exit(3)
        body = document["receipt"]
        console.print(
            shown(
                f"{file}: receipt #{body.get('receipt_id')} of case {body.get('case')} verifies "
                f"under key {checkpoint.fingerprint(document['public_key'])[:16]}"
            )
        )

    @app.command("search-record")
    @authenticated
    def search_record(
        ctx: typer.Context,
        search: Annotated[int, typer.Argument(help="The search's id.")],
        data_dir: DataDirOption = None,
        database_url: DatabaseUrlOption = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """The Art. 12(3) record of a search (JSON)."""
        with friendly_errors():
            service = service_for(ctx, data_dir, database_url)
            _json(service.authorisations.search_record(principal_for(service, cred), search))

    app.add_typer(authz, name="authorisation")
    app.add_typer(receipts, name="receipts")
