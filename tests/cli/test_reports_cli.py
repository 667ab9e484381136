"""``facesearch outcomes``, ``reports`` and ``disclosure``: the commands reach the application
and write what they say; the bundle they write verifies with ``disclosure verify`` under the
key's public half, and not once altered."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from tests.support.cli import PASSWORD, CliUsers
from tests.support.govern import add_user_approved
from typer.testing import CliRunner

from facesearch.app.service import Service
from facesearch.govern import checkpoint as ckpt
from facesearch.govern.users import Role
from facesearch.settings import Settings

YEAR = str(datetime.now(UTC).year)


def test_outcomes_reports_and_disclosure_commands(tmp_path: Path) -> None:
    from facesearch.cli import app

    data = tmp_path / "data"
    key, public, _ = ckpt.generate_key_files(tmp_path / "keys" / "audit.pem")
    with Service.for_cli(Settings.load(data_dir=data)) as service:
        service.library.initialise("admin", PASSWORD)
        gov = service.governance
        add_user_approved(gov, "admin", "alice", [Role.INVESTIGATOR], None)
        add_user_approved(gov, "admin", "sam", [Role.SUPERVISOR], None)
        add_user_approved(gov, "admin", "audrey", [Role.AUDITOR], None)
        gov.open_case("alice", "C-1", "threat-to-life", "warrant", "cli reports")
        gov.approve_case("sam", "C-1", "ok")
    users = CliUsers(data)
    runner = CliRunner()

    def cli(*args: str, user: str | None = None, code: int = 0) -> str:
        env = {**users.env(user), "FACESEARCH_AUDIT_KEY": str(key)}
        result = runner.invoke(app, ["-d", str(data), *args], env=env)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    assert "suspect identified" in cli(
        "outcomes", "record", "C-1", "--kind", "suspect_identified", user="alice"
    )
    assert "lacks the role" in cli(
        "outcomes", "record", "C-1", "--kind", "arrest", user="audrey", code=2
    )
    listed = json.loads(cli("outcomes", "list", "C-1", "--json", user="sam"))
    assert [o["kind"] for o in listed] == ["suspect_identified"]

    out = tmp_path / "annual.csv"
    cli("reports", "annual", "--year", YEAR, "--format", "csv", "--out", str(out), user="audrey")
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0] == ["section", "key", "metric", "value"]
    assert "lacks the role" in cli("reports", "annual", "--year", YEAR, user="alice", code=2)
    records = cli(
        "reports",
        "public-records",
        "--from",
        f"{YEAR}-01-01",
        "--to",
        f"{int(YEAR) + 1}-01-01",
        user="sam",
    )
    assert records.splitlines()[0].startswith("date,case_ref,purpose")
    acc = json.loads(cli("reports", "accountability", user="admin"))
    assert acc["service"] == "facesearch" and acc["limits"]

    bundle = tmp_path / "c1.zip"
    assert "disclosure bundle of C-1 written" in cli(
        "disclosure", "export", "C-1", "--out", str(bundle), user="audrey"
    )
    assert "the bundle verifies" in cli(
        "disclosure", "verify", str(bundle), "--public-key", str(public)
    )
    altered = tmp_path / "altered.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(altered, "w") as dst:
        for name in src.namelist():
            body = src.read(name)
            dst.writestr(name, body.replace(b"suspect_identified", b"conviction"))
    out_text = cli("disclosure", "verify", str(altered), "--public-key", str(public), code=1)
    assert "case.json was altered" in out_text
