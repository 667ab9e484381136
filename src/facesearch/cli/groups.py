"""What the governance command groups share: the acting user, refusals turned into exit
statuses, and how cases and search outcomes are printed.

Every governed command proves who is acting with one credential (:func:`principal_for`): an
API token (``--token``/``FACESEARCH_TOKEN``, or ``--token-file``/``FACESEARCH_TOKEN_FILE``)
whose owner acts, or ``--as USER`` (``FACESEARCH_USER``) with that user's password, prompted
on a terminal or read with ``--password-stdin``. A name alone is refused. Refusals print the
reason and exit with status 2; other errors exit with status 1.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer

from facesearch.app.types import LEADS_STATEMENT, CaseSummary, RefusedError, SearchOutcome, fmt_time
from facesearch.cli.common import Credential, CredentialFileError, read_token_file, shown
from facesearch.errors import FacesearchError

if TYPE_CHECKING:
    from facesearch.app import Principal, Service

ServiceFactory = Callable[[typer.Context], "Service"]
Acting = Callable[[typer.Context, Credential], "tuple[Service, Principal]"]
P = ParamSpec("P")
R = TypeVar("R")
PASSWORD_LINE_MAX = 1024


def principal_for(service: Service, cred: Credential) -> Principal:
    """The acting user of a command, from its credential (the one path every governed
    command takes): a token (given, or read from a private token file) and its owner, or
    ``--as USER`` and their password (``--password-stdin``, else a hidden prompt when
    standard input is a terminal). Nothing else is an identity: a name with no password, a
    wrong password, a bad token or token file is refused (exit 2) and logged."""
    accounts = service.accounts
    token = cred.token
    if cred.token_file is not None:
        if token:
            raise typer.BadParameter("give --token or --token-file, not both")
        try:
            token = read_token_file(cred.token_file)
        except CredentialFileError as exc:
            accounts.refuse_credential(cred.username, str(exc))
    if token:
        if cred.password_stdin:
            raise typer.BadParameter("give a token or --password-stdin, not both")
        return accounts.for_cli(cred.username, token)
    password = None
    if cred.username:
        if cred.password_stdin:
            password = read_password_line()
        elif sys.stdin.isatty():
            password = str(typer.prompt(f"Password for {cred.username}", hide_input=True, err=True))
    return accounts.for_cli(cred.username, password=password)


def read_password_line() -> str:
    """One line of standard input, without its line end ('' at the end of input)."""
    return sys.stdin.readline(PASSWORD_LINE_MAX).rstrip("\r\n")


def acting_with(factory: ServiceFactory) -> Acting:
    """``acting(ctx, cred)``: this invocation's service and its acting principal."""

    def acting(ctx: typer.Context, cred: Credential) -> tuple[Service, Principal]:
        service = factory(ctx)
        return service, principal_for(service, cred)

    return acting


class CaseStatusChoice(StrEnum):
    """Case states, for ``case list --status``."""

    PENDING = "pending"
    OPEN = "open"
    REJECTED = "rejected"
    CLOSED = "closed"


class DecisionChoice(StrEnum):
    """Review decisions, for ``review mark``."""

    POSSIBLE_MATCH = "possible_match"
    NOT_A_MATCH = "not_a_match"
    INSUFFICIENT_QUALITY = "insufficient_quality"


class PeriodChoice(StrEnum):
    """Reporting periods, for ``audit report --period``."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def fail(message: str, code: int) -> None:
    typer.echo(shown(message, markup=False), err=True)
    raise typer.Exit(code)


def guard(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn governance errors into a message and an exit status."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except RefusedError as exc:
            fail(f"refused: {exc.reason}", 2)
        except (FacesearchError, ValueError, OSError) as exc:
            fail(f"error: {exc}", 1)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date/time: {text!r}") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def read_secret(prompt: str, from_stdin: bool) -> str:
    """A new password: one line of standard input, or typed twice at a hidden prompt."""
    if from_stdin:
        return read_password_line()
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True, err=True))


def print_case(c: CaseSummary) -> None:
    typer.echo(f"case {c.number}: {c.status}")
    typer.echo(f"  purpose:         {c.purpose_name} ({c.purpose_key})")
    typer.echo(f"  legal authority: {c.legal_authority}")
    typer.echo(f"  justification:   {c.justification}")
    typer.echo(f"  requested:       {c.requested_by}, {fmt_time(c.requested_at)}")
    if c.decided_by:
        note = f" - {c.decision_note}" if c.decision_note else ""
        typer.echo(f"  decided:         {c.decided_by}, {fmt_time(c.decided_at)}{note}")
    typer.echo(f"  opened:          {fmt_time(c.opened_at)}")
    if c.closed_by:
        typer.echo(f"  closed:          {c.closed_by}, {fmt_time(c.closed_at)}")
    typer.echo(f"  assigned:        {', '.join(c.assigned) or '-'}")
    typer.echo(f"  searches:        {c.searches}")


def print_outcome(o: SearchOutcome) -> None:
    """Print a search outcome (also for the lead's ``search`` command)."""
    typer.echo(LEADS_STATEMENT)
    typer.echo(
        f"search {o.search_id} in case {o.case} by {o.user} at {fmt_time(o.at)}; probe "
        f"{o.probe_sha256}; model {o.model} ({o.model_sha256}); thresholds {o.thresholds}"
    )
    if o.results_purged_at:
        typer.echo(f"  results purged {fmt_time(o.results_purged_at)}")
        return
    hidden = o.hidden_below_band + o.hidden_suppressed
    if hidden:
        typer.echo(
            f"  {o.hidden_below_band} below band '{o.min_band_shown}' and "
            f"{o.hidden_suppressed} suppressed candidates not shown"
        )
    for c in o.candidates:
        decision = c.decision or "not reviewed"
        typer.echo(
            f"  {c.rank:>3}. face {c.face_id:<8} score {c.score:.4f} {c.band:<10} "
            f"image {c.image_sha256 or '-'}  [{decision}]"
        )
        for p in c.provenance:
            where = p.get("source_url") or p.get("path") or ""
            collection = shown(p.get("collection", "?"), markup=False)
            typer.echo(f"        from {collection}: {shown(where, markup=False)}")
    if not o.candidates:
        typer.echo("  no candidates shown")
