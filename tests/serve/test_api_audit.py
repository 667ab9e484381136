"""The audit-entry browser through the API: each filter narrows the list as a direct read of
the log does, newest first and paginated; one entry; the CSV export (header, the same rows,
formula-like cells escaped, itself logged); the checkpoint state; and who may read the log."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.support.api import ApiEnv, api_env

from facesearch.govern import checkpoint as ckpt
from facesearch.govern.audit import Entry, entries, format_ts

API = "/api/v1/audit"
FORMULA = '=HYPERLINK("http://evil.example")'


TOKENS: dict[str, str] = {}


def bearer(env: ApiEnv, user: str) -> TestClient:
    if user not in TOKENS:
        TOKENS[user] = env.service.governance.create_token(user, user, "test")[0]
    client = env.client()
    client.headers["Authorization"] = f"Bearer {TOKENS[user]}"
    return client


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    TOKENS.clear()
    with api_env(tmp_path_factory.mktemp("audit"), passwords=()) as env:
        gov = env.service.governance
        gov.open_case("inv", "C-1", "threat-to-life", "warrant 42", "a test case")
        gov.approve_case("sup", "C-1", "ok")
        gov.open_case("inv2", "C-2", "cse-victim-id", "warrant 43", "another test case")
        gov.log_refusal("inv", "case.view", "no case 'C-1x'", {"case": "C-1x"})
        gov.log_refusal(FORMULA, "authenticate", "wrong password")  # a name typed at sign-in
        gov.record("inv", "case.view", {"case": "C-1", "searches": 0})
        yield env


def log(env: ApiEnv) -> list[Entry]:
    with env.service.governance.session() as s:
        return list(entries(s))


def seqs_of(body: dict[str, Any]) -> list[int]:
    return [e["seq"] for e in body["items"]]


def test_each_filter_narrows_the_list_like_a_direct_read(env: ApiEnv) -> None:
    aud = bearer(env, "aud")
    middle = log(env)[3].at
    cases: list[tuple[dict[str, str], Callable[[Entry], bool]]] = [
        ({}, lambda e: True),
        ({"actor": "inv"}, lambda e: e.actor == "inv"),
        ({"action": "case.open"}, lambda e: e.action == "case.open"),
        ({"action_prefix": "case."}, lambda e: e.action.startswith("case.")),
        ({"case": "C-1"}, lambda e: e.case_number == "C-1"),
        ({"outcome": "refused"}, lambda e: e.action.endswith(".refused")),
        ({"outcome": "ok"}, lambda e: not e.action.endswith((".refused", ".failed"))),
        ({"since": middle.isoformat()}, lambda e: e.ts >= format_ts(middle)),
        ({"until": middle.isoformat()}, lambda e: e.ts < format_ts(middle)),
        (
            {"actor": "inv", "case": "C-1", "action_prefix": "case.v"},
            lambda e: e.actor == "inv" and e.case_number == "C-1" and e.action == "case.view",
        ),
    ]
    for query, keep in cases:
        expected = [e.seq for e in reversed(log(env)) if keep(e)]  # newest first
        r = aud.get(f"{API}/entries", params={**query, "limit": 200})
        assert r.status_code == 200, (query, r.text)
        body = r.json()
        assert seqs_of(body) == expected, query
        assert body["total"] == len(expected) and body["limit"] == 200 and body["offset"] == 0
        if query and query != {"outcome": "ok"} and "since" not in query:
            assert len(expected) < len(log(env)), query  # it did narrow
    refused = aud.get(f"{API}/entries", params={"outcome": "refused"}).json()["items"]
    assert {e["case"] for e in refused} >= {"C-1x"}
    assert any(e["summary"] == "refused case.view: no case 'C-1x'" for e in refused)


def test_pages_detail_and_the_look_is_logged(env: ApiEnv) -> None:
    aud = bearer(env, "aud")
    before = [e.seq for e in reversed(log(env))]
    r = aud.get(f"{API}/entries", params={"limit": 3, "offset": 2})
    assert seqs_of(r.json()) == before[2:5] and r.json()["total"] == len(before)
    looked = log(env)[-1]
    assert looked.action == "audit.entries" and looked.actor == "aud"
    assert looked.details["offset"] == 2 and looked.details["shown"] == 3

    opened = log(env)[0]
    one = aud.get(f"{API}/entries/{opened.seq}").json()
    assert one["seq"] == opened.seq and one["action"] == opened.action
    assert one["details"] == opened.details and one["hash"] == opened.hash
    assert one["outcome"] == "ok" and one["ts"] == opened.ts
    assert aud.get(f"{API}/entries/999999").status_code == 404


def test_csv_export_matches_the_list_and_escapes_formulas(env: ApiEnv) -> None:
    aud = bearer(env, "aud")
    listed = aud.get(f"{API}/entries", params={"outcome": "refused", "limit": 200}).json()
    r = aud.get(f"{API}/entries.csv", params={"outcome": "refused"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == [
        "seq",
        "time",
        "actor",
        "action",
        "case",
        "outcome",
        "summary",
        "details",
        "hash",
    ]
    assert [int(row[0]) for row in rows[1:]] == seqs_of(listed)
    by_seq = {e["seq"]: e for e in listed["items"]}
    typed = [row for row in rows[1:] if by_seq[int(row[0])]["actor"] == FORMULA]
    assert len(typed) == 1 and typed[0][2] == "'" + FORMULA  # read as text, not run
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    exported = log(env)[-1]
    assert exported.action == "audit.export" and exported.actor == "aud"
    assert exported.details == {
        "filters": {"outcome": "refused"},
        "rows": len(rows) - 1,
        "auth": exported.details["auth"],
    }


def test_checkpoint_state(env: ApiEnv, tmp_path: Path) -> None:
    aud = bearer(env, "aud")
    state = aud.get(f"{API}/state").json()
    assert state["checkpoint"] is None and state["head_seq"] == log(env)[-1].seq
    key, _pub, fp = ckpt.generate_key_files(tmp_path / "keys" / "audit.key")
    auditor = env.service.accounts.principal("aud", "cli")
    cp, _ = env.service.admin.checkpoint(auditor, tmp_path / "cp.json", key)
    aud.get(f"{API}/entries", params={"limit": 1})  # one more entry after it
    state = aud.get(f"{API}/state").json()
    got = state["checkpoint"]
    assert got["seq"] == cp.seq and got["key_id"] == fp[:16] and got["held"] is True
    assert got["signed_at"] == cp.signed_at and got["problems"] == []
    assert state["entries_since"] == state["head_seq"] - cp.seq == 2  # the checkpoint, a look


def test_who_may_read_the_log(env: ApiEnv) -> None:
    inv = bearer(env, "inv")
    for path in ("/entries", "/entries.csv", "/entries/1", "/state"):
        assert inv.get(API + path).status_code == 403, path
    refused = log(env)[-1]
    assert refused.action.endswith(".refused") and refused.actor == "inv"
    for user in ("sup", "admin"):
        assert bearer(env, user).get(f"{API}/entries").status_code == 200
    assert env.client().get(f"{API}/entries").status_code == 401
    for bad_query in (
        {"outcome": "maybe"},
        {"actor": "a\x00b"},
        {"since": "9999-12-31T23:00:00-14:00"},
    ):
        bad = bearer(env, "aud").get(f"{API}/entries", params=bad_query)
        assert bad.status_code == 422, bad_query
    since = (log(env)[0].at + timedelta(days=1)).isoformat()
    assert bearer(env, "aud").get(f"{API}/entries", params={"since": since}).json()["items"] == []
