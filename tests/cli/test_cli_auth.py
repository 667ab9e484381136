"""One authenticated principal at the command line (issue 21): every governed command needs a
credential (an API token, a private token file, or the user's password), a bare ``--as NAME``
is refused and logged with where it came from, ``init`` makes the first administrators with
passwords, and a probe is read within the server's size limit."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import click
import pytest
import typer
from sqlalchemy import select
from tests.support.cli import PASSWORD, CliUsers, init_args, init_input, make_token
from typer.testing import CliRunner

from facesearch.app.service import Service
from facesearch.cli import app
from facesearch.govern import Role
from facesearch.govern.audit import entries
from facesearch.govern.schema import Case
from facesearch.settings import Settings

runner = CliRunner()
CREDENTIAL_OPTIONS = {"--as", "--token", "--token-file", "--password-stdin"}
# the commands that need no credential: the bootstrap (init, and restore, which makes a new
# installation from a backup), the local operator's reads, and the tools that touch no
# governed data (the server authenticates each request itself)
EXEMPT = {
    "init", "restore", "stats", "runs", "policy show", "policy check", "audit keygen", "embed",
    "compare", "eval", "calibrate", "serve", "keys generate", "originals stats",
    # a file checked with a public key only (no data directory read)
    "receipts verify", "disclosure verify",
    # the operator's reads, like stats: whether searching is suspended, and the policy file's
    # requirements against the installation (counts and names, no case or face data)
    "suspension status", "policy validate",
}  # fmt: skip


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Two administrators, a supervisor (sam) and an investigator (ivy), all with passwords,
    and a case ivy asked for, pending approval."""
    data = tmp_path / "data"
    with Service.for_cli(Settings(data_dir=data)) as service:
        service.library.initialise([("admin", PASSWORD), ("root", PASSWORD)])
        gov = service.governance
        change = gov.add_user("admin", "sam", [Role.SUPERVISOR], PASSWORD)
        assert change is not None  # a supervisor waits for the second administrator
        gov.approve_change("root", change.id)
        gov.add_user("admin", "ivy", [Role.INVESTIGATOR], PASSWORD)
        gov.open_case("ivy", "C-1", "threat-to-life", "Warrant 1", "a kidnapping suspect")
    return data


def run(data: Path, *args: str, stdin: str | None = None, env: dict[str, Any] | None = None):
    base = {"FACESEARCH_USER": None, "FACESEARCH_TOKEN": None, "FACESEARCH_TOKEN_FILE": None}
    return runner.invoke(app, ["-d", str(data), *args], input=stdin, env={**base, **(env or {})})


def said(res: Any) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(res.output.split())


def log(data: Path) -> list[Any]:
    with Service.for_cli(Settings(data_dir=data)) as service, service.governance.session() as s:
        return list(entries(s))


def case_status(data: Path, number: str = "C-1") -> str:
    with Service.for_cli(Settings(data_dir=data)) as service, service.governance.session() as s:
        case = s.execute(select(Case).where(Case.number == number)).scalar_one()
        return str(case.status)


# --- a name alone, a password, a token ----------------------------------------------------------


def test_a_bare_name_is_refused_logged_with_its_origin_and_changes_nothing(data: Path) -> None:
    res = run(data, "case", "approve", "C-1", "--as", "sam")
    assert res.exit_code == 2, res.output
    assert "refused:" in res.output and "a user name alone is no identity" in res.output
    last = log(data)[-1]
    assert (last.actor, last.action) == ("sam", "authenticate.refused")
    assert last.details["origin"].startswith(f"cli uid={os.getuid()}(")
    assert case_status(data) == "pending"
    # FACESEARCH_USER is a name too
    res = run(data, "case", "approve", "C-1", env={"FACESEARCH_USER": "sam"})
    assert res.exit_code == 2 and case_status(data) == "pending"
    # and no name at all
    res = run(data, "case", "list")
    assert res.exit_code == 2 and "no credential" in res.output
    assert log(data)[-1].action == "authenticate.refused"


def test_the_password_on_standard_input_authenticates(data: Path) -> None:
    res = run(data, "case", "approve", "C-1", "--as", "sam", "--password-stdin", stdin=PASSWORD)
    assert res.exit_code == 0, res.output
    assert case_status(data) == "open"
    entry = next(e for e in reversed(log(data)) if e.action == "case.approve")
    assert entry.actor == "sam"
    assert entry.details["auth"]["method"] == "password"
    assert entry.details["auth"]["origin"].startswith("cli uid=")


def test_a_wrong_password_is_refused_and_logged(data: Path) -> None:
    res = run(data, "case", "approve", "C-1", "--as", "sam", "--password-stdin", stdin="nope\n")
    assert res.exit_code == 2 and "wrong username or password" in res.output
    last = log(data)[-1]
    assert (last.actor, last.action) == ("sam", "authenticate.refused")
    assert last.details["auth"] == {"method": "password", "origin": last.details["auth"]["origin"]}
    assert last.details["auth"]["origin"].startswith("cli uid=")
    # an unknown user costs the same check and says the same
    res = run(data, "case", "list", "--as", "nobody", "--password-stdin", stdin=PASSWORD)
    assert res.exit_code == 2 and "wrong username or password" in res.output
    assert case_status(data) == "pending"


def test_a_token_authenticates_and_the_log_names_it(data: Path) -> None:
    token = make_token(data, "sam")
    res = run(data, "case", "approve", "C-1", "--token", token)
    assert res.exit_code == 0, res.output
    entry = next(e for e in reversed(log(data)) if e.action == "case.approve")
    token_id = next(e for e in log(data) if e.action == "token.create").details["token_id"]
    assert entry.details["auth"]["method"] == "token"
    assert entry.details["auth"]["token_id"] == token_id
    assert entry.details["auth"]["origin"].startswith("cli uid=")
    # FACESEARCH_TOKEN is the same; a name given with it must be the token's owner
    assert run(data, "case", "list", env={"FACESEARCH_TOKEN": token}).exit_code == 0
    res = run(data, "case", "list", "--as", "ivy", "--token", token)
    assert res.exit_code == 2 and "belongs to 'sam'" in res.output
    assert log(data)[-1].action == "authenticate.refused"


def test_a_token_file_must_be_private_and_the_callers(data: Path, tmp_path: Path) -> None:
    token = make_token(data, "ivy")
    path = tmp_path / "ivy.token"
    path.write_text(token + "\n", encoding="ascii")
    path.chmod(0o644)
    res = run(data, "case", "list", "--token-file", str(path))
    assert res.exit_code == 2 and "mode 0644" in res.output and "0600" in res.output
    assert log(data)[-1].action == "authenticate.refused"
    for mode in (0o600, 0o400):
        path.chmod(mode)
        res = run(data, "case", "list", "--token-file", str(path))
        assert res.exit_code == 0 and "C-1" in res.output, res.output
        res = run(data, "case", "list", env={"FACESEARCH_TOKEN_FILE": str(path)})
        assert res.exit_code == 0, res.output
    res = run(data, "case", "list", "--token-file", str(tmp_path / "missing"))
    assert res.exit_code == 2 and "No such file" in res.output
    res = run(data, "case", "list", "--token-file", str(path), "--token", token)
    assert res.exit_code == 2 and "not both" in res.output


def test_a_token_file_of_another_account_is_refused(data: Path, tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give the file to another account")
    path = tmp_path / "ivy.token"
    path.write_text(make_token(data, "ivy"), encoding="ascii")
    path.chmod(0o600)
    os.chown(path, 65534, -1)
    res = run(data, "case", "list", "--token-file", str(path))
    assert res.exit_code == 2 and "belongs to uid 65534" in res.output


def test_every_governed_command_takes_the_same_credential_options() -> None:
    def walk(cmd: click.Command, path: tuple[str, ...] = ()) -> Any:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, (*path, name))
        else:
            yield " ".join(path), cmd

    root = typer.main.get_command(app)
    without = set()
    for name, cmd in walk(root):
        opts = {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts}
        if not opts & {"--as", "--token"}:
            without.add(name)
            continue
        # user add and user passwd read a new password on standard input: the actor's comes
        # from a token or the prompt
        own_stdin = name in ("user add", "user passwd")
        expected = CREDENTIAL_OPTIONS - ({"--password-stdin"} if own_stdin else set())
        assert expected <= opts, (name, expected - opts)
    assert without == EXEMPT


# --- init -------------------------------------------------------------------------------------


def test_init_needs_a_password_for_each_administrator(tmp_path: Path) -> None:
    data = tmp_path / "data"
    res = run(data, "init", "--admin", "admin")
    assert res.exit_code == 2 and "needs a password" in res.output
    res = run(data, *init_args("admin", "root"), stdin=PASSWORD + "\n")  # one line short
    assert res.exit_code == 2 and "no password for 'root'" in res.output
    res = run(data, "init", "--admin", "admin", "--password-stdin", stdin="short\n")
    assert res.exit_code == 2 and "at least 12 characters" in res.output
    assert not any(e.action == "user.add" for e in log(data))  # nobody made

    res = run(data, *init_args("admin", "root"), stdin=init_input("admin", "root"))
    assert res.exit_code == 0, res.output
    made = [e for e in log(data) if e.action == "user.add"]
    assert [e.details["user"] for e in made] == ["admin", "root"]
    assert all(e.details["bootstrap"] and e.details["password_set"] for e in made)
    assert made[0].details["auth"]["method"] == "local"
    assert made[0].details["auth"]["origin"].startswith("cli uid=")
    # both can sign in with their password; init is refused now
    for admin in ("admin", "root"):
        res = run(data, "user", "list", "--as", admin, "--password-stdin", stdin=PASSWORD)
        assert res.exit_code == 0 and "root" in res.output, res.output
    res = run(data, *init_args("eve"), stdin=init_input("eve"))
    assert res.exit_code == 2 and "has users already" in res.output
    assert log(data)[-1].action == "user.add.refused"


def test_user_add_needs_the_administrators_credential(data: Path) -> None:
    res = run(
        data, "user", "add", "mallory", "-r", "administrator", "--no-password", "--as", "admin"
    )
    assert res.exit_code == 2 and "no identity" in res.output
    users = CliUsers(data)
    res = run(
        data, "user", "add", "mallory", "-r", "investigator", "--password-stdin",
        *users.args("admin"), stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    add = next(e for e in reversed(log(data)) if e.action == "user.add")
    assert add.details["user"] == "mallory" and add.details["auth"]["method"] == "token"


# --- probes within the limit --------------------------------------------------------------------


def test_a_probe_over_the_limit_is_refused_before_it_is_read(data: Path, tmp_path: Path) -> None:
    users = CliUsers(data)
    big = tmp_path / "big.jpg"
    with big.open("wb") as fh:
        fh.truncate(64 * 1024 + 1)  # sparse: nothing to read, one byte over the limit
    env = {"FACESEARCH_MAX_PROBE_BYTES": str(64 * 1024)}
    res = run(data, "search", str(big), "--case", "C-1", *users.args("ivy"), env=env)
    assert res.exit_code == 1 and "larger than the limit of 65536 bytes" in said(res)
    # the same for one of several probes, and for a removal request's photos
    res = run(data, "search", str(big), str(big), "--case", "C-1", *users.args("ivy"), env=env)
    assert res.exit_code == 1 and "larger than the limit" in said(res)
    res = run(
        data, "suppress", "preview", "--requester", "p", "--reason", "r", "--image", str(big),
        *users.args("admin"), env=env,
    )  # fmt: skip
    assert res.exit_code == 1 and "the photo" in said(res) and "larger than the limit" in said(res)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_endless_probe_is_read_only_to_the_limit(data: Path) -> None:
    users = CliUsers(data)
    env = {"FACESEARCH_MAX_PROBE_BYTES": str(1024 * 1024)}
    args = ["search", "/dev/zero", "--case", "C-1", *users.args("ivy")]
    tracemalloc.start()
    start = time.monotonic()
    try:
        res = run(data, *args, env=env)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.exit_code == 1 and "larger than the limit of 1048576 bytes" in said(res)
    assert time.monotonic() - start < 10
    assert peak < 16 * 1024 * 1024, peak  # the limit read once, not the stream


def test_a_folder_as_probe_is_a_clear_error(data: Path, tmp_path: Path) -> None:
    users = CliUsers(data)
    res = run(data, "search", str(tmp_path), "--case", "C-1", *users.args("ivy"))
    assert res.exit_code == 1, res.output
    assert "is a folder, not a photo" in said(res) and "Traceback" not in res.output
    assert isinstance(res.exception, SystemExit)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs a pseudo-terminal")
def test_on_a_terminal_the_password_is_asked_for_and_not_echoed(data: Path) -> None:
    import pty
    import select
    import sys

    pid, fd = pty.fork()
    if pid == 0:  # the child: facesearch on the pseudo-terminal
        argv = [sys.executable, "-m", "facesearch", "-d", str(data), "case", "list", "--as", "ivy"]
        creds = ("FACESEARCH_USER", "FACESEARCH_TOKEN", "FACESEARCH_TOKEN_FILE")
        os.execve(sys.executable, argv, {k: v for k, v in os.environ.items() if k not in creds})
    out, sent = b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], 0.2)[0]:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child ended
            break
        if not chunk:
            break
        out += chunk
        if not sent and b"Password for ivy" in out:
            os.write(fd, (PASSWORD + "\n").encode())
            sent = True
    _, status = os.waitpid(pid, 0)
    assert sent and os.waitstatus_to_exitcode(status) == 0, out
    assert b"C-1" in out and PASSWORD.encode() not in out  # hidden input
