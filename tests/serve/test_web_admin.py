"""Browser tests of the administrators', auditors' and policy pages: Debian's Chromium driven
by Playwright against the session's real server (tests/serve/conftest.py). Administrators'
pages (users and tokens, pending changes, ingest jobs with Resume), the auditor's chain and
oversight report, the policy page and a pending policy approved from it. Each page passes
:func:`tests.support.web.check_page`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.support.web import WebServer, check_page

from facesearch.app.service import Service
from facesearch.govern import parse_policy
from facesearch.settings import Settings

pytestmark = pytest.mark.slow


def test_administrator_pages(session_for: Any, web_server: WebServer) -> None:
    session = session_for("admin")
    page = session.go("#/admin/collections")
    assert page.get_by_role("row").filter(has_text="seized-2024").count() == 1
    check_page(session)
    session.screenshot("collections")

    page = session.go("#/admin/ingest")
    page.get_by_label("Server path (a folder, archive or manifest)").fill(
        str(web_server.ingest_root / "batch")
    )
    page.get_by_label("Collection").first.fill("batch-2")
    page.get_by_role("button", name="Ingest this folder").click()
    job = page.locator("#jobs tr[data-job]").first
    job.wait_for()
    page.locator("#jobs tr[data-status='completed']").first.wait_for(timeout=180_000)
    assert "2 / 3 files" in job.inner_text() or "3 / 3 files" in job.inner_text()
    runs = page.locator("#runs")
    runs.get_by_role("button", name=re.compile("Failures of run")).first.click()
    runs.get_by_text("not-a-photo.jpg").wait_for()
    check_page(session)
    session.screenshot("ingest")

    page = session.go("#/admin/users")
    assert page.get_by_role("row").filter(has_text="audrey").count() == 1
    assert page.get_by_label("For user").count() == 0  # a token is created only by its owner
    page.get_by_label("Name", exact=True).fill("lab script")
    page.get_by_role("button", name="Create a token").click()
    token = page.locator("#new-token")
    token.wait_for()
    assert token.inner_text().startswith("fst_")
    page.get_by_role("row").filter(has_text="lab script").wait_for()  # the list is refreshed
    check_page(session)
    session.screenshot("users-and-tokens")


@pytest.mark.e2e
def test_an_interrupted_job_is_resumed_from_the_ingest_page(
    session_for: Any, web_server: WebServer
) -> None:
    """A job its server left interrupted (a row of the catalog, as after a kill) shows its
    reason and a Resume button; Resume queues a linked job that completes."""
    from sqlalchemy.orm import sessionmaker

    from facesearch.store.database import make_engine
    from facesearch.store.jobs import JobTable, Owner

    engine = make_engine(f"sqlite:///{(web_server.data_dir / 'catalog.db').resolve()}")
    try:
        table = JobTable(sessionmaker(engine, expire_on_commit=False))
        batch = str(web_server.ingest_root / "batch")
        old = table.add(Owner("gone.example", 1, "1"), [batch], "batch-2", "admin", [])["id"]
        table.write(old, status="interrupted", error="the server process stopped (test)")
    finally:
        engine.dispose()
    session = session_for("admin")
    page = session.go("#/admin/ingest")
    row = page.locator(f"#jobs tr[data-job='{old}']")
    row.wait_for()
    assert "the server process stopped (test)" in row.inner_text()
    page.get_by_role("button", name=f"Resume job {old}").click()
    row.get_by_text(f"resumed as job {old + 1}").wait_for()
    page.locator(f"#jobs tr[data-job='{old + 1}'][data-status='completed']").wait_for(
        timeout=180_000
    )
    assert f"resumes job {old}" in page.locator(f"#jobs tr[data-job='{old + 1}']").inner_text()
    assert page.get_by_role("button", name=f"Resume job {old}").count() == 0
    check_page(session)


def test_auditor_sees_the_chain_and_the_oversight_report(session_for: Any) -> None:
    session = session_for("audrey")
    page = session.go("#/audit")
    page.locator("#chain .chain-ok").wait_for()
    assert "Intact" in page.locator("#chain").inner_text()
    page.locator("#oversight figure").first.wait_for()
    captions = page.locator("#oversight figcaption").all_inner_texts()
    assert captions == [
        "Searches by user",
        "Searches by case",
        "Searches by purpose",
        "Searches by week",
    ]
    assert page.locator("#oversight svg rect.bar").count() >= 1
    chart = page.locator("#oversight svg").first.get_attribute("aria-label")
    assert "ivy" in chart
    page.locator("#anomalies").wait_for()
    check_page(session)
    session.screenshot("audit")


def test_policy_page(session_for: Any) -> None:
    session = session_for("sam")
    page = session.go("#/policy")
    assert page.get_by_role("row").filter(has_text="threat-to-life").count() == 1
    page.get_by_label("Policy text (TOML)").fill("version = 1\n")
    page.get_by_role("button", name="Check this policy").click()
    page.get_by_text("Not valid:").wait_for()
    check_page(session)


def test_policy_page_shows_the_pending_policy(session_for: Any, web_server: WebServer) -> None:
    """A changed policy.toml read by another process is pending: the page shows its hash and
    approvals, and an administrator's approval there endorses it."""
    policy_file = web_server.data_dir / "policy.toml"
    original = policy_file.read_text("utf-8")
    changed = original.replace("max_candidates = 20", "max_candidates = 19")
    assert changed != original
    policy_file.write_text(changed, "utf-8")
    try:
        with Service.for_cli(Settings.load(data_dir=web_server.data_dir)) as other:
            change_id = other.governance.pending_policy_change()
            assert change_id is not None
            session = session_for("admin")
            page = session.go("#/policy")
            box = page.get_by_role("region", name="Pending policy")
            assert parse_policy(changed).sha256 in box.inner_text()
            assert "none of 2" in box.inner_text()
            check_page(session)
            box.get_by_role("button", name="Approve this policy").click()
            page.get_by_text("1 of 2 (admin)").wait_for()
            assert page.get_by_role("button", name="Approve this policy").count() == 0
            other.governance.reject_change("admin", change_id, "test over")
    finally:
        policy_file.write_text(original, "utf-8")
