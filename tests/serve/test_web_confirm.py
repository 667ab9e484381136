"""The web app's two-person confirmation: a supervisor opening a search whose candidate an
investigator reviewed as a possible match sees it awaiting their independent verification
(the reviewer's name and note withheld), records a verdict with the Verify control, and then
sees the status (confirmed identification) and both examinations. Debian's Chromium against
the real server (tests/support/web.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.support.web import CASE, PASSWORD, WebServer

from facesearch.serve.api.security import CSRF_HEADER

pytestmark = pytest.mark.slow
NOTE = "ivy: same scar above the left eyebrow"


def _possible_match(server: WebServer) -> tuple[int, int]:
    """ivy searches the case and reviews the top candidate as a possible match (over HTTP)."""
    with httpx.Client(base_url=server.url, timeout=120) as ivy:
        r = ivy.post("/api/v1/auth/login", json={"username": "ivy", "password": PASSWORD})
        assert r.status_code == 200, r.text
        ivy.headers[CSRF_HEADER] = r.json()["csrf_token"]
        probe = (server.photos / "astronaut-small.jpg").read_bytes()
        r = ivy.post(
            f"/api/v1/cases/{CASE}/searches",
            files={"probe": ("probe.jpg", probe, "image/jpeg")},
            data={"k": "3"},
        )
        assert r.status_code == 201, r.text
        search_id, face = r.json()["search_id"], r.json()["candidates"][0]["face_id"]
        r = ivy.post(
            f"/api/v1/searches/{search_id}/reviews",
            json={"face_id": face, "decision": "possible_match", "note": NOTE},
        )
        assert r.status_code == 201, r.text
    return search_id, face


def test_second_examiner_verifies_in_the_browser(session_for: Any, web_server: WebServer) -> None:
    search_id, _ = _possible_match(web_server)
    session = session_for("sam")
    page = session.go(f"#/searches/{search_id}?at=0")
    status = page.locator("#identification-status")
    status.filter(has_text="possible match").wait_for()
    examinations = page.locator("#examinations")
    assert "awaiting your independent verification" in examinations.inner_text()
    assert NOTE not in page.locator("main").inner_text()  # the first verdict stays hidden
    page.get_by_label("Basis of your comparison").fill("FISWG morphological comparison")
    page.get_by_label("Verification note").fill("sam: ear and scar agree")
    page.locator('#verify button[data-verdict="confirm"]').click()
    status.filter(has_text="confirmed identification").wait_for()
    text = examinations.inner_text()
    assert NOTE in text and "by ivy" in text
    assert "verified (confirm) by sam" in text and "FISWG morphological comparison" in text
    assert session.errors == [], session.errors
    # the searcher sees the confirmed identification too, and no Verify control of her own
    ivy = session_for("ivy")
    page = ivy.go(f"#/searches/{search_id}?at=0")
    page.locator("#identification-status").filter(has_text="confirmed identification").wait_for()
    assert page.locator("#verify").count() == 0
