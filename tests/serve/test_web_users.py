"""Browser tests of my account (own password, wellbeing setting), an administrator editing a
user, and putting a checked policy in force from the Policy page (issue 23, finding 14).
Debian's Chromium against the session's real server (tests/support/web.py); each test makes
its own users through the library, so that the shared users keep their passwords and roles."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.support.govern import add_user_approved
from tests.support.web import PASSWORD, WebServer, check_page

from facesearch.app.service import Service
from facesearch.settings import Settings

pytestmark = pytest.mark.slow

NEW_PASSWORD = "my own new passphrase 42"


def _add_user(server: WebServer, name: str, roles: list[str], display: str = "") -> None:
    with Service.for_cli(Settings.load(data_dir=server.data_dir)) as svc:
        add_user_approved(svc.governance, "admin", name, roles, PASSWORD, display)


def _me(page: Any) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(
        "() => fetch('/api/v1/auth/me', {credentials: 'same-origin'}).then((r) => r.json())"
    )
    return found


def test_change_own_password_then_sign_in_with_it(session_for: Any, web_server: WebServer) -> None:
    _add_user(web_server, "pat", ["investigator"], "Pat Password")
    session = session_for("pat")
    page = session.page
    page.locator("#account-link").click()
    page.get_by_role("heading", name="My account").wait_for()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD + "x")
    page.get_by_role("button", name="Change my password").click()
    page.locator("#flash").get_by_text("The two new passwords differ.").wait_for()
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change my password").click()
    page.locator("#flash").get_by_text("Password changed").wait_for()
    assert _me(page)["username"] == "pat"  # this browser stays signed in
    check_page(session)
    page.get_by_role("button", name="Sign out").click()
    page.locator('main[data-route="/login"]').wait_for()
    session.login("pat", NEW_PASSWORD)
    assert _me(page)["display_name"] == "Pat Password"
    acts = [e for e in web_server.audit_actions() if e["action"] == "user.passwd"]
    assert acts and acts[-1]["details"]["user"] == "pat"


def test_wellbeing_setting_saved_and_returned_by_auth_me(
    session_for: Any, web_server: WebServer
) -> None:
    _add_user(web_server, "wendy", ["investigator"])
    session = session_for("wendy")
    page = session.go("#/account")
    grey = page.get_by_label("Show pictures in greyscale")
    blur = page.get_by_label(re.compile("Blur the picture outside the face"))
    assert not grey.is_checked() and blur.is_checked()  # the defaults
    assert _me(page)["wellbeing"] == {
        "greyscale": False,
        "blur_outside_face": True,
        "blur_forced": False,
    }
    grey.check()
    blur.uncheck()
    page.get_by_role("button", name="Save the setting").click()
    page.locator("#wellbeing-status").get_by_text("Saved").wait_for()
    check_page(session)
    assert _me(page)["wellbeing"] == {
        "greyscale": True,
        "blur_outside_face": False,
        "blur_forced": False,
    }
    page.reload()  # the page shows what was saved
    page.locator('main[data-route="/account"]').wait_for()
    assert grey.is_checked() and not blur.is_checked()
    logged = [e for e in web_server.audit_actions() if e["action"] == "user.wellbeing"]
    assert logged[-1]["actor"].startswith("wendy")


def test_admin_edits_a_users_display_name_and_roles(
    session_for: Any, web_server: WebServer
) -> None:
    _add_user(web_server, "eddie", ["investigator"])
    session = session_for("admin")
    page = session.go("#/admin/users")
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="eddie", exact=True))
    row.get_by_role("button", name="Edit eddie").click()
    form = page.locator("#edit-eddie")
    form.get_by_label("Display name").fill("Eddie Edited")
    form.get_by_label("auditor").check()
    form.get_by_role("button", name="Save eddie").click()
    page.locator("#flash").get_by_text("eddie saved.").wait_for()
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="eddie", exact=True))
    row.get_by_role("cell", name="Eddie Edited").wait_for()
    assert "auditor, investigator" in row.inner_text()
    check_page(session)
    # granting supervisor waits for a second administrator (the two-person rule)
    row.get_by_role("button", name="Edit eddie").click()
    form.get_by_label("supervisor").check()
    form.get_by_role("button", name="Save eddie").click()
    page.locator("#flash").get_by_text(re.compile("is pending")).wait_for()
    page.locator("#changes").get_by_text("roles of eddie").wait_for()
    assert "supervisor" not in row.locator("td").nth(2).inner_text()
    done = {e["action"] for e in web_server.audit_actions() if "eddie" in str(e["details"])}
    assert {"user.rename", "user.roles", "user.roles.requested"} <= done


def test_policy_checked_requested_then_approved_by_a_second_admin(
    session_for: Any, web_server: WebServer
) -> None:
    _add_user(web_server, "boss", ["administrator"], "Bo Second-Admin")
    session = session_for("admin")
    page = session.go("#/policy")
    before = page.locator("#policy-in-force").inner_text()
    assert "In force since" in before
    area = page.get_by_label("Policy text (TOML)")
    text = area.input_value() + "\n# reviewed by the board, issue 23\n"
    area.fill(text)
    page.get_by_role("button", name="Check this policy").click()
    page.locator("#policy-check").get_by_text("Valid").wait_for()
    page.get_by_role("button", name="Ask to put in force").click()
    box = page.get_by_role("region", name="Pending policy")
    box.wait_for()
    assert "admin asks to put this policy in force" in box.inner_text()
    assert box.get_by_role("button", name="Approve this policy").count() == 0  # one's own
    assert box.get_by_role("button", name="Withdraw this policy").count() == 1
    assert "+# reviewed by the board, issue 23" in box.locator("#policy-diff").inner_text()
    check_page(session)

    second = session_for("boss")
    page2 = second.go("#/policy")
    box2 = page2.get_by_role("region", name="Pending policy")
    assert "1 of 2 (admin)" in box2.inner_text()
    box2.get_by_role("button", name="Approve this policy").click()
    page2.locator("#flash").get_by_text(re.compile("approved")).wait_for()
    page2.get_by_role("region", name="Pending policy").wait_for(state="detached")
    shown = page2.locator("#policy-in-force").inner_text()
    assert "put in force by boss" in shown and shown != before
    assert "reviewed by the board" in page2.get_by_label("Policy text", exact=True).inner_text()
    check_page(second)
