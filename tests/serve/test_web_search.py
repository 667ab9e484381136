"""The New search page (issue 23, findings 3-5): the probe's faces are found and picked before
any search runs (nothing searched or logged until "Search face N"), doubtful detections
marked, the largest real face preselected; a photo that cannot be searched says so inside
the viewport; several photos listed with their status, each one can be dropped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tests.support.web import CASE, WebServer, check_page

pytestmark = pytest.mark.slow

IN_VIEW = """(el) => { const r = el.getBoundingClientRect();
  return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight + 1; }"""


def _searches(server: WebServer) -> list[dict[str, Any]]:
    """The searches run, refused or failed (not the views of their results)."""
    kinds = {"search", "search.refused", "search.failed", "search.probes"}
    return [e for e in server.audit_actions() if e["action"] in kinds]


def _new_search(session: Any) -> Any:
    page = session.page
    page.set_viewport_size({"width": 1366, "height": 900})
    session.go(f"#/cases/{CASE}/search")
    page.get_by_role("heading", name=f"New search in case {CASE}").wait_for()
    return page


def _blank(tmp_path: Path) -> Path:
    path = tmp_path / "wall.jpg"
    Image.fromarray(np.full((360, 480, 3), 190, np.uint8)).save(path, quality=90)
    return path


def test_faces_are_picked_before_any_search(session_for: Any, web_server: WebServer) -> None:
    session = session_for("ivy")
    page = _new_search(session)
    before = len(_searches(web_server))
    page.locator("#probe-file").set_input_files(str(web_server.probe))
    picker = page.locator("#face-picker")
    picker.get_by_role("heading", name="Pick the face to search").wait_for(timeout=60_000)
    choices = picker.locator("button.face-choice")
    assert choices.count() == 2
    assert page.locator("#probe-canvas").is_visible()
    pressed = [choices.nth(i).get_attribute("aria-pressed") for i in range(2)]
    assert pressed.count("true") == 1
    areas = []
    for i in range(2):
        _, _, w, h = (float(v) for v in str(choices.nth(i).get_attribute("data-bbox")).split(","))
        areas.append(w * h)
    largest = areas.index(max(areas))
    assert pressed[largest] == "true"  # the largest real face is preselected
    label = choices.nth(largest).inner_text()
    assert re.search(r"confidence 0\.\d\d, quality 0\.\d\d", label), label
    submit = page.locator("#run-search")
    assert submit.inner_text() == f"Search face {largest + 1}"
    assert page.evaluate(IN_VIEW, page.locator("#search-status").element_handle())
    # choosing a photo and a face searched nothing, logged no search
    assert len(_searches(web_server)) == before
    other = 1 - largest
    choices.nth(other).press("Enter")  # keyboard usable
    assert choices.nth(other).get_attribute("aria-pressed") == "true"
    assert choices.nth(largest).get_attribute("aria-pressed") == "false"
    assert submit.inner_text() == f"Search face {other + 1}"
    check_page(session)
    assert len(_searches(web_server)) == before
    submit.click()
    page.wait_for_url(re.compile(r"#/searches/\d+"), timeout=60_000)
    logged = _searches(web_server)[before:]
    assert [e["action"] for e in logged] == ["search"]
    assert logged[0]["details"]["face"] == other
    assert logged[0]["details"]["face_requested"] == other


def test_a_photo_without_a_face_says_so_in_view(
    session_for: Any, web_server: WebServer, tmp_path: Path
) -> None:
    session = session_for("ivy")
    page = _new_search(session)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.locator("#probe-file").set_input_files(str(_blank(tmp_path)))
    alert = page.locator("#search-status .probe-problem")
    alert.wait_for(timeout=60_000)
    assert alert.inner_text().startswith("No face was found in this photo.")
    assert page.evaluate(IN_VIEW, alert.element_handle())
    assert page.evaluate("document.activeElement.classList.contains('probe-problem')")
    assert page.locator("#run-search").is_disabled()
    not_image = tmp_path / "notes.jpg"
    not_image.write_bytes(b"this is not a photo")
    page.locator("#probe-file").set_input_files(str(not_image))
    page.get_by_text("This photo cannot be searched: the probe must be an image").wait_for()
    assert page.evaluate(IN_VIEW, alert.element_handle())
    check_page(session)


def test_photos_of_a_query_listed_and_dropped(
    session_for: Any, web_server: WebServer, tmp_path: Path
) -> None:
    session = session_for("ivy")
    page = _new_search(session)
    before = len(_searches(web_server))
    wall = _blank(tmp_path)
    page.locator("#probe-file").set_input_files([str(web_server.photos / "hopper.jpg"), str(wall)])
    rows = page.locator("#probe-photos li")
    rows.nth(1).wait_for(timeout=60_000)
    assert re.search(r"1 face found; the largest: quality 0\.\d\d", rows.nth(0).inner_text())
    assert "no face found" in rows.nth(1).inner_text()
    alert = page.locator("#search-status .probe-problem")
    assert "1 of 2 photos cannot be searched: wall.jpg" in alert.inner_text()
    assert page.evaluate(IN_VIEW, alert.element_handle())
    assert page.locator("#run-search").is_disabled()
    check_page(session)
    page.get_by_role("button", name="Drop this photo: wall.jpg").click()
    # one photo left: its face picker, the face preselected, one click to search
    page.locator("#face-picker").get_by_role("heading", name="The face to search").wait_for()
    assert page.locator("button.face-choice").get_attribute("aria-pressed") == "true"
    assert page.locator("#run-search").inner_text() == "Search face 1"
    assert len(_searches(web_server)) == before


def test_a_supervisor_grants_a_quality_override_in_the_queue(
    session_for: Any, web_server: WebServer
) -> None:
    import hashlib

    from facesearch.app.service import Service
    from facesearch.settings import Settings

    sha = hashlib.sha256(b"a probe of test_web_search").hexdigest()
    with Service.for_cli(Settings.load(data_dir=web_server.data_dir)) as service:
        ivy = service.accounts.principal("ivy", "cli")
        asked = service.searches.overrides.request(
            ivy, CASE, sha, 1, "the only photo of the caller", 0.12
        )
    session = session_for("sam")
    page = session.go("#/approvals")
    section = page.locator("#quality-overrides")
    row = section.locator(f'tr[data-override="{asked.id}"]')
    row.wait_for()
    assert (
        "face 2 of probe" in row.inner_text() and "the only photo of the caller" in row.inner_text()
    )
    check_page(session)
    row.get_by_role("button", name=f"Refuse override {asked.id}").click()
    page.get_by_text("A refusal needs a note saying why.").wait_for()
    row.get_by_role("button", name=f"Grant override {asked.id}").click()
    page.get_by_text(f"Override {asked.id} for case {CASE}: granted.").wait_for()
    row.wait_for(state="detached")  # the queue is read again: no longer pending
    grants = [e for e in web_server.audit_actions() if e["action"] == "quality_override.grant"]
    assert grants[-1]["actor"] == "sam" and grants[-1]["details"]["override_id"] == asked.id


def test_a_face_below_the_quality_minimum_is_explained_and_an_override_asked(
    session_for: Any, web_server: WebServer, tmp_path: Path
) -> None:
    from PIL import ImageFilter

    blurred = tmp_path / "blurred.png"
    astro = Image.open(web_server.photos / "astronaut.jpg").convert("RGB").resize((256, 256))
    astro.filter(ImageFilter.GaussianBlur(4)).save(blurred)
    session = session_for("ivy")
    page = _new_search(session)
    before = len(_searches(web_server))
    page.locator("#probe-file").set_input_files(str(blurred))
    alert = page.locator("#search-status .probe-problem")
    alert.wait_for(timeout=60_000)
    text = alert.inner_text()
    assert re.search(
        r"Face 1 would be refused: the face is blurred; quality 0\.\d\d, "
        r"the policy asks at least 0\.30",
        text,
    ), text
    assert "ask a supervisor of the case for a quality override" in text
    assert page.evaluate(IN_VIEW, alert.element_handle())
    page.get_by_label("Reason to search face 1 anyway").fill("the only photo of the caller")
    page.get_by_role("button", name="Ask a supervisor for an override").click()
    page.get_by_text(re.compile(r"Override \d+ asked: waiting for a supervisor")).wait_for()
    check_page(session)
    page.locator("#run-search").click()  # not granted yet: refused, in words, in view
    page.get_by_text("below the policy minimum of 0.30").wait_for(timeout=60_000)
    # the refusal keeps the state of the request
    alert.get_by_text(re.compile(r"Override \d+ asked: waiting for a supervisor")).wait_for()
    assert page.evaluate(IN_VIEW, alert.element_handle())
    logged = _searches(web_server)[before:]
    assert [e["action"] for e in logged] == ["search.refused"]
    asks = [e for e in web_server.audit_actions() if e["action"] == "quality_override.request"]
    assert asks[-1]["actor"] == "ivy" and asks[-1]["details"]["face"] == 0
