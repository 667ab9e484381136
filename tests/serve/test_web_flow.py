"""The examiner's whole day, as issue 23's "done when" states it, at 1280x720 and at 390x844:
an administrator ingests photos by upload, an investigator requests a case, a supervisor
approves it, the investigator searches it with a group photo, picks the face, compares the
best candidate side by side with zoom and reviews it as a possible match, a second examiner
confirms it, and the case report is exported with its pictures. On every page: no script
error or CSP violation, no sideways scroll, every message inside the viewport, and axe-core's
serious and critical rules (check_page).

The upload holds photos the gallery already has (stored once, a provenance record added), so
the shared gallery's faces, which the other browser tests count, stay the same."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest
from tests.support.web import WebServer, check_page

pytestmark = pytest.mark.slow

VIEWPORTS = {"laptop": (1280, 720), "phone": (390, 844)}
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= window.innerWidth"
# what sticks out: the deepest elements whose right edge passes the screen's
WIDE = """() => [...document.querySelectorAll('main *, body > *')].filter((el) => {
  const r = el.getBoundingClientRect(); return r.right > window.innerWidth + 1 && r.width > 0
    && ![...el.children].some((c) => c.getBoundingClientRect().right > window.innerWidth + 1);
}).slice(0, 8)
  .map((el) => `${el.tagName}#${el.id}.${el.className} ${el.getBoundingClientRect().right}`)"""
IN_VIEW = """(el) => { const r = el.getBoundingClientRect();
  return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight + 1; }"""


def _sized(session: Any, name: str) -> Any:
    width, height = VIEWPORTS[name]
    session.page.set_viewport_size({"width": width, "height": height})
    return session


def _fits(session: Any) -> None:
    """The page as the user sees it: nothing wider than the screen, messages in view, clean."""
    page = session.page
    assert page.evaluate(NO_SIDEWAYS), (f"{page.url} scrolls sideways", page.evaluate(WIDE))
    flash = page.locator("#flash .msg")
    if flash.count():
        assert page.evaluate(IN_VIEW, flash.first.element_handle()), "a message off screen"
    check_page(session)


def _upload(server: WebServer, tmp_path: Any) -> Any:
    archive = tmp_path / "flow.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("astronaut-small.jpg", "hopper.jpg"):
            z.write(server.photos / name, f"visit/{name}")
    return archive


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_the_whole_flow_without_an_error_a_sideways_scroll_or_a_message_off_screen(
    session_for: Any, web_server: WebServer, tmp_path: Any, size: str
) -> None:
    number = f"FLOW-{size.upper()}"
    # 1. ingest by upload
    admin = _sized(session_for("admin"), size)
    page = admin.go("#/admin/ingest")
    page.get_by_label("Archive (zip or tar)").set_input_files(str(_upload(web_server, tmp_path)))
    page.locator("#ingest-upload").get_by_label("Collection").fill(f"flow-{size}")
    page.get_by_role("button", name="Upload and ingest").click()
    done = page.locator("#jobs tr[data-status='completed']").filter(has_text="flow.zip")
    done.first.wait_for(timeout=120_000)
    _fits(admin)

    # 2. the investigator requests a case; 3. a supervisor approves it
    ivy = _sized(session_for("ivy"), size)
    page = ivy.go("#/cases")
    page.get_by_label("Case number").fill(number)
    page.get_by_label("Purpose").select_option("cse-victim-id")
    page.get_by_label("Legal authority").fill("Warrant 77/2026")
    page.get_by_label("Justification").fill("a victim seen in seized photos")
    page.get_by_role("button", name="Request the case").click()
    page.get_by_role("heading", name=re.compile(f"Case {number}")).wait_for()
    _fits(ivy)
    sam = _sized(session_for("sam"), size)
    page = sam.go("#/approvals")
    row = page.get_by_role("row").filter(has_text=number)
    row.get_by_role("button", name=f"Approve case {number}").click()
    page.locator("#flash").get_by_text(f"Case {number}: open.").wait_for()
    _fits(sam)

    # 4. search with a group photo: the face is picked before the search runs
    page = ivy.go(f"#/cases/{number}/search")
    page.locator("#probe-file").set_input_files(str(web_server.probe))
    picker = page.locator("#face-picker")
    picker.get_by_role("heading", name="Pick the face to search").wait_for(timeout=60_000)
    assert picker.locator("button.face-choice[aria-pressed='true']").count() == 1
    assert page.evaluate(IN_VIEW, page.locator("#run-search").element_handle())
    _fits(ivy)
    page.locator("#run-search").click()
    page.wait_for_url(re.compile(r"#/searches/\d+"), timeout=60_000)
    search_id = int(re.search(r"#/searches/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    page.locator(f'main[data-route="/searches/{search_id}"]').wait_for()
    page.locator("#pair-probe-face").wait_for()
    _fits(ivy)

    # 5. side by side, zoomed; then reviewed as a possible match
    page.locator("body").press("c")
    dialog = page.locator("dialog.compare")
    dialog.wait_for()
    dialog.get_by_role("button", name="+ Zoom in").click()
    page.locator("dialog.compare canvas[data-zoom='1.25']").first.wait_for()
    assert page.evaluate(NO_SIDEWAYS)
    check_page(ivy)
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    page.locator("body").press("1")
    page.locator("#flash").get_by_text(re.compile(r"Candidate 1: possible match")).wait_for()
    _fits(ivy)

    # 6. a second examiner confirms it, without seeing the first verdict first
    page = sam.go(f"#/searches/{search_id}?at=0")
    page.get_by_label("Basis of your comparison").fill("FISWG morphological comparison")
    page.get_by_label("Verification note").fill("features agree")
    page.locator('#verify button[data-verdict="confirm"]').click()
    status = page.locator("#identification-status").filter(has_text="confirmed identification")
    status.wait_for()
    _fits(sam)

    # 7. the case report, with its pictures
    page = ivy.go(f"#/cases/{number}")
    with page.expect_download() as pdf:
        page.get_by_role("link", name="Export PDF").click()
    body = pdf.value.path().read_bytes()
    assert body.startswith(b"%PDF") and b"/Image" in body
    with page.expect_download() as html:
        page.get_by_role("link", name="Export HTML").click()
    text = html.value.path().read_text("utf-8")
    assert "<img" in text and "confirmed identification" in text
    _fits(ivy)
    assert io.BytesIO(body).getbuffer().nbytes > 10_000  # pictures, not an empty shell
