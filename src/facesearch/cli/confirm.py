"""``facesearch verify`` and ``facesearch identifications``: the two-person confirmation of an
identification. A candidate reviewed as a possible match becomes a confirmed identification
only when a second examiner, who neither ran the search nor made that review, confirms it
(the policy's ``[review] verifications_required``); until they record their verdict, the other
examiners' names, notes and verdicts are withheld from them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from facesearch.app.types import LEADS_STATEMENT, STATUS_LABELS, Identification, fmt_time
from facesearch.cli.common import NO_CREDENTIAL, Credential, authenticated, shown
from facesearch.cli.groups import ServiceFactory, acting_with, guard


class VerdictChoice(StrEnum):
    """Verdicts, for ``verify --verdict``."""

    CONFIRM = "confirm"
    REJECT = "reject"
    INCONCLUSIVE = "inconclusive"


class StatusChoice(StrEnum):
    """Statuses, for ``identifications --status``."""

    POSSIBLE_MATCH = "possible_match"
    CONFIRMED = "confirmed"
    DISPUTED = "disputed"


def print_identification(i: Identification) -> None:
    typer.echo(
        f"search {i.search_id} face {i.face_id} (rank {i.rank}, score {i.score:.4f}, {i.band}; "
        f"searched by {i.searcher} {fmt_time(i.searched_at)}): "
        f"{STATUS_LABELS.get(i.status, i.status)}"
    )
    for r in i.reviews:
        who = "(withheld until your own verification)" if r.hidden else r.reviewer
        note = f": {shown(r.note, markup=False)}" if r.note else ""
        typer.echo(f"    review {r.decision} by {who}, {fmt_time(r.at)}{note}")
    for v in i.verifications:
        basis = f" (basis: {shown(v.basis, markup=False)})" if v.basis else ""
        note = f": {shown(v.note, markup=False)}" if v.note else ""
        typer.echo(f"    verification {v.verdict} by {v.verifier}, {fmt_time(v.at)}{basis}{note}")
    if i.awaiting_verification:
        withheld = (
            f" ({i.verifications_hidden} verification(s) withheld)"
            if i.verifications_hidden
            else ""
        )
        typer.echo(
            f"    awaiting your independent verification{withheld}: "
            f"facesearch verify {i.search_id} {i.face_id} --verdict ..."
        )
    elif i.can_verify:
        typer.echo(f"    you may verify it again: facesearch verify {i.search_id} {i.face_id} ...")


def register(app: typer.Typer, factory: ServiceFactory) -> None:
    """Add ``verify`` and ``identifications`` to ``app``."""
    acting = acting_with(factory)

    @app.command("verify")
    @guard
    @authenticated
    def verify(
        ctx: typer.Context,
        search_id: int,
        face_id: int,
        verdict: Annotated[VerdictChoice, typer.Option(help="Your independent verdict.")],
        note: Annotated[str, typer.Option(metavar="TEXT", help="Your reasons.")] = "",
        basis: Annotated[
            str,
            typer.Option(
                metavar="TEXT", help='How you compared, e.g. "FISWG morphological comparison".'
            ),
        ] = "",
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """Record your independent verification of a possible match (two-person rule)."""
        service, who = acting(ctx, cred)
        v = service.searches.verify(who, search_id, face_id, verdict.value, note, basis)
        typer.echo(
            f"search {search_id} face {face_id}: {v.verdict} by {v.verifier}; status "
            f"{STATUS_LABELS.get(v.status, v.status)}"
        )
        typer.echo(LEADS_STATEMENT)

    @app.command("identifications")
    @guard
    @authenticated
    def identifications(
        ctx: typer.Context,
        case: str,
        status: Annotated[
            StatusChoice | None, typer.Option(help="Only these (disputed: the supervisor's list).")
        ] = None,
        cred: Credential = NO_CREDENTIAL,
    ) -> None:
        """List a case's possible matches with their reviews, verifications and status."""
        service, who = acting(ctx, cred)
        found = service.searches.identifications(who, case, status.value if status else None)
        if not found:
            typer.echo(
                f"case {case}: no possible matches" + (f" ({status.value})" if status else "")
            )
        for i in found:
            print_identification(i)
