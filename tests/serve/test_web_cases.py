"""Browser tests of cases, approvals and supervision (issue 23, findings 11 and 14 in part):
refusal pages titled in words without internal action names, a rejected case amended,
resubmitted and approved with its history on the case page, the approval queue's count in
the navigation, assignment with a picker of active investigators, and the disputed
identifications on the approval page; dates formatted. Debian's Chromium against the
session's real server (tests/support/web.py); each page passes check_page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from tests.support.web import PASSWORD, WebServer, check_page

from facesearch.serve.api.security import CSRF_HEADER

pytestmark = pytest.mark.slow
RAW_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")  # a date shown as the API sends it


@contextmanager
def signed_in(server: WebServer, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/api/v1", timeout=120) as client:
        r = client.post("/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        client.headers[CSRF_HEADER] = r.json()["csrf_token"]
        yield client


def request_case(server: WebServer, number: str, *, approve: bool = False) -> None:
    with signed_in(server, "ivy") as ivy:
        r = ivy.post(
            "/cases",
            json={
                "number": number,
                "purpose": "cse-victim-id",
                "legal_authority": "Warrant 12/2026",
                "justification": "identify a victim seen in seized images",
            },
        )
        assert r.status_code == 201, r.text
    if approve:
        with signed_in(server, "sam") as sam:
            assert sam.post(f"/cases/{number}/approve", json={"note": "ok"}).is_success


def pending(server: WebServer) -> int:
    with signed_in(server, "sam") as sam:
        return int(sam.get("/cases/pending/count").json()["pending"])


def test_refusal_pages_are_titled_in_words(session_for: Any) -> None:
    session = session_for("ivy")
    page = session.go("#/cases/NO-SUCH-CASE")
    assert page.locator("main h1").inner_text() == "Not found"
    message = page.locator("main .error-box").inner_text()
    assert message == "No case 'NO-SUCH-CASE'."
    assert "refused" not in message and "case.view" not in message
    assert page.title() == "Not found · facesearch"
    check_page(session)
    # a case of another investigator: the same words (its existence is not given away)
    page = session.go("#/cases/WEB-3/search")
    assert page.locator("main h1").inner_text() == "Not found"
    assert "refused" not in page.locator("main").inner_text()
    page.get_by_role("button", name="Back").click()
    page.locator('main[data-route="/cases/NO-SUCH-CASE"]').wait_for()
    page.get_by_role("link", name="Home").click()
    page.locator('main[data-route="/cases"]').wait_for()
    # a page for another role
    page = session.go("#/approvals")
    assert page.locator("main h1").inner_text() == "Not available"
    assert page.get_by_role("link", name="Home").count() == 1
    check_page(session)


def test_rejected_case_resubmitted_then_approved_and_the_badge(
    session_for: Any, web_server: WebServer
) -> None:
    sam = session_for("sam")
    page = sam.go("#/cases")
    nav = page.get_by_role("navigation", name="Main")
    waiting = pending(web_server)
    request_case(web_server, "WEB-C1")
    # the badge is read again at each navigation
    page = sam.go("#/approvals")
    badge = nav.locator('a[data-nav="#/approvals"]')
    badge.filter(has_text=f"Approval queue ({waiting + 1})").wait_for()
    plural = "case waits" if waiting + 1 == 1 else "cases wait"
    assert badge.get_attribute("aria-label") == (
        f"Approval queue: {waiting + 1} {plural} for approval"
    )
    row = page.get_by_role("row").filter(has_text="WEB-C1")
    row.get_by_label("Note on case WEB-C1").fill("attach the warrant itself")
    row.get_by_role("button", name="Reject case WEB-C1").click()
    page.locator("#flash").get_by_text("Case WEB-C1: rejected.").wait_for()
    badge.filter(has_text=re.compile(rf"^Approval queue( \({waiting}\))?$")).wait_for()

    ivy = session_for("ivy")
    page = ivy.go("#/cases/WEB-C1")
    form = page.locator("#resubmit")
    assert "attach the warrant itself" in page.locator(".resubmit").inner_text()
    form.get_by_label("Legal authority").fill("Warrant 12/2026, copy attached")
    form.get_by_label("Answer to the rejection").fill("the warrant is attached now")
    check_page(ivy)
    form.get_by_role("button", name="Resubmit for approval").click()
    page.locator("#flash").get_by_text("Case WEB-C1 resubmitted: pending approval.").wait_for()
    assert "pending approval" in page.locator("main h1").inner_text()
    assert page.locator("#resubmit").count() == 0
    history = page.locator(".case-history").inner_text()
    for words in (
        "Requested",
        "Rejected",
        "“attach the warrant itself”",
        "Amended",
        "Legal authority: “Warrant 12/2026” → “Warrant 12/2026, copy attached”",
        "Resubmitted for approval",
        "“the warrant is attached now”",
    ):
        assert words in history, words
    assert not RAW_ISO.search(page.locator("main").inner_text())

    page = sam.go("#/cases")  # sam was on the queue: the next navigation counts again
    badge.filter(has_text=f"Approval queue ({waiting + 1})").wait_for()
    page.get_by_role("link", name=re.compile("^Approval queue")).click()
    page.locator('main[data-route="/approvals"]').wait_for()
    row = page.get_by_role("row").filter(has_text="WEB-C1")
    assert "Resubmitted after a rejection by sam" in row.inner_text()
    assert "attach the warrant itself" in row.inner_text()
    assert not RAW_ISO.search(page.locator("main").inner_text())
    check_page(sam)
    row.get_by_role("button", name="Approve case WEB-C1").click()
    page.locator("#flash").get_by_text("Case WEB-C1: open.").wait_for()
    badge.filter(has_text=re.compile(rf"^Approval queue( \({waiting}\))?$")).wait_for()
    page = sam.go("#/cases/WEB-C1")
    assert "open (approved)" in page.locator("main h1").inner_text()
    assert "Approved" in page.locator(".case-history tbody tr").last.inner_text()


def test_assignment_with_the_picker_and_disputes(session_for: Any, web_server: WebServer) -> None:
    request_case(web_server, "WEB-C2", approve=True)
    session = session_for("sam")
    page = session.go("#/cases/WEB-C2")
    picker = page.get_by_label("Investigator to assign")
    picker.locator('option[value="iris"]').wait_for(state="attached")
    options = picker.locator("option").all_inner_texts()
    assert "Iris Other (iris)" in options
    assert not any("(ivy)" in o for o in options)  # already assigned
    assert not any(u in " ".join(options) for u in ("(sam)", "(audrey)", "(admin)"))
    check_page(session)
    picker.select_option("iris")
    page.get_by_role("button", name="Assign", exact=True).click()
    page.locator("#flash").get_by_text("iris assigned.").wait_for()
    card = page.locator(".card")
    assert "ivy, iris" in card.inner_text()
    assert not RAW_ISO.search(page.locator("main").inner_text())
    page.get_by_label("Assigned investigator").select_option("iris")
    page.get_by_role("button", name="Unassign").click()
    page.locator("#flash").get_by_text("iris unassigned.").wait_for()
    assert "iris" not in card.inner_text()
    assert "Investigator unassigned: iris" in page.locator(".case-history").inner_text()

    # a dispute in this case reaches the approval page's list
    with signed_in(web_server, "ivy") as ivy:
        probe = (web_server.photos / "astronaut-small.jpg").read_bytes()
        r = ivy.post(
            "/cases/WEB-C2/searches",
            files={"probe": ("probe.jpg", probe, "image/jpeg")},
            data={"k": "2"},
        )
        assert r.status_code == 201, r.text
        search_id, face = r.json()["search_id"], r.json()["candidates"][0]["face_id"]
        r = ivy.post(
            f"/searches/{search_id}/reviews",
            json={"face_id": face, "decision": "possible_match", "note": "same ear"},
        )
        assert r.status_code == 201, r.text
    page = session.go("#/approvals")
    awaiting = page.locator("#awaiting").get_by_role("row").filter(has_text="WEB-C2")
    assert "awaiting your verification" in awaiting.inner_text()
    with signed_in(web_server, "sam") as sam:
        r = sam.post(
            f"/searches/{search_id}/verifications",
            json={"face_id": face, "verdict": "reject", "note": "different ear"},
        )
        assert r.status_code == 201, r.text
    page.reload()  # the same address: shown again
    page.locator('main[data-route="/approvals"] #disputed').wait_for()
    disputed = page.locator("#disputed").get_by_role("row").filter(has_text="WEB-C2")
    assert "sam rejects" in disputed.inner_text()
    assert not RAW_ISO.search(page.locator("main").inner_text())
    check_page(session)
    disputed.get_by_role("link", name=re.compile(f"Search {search_id}")).click()
    page.locator(f'main[data-route="/searches/{search_id}"]').wait_for()
