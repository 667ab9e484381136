"""A running server and a changed policy: ``GET /policy`` reports the policy recorded as
pending by another process (its hash, who recorded it and when, the approvals so far), and
once two administrators approve it elsewhere the server enforces it on its next request
(purposes, session timeouts), without a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.api import api_env, make_settings
from tests.support.govern import second_admin

from facesearch.app import Service
from facesearch.govern import default_policy, parse_policy

MISSING_PERSON = """
[[purposes]]
key = "missing-person"
name = "search for a missing person"
requires_approval = false
"""
CASE = {
    "number": "C-9",
    "purpose": "missing-person",
    "legal_authority": "warrant 9",
    "justification": "a missing child",
}


def test_pending_policy_is_shown_and_enforced_once_approved_elsewhere(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("inv",)) as env:
        inv = env.client("inv")
        before = inv.get("/api/v1/policy").json()
        assert before["sha256"] == default_policy().sha256 and before["pending"] is None
        assert inv.post("/api/v1/cases", json=CASE).status_code == 403  # not a purpose yet

        # another process opens the data directory with a changed policy.toml
        text = default_policy().text.replace(
            "session_idle_minutes = 30", "session_idle_minutes = 5"
        )
        text += MISSING_PERSON
        (env.settings.data_dir / "policy.toml").write_text(text, "utf-8")
        new = parse_policy(text)
        with Service(make_settings(env.settings.data_dir)) as other:
            gov = other.governance
            change_id = gov.pending_policy_change()
            assert change_id is not None

            pending = inv.get("/api/v1/policy").json()["pending"]
            assert pending["change_id"] == change_id and pending["sha256"] == new.sha256
            assert pending["recorded_by"] == "system" and pending["recorded_at"].endswith("Z")
            assert pending["approvals"] == [] and pending["approvals_needed"] == 2
            assert MISSING_PERSON.strip() in pending["text"]

            gov.approve_change("admin", change_id)  # the first approval endorses it
            pending = inv.get("/api/v1/policy").json()["pending"]
            assert pending["approvals"] == ["admin"]
            assert inv.post("/api/v1/cases", json=CASE).status_code == 403

            gov.approve_change(second_admin(gov), change_id)  # the second puts it in force

        shown = inv.get("/api/v1/policy").json()
        assert shown["sha256"] == new.sha256 and shown["pending"] is None
        assert "missing-person" in [p["key"] for p in shown["purposes"]]
        r = inv.post("/api/v1/cases", json=CASE)
        assert r.status_code == 201, r.text
        # and its session timeouts: this session now ends after 5 idle minutes, not 30
        me = inv.get("/api/v1/auth/me").json()
        left = datetime.fromisoformat(me["session_expires_at"]) - datetime.now(UTC)
        assert timedelta(minutes=4) < left <= timedelta(minutes=5)
