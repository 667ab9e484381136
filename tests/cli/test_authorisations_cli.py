"""``facesearch authorisation``, ``receipts`` and ``search-record`` (EU profile: urgent use,
48 hours): ``facesearch purge`` past the deadline deletes the urgent searches and writes a
signed receipt that ``receipts verify`` accepts under the public key, and rejects altered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.cli.test_govern_cli import cli  # noqa: F401  (the CLI fixture: a data directory)
from tests.support.govern import PASSWORD, probe_bytes

from facesearch.govern import RefusedError
from facesearch.govern.policy import default_policy

EU = '\n[authorisation]\nrequired = "before_or_urgent"\nurgent_hours = 48\n'


def test_urgent_use_purge_receipt_verify_and_record(
    cli: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    (data / "policy.toml").write_text(default_policy().text + EU, "utf-8")
    key = tmp_path / "keys" / "audit.key"
    cli("audit", "keygen", "--out", str(key))
    monkeypatch.setenv("FACESEARCH_AUDIT_KEY", str(key))
    init = ["init", "--admin", "admin", "--admin", "ada", "--password-stdin"]
    cli(*init, stdin=f"{PASSWORD}\n{PASSWORD}\n")
    cli("user", "add", "alice", "-r", "investigator", "--no-password", user="admin")
    cli("user", "add", "sam", "-r", "supervisor", "--no-password", user="admin")
    cli("change", "approve", "1", user="ada")  # a supervisor: a second administrator
    cli("case", "open", "C-1", "--purpose", "threat-to-life", "--authority", "W-1",
        "--justification", "kidnapping", user="alice")  # fmt: skip
    cli("case", "approve", "C-1", "--note", "ok", user="sam")
    with pytest.raises(RefusedError, match="no granted authorisation"):
        cli.search("alice", "C-1", probe_bytes(2))
    out = cli("authorisation", "record", "C-1", "--kind", "urgent", user="alice")
    assert "urgent use pending authorisation pending" in out and "deadline" in out
    o = cli.search("alice", "C-1", probe_bytes(2))
    assert "C-1" in cli("authorisation", "deadlines", user="sam")
    later = (datetime.now(UTC) + timedelta(hours=49)).isoformat()
    out = cli("purge", "--now", later, user="admin")
    assert "1 urgent use(s) past their deadline" in out
    out = cli("receipts", "list", user="sam")
    assert "receipt #1 case C-1: expired" in out and "signed" in out
    receipt = tmp_path / "receipt.json"
    cli("receipts", "get", "1", "--out", str(receipt), user="sam")
    pub = f"{key}.pub"
    assert "verifies" in cli("receipts", "verify", str(receipt), "--public-key", pub)
    doc = json.loads(receipt.read_text())
    doc["receipt"]["searches"] = []
    receipt.write_text(json.dumps(doc))
    out = cli("receipts", "verify", str(receipt), "--public-key", pub, code=3)
    assert "does not verify" in out
    record = json.loads(cli("search-record", str(o.search_id), user="alice"))
    assert record["candidates"] == [] and record["authorisation"]["status"] == "expired"
    assert "expired" in cli("authorisation", "list", "C-1", user="alice")
