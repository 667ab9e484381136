"""Browser tests of standing queries (issue 24 item 6): an investigator keeps a search going
from its results page, an alert shows as a count on the navigation and on the Alerts page, and
opening it marks it seen and opens the search it was recorded as; a supervisor ends the query.

The alert is written through the library (``govern.standing.record_alert`` on the case's
existing search) rather than by an ingest: an ingest into the session's shared gallery would
change what the other browser tests find. tests/app/test_standing_queries.py raises real ones."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.support.web import CASE, WebServer, check_page

from facesearch.app.service import Service
from facesearch.govern import standing as st
from facesearch.settings import Settings

pytestmark = pytest.mark.slow


def _raise_alert(server: WebServer, query_id: int, search_id: int) -> None:
    with Service.for_cli(Settings.load(data_dir=server.data_dir)) as service:
        gov = service.governance
        gov.run(
            "ivy",
            "test",
            {},
            lambda s, a: st.record_alert(s, a, "ivy", query_id, search_id, 3, 0.7, gov.clock()).id,
        )


def test_keep_searching_alert_badge_and_end(session_for: Any) -> None:
    ivy = session_for("ivy")
    page = ivy.go(f"#/cases/{CASE}")
    first = page.locator("a[href^='#/searches/']").first
    search_id = int(re.search(r"(\d+)", first.get_attribute("href") or "").group(1))  # type: ignore[union-attr]
    page = ivy.go(f"#/searches/{search_id}")
    page.get_by_text("Keep searching as the gallery grows").click()
    page.get_by_label("Objective").fill("identify the astronaut")
    page.get_by_role("button", name="Keep searching").click()
    started = page.locator("#standing-started")
    started.wait_for()
    query_id = int(re.search(r"Standing query (\d+)", started.inner_text()).group(1))  # type: ignore[union-attr]
    check_page(ivy)
    try:
        _raise_alert(ivy.server, query_id, search_id)
        page = ivy.go("#/alerts")
        page.get_by_role("link", name="Alerts: 1 new").wait_for()
        row = page.locator("tr", has_text="identify the astronaut").first
        assert "new" in row.inner_text()
        check_page(ivy)
        row.get_by_role("button", name=f"Open search {search_id}").click()
        page.locator(f'main[data-route="/searches/{search_id}"]').wait_for()
        page.get_by_role("link", name="Alerts: none new").wait_for()
    finally:
        sam = session_for("sam")
        page = sam.go("#/alerts")
        row = page.locator(f'tr[data-query="{query_id}"]')
        row.get_by_role("button", name="End").click()
        page.get_by_role("dialog").get_by_role("button", name="End it").click()
        page.locator("#flash").get_by_text(f"Standing query {query_id} ended.").wait_for()
    check_page(sam)
    actions = [a["action"] for a in ivy.server.audit_actions()]
    assert {"standing.create", "standing.alert.seen", "standing.end"} <= set(actions)
