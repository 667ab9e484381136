"""Browser test of the administrators' Models page (Debian's Chromium driven by Playwright
against the session's real server, tests/serve/conftest.py): the recognizer the gallery
searches with, no migration yet, the switch and switch back disabled with why; the page
passes :func:`tests.support.web.check_page`. (The switch itself is tested through the
service and the API: switching the session's shared server would change every later test.)
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.web import check_page

pytestmark = pytest.mark.slow


def test_models_page(session_for: Any) -> None:
    session = session_for("admin")
    page = session.go("#/admin/models")
    page.get_by_role("heading", name="Models").wait_for()
    active = page.locator("#active-recognizer")
    active.wait_for()
    assert "sface-2021dec-int8bq" in active.inner_text()
    assert page.get_by_role("link", name="Models").get_attribute("aria-current") == "page"
    assert page.locator("#switch").is_disabled()
    assert page.locator("#switch-back").is_disabled()
    assert "no model migration was started" in page.locator("#switch-blockers").inner_text()
    check_page(session)
