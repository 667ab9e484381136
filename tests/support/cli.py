"""Credentials for tests that run the ``facesearch`` command line.

The CLI takes no bare ``--as NAME``: every governed command proves who is acting with an API
token or the user's password. These helpers make a user's token through the application
(what the user does once with ``facesearch token create``) and hand it to a command the way a
script does (``FACESEARCH_TOKEN``, or ``--token``), and give ``init`` its administrators'
passwords on standard input.
"""

from __future__ import annotations

from pathlib import Path

from facesearch.app.service import Service
from facesearch.settings import Settings

PASSWORD = "correct horse battery staple"


def make_token(data_dir: Path | str, user: str, name: str = "tests") -> str:
    """A new API token of ``user`` (an active user of the data directory), made as that user
    through the application service; logged as ``token.create`` like any other."""
    with Service.for_cli(Settings.load(data_dir=Path(data_dir))) as service:
        token, _ = service.governance.create_token(user, user, name)
        return token


class CliUsers:
    """The tokens of one data directory's users, each made on first use and kept."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self._tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = make_token(self.data_dir, user)
        return self._tokens[user]

    def env(self, user: str | None) -> dict[str, str | None]:
        """The environment of a command run as ``user`` (None: with no credential at all)."""
        if user is None:
            return {"FACESEARCH_TOKEN": None, "FACESEARCH_USER": None}
        return {"FACESEARCH_TOKEN": self.token(user), "FACESEARCH_USER": None}

    def args(self, user: str) -> list[str]:
        """``--token TOKEN`` of ``user``, for a command line."""
        return ["--token", self.token(user)]


def init_args(*admins: str) -> list[str]:
    """``init``'s arguments making ``admins`` the first administrators, their passwords (all
    :data:`PASSWORD`) read from standard input (:func:`init_input`)."""
    args = ["init"]
    for admin in admins or ("admin",):
        args += ["--admin", admin]
    return [*args, "--password-stdin"]


def init_input(*admins: str) -> str:
    """The standard input of :func:`init_args`: one password line per administrator."""
    return f"{PASSWORD}\n" * max(1, len(admins))
