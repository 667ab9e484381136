"""Browser test of the reports page and the case page's outcomes (issue 24, item 7): a
supervisor records an outcome on the case page; an auditor sees the annual counts (the outcome
among them) and downloads the annual report as CSV; an investigator has no Reports page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tests.support.web import CASE, check_page

pytestmark = pytest.mark.slow


def test_outcome_on_the_case_page_and_the_reports_page(session_for: Any) -> None:
    sam = session_for("sam")
    page = sam.go(f"#/cases/{CASE}")
    page.locator("#outcome-form").get_by_label("Outcome", exact=True).select_option("arrest")
    page.get_by_label("Note (optional; no names needed)").fill("web test")
    page.get_by_role("button", name="Record the outcome").click()
    page.locator("#flash").get_by_text("Outcome recorded.").wait_for()
    page.locator('#outcomes li[data-outcome="arrest"]', has_text="web test").wait_for()
    check_page(sam)

    audrey = session_for("audrey")
    reports = audrey.go("#/reports")
    reports.get_by_role("heading", name="Reports", exact=True).wait_for()
    reports.get_by_role("button", name="Show the counts").click()
    arrests = reports.locator('#annual-summary tr[data-outcome="arrest"] td')
    arrests.wait_for()
    assert int(arrests.inner_text()) >= 1
    searches = reports.locator('#annual-summary tr[data-metric="searches"] td').first
    assert int(searches.inner_text()) >= 0
    with reports.expect_download() as info:
        reports.get_by_role("link", name="Annual report (CSV)").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    assert text.startswith("section,key,metric,value") and "ivy" not in text
    assert re.search(r"^outcomes,all,arrest,[1-9]", text, re.M)
    check_page(audrey)
    actions = [a["action"] for a in audrey.server.audit_actions()]
    assert "case.outcome" in actions and "report.annual" in actions

    ivy = session_for("ivy")
    home = ivy.go("#/cases")
    assert home.locator("#nav").get_by_role("link", name="Reports").count() == 0
