"""Browser tests of the web app in daily use (issue 23, findings 6, 8, 9 and part of 14):
messages that survive the navigation they cause, an expired session that says which decision
was lost, pages that open at the top, face counts, the focused sign-in field, confirmation
dialogs and the copy button of a token shown once. Debian's Chromium against the session's
real server (tests/support/web.py); each page passes :func:`tests.support.web.check_page`."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from tests.support.web import CASE, PASSWORD, WebServer, check_page

from facesearch.serve.api.security import CSRF_COOKIE, CSRF_HEADER

pytestmark = pytest.mark.slow


def _search(server: WebServer) -> int:
    """ivy searches the case over HTTP (no review): a results page to review from."""
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
        return int(r.json()["search_id"])


def _end_session_on_the_server(session: Any) -> None:
    """Sign the browser's session out behind its back (as an expiry would)."""
    cookies = {c["name"]: c["value"] for c in session.context.cookies()}
    with httpx.Client(base_url=session.server.url, cookies=cookies) as client:
        r = client.post("/api/v1/auth/logout", headers={CSRF_HEADER: cookies[CSRF_COOKIE]})
        assert r.status_code in (200, 204), r.text


def test_a_message_survives_the_navigation_it_causes(session_for: Any) -> None:
    session = session_for("ivy")
    page = session.go("#/cases")
    page.get_by_label("Case number").fill("WEB-D1")
    page.get_by_label("Purpose").select_option("cse-victim-id")
    page.get_by_label("Legal authority").fill("Warrant 91/2026")
    page.get_by_label("Justification").fill("a message that outlives its page")
    page.get_by_role("button", name="Request the case").click()
    page.get_by_role("heading", name=re.compile("Case WEB-D1")).wait_for()
    flash = page.locator("#flash")
    flash.get_by_text("Case WEB-D1 requested").wait_for()
    assert flash.get_attribute("aria-live") == "polite"
    box = flash.locator(".msg").bounding_box()
    assert box is not None and 0 <= box["y"] < page.viewport_size["height"]
    check_page(session)
    flash.get_by_role("button", name="Dismiss the message").click()
    assert flash.inner_text().strip() == ""


def test_an_expired_session_says_which_decision_was_lost(
    session_for: Any, web_server: WebServer
) -> None:
    search_id = _search(web_server)
    session = session_for("ivy")
    page = session.go(f"#/searches/{search_id}?at=0")
    _end_session_on_the_server(session)
    page.keyboard.press("p")  # a possible match, refused: the session is gone
    page.locator('main[data-route="/login"]').wait_for()
    text = page.locator("#flash").inner_text()
    assert "Your session has ended" in text and "possible match" in text, text
    assert "was not recorded" in text
    check_page(session)


def test_a_new_page_opens_at_the_top(session_for: Any) -> None:
    session = session_for("ivy")
    page = session.go("#/policy")
    page.set_viewport_size({"width": 1280, "height": 300})
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert page.evaluate("window.scrollY") > 100
    page.evaluate("window.location.hash = '#/cases'")
    page.locator('main[data-route="/cases"]').wait_for()
    assert page.evaluate("window.scrollY") == 0


def test_sign_in_field_is_focused(session_for: Any) -> None:
    session = session_for()
    page = session.page
    page.goto(f"{session.server.url}/#/login")
    page.locator('main[data-route="/login"]').wait_for()
    assert page.evaluate("document.activeElement.name") == "username"
    check_page(session)


def test_face_counts_are_shown(session_for: Any) -> None:
    admin = session_for("admin")
    page = admin.go("#/admin/collections")
    row = page.get_by_role("row").filter(has_text="seized-2024")
    assert re.fullmatch(r"\d+", row.locator("td").nth(2).inner_text().strip())
    assert "undefined" not in page.locator("main").inner_text()
    ivy = session_for("ivy")
    page = ivy.go(f"#/cases/{CASE}/search")
    options = page.get_by_label("Collection").locator("option").all_inner_texts()
    assert any(re.search(r"seized-2024 \(\d+ faces\)", o) for o in options), options
    assert not any("undefined" in o for o in options), options
    check_page(ivy)


def test_confirmation_dialogs_and_the_token_copy_button(session_for: Any) -> None:
    session = session_for("admin")
    session.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = session.go("#/admin/users")
    page.get_by_label("Name", exact=True).fill("daily copy")
    page.get_by_role("button", name="Create a token").click()
    token = page.locator("#new-token")
    token.wait_for()
    copy = page.get_by_role("button", name="Copy the token")
    copy.click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == token.inner_text()
    # no clipboard (an insecure context): the token is selected for Ctrl+C instead
    page.evaluate("Object.defineProperty(navigator, 'clipboard', { value: undefined })")
    page.get_by_role("button", name="Copied").click()
    page.get_by_text("Selected: press Ctrl+C").wait_for()
    assert page.evaluate("window.getSelection().toString()") == token.inner_text()

    row = page.get_by_role("row").filter(has_text="daily copy")
    revoke = row.get_by_role("button", name=re.compile("Revoke token"))
    revoke.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    check_page(session)
    page.keyboard.press("Escape")  # cancelled: nothing is revoked, focus is back
    page.wait_for_function("document.activeElement.textContent === 'Revoke'")
    assert "valid" in row.inner_text()
    revoke.click()
    dialog.get_by_role("button", name=re.compile("Revoke token")).click()
    row.get_by_text(re.compile("revoked")).wait_for()

    audrey = page.get_by_role("row").filter(has_text="audrey")
    audrey.get_by_role("button", name="Disable audrey").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    page.get_by_role("dialog").wait_for(state="detached")
    assert "active" in audrey.inner_text()

    sam = session_for("sam")
    page = sam.go(f"#/cases/{CASE}")
    page.get_by_role("button", name="Close the case").click()
    dialog = page.get_by_role("dialog")
    assert "cannot be undone" in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached")
    assert "open" in page.locator("main h1").inner_text()
    check_page(sam)
