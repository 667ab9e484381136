"""Browser tests of the web app: Debian's Chromium driven by Playwright against a real server
(the API, the real models, SQLite), one session-scoped server for the module.

Flows: sign in as each role; open a case and approve it as another user; search by uploading a
probe (dropped and chosen), pick a face of a two-face probe, review candidates by keyboard
(with undo and the position kept on reload), export the report; the wellbeing blur of full
images and its logged reveal; administrators' and auditors' pages (a case's Media page:
test_web_media.py). Each main page is saved to
docs/screenshots/ for the README. Accessibility checks run on every page visited: every
control has a label, and the CSP (no inline script or style) is never violated.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from tests.support.web import (
    CASE,
    USERS,
    WebServer,
    check_page,
)

from facesearch.app.service import Service
from facesearch.settings import Settings

pytestmark = pytest.mark.slow

LANDING = {  # role: the heading a user of that role lands on
    "administrator": "Ingest",
    "investigator": "Cases",
    "supervisor": "Cases",
    "auditor": "Audit",
}
NAV = {  # role: links that must (True) or must not (False) be in the navigation
    "administrator": {"Ingest": True, "Users and tokens": True, "Approval queue": False},
    "investigator": {"Cases": True, "Approval queue": False, "Ingest": False},
    "supervisor": {"Cases": True, "Approval queue": True, "Users and tokens": False},
    "auditor": {"Audit": True, "Cases": True, "Ingest": False},
}


def role_of(username: str) -> str:
    return USERS[username][0]


@pytest.mark.parametrize("username", list(USERS))
def test_sign_in_as_each_role(session_for: Any, username: str) -> None:
    session = session_for()
    page = session.page
    page.goto(f"{session.server.url}/#/login")
    if username == "admin":
        session.screenshot("login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert "Sign-in failed" in page.get_by_role("alert").inner_text()

    session.login(username)
    role = role_of(username)
    assert page.locator("main h1").first.inner_text().startswith(LANDING[role])
    nav = page.get_by_role("navigation", name="Main")
    for link, present in NAV[role].items():
        # "Approval queue" may carry the count of cases waiting: "Approval queue: 2 cases wait..."
        name = re.compile(rf"^{re.escape(link)}(: .*)?$")
        assert nav.get_by_role("link", name=name).count() == (1 if present else 0), link
    assert USERS[username][1] in page.locator("#whoami").inner_text()
    check_page(session)

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for()
    page.goto(f"{session.server.url}/#/cases")  # the session has ended on the server
    page.get_by_role("button", name="Sign in").wait_for()


def test_case_opened_then_approved_by_another_user(session_for: Any) -> None:
    ivy = session_for("ivy").page
    ivy.get_by_label("Case number").fill("WEB-2")
    ivy.get_by_label("Purpose").select_option("cse-victim-id")
    ivy.get_by_label("Legal authority").fill("Warrant 88/2026")
    ivy.get_by_label("Justification").fill("identify a victim seen in seized images")
    ivy.get_by_role("button", name="Request the case").click()
    ivy.get_by_role("heading", name=re.compile("Case WEB-2")).wait_for()
    assert "pending approval" in ivy.locator("main h1").inner_text()
    assert ivy.get_by_role("link", name="New search").count() == 0  # not approved yet

    sam = session_for("sam")
    page = sam.go("#/approvals")
    row = page.get_by_role("row").filter(has_text="WEB-2")
    assert row.count() == 1
    check_page(sam)
    sam.screenshot("approval-queue")
    row.get_by_label("Note on case WEB-2").fill("proportionate; warrant checked")
    row.get_by_role("button", name="Approve case WEB-2").click()
    page.get_by_text("No case is waiting for approval.").wait_for()

    ivy.reload()
    ivy.get_by_role("heading", name=re.compile("Case WEB-2")).wait_for()
    assert "open (approved)" in ivy.locator("main h1").inner_text()
    assert "Approved by sam" in ivy.locator(".card").inner_text()
    assert ivy.get_by_role("link", name="New search").count() == 1


def _drop_file(page: Any, selector: str, path: Any, mime: str) -> None:
    """Drop a file on an element as a user dragging it from the desktop would."""
    data = base64.b64encode(path.read_bytes()).decode()
    page.evaluate(
        """([selector, data, name, mime]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            const target = document.querySelector(selector);
            for (const type of ['dragenter', 'dragover', 'drop'])
              target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        [selector, data, path.name, mime],
    )


def _search_with_picked_face(session: Any, server: WebServer) -> int:
    """Upload the two-face probe by drag-and-drop, pick the astronaut's face; the search id."""
    page = session.go(f"#/cases/{CASE}")
    page.get_by_role("link", name="New search").click()
    page.get_by_role("heading", name=f"New search in case {CASE}").wait_for()
    _drop_file(page, "#dropzone", server.probe, "image/jpeg")
    page.get_by_text("probe-two-faces.jpg").wait_for()
    page.get_by_label("Number of candidates (k)").fill("12")
    # the faces are found before any search: pick one, then search it
    picker = page.locator("#face-picker")
    picker.get_by_role("heading", name="Pick the face to search").wait_for(timeout=120_000)
    choices = picker.locator("button.face-choice")
    assert choices.count() == 2
    check_page(session)
    session.screenshot("new-search-face-picker")
    # The astronaut is the left face of the probe (Grace Hopper the right one).
    boxes = [choices.nth(i).get_attribute("data-bbox") for i in range(2)]
    left = min(range(2), key=lambda i: float(str(boxes[i]).split(",")[0]))
    choices.nth(left).click()
    page.get_by_role("button", name=f"Search face {left + 1}", exact=True).click()
    page.locator("#candidates li, main .error-box").first.wait_for(timeout=120_000)
    assert page.locator("main .error-box").count() == 0, page.locator(
        "main .error-box"
    ).inner_text()
    return int(re.search(r"#/searches/(\d+)", page.url).group(1))  # type: ignore[union-attr]


def test_search_pick_face_review_by_keyboard_and_export(
    session_for: Any, web_server: WebServer
) -> None:
    session = session_for("ivy")
    search_id = _search_with_picked_face(session, web_server)
    page = session.page
    page.locator("#candidates li").first.wait_for()
    n = page.locator("#candidates li").count()
    assert n >= 5
    statement = page.locator("#statement").inner_text()
    assert "leads" in statement and "identifications" in statement
    first = page.locator("#candidates li").first
    assert re.search(r"#1\s+0\.\d{3}\s+(strong|possible|weak)", first.inner_text())
    assert (
        page.locator("#review-panel a", has_text="source page")
        .first.get_attribute("href")
        .startswith("https://evidence.example.org/items/")
    )
    check_page(session)
    session.screenshot("results")

    progress = page.locator("#review-progress")
    assert progress.inner_text().startswith(f"Candidate 1 of {n}. Reviewed 0")
    page.locator("body").press("1")  # possible match on candidate 1
    progress.filter(has_text="Reviewed 1").wait_for()
    page.locator("body").press("2")  # not a match on candidate 2
    progress.filter(has_text="Reviewed 2").wait_for()
    page.locator("body").press("s")  # skip candidate 3
    progress.filter(has_text=f"Candidate 4 of {n}").wait_for()
    page.locator("body").press("u")  # undo the skip: back to 3
    progress.filter(has_text=f"Candidate 3 of {n}").wait_for()
    page.locator("body").press("n")  # a note, then insufficient quality
    page.keyboard.type("face turned away, low resolution")
    page.keyboard.press("Escape")
    page.locator("body").press("3")
    progress.filter(has_text="Reviewed 3").wait_for()
    page.locator("body").press("u")  # undo a decision: withdrawn (kept on record), back to 3
    progress.filter(has_text=f"Candidate 3 of {n}. Reviewed 2").wait_for()
    assert "not reviewed again" in page.locator("#flash").inner_text()
    page.locator("body").press("n")  # decided again
    page.keyboard.type("face turned away, low resolution")
    page.keyboard.press("Escape")
    page.locator("body").press("3")
    progress.filter(has_text=f"Candidate 4 of {n}. Reviewed 3").wait_for()

    page.reload()  # the position is kept
    progress.filter(has_text=f"Candidate 4 of {n}. Reviewed 3").wait_for()
    assert "at=3" in page.url
    # the server's audit entries of the reload are written before this process writes its own
    # (two processes appending to one SQLite audit log at once collide on the sequence number)
    page.wait_for_load_state("networkidle")

    decisions = _decisions(web_server, search_id)
    assert [decisions.get(r) for r in (1, 2, 3)] == [
        "possible_match",
        "not_a_match",
        "insufficient_quality",
    ]
    notes = _notes(web_server, search_id)
    assert notes[3] == "face turned away, low resolution"

    page.get_by_role("link", name=CASE).click()
    page.get_by_role("heading", name=re.compile(f"Case {CASE}")).wait_for()
    reviews = page.get_by_role("row").filter(has_text="possible match")
    assert reviews.count() >= 1
    check_page(session)
    session.screenshot("case")
    with page.expect_download() as pdf:
        page.get_by_role("link", name="Export PDF").click()
    assert Path(pdf.value.path()).read_bytes()[:5] == b"%PDF-"
    with page.expect_download() as html:
        page.get_by_role("link", name="Export HTML").click()
    text = Path(html.value.path()).read_text(encoding="utf-8")
    assert CASE in text and "face turned away" in text
    assert 'class="candidate" src="data:image/jpeg;base64,' in text  # reviewed ones pictured
    page.get_by_label("List every candidate, not only those reviewed").check()
    with page.expect_download() as every:
        page.get_by_role("link", name="Export HTML").click()
    listed = Path(every.value.path()).read_text(encoding="utf-8")
    assert listed.count('<tr id="search-') > text.count('<tr id="search-')


def _search_candidates(server: WebServer, search_id: int) -> list[Any]:

    with Service.for_cli(Settings.load(data_dir=server.data_dir)) as service:
        return list(service.governance.view_search("sam", search_id).candidates)


def _decisions(server: WebServer, search_id: int) -> dict[int, str]:
    return {c.rank: c.decision for c in _search_candidates(server, search_id) if c.decision}


def _notes(server: WebServer, search_id: int) -> dict[int, str]:
    return {c.rank: c.reviews[-1].note for c in _search_candidates(server, search_id) if c.reviews}


BLUR_CHECK = """async () => {
  const canvas = document.querySelector('#full-image');
  const ctx = canvas.getContext('2d');
  const shown = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  // Sharpness: mean absolute difference between horizontal neighbours.
  const sharp = (x0, y0, x1, y1) => { let s = 0, n = 0;
    for (let y = y0; y < y1; y += 2) for (let x = x0; x < x1 - 1; x += 2) {
      const i = (y * canvas.width + x) * 4; s += Math.abs(shown[i] - shown[i + 4]); n++; }
    return s / Math.max(n, 1); };
  return { state: canvas.dataset.state, width: canvas.width, height: canvas.height,
           whole: sharp(0, 0, canvas.width, canvas.height) };
}"""


def test_full_image_blurred_until_a_logged_reveal(session_for: Any, web_server: WebServer) -> None:
    session = session_for("ivy")
    page = session.go(f"#/cases/{CASE}")
    page.locator("main table a", has_text="Search").first.click()
    page.locator("#candidates li").first.wait_for()
    search_id = int(re.search(r"#/searches/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    page.locator("#candidates li button.pick").first.click()
    before = len([e for e in web_server.audit_actions() if e["action"] == "face.reveal"])

    page.locator("body").press("v")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    page.locator("#full-image[data-state='blurred']").wait_for()
    blurred = page.evaluate(BLUR_CHECK)
    assert blurred["state"] == "blurred"
    check_page(session)
    session.screenshot("full-image-blurred")

    dialog.get_by_label("Reason for revealing (optional)").fill("compare the clothing")
    dialog.get_by_role("button", name="Reveal the whole image (logged)").click()
    page.locator("#full-image[data-state='revealed']").wait_for()
    revealed = page.evaluate(BLUR_CHECK)
    # The same image without the blur has much more detail between neighbouring pixels.
    assert revealed["whole"] > 1.5 * blurred["whole"], (blurred, revealed)
    assert re.search(r"recorded as audit entry #\d+", dialog.inner_text())

    reveals = [e for e in web_server.audit_actions() if e["action"] == "face.reveal"]
    assert len(reveals) == before + 1
    assert reveals[-1]["actor"] == "ivy"
    assert str(search_id) in str(reveals[-1]["details"])
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")


def test_several_photos_searched_as_one_query(session_for: Any, web_server: WebServer) -> None:
    session = session_for("ivy")
    page = session.go(f"#/cases/{CASE}")
    page.get_by_role("link", name="New search").click()
    page.get_by_role("heading", name=f"New search in case {CASE}").wait_for()
    photos = [web_server.photos / "astronaut.jpg", web_server.photos / "astronaut-small.jpg"]
    page.locator("#probe-file").set_input_files([str(p) for p in photos])
    page.get_by_text("2 photos of one person, searched as one query").wait_for()
    page.get_by_role("button", name="Search 2 photos", exact=True).click()
    page.locator("#candidates li, main .error-box").first.wait_for(timeout=120_000)
    assert page.locator("main .error-box").count() == 0
    probes = page.locator("#probes").inner_text()
    assert "2 probes as one query" in probes and "astronaut-small.jpg" in probes
    match = page.locator("#probe-match").inner_text()
    assert (
        re.search(r"best single probe [12]: [01]\.\d{3}", match)
        and "matched by probes 1, 2" in match
    )
    check_page(session)
