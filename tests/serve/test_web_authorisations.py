"""Browser test of a case's Authorisation section (issue 24 item 2): an urgent use shows its
deadline counting down on the case page and in the supervisor's approval queue; the
investigator records the judicial warrant with its scan, which ends the urgent use; another
supervisor validates it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tests.support.web import check_page

from facesearch.govern import authorisations as authz
from facesearch.govern.policy import default_policy, parse_policy

pytestmark = pytest.mark.slow
CASE = "WEB-AUTHZ"
EU = '\n[authorisation]\nrequired = "before_or_urgent"\nurgent_hours = 48\n'


def _urgent_case(data_dir: Path) -> None:
    """A case of its own with an urgent use started by ivy, through the library (the server's
    policy needs no authorisation: the urgent use is recorded under an EU policy here)."""
    from facesearch.app.service import Service
    from facesearch.settings import Settings

    eu = parse_policy(default_policy().text + EU, "<eu>")
    with Service.for_cli(Settings.load(data_dir=data_dir)) as service:
        gov = service.governance
        gov.open_case("ivy", CASE, "threat-to-life", "pending warrant", "abduction in progress")
        gov.approve_case("sam", CASE, "urgent")
        new = authz.NewAuthorisation("urgent")
        gov.run(
            "ivy",
            "authorisation.record",
            {},
            lambda s, a: authz.record_authorisation(
                s, a, eu, None, None, "ivy", CASE, new, gov.clock()
            ),
        )


def test_urgent_deadline_warrant_with_scan_and_validation(session_for: Any, tmp_path: Path) -> None:
    sam = session_for("sam")
    _urgent_case(sam.server.data_dir)
    queue = sam.go("#/approvals")
    row = queue.locator("#authorisation-deadlines tr", has_text=CASE)
    row.get_by_text(re.compile(r"\d+ h \d+ min left")).wait_for()
    check_page(sam)

    ivy = session_for("ivy")
    page = ivy.go(f"#/cases/{CASE}")
    banner = page.locator("#authorisation-deadline")
    banner.get_by_text(re.compile(r"(1 d )?\d+ h \d+ min left")).wait_for()
    assert "cannot be exported" in banner.inner_text()
    scan = tmp_path / "warrant.pdf"
    scan.write_bytes(b"%PDF-1.4\n% warrant W-77\n")
    page.get_by_label("Kind", exact=True).select_option("judicial_warrant")
    page.get_by_label("Authority", exact=True).fill("District Court")
    page.get_by_label("Reference", exact=True).fill("W-77")
    page.get_by_label("Date issued", exact=True).fill("2026-12-07")
    page.get_by_label("Scan of the document").set_input_files(str(scan))
    page.get_by_role("button", name="Record the authorisation").click()
    page.locator("#flash").get_by_text("Recorded: judicial warrant, granted.").wait_for()
    page.locator("#authorisation tr", has_text="authorised in time").wait_for()
    assert page.locator("#authorisation-deadline").count() == 0
    warrant = page.locator("#authorisation tr", has_text="W-77")
    assert "Scan (application/pdf)" in warrant.inner_text()
    check_page(ivy)

    case = sam.go(f"#/cases/{CASE}")
    case.locator("#authorisation tr", has_text="W-77").get_by_role(
        "button", name=re.compile("Validate authorisation")
    ).click()
    case.locator("#authorisation tr", has_text="W-77").get_by_text(re.compile("^sam, ")).wait_for()
    queue = sam.go("#/approvals")
    queue.locator("#authorisation-deadlines").get_by_text(
        "No urgent use is awaiting its authorisation."
    ).wait_for()
    actions = [a["action"] for a in sam.server.audit_actions()]
    for action in (
        "authorisation.record",
        "authorisation.urgent_authorised",
        "authorisation.validate",
    ):
        assert action in actions
