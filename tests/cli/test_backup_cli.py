"""``facesearch backup`` and ``facesearch restore`` at the command line: an administrator's
credential for a backup, none for a restore (the operator, like ``init``); the restored data
directory shows the same figures; a tampered backup is refused in one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.atrest import fill, open_gallery
from tests.support.cli import CliUsers, init_args, init_input
from typer.testing import CliRunner

from facesearch.cli import app


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("FACESEARCH_ENCRYPTION_KEY", "FACESEARCH_USER", "FACESEARCH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "data"


def run(*args: str, code: int = 0, stdin: str | None = None, **env: Any) -> str:
    result = CliRunner().invoke(app, list(args), input=stdin, env=env)
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.output


def stats(data: Path) -> dict[str, Any]:
    out = run("-d", str(data), "stats", "--json")
    info: dict[str, Any] = json.loads(out[out.index("{") :])
    info.pop("data_dir")
    info.pop("warnings", None)
    info["backends"].pop("database")  # the catalog's path, in the data directory
    return info


def test_backup_and_restore_commands(data: Path, tmp_path: Path) -> None:
    run("-d", str(data), *init_args("admin"), stdin=init_input("admin"))
    g = open_gallery(data)
    fill(g, 12)
    g.close()
    users = CliUsers(data)
    run("-d", str(data), "user", "add", "ivy", "-r", "investigator", "--no-password",
        **users.env("admin"))  # fmt: skip
    dest, target = tmp_path / "backup", tmp_path / "restored"

    out = run("-d", str(data), "backup", str(dest), code=2, **users.env("ivy"))
    assert "refused" in out and not dest.exists()
    out = run("-d", str(data), "backup", str(dest), "--json", **users.env("admin"))
    report = json.loads(out[out.index("{") :])
    assert report["files"] > 3 and len(report["manifest_sha256"]) == 64

    out = run("restore", str(dest), str(target), "--manifest-sha256", report["manifest_sha256"])
    assert "audit chain verified" in out
    assert stats(target) == stats(data)

    # the backup altered: refused, in one line naming the file; nothing restored
    (dest / "gallery.json").write_text('{"format_version": 1, "x": 1}')
    out = " ".join(run("restore", str(dest), str(tmp_path / "again"), code=1).split())
    assert "error: gallery.json in the backup" in out and "was changed" in out
    assert "Traceback" not in out and not (tmp_path / "again").exists()
    # and restoring over an installation is refused
    out = " ".join(run("restore", str(dest), str(data), code=1).split())
    assert "is not empty" in out
