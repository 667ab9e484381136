"""Browser test of the jurisdiction profiles (issue 24 items 1, 4, 5): the policy page shows
what the profile requires (and, for a checked text naming a profile, which requirements are
not met yet); an administrator records a collection's lawful basis on the collections page and
a user's training on the users page, where trainings expiring within 30 days are listed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support.web import check_page

pytestmark = pytest.mark.slow


def test_profile_requirements_basis_and_trainings(session_for: Any) -> None:
    admin = session_for("admin")
    page = admin.go("#/policy")
    box = page.locator("#profile-requirements")
    box.get_by_text(re.compile(r"Profile: custom")).wait_for()
    box.get_by_text("No requirement beyond the policy.").wait_for()
    page.get_by_label("Jurisdiction profile").select_option("eu-ai-act")
    assert 'name = "eu-ai-act"' in page.get_by_label("Policy text (TOML)").input_value()
    page.get_by_role("button", name="Check this policy").click()
    check = page.locator("#policy-check")
    check.get_by_text(re.compile(r"Profile: EU AI Act")).wait_for()
    row = check.locator("tr[data-req='eu-basis']")
    assert "not met" in row.inner_text() and "seized-2024" in row.inner_text()
    assert "agency's job" in check.locator("tr[data-req='eu-register']").inner_text()
    check_page(admin)

    page = admin.go("#/admin/collections")
    row = page.locator("#collection-bases article[data-collection='seized-2024']")
    row.get_by_text("Record a basis").click()
    row.get_by_label("Legal basis").fill("Police Act 1996 s.64")
    row.get_by_label("DPIA/PIA reference").fill("DPIA-2024-7")
    row.get_by_label("Retention rule").fill("365 days")
    row.get_by_role("button", name="Record the basis of seized-2024").click()
    page.locator("#flash").get_by_text("Basis of seized-2024 recorded.").wait_for()
    row = page.locator("#collection-bases article[data-collection='seized-2024']")
    row.get_by_text("Police Act 1996 s.64").wait_for()
    assert "365 days" in row.inner_text()
    check_page(admin)

    today = datetime.now(UTC).date()
    page = admin.go("#/admin/users")
    form = page.locator("#add-training")
    form.get_by_label("Trained user (user name)").fill("ivy")
    form.get_by_label("Course").fill("Face examiner (FISWG)")
    form.get_by_label("Completed on").fill((today - timedelta(days=300)).isoformat())
    form.get_by_label("Expires on").fill((today + timedelta(days=10)).isoformat())
    form.get_by_role("button", name="Record the training").click()
    page.locator("#flash").get_by_text("Training recorded for ivy.").wait_for()
    page.locator("#trainings-expiring tr", has_text="Face examiner (FISWG)").wait_for()
    assert "current" in page.locator("#trainings table", has_text="Trainings of ivy").inner_text()
    check_page(admin)
    actions = [a["action"] for a in admin.server.audit_actions()]
    assert "collection.basis" in actions and "training.record" in actions
