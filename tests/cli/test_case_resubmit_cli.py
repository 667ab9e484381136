"""``facesearch case resubmit`` and the history ``case show`` prints: the requester of a
rejected case amends it (the options left out keep their value) and submits it again."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import CliUsers, init_args, init_input
from tests.support.govern import add_user_approved
from typer.testing import CliRunner

from facesearch.app.service import Service
from facesearch.settings import Settings


def test_case_resubmit_from_the_command_line(tmp_path: Path) -> None:
    from facesearch.cli import app

    data = tmp_path / "data"
    runner = CliRunner()
    users = CliUsers(data)

    def run(*args: str, user: str | None = None, code: int = 0, stdin: str | None = None) -> str:
        result = runner.invoke(app, ["-d", str(data), *args], input=stdin, env=users.env(user))
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    run(*init_args("admin"), stdin=init_input("admin"))
    with Service.for_cli(Settings.load(data_dir=data)) as service:
        gov = service.governance
        add_user_approved(gov, "admin", "alice", ["investigator"])
        add_user_approved(gov, "admin", "sam", ["supervisor"])
        gov.open_case("alice", "C-1", "threat-to-life", "W-1", "kidnapping suspect on CCTV")
        gov.reject_case("sam", "C-1", "which warrant?")
    out = run("case", "resubmit", "C-1", "--authority", "W-1/2026", user="sam", code=2)
    assert "refused:" in out and "only the requester" in out
    out = run(
        "case", "resubmit", "C-1", "--authority", "Warrant 1/2026", "--note", "dated now",
        user="alice",
    )  # fmt: skip
    assert "case C-1: pending" in out
    assert "legal authority: Warrant 1/2026" in out
    assert "justification:   kidnapping suspect on CCTV" in out  # left out: unchanged
    out = run("case", "show", "C-1", user="sam")
    history = out[out.index("history:") :]
    events = [line.split()[3] for line in history.splitlines()[1:] if "UTC" in line]
    assert events == ["requested", "assigned", "rejected", "amended", "resubmitted"]
    assert "rejected by sam - which warrant?" in history
    assert "legal_authority: 'W-1' -> 'Warrant 1/2026'" in history
    assert "resubmitted by alice - dated now" in history
    out = run("case", "resubmit", "C-1", user="alice", code=2)
    assert "only a rejected case can be amended and resubmitted" in out
