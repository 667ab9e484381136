"""``facesearch probe-faces`` and ``facesearch override``: a probe's faces before any search
(nothing logged as a search), and a quality override asked, refused to its requester, granted
by a supervisor and listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from tests.conftest import write_image
from tests.support.cli import PASSWORD, CliUsers
from tests.support.govern import add_user_approved
from typer.testing import CliRunner

from facesearch.app.service import Service
from facesearch.govern.schema import AuditEntry
from facesearch.settings import Settings

pytestmark = pytest.mark.slow


def test_probe_faces_and_an_override(tmp_path: Path, astronaut: np.ndarray) -> None:
    from facesearch.cli import app

    data = tmp_path / "data"
    probe = write_image(tmp_path / "astronaut.jpg", astronaut)
    with Service.for_cli(Settings.load(data_dir=data)) as service:
        service.library.initialise("admin", PASSWORD)
        gov = service.governance
        add_user_approved(gov, "admin", "inv", ["investigator"], None)
        add_user_approved(gov, "admin", "sup", ["supervisor"], None)
        gov.open_case("inv", "C-1", "threat-to-life", "warrant 1", "a test case")
        gov.approve_case("sup", "C-1", "ok")
    users = CliUsers(data)
    runner = CliRunner()

    def run(*args: str, user: str, code: int = 0) -> str:
        result = runner.invoke(app, ["-d", str(data), *args], env=users.env(user))
        assert result.exit_code == code, (args, result.output, result.exception)
        return str(result.output)

    out = run("probe-faces", "C-1", str(probe), user="inv")
    assert "1 face found. Face 1 is preselected" in out
    assert "face 0: box" in out and "; preselected" in out
    out = run("probe-faces", "C-1", str(probe), user="sup", code=2)
    assert "refused:" in out
    with (
        Service.for_cli(Settings.load(data_dir=data)) as service,
        service.governance.session() as s,
    ):
        actions: list[Any] = list(s.execute(select(AuditEntry.action)).scalars())
    assert "search" not in actions and "probe.faces.refused" in actions

    reason = "the only photo of the suspect we hold"
    out = run(
        "override", "request", "C-1", str(probe), "--face", "0", "--reason", reason, user="inv"
    )
    assert "override 1 in case C-1: pending; face 0" in out and reason in out
    assert "refused:" in run("override", "grant", "1", user="inv", code=2)  # no supervisor
    assert "--note" in run("override", "refuse", "1", user="sup", code=2)  # a note is required
    out = run("override", "grant", "1", "--note", "proportionate", user="sup")
    assert "override 1 in case C-1: granted" in out and "decided by sup" in out
    assert "override 1" in run("override", "list", "--status", "granted", user="inv")
    assert "no quality overrides" in run("override", "list", "--status", "used", user="sup")
