"""A jurisdiction profile turns its settings on: a policy naming a profile is not put in force
(``POST /policy/request``) while its own text misses one of the profile's settings (422, each
listed with what to set); with them, it goes to the second administrator as any policy does."""

from __future__ import annotations

from pathlib import Path

from tests.support.api import api_env

from facesearch.govern.policy import default_policy

EU = default_policy().text.replace('name = "custom"', 'name = "eu-ai-act"')
EU_SETTINGS = """
[authorisation]
required = "before_or_urgent"
urgent_hours = 48

[audit]
checkpoint_folder = "{folder}"
checkpoint_every_entries = 1000
checkpoint_every_minutes = 60
"""


def test_a_profile_policy_needs_its_settings_to_be_put_in_force(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=("admin",)) as env:
        admin = env.client("admin")
        r = admin.post("/api/v1/policy/request", json={"text": EU})
        assert r.status_code == 422, r.text
        problems = {e["loc"][0]: e["msg"] for e in r.json()["errors"]}
        assert any("Art. 26(10)" in f for f in problems), problems
        assert any("[authorisation] required" in m for m in problems.values())
        assert any("[audit] section" in m for m in problems.values())
        # the same text with the profile's settings: pending, for a second administrator
        folder = tmp_path / "checkpoints"
        complete = EU + EU_SETTINGS.format(folder=folder)
        r = admin.post("/api/v1/policy/request", json={"text": complete})
        assert r.status_code == 202, r.text
        # a custom policy is never held back by a profile
        r = admin.post("/api/v1/policy/request", json={"text": default_policy().text + "\n#x\n"})
        assert r.status_code == 202, r.text
