"""Shared CLI options and error handling."""

from __future__ import annotations

import functools
import inspect
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, overload

import typer
from rich.console import Console
from rich.markup import escape as escape_markup

from facesearch.errors import WRITE_ONLY_ERRNOS, FacesearchError, storage_error

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
    policy (it is in the audit log too), 1 for anything else. A write the storage refused
    (disk full, read-only, a locked catalog) is one line too, saying what could not be
    written and that nothing stored so far was lost (:class:`~facesearch.errors.StorageError`;
    a bare ``OSError`` with an errno only a write gets is told the same way)."""
    from facesearch.app.types import RefusedError

    try:
        yield
    except RefusedError as exc:
        say(f"[bold red]refused:[/] {shown(exc.reason)}")
        sys.exit(2)
    except FacesearchError as exc:
        say(f"[bold red]error:[/] {shown(exc)}")
        sys.exit(1)
    except FileNotFoundError as exc:
        say(f"[bold red]error:[/] {shown(exc.strerror)}: {shown(exc.filename)}")
        sys.exit(1)
    except OSError as exc:
        refused = storage_error(exc, "a file") if exc.errno in WRITE_ONLY_ERRNOS else None
        if refused is None:
            raise
        say(f"[bold red]error:[/] {shown(refused)}")
        sys.exit(1)


def say(message: str) -> None:
    """One message on stderr, on one line however long (rich would wrap it at 80 columns
    when stderr is not a terminal)."""
    err_console.print(message, soft_wrap=True)


# --- the acting user's credential ------------------------------------------------------------

Actor = Annotated[
    str | None,
    typer.Option(
        "--as",
        envvar="FACESEARCH_USER",
        metavar="USER",
        help="Acting user, proven by their password: prompted on a terminal, or "
        "--password-stdin (or FACESEARCH_USER). With a token: must be its owner.",
        show_default=False,
    ),
]
# --as of a command whose standard input carries something else (see :func:`authenticated`)
ActorPrompted = Annotated[
    str | None,
    typer.Option(
        "--as",
        envvar="FACESEARCH_USER",
        metavar="USER",
        help="Acting user, proven by their password typed at the terminal's prompt (or "
        "FACESEARCH_USER). With a token: must be its owner.",
        show_default=False,
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
TokenFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        envvar="FACESEARCH_TOKEN_FILE",
        metavar="FILE",
        help="A file holding the API token, yours, mode 0600 or 0400 (or FACESEARCH_TOKEN_FILE).",
        show_default=False,
    ),
]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the acting user's (--as) password from one line of standard input.",
    ),
]


@dataclass(frozen=True)
class Credential:
    """How the acting user of one command proves who they are: the options of
    :func:`authenticated`, checked by :func:`facesearch.cli.groups.principal_for`."""

    username: str | None = None
    token: str | None = None
    token_file: Path | None = None
    password_stdin: bool = False


NO_CREDENTIAL = Credential()
"""The default of a command's ``cred`` parameter, which :func:`authenticated` fills."""

# The options :func:`authenticated` adds, by parameter name (prefixed: no command's own
# parameter is called so).
_CREDENTIAL_OPTIONS: dict[str, tuple[Any, Any]] = {
    "cred_as": (Actor, None),
    "cred_token": (TokenOpt, None),
    "cred_token_file": (TokenFileOpt, None),
    "cred_password_stdin": (PasswordStdinOpt, False),
}
R = TypeVar("R")


@overload
def authenticated(fn: Callable[..., R], /) -> Callable[..., R]: ...


@overload
def authenticated(*, stdin: bool) -> Callable[[Callable[..., R]], Callable[..., R]]: ...


def authenticated(
    fn: Callable[..., R] | None = None, /, *, stdin: bool = True
) -> Callable[..., R] | Callable[[Callable[..., R]], Callable[..., R]]:
    """Give a command the credential options, the same everywhere (``--as``, ``--token``,
    ``--token-file``, ``--password-stdin``), and hand them to it as one :class:`Credential`
    in its parameter ``cred``. ``stdin=False`` for a command whose standard input carries
    something else (a new user's password): its acting user proves who they are with a token
    or the terminal prompt."""

    def decorate(command: Callable[..., R]) -> Callable[..., R]:
        return _with_credential(command, stdin)

    return decorate if fn is None else decorate(fn)


def _with_credential(command: Callable[..., R], stdin: bool) -> Callable[..., R]:
    signature = inspect.signature(command, eval_str=True)
    if "cred" not in signature.parameters:
        raise TypeError(f"{command.__name__} takes no 'cred' parameter")
    options = dict(_CREDENTIAL_OPTIONS)
    if not stdin:
        del options["cred_password_stdin"]
        options["cred_as"] = (ActorPrompted, None)
    params = [p for p in signature.parameters.values() if p.name != "cred"]
    at = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
    params[at:at] = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, (kind, default) in options.items()
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        cred = Credential(
            username=kwargs.pop("cred_as", None),
            token=kwargs.pop("cred_token", None),
            token_file=kwargs.pop("cred_token_file", None),
            password_stdin=kwargs.pop("cred_password_stdin", False),
        )
        return command(*args, cred=cred, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


# --- files the command line reads -------------------------------------------------------------

TOKEN_FILE_MODES = (0o600, 0o400)
_TOKEN_FILE_MAX = 4096


def read_token_file(path: Path) -> str:
    """The API token in ``path``: a regular file of the caller's, readable by nobody else
    (mode 0600 or 0400), its first line. Raises :class:`CredentialFileError` otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise CredentialFileError(
            f"token file {shown(path, markup=False)}: {exc.strerror}"
        ) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())  # the file opened, not a name that may change meanwhile
        name = shown(path, markup=False)
        if not stat.S_ISREG(st.st_mode):
            raise CredentialFileError(f"token file {name} is not a regular file")
        if st.st_uid != os.getuid():
            raise CredentialFileError(
                f"token file {name} belongs to uid {st.st_uid}, not to you (uid {os.getuid()})"
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode not in TOKEN_FILE_MODES:
            raise CredentialFileError(
                f"token file {name} has mode {mode:04o}: others may read it; it must be 0600 "
                f"or 0400 (chmod 600 {name})"
            )
        data = fh.read(_TOKEN_FILE_MAX)
    lines = data.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        raise CredentialFileError(f"token file {name} is empty")
    return lines[0].strip()


class CredentialFileError(FacesearchError):
    """A token file that cannot be used: missing, not the caller's, readable by others."""


class ProbeFileError(FacesearchError):
    """A probe photo that cannot be read: a folder, a device, larger than the limit."""


def read_probe(path: Path, limit: int, what: str = "probe") -> bytes:
    """The bytes of the photo at ``path``, read with the limit the server applies to an
    upload (``max_probe_bytes``): a regular file larger than ``limit`` is refused before it
    is read, anything else (a pipe, a device such as /dev/zero) is read to at most
    ``limit + 1`` bytes. A folder is refused with a message, not a traceback."""
    name = shown(path, markup=False)
    if path.is_dir():
        raise ProbeFileError(f"the {what} {name} is a folder, not a photo")
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise ProbeFileError(f"the {what} {name}: {exc.strerror}") from None
    with fh:
        st = os.fstat(fh.fileno())
        if stat.S_ISREG(st.st_mode) and st.st_size > limit:
            raise ProbeFileError(_too_large(what, name, limit))
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ProbeFileError(_too_large(what, name, limit))
    if not data:
        raise ProbeFileError(f"the {what} {name} is empty")
    return data


def _too_large(what: str, name: str, limit: int) -> str:
    return (
        f"the {what} {name} is larger than the limit of {limit} bytes (FACESEARCH_MAX_PROBE_BYTES)"
    )
