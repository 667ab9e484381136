"""The governance commands (user, token, case, review, audit, purge, suppress, policy) through
the ``facesearch`` CLI on a real data directory. The one search is made the way the
application runs it (``facesearch.app.governed``), with the fake engine of
test_govern_support over faces written into the data directory's catalog."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import sessionmaker
from tests.support.cli import CliUsers, make_token
from tests.support.govern import (
    MODEL,
    PASSWORD,
    FakeBackend,
    add_face,
    governed_photo_search,
    person_vec,
    probe_bytes,
)
from typer.testing import CliRunner

from facesearch.app.service import Service
from facesearch.govern import Governance, SearchOutcome, default_policy
from facesearch.settings import Settings


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    from facesearch.cli import app

    data = tmp_path / "data"

    @contextmanager
    def opened() -> Iterator[Service]:
        ws = Service.for_cli(Settings.load(data_dir=data))
        try:
            yield ws
        finally:
            ws.close()

    with opened() as ws, sessionmaker(ws.gallery.catalog.engine)() as s:
        for person in (1, 2):
            for variant in (0, 1):
                add_face(s, person, variant)
        s.commit()
    runner = CliRunner()

    users = CliUsers(data)

    def run(*args: str, user: str | None = None, code: int = 0, stdin: str | None = None) -> str:
        env = users.env(user)  # user's token (made once, through the application)
        result = runner.invoke(app, ["-d", str(data), *args], input=stdin, env=env)
        out = result.output  # standard output and standard error
        assert result.exit_code == code, (args, result.exit_code, out, result.exception)
        return out

    def search(actor: str, case: str, probe: bytes) -> SearchOutcome:
        with opened() as ws:
            backend = FakeBackend(sessionmaker(ws.gallery.catalog.engine))
            return governed_photo_search(ws.governance, backend, actor, case, probe)

    def is_suppressed(vector: np.ndarray, model: str) -> bool:
        with opened() as ws:
            gov: Governance = ws.governance
            return gov.is_suppressed(vector, model)

    run.search = search  # type: ignore[attr-defined]
    run.is_suppressed = is_suppressed  # type: ignore[attr-defined]
    run.tmp = tmp_path  # type: ignore[attr-defined]
    return run


@pytest.mark.e2e
def test_cli_workflow(cli: Any) -> None:
    # the operator's setup: two administrators, so that one can approve what the other asks
    out = cli(
        "init", "--admin", "admin", "--admin", "ada", "--password-stdin",
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert "administrators 'admin' and 'ada'" in out
    # a name alone is no identity; the administrator's password or token is
    out = cli(
        "user", "add", "alice", "-r", "investigator", "--no-password", "--as", "admin", code=2
    )
    assert "no identity" in out
    cli("user", "add", "alice", "-r", "investigator", "--no-password", user="admin")
    out = cli("user", "add", "sam", "-r", "supervisor", "--no-password", user="admin")
    assert "pending: change 1" in out and "another administrator (ada) must approve" in out
    assert "sam" not in cli("user", "list", user="admin")
    out = cli("change", "approve", "1", user="admin", code=2)
    assert "another administrator must approve it" in out
    assert "add user sam (supervisor)" in cli("change", "list", user="ada")
    assert "change 1 approved" in cli("change", "approve", "1", user="ada")
    assert "no pending changes" in cli("change", "list", user="ada")
    cli("user", "add", "audrey", "-r", "auditor", "--no-password", user="admin")
    out = cli("user", "list", user="admin")
    assert "alice" in out and "supervisor" in out

    out = cli(
        "case",
        "open",
        "C-1",
        "--purpose",
        "threat-to-life",
        "--authority",
        "W-1",
        "--justification",
        "kidnapping suspect on CCTV",
        user="alice",
    )
    assert "pending" in out
    out = cli("case", "approve", "C-1", user="alice", code=2)
    assert "refused:" in out and "lacks the role" in out
    cli("case", "approve", "C-1", "--note", "ok", user="sam")

    o = cli.search("alice", "C-1", probe_bytes(2))  # the governed search the CLI runs
    face = o.candidates[0].face_id
    out = cli(
        "review", "mark", str(o.search_id), str(face), "possible_match", "--note", "n", user="alice"
    )
    assert "possible_match by alice" in out and "investigative leads" in out
    # two-person confirmation: the searcher cannot verify; a supervisor who did not review can
    v = ("verify", str(o.search_id), str(face), "--verdict", "confirm")
    assert "searcher cannot verify" in cli(*v, user="alice", code=2)
    out = cli("identifications", "C-1", user="sam")
    assert "awaiting your independent verification" in out
    assert "review possible_match by alice" not in out
    out = cli(*v, "--basis", "FISWG morphological comparison", user="sam")
    assert "confirm by sam; status confirmed identification" in out
    out = cli("identifications", "C-1", "--status", "confirmed", user="audrey")
    assert "confirmed identification" in out and "review possible_match by alice" in out
    assert "verification confirm by sam" in out and "FISWG" in out
    out = cli("case", "show", "C-1", user="sam")
    assert f"face {face}" in out and "[possible_match]" in out
    out = cli("case", "list", user="audrey")
    assert "C-1" in out

    html, pdf = cli.tmp / "r.html", cli.tmp / "r.pdf"
    cli("case", "report", "C-1", "--html", str(html), "--pdf", str(pdf), user="sam")
    assert "C-1" in html.read_text() and pdf.read_bytes().startswith(b"%PDF")
    # the reviewed candidate listed, the other counted; --all-candidates lists both
    other = o.candidates[1].face_id
    assert f"face-{face}" in html.read_text() and f"face-{other}" not in html.read_text()
    assert "1 candidate shown to the searcher was not reviewed" in html.read_text()
    cli("case", "report", "C-1", "--html", str(html), "--all-candidates", user="sam")
    assert f"face-{other}" in html.read_text() and "was not reviewed" not in html.read_text()
    cli("case", "close", "C-1", user="sam")

    # a token is created only by its owner, even by an administrator
    out = cli("token", "create", "--user", "alice", "--name", "api", user="admin", code=2)
    assert "only by its owner" in out
    out = cli("token", "create", "--name", "api", user="alice")
    token = out.strip().splitlines()[-1]
    assert token.startswith("fst_")
    out = cli("case", "list", "--token", token)
    assert "C-1" in out
    out = cli("token", "list", user="admin")
    assert "api" in out and token not in out
    token_id = next(line.split()[0] for line in out.splitlines() if " api " in line)
    cli("token", "revoke", token_id, user="admin")
    out = cli("case", "list", "--token", token, code=2)
    assert "revoked" in out

    out = cli("audit", "verify", user="audrey")
    assert "audit log intact" in out
    out = cli("audit", "report", "--period", "day", user="audrey")
    assert "searches 1" in out and "[refused]" not in out  # one refusal is no anomaly
    out = cli("audit", "report", "--json", user="audrey")
    assert '"searches": 1' in out
    out = cli("audit", "entries", "--outcome", "refused", user="audrey")
    assert "refused token.create: a token is created only by its owner" in out
    assert "candidates shown" not in out and "entries (offset 0)" in out
    table = cli.tmp / "alice.csv"
    out = cli("audit", "entries", "--actor", "alice", "--csv", str(table), user="audrey")
    rows = table.read_text().splitlines()
    assert rows[0].startswith("seq,time,actor,action,case,") and f"wrote {len(rows) - 1}" in out
    assert len(rows) > 3 and all(",alice," in row for row in rows[1:])
    out = cli("audit", "entries", "--action", "audit.export", "--json", user="audrey")
    assert '"total": 1' in out and f'"rows": {len(rows) - 1}' in out
    assert "lacks the role" in cli("audit", "entries", user="alice", code=2)

    out = cli("purge", "--now", "2030-01-01T00:00:00", user="admin")
    assert "purged 1 probe images and the results of 1 searches" in out
    out = cli("purge", "--now", "2030-01-01T00:00:00", user="admin")
    assert "purged 0 probe images" in out

    emb = cli.tmp / "person.npy"
    np.save(emb, np.stack([person_vec(1, 30)]))
    out = cli(
        "suppress",
        "preview",
        "--embeddings",
        str(emb),
        "--model",
        MODEL,
        "--requester",
        "the person",
        "--reason",
        "DSR-1",
        user="admin",
    )
    assert "removal request 1: 2 matching faces" in out
    out = cli("suppress", "apply", "1", user="admin")
    assert "removed 2 faces" in out
    assert cli.is_suppressed(person_vec(1, 31), MODEL)

    token = cli("token", "create", "--name", "again", user="alice").strip().splitlines()[-1]
    out = cli("user", "disable", "alice", user="admin")
    out = cli("case", "list", user="alice", code=2)
    assert "was revoked" in out  # disabling revoked alice's tokens
    out = cli("user", "enable", "alice", user="admin")
    assert "pending: change 2" in out
    cli("case", "list", user="alice", code=2)  # still disabled until approved
    cli("change", "approve", "2", user="ada")
    fresh = make_token(cli.tmp / "data", "alice")  # her old tokens stay revoked: a new one
    assert "C-1" in cli("case", "list", "--token", fresh)
    out = cli("case", "list", "--token", token, code=2)  # disabling revoked it for good
    assert "revoked" in out


def test_cli_passwords(cli: Any) -> None:
    cli("init", "--admin", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    cli("user", "add", "ivy", "-r", "investigator", "--password-stdin", user="admin",
        stdin=PASSWORD + "\n")  # fmt: skip
    # your own: the current one first, then the new one
    out = cli("user", "passwd", "ivy", "--password-stdin", user="ivy",
              stdin="not the password\nivy's new password\n", code=2)  # fmt: skip
    assert "current password is wrong" in out
    out = cli("user", "passwd", "ivy", "--password-stdin", user="ivy",
              stdin=f"{PASSWORD}\nivy's new password\n")  # fmt: skip
    assert "password changed for ivy" in out
    # an administrator's reset: ivy must change it before anything else
    out = cli("user", "passwd", "ivy", "--password-stdin", user="admin",
              stdin="a temporary password\n")  # fmt: skip
    assert "must change it at next login" in out
    out = cli("case", "list", user="ivy", code=2)
    assert "must change their password first" in out
    cli("user", "passwd", "ivy", "--password-stdin", user="ivy",
        stdin="a temporary password\nivy's own password\n")  # fmt: skip
    cli("case", "list", user="ivy")


def test_cli_needs_an_acting_user(cli: Any) -> None:
    cli("init", "--admin", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    out = cli("case", "list", code=2)
    assert "no credential" in out
    out = cli("case", "list", "--as", "admin", code=2)
    assert "no identity" in out
    out = cli("case", "list", "--as", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert "refused" not in out


def test_changed_policy_file_waits_for_two_administrators(cli: Any, tmp_path: Path) -> None:
    cli(
        "init", "--admin", "admin", "--admin", "ada", "--password-stdin",
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    data = tmp_path / "data"
    policy_file = data / "policy.toml"
    policy_file.write_text(
        policy_file.read_text().replace("max_candidates = 20", "max_candidates = 4")
    )
    out = cli("policy", "show")
    assert "at most 20 candidates" in out  # the policy in force, not the file's
    assert "differs from the policy in force and is not used" in out and "change 1" in out
    out = cli("policy", "approve", user="admin")  # endorsed: still pending
    assert "another administrator (ada) must approve" in out
    assert "at most 20 candidates" in cli("policy", "show")
    out = cli("policy", "approve", user="admin", code=2)
    assert "another administrator must approve" in out
    assert "change 1 approved" in cli("policy", "approve", user="ada")
    out = cli("policy", "show")
    assert "differs" not in out and "at most 4 candidates" in out
    out = cli("policy", "approve", user="ada", code=2)
    assert "no policy change is pending" in out


def test_policy_commands(cli: Any, tmp_path: Path) -> None:
    out = cli("policy", "show")
    assert "threat-to-life" in out and "sha256" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(default_policy().text.replace("max_candidates = 20", "max_candidates = 0"))
    out = cli("policy", "check", str(bad), code=1)
    assert "search.max_candidates" in out
    good = tmp_path / "good.toml"
    good.write_text(default_policy().text)
    assert "policy OK" in cli("policy", "check", str(good))


def test_cli_suspension_and_incidents(cli: Any) -> None:
    from facesearch.govern import RefusedError

    cli("init", "--admin", "admin", "--password-stdin", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    cli("user", "add", "alice", "-r", "investigator", "--no-password", user="admin")
    cli("user", "add", "audrey", "-r", "auditor", "--no-password", user="admin")
    assert "not suspended" in cli("suspension", "status")
    out = cli("suspension", "start", "--reason", "model fault", user="alice", code=2)
    assert "lacks the role" in out
    out = cli("suspension", "start", "--reason", "model fault", user="admin")
    assert "all searching is suspended since" in out and "model fault" in out
    assert "model fault" in cli("suspension", "status")
    with pytest.raises(RefusedError, match="all searching is suspended"):
        cli.search("alice", "C-1", probe_bytes(2))
    assert "resumed" in cli("suspension", "end", "--note", "fixed", user="admin")
    assert "fixed" in cli("suspension", "list", user="audrey")
    out = cli("incidents", "add", "--title", "lead acted on", "--serious", user="alice")
    assert "#1 open SERIOUS lead acted on" in out
    assert "lacks the role" in cli("incidents", "list", user="alice", code=2)
    cli("incidents", "reported", "1", "--to", "the DPA", user="admin")
    assert "#1 closed" in cli("incidents", "close", "1", "--resolution", "retrained", user="admin")
    out = cli("incidents", "list", "--json", user="audrey")
    assert '"reported_to": "the DPA"' in out and '"status": "closed"' in out
    assert "no incident recorded" in cli("incidents", "list", "--open", user="audrey")


def test_cli_standing_and_alerts_wiring(cli: Any) -> None:
    """The commands' wiring and refusals (the queries themselves, which need the real models
    to embed a probe, are tested in tests/app/test_standing_queries.py)."""
    cli("init", "--admin", "admin", "--password-stdin", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    cli("user", "add", "alice", "-r", "investigator", "--no-password", user="admin")
    assert "no standing query" in cli("standing", "list", user="alice")
    assert "no new alert" in cli("alerts", user="alice")
    assert "lacks the role" in cli("standing", "run", user="alice", code=2)
    out = cli("standing", "run", "--json", user="admin")
    assert '"queries": 0' in out and '"alerts": []' in out
    assert "no search 7" in cli("standing", "add", "7", "--objective", "x", user="alice", code=2)
    assert "no alert 3" in cli("alerts", "--seen", "3", user="alice", code=2)
