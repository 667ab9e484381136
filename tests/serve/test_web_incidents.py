"""Browser tests of the suspension of all searching and the incident register (issue 24 item
8): an administrator suspends searching from the Incidents page, every user sees the banner on
every page and a search is refused with the reason in words; an investigator records an
incident, an auditor reads it, the administrator closes it; searching resumes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from tests.support.web import CASE, check_page

pytestmark = pytest.mark.slow


def test_suspend_searching_banner_refusal_and_incidents(session_for: Any) -> None:
    admin = session_for("admin")
    page = admin.go("#/incidents")
    page.get_by_label("Reason (shown to every user)").fill("recognizer under review")
    page.get_by_role("button", name="Suspend all searching").click()
    page.get_by_role("dialog").get_by_role("button", name="Suspend").click()
    try:
        page.locator("#suspension-words").get_by_text("recognizer under review").wait_for()
        check_page(admin)
        ivy = session_for("ivy")
        new = ivy.go(f"#/cases/{CASE}/search")
        banner = new.locator("#suspension-banner")
        banner.get_by_text(re.compile("Searching is suspended.*recognizer under review")).wait_for()
        new.locator("#probe-file").set_input_files(str(ivy.server.probe))  # refused, in words
        new.locator("#search-status").get_by_text(
            re.compile("searching is suspended", re.I)
        ).wait_for()
        # an incident, recorded by the investigator
        inc = ivy.go("#/incidents")
        inc.get_by_label("What happened (a line)").fill("a lead was acted on before review")
        inc.get_by_label("Case (if any)").fill(CASE)
        inc.get_by_label("Serious (to be reported to the authorities)").check()
        inc.get_by_role("button", name="Record the incident").click()
        inc.locator("#flash").get_by_text(re.compile(r"Incident \d+ recorded")).wait_for()
        assert inc.locator("#incidents").count() == 0  # investigators do not read the register
        check_page(ivy)
        audrey = session_for("audrey")
        register = audrey.go("#/incidents")
        row = register.locator("#incidents tr", has_text="a lead was acted on before review")
        row.wait_for()
        assert "(serious)" in row.inner_text() and "open" in row.inner_text()
        check_page(audrey)
        # the administrator records the report and closes it
        page.reload()  # the administrator's page was open before the incident was recorded
        row = page.locator("#incidents tr", has_text="a lead was acted on before review")
        row.get_by_label("Reported to").fill("the data protection authority")
        row.get_by_role("button", name="Record as reported").click()
        row = page.locator("#incidents tr", has_text="the data protection authority")
        row.get_by_label("Resolution").fill("procedure retrained")
        row.get_by_role("button", name="Close").click()
        page.locator("#incidents tr", has_text="closed").wait_for()
    finally:
        page = admin.go("#/policy")
        page = admin.go("#/incidents")
        page.get_by_label("Why searching may resume").fill("review done")
        page.get_by_role("button", name="Resume searching").click()
        page.locator("#flash").get_by_text("Searching resumed.").wait_for()
    expect(page.locator("#suspension-banner")).to_be_empty()
    actions = [a["action"] for a in admin.server.audit_actions()]
    for action in ("search.suspend", "search.resume", "incident.record", "incident.close"):
        assert action in actions
