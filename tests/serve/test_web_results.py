"""The results page on a 1280x720 laptop (issue 23, findings 2, 7 and part of 14): the probe
on screen beside the current candidate with the searched face of a group photo named, the
current tile kept in view by the arrow keys, reviewed tiles that look reviewed, an Undo that
undoes (the API shows the previous decision), "not a match for the rest", the side-by-side
comparison (both faces drawn with their eyes on one line, zoom, swap, next) and the full-image
viewer's zoom. Debian's Chromium against the session's real server (tests/support/web.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from tests.support.web import CASE, PASSWORD, WebServer, check_page

from facesearch.serve.api.security import CSRF_HEADER

pytestmark = pytest.mark.slow
LAPTOP = {"width": 1280, "height": 720}


@contextmanager
def _client(server: WebServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        r = client.post("/api/v1/auth/login", json={"username": "ivy", "password": PASSWORD})
        assert r.status_code == 200, r.text
        client.headers[CSRF_HEADER] = r.json()["csrf_token"]
        yield client


def _search_group_photo(server: WebServer, k: int) -> int:
    """ivy searches the second face (Grace Hopper's) of the two-face probe photo."""
    with _client(server) as ivy:
        r = ivy.post(
            f"/api/v1/cases/{CASE}/searches",
            files={"probe": ("group.jpg", server.probe.read_bytes(), "image/jpeg")},
            data={"k": str(k), "face": "1"},
        )
        assert r.status_code == 201, r.text
        return int(r.json()["search_id"])


def _decisions(server: WebServer, search_id: int) -> list[str | None]:
    with _client(server) as ivy:
        r = ivy.get(f"/api/v1/searches/{search_id}")
        assert r.status_code == 200, r.text
        return [c["decision"] for c in r.json()["candidates"]]


def _until(page: Any, expression: str, timeout: float = 20.0) -> None:
    """Wait until ``expression`` is true in the page (polled from here: the page's CSP has no
    unsafe-eval, which Playwright's wait_for_function polling needs)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        time.sleep(0.05)


def _in_view(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= LAPTOP["height"]


def test_the_probe_beside_the_candidate_and_review_by_keyboard(
    session_for: Any, web_server: WebServer
) -> None:
    search_id = _search_group_photo(web_server, k=12)
    session = session_for("ivy")
    page = session.page
    page.set_viewport_size(LAPTOP)
    session.go(f"#/searches/{search_id}?at=0")
    # the probe is on screen, beside the current candidate; the group photo's face is named
    probe_face = page.locator("#pair-probe-face")
    probe_face.wait_for()
    _until(page, "document.querySelector('#pair-probe-face').naturalWidth > 0")
    assert _in_view(page, "#current-pair")
    words = page.locator("#probe-panel").inner_text()
    assert "Face 2 of 2 found in the photo" in words and "boxed in red" in words
    _until(
        page, "[...document.querySelectorAll('#probe-panel img')].every((i) => i.naturalWidth > 0)"
    )
    check_page(session)

    # the arrows keep the current tile (and the candidate's panel) in view
    n = page.locator("#candidates li").count()
    assert n >= 8
    progress = page.locator("#review-progress")
    for i in range(2, n + 1):
        page.locator("body").press("ArrowRight")
        progress.filter(has_text=f"Candidate {i} of {n}.").wait_for()
        assert _in_view(page, "#candidates li.current"), i
        assert _in_view(page, "#current-title") and _in_view(page, "#current-pair"), i
    for i in range(n - 1, 0, -1):
        page.locator("body").press("ArrowLeft")
        progress.filter(has_text=f"Candidate {i} of {n}.").wait_for()
    assert _in_view(page, "#candidates li.current")

    # a decision: the tile says so (class and words), Undo withdraws it on the server
    page.locator("body").press("2")
    progress.filter(has_text="Reviewed 1").wait_for()
    first = page.locator("#candidates li").first
    assert "reviewed" in (first.get_attribute("class") or "").split()
    assert "Reviewed: not a match" in first.inner_text()
    assert "Not reviewed" in page.locator("#candidates li").nth(1).inner_text()
    page.locator("body").press("u")
    progress.filter(has_text=f"Candidate 1 of {n}. Reviewed 0").wait_for()
    assert _decisions(web_server, search_id)[0] is None
    assert "unreviewed" in (first.get_attribute("class") or "").split()
    # a changed decision: Undo restores the previous one
    page.locator("body").press("1")
    progress.filter(has_text="Reviewed 1").wait_for()
    page.locator("body").press("ArrowLeft")
    progress.filter(has_text=f"Candidate 1 of {n}.").wait_for()
    page.locator("body").press("2")
    page.locator("#flash").get_by_text("Candidate 1: not a match").wait_for()
    assert _decisions(web_server, search_id)[0] == "not_a_match"
    page.locator("body").press("u")
    page.locator("#flash").get_by_text("back to “possible match”").wait_for()
    assert _decisions(web_server, search_id)[0] == "possible_match"

    # not a match for the rest: asked first, then one review each
    page.locator("#rest-not-match").click()
    dialog = page.locator("dialog.confirm")
    dialog.get_by_role("button", name=f"Mark {n - 1} not a match").click()
    progress.filter(has_text=f"Reviewed {n} of {n}").wait_for()
    assert page.locator("#candidates li.unreviewed").count() == 0
    decisions = _decisions(web_server, search_id)
    assert decisions[0] == "possible_match" and set(decisions[1:]) == {"not_a_match"}
    check_page(session)


EYES = """() => [...document.querySelectorAll('dialog.compare canvas:not([hidden])')].map((c) => ({
  side: c.dataset.side, eyes: JSON.parse(c.dataset.eyes || '[]'), zoom: Number(c.dataset.zoom),
  scale: Number(c.dataset.scale), face: c.dataset.faceId, aligned: c.dataset.aligned,
  drawn: (() => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0;
                  for (let i = 0; i < d.length; i += 16) if (d[i] + d[i + 1] + d[i + 2] > 120) n++;
                  return n; })() }))"""


def _sides(page: Any) -> list[dict[str, Any]]:
    sides: list[dict[str, Any]] = page.evaluate(EYES)
    assert len(sides) == 2, sides
    return sides


def _eye_gap(side: dict[str, Any]) -> float:
    (x0, y0), (x1, y1) = side["eyes"]
    return float(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5)


def test_side_by_side_comparison_and_viewer_zoom(session_for: Any, web_server: WebServer) -> None:
    search_id = _search_group_photo(web_server, k=4)
    session = session_for("ivy")
    page = session.page
    page.set_viewport_size(LAPTOP)
    session.go(f"#/searches/{search_id}?at=0")
    page.locator("#pair-probe-face").wait_for()
    page.locator("body").press("c")
    dialog = page.locator("dialog.compare")
    dialog.wait_for()
    _until(page, "Boolean(document.querySelector('#compare-right')?.dataset.faceId)")
    probe, cand = _sides(page)
    assert (probe["side"], cand["side"]) == ("probe", "candidate")
    assert probe["aligned"] == cand["aligned"] == "true"
    assert probe["drawn"] > 1000 and cand["drawn"] > 1000  # both faces drawn
    for (px, py), (cx, cy) in zip(probe["eyes"], cand["eyes"], strict=True):
        assert abs(px - cx) <= 2 and abs(py - cy) <= 2, (probe["eyes"], cand["eyes"])
    assert abs(probe["eyes"][0][1] - probe["eyes"][1][1]) <= 1  # on one horizontal line
    first_face = cand["face"]
    check_page(session)

    dialog.get_by_role("button", name="+ Zoom in").click()
    zoomed = _sides(page)
    assert zoomed[0]["zoom"] == zoomed[1]["zoom"] == 1.25
    assert _eye_gap(zoomed[0]) == pytest.approx(1.25 * _eye_gap(probe), rel=0.02)
    assert _eye_gap(zoomed[1]) == pytest.approx(1.25 * _eye_gap(cand), rel=0.02)
    page.keyboard.press("Shift+ArrowRight")  # linked pan
    panned = _sides(page)
    assert panned[0]["eyes"][0][0] == pytest.approx(zoomed[0]["eyes"][0][0] + 20, abs=0.2)
    assert panned[1]["eyes"][0][0] == pytest.approx(zoomed[1]["eyes"][0][0] + 20, abs=0.2)

    # the candidate from its full image: still aligned, blurred outside the face until revealed
    page.keyboard.press("f")
    full = page.locator("#compare-right[data-source='image']")
    full.wait_for()
    assert full.get_attribute("data-state") == "blurred"
    probe_side, full_side = _sides(page)
    for (px, py), (cx, cy) in zip(probe_side["eyes"], full_side["eyes"], strict=True):
        assert abs(px - cx) <= 2 and abs(py - cy) <= 2, (probe_side["eyes"], full_side["eyes"])
    reveals = len([e for e in web_server.audit_actions() if e["action"] == "face.reveal"])
    dialog.get_by_role("button", name="Reveal the candidate's image (logged)").click()
    page.locator("#compare-right[data-state='revealed']").wait_for()
    assert len([e for e in web_server.audit_actions() if e["action"] == "face.reveal"]) > reveals
    page.keyboard.press("f")
    page.locator("#compare-right[data-source='crop']").wait_for()

    page.keyboard.press("w")  # swap
    swapped = _sides(page)
    assert (swapped[0]["side"], swapped[1]["side"]) == ("candidate", "probe")
    assert swapped[0]["face"] == first_face

    dialog.get_by_role("button", name="Next →").click()
    page.locator(
        f"dialog.compare canvas[data-side=candidate]:not([data-face-id='{first_face}'])"
    ).wait_for()
    assert dialog.get_attribute("data-at") == "1"
    assert "candidate 2 of" in dialog.locator("#compare-title").inner_text()
    page.keyboard.press("3")  # the review keys work in the comparison
    page.locator("#flash").get_by_text("Candidate 2: insufficient quality").wait_for()
    assert _decisions(web_server, search_id)[1] == "insufficient_quality"
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")

    # the full-image viewer zooms and pans
    page.locator("body").press("v")
    viewer = page.locator("dialog.viewer")
    page.locator("#full-image[data-state='blurred']").wait_for()
    viewer.get_by_role("button", name="+ Zoom in").click()
    page.locator("#full-image[data-zoom='1.25']").wait_for()
    page.locator("#full-image").focus()
    page.keyboard.press("+")
    page.locator("#full-image[data-zoom='1.563']").wait_for()
    viewer.get_by_role("button", name="Fit (0)").click()
    page.locator("#full-image[data-zoom='1']").wait_for()
    page.keyboard.press("Escape")
    viewer.wait_for(state="detached")
    assert session.errors == [], session.errors
    assert json.dumps(session.errors) == "[]"


def test_the_wellbeing_setting_applies_to_crops_probe_comparison_and_viewer(
    session_for: Any, web_server: WebServer
) -> None:
    """A user whose setting is greyscale without the blur (GET /auth/me answers it: here
    added to the answer in the browser, the setting itself is the users page's)."""
    search_id = _search_group_photo(web_server, k=2)
    session = session_for("ivy")
    page = session.page

    def with_setting(route: Any) -> None:
        answer = route.fetch()
        me = answer.json()
        me["wellbeing"] = {"greyscale": True, "blur_outside_face": False}
        route.fulfill(response=answer, json=me)

    page.route("**/api/v1/auth/me", with_setting)
    session.go(f"#/searches/{search_id}?at=0")
    page.reload()  # the app reads /auth/me again
    page.locator("#pair-probe-face.wb-grey").wait_for()
    grey = "getComputedStyle(document.querySelector('{}')).filter"
    for selector in ("#pair-probe-face", "#candidates li img", "#probe-panel img"):
        assert page.evaluate(grey.format(selector)) == "grayscale(1)", selector
    page.get_by_role("button", name="Show pictures in colour").click()
    assert page.evaluate(grey.format("#pair-probe-face")) == "none"
    page.get_by_role("button", name="Show pictures greyscale").click()

    page.locator("body").press("c")  # the comparison: greyscale until shown in colour
    page.locator("#compare-colour").wait_for()
    _until(page, "Boolean(document.querySelector('#compare-right')?.dataset.faceId)")
    saturation = """() => { const c = document.querySelector('#compare-right');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let s = 0;
      for (let i = 0; i < d.length; i += 4)
        s += Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]);
      return s / (d.length / 4); }"""
    assert page.evaluate(saturation) < 1.0
    page.locator("#compare-colour").click()
    assert page.evaluate(saturation) > 3.0
    page.keyboard.press("Escape")

    page.locator("body").press("v")  # the viewer: not blurred, greyscale until the reveal
    page.locator("#full-image[data-state='greyscale']").wait_for()
    page.get_by_role("button", name="Reveal the whole image (logged)").click()
    page.locator("#full-image[data-state='revealed']").wait_for()
    assert session.errors == [], session.errors


def test_every_probe_of_a_multi_probe_search_is_shown_numbered(
    session_for: Any, web_server: WebServer
) -> None:
    with _client(web_server) as ivy:
        photos = [web_server.photos / "astronaut.jpg", web_server.photos / "astronaut-small.jpg"]
        r = ivy.post(
            f"/api/v1/cases/{CASE}/searches",
            files=[("probe", (p.name, p.read_bytes(), "image/jpeg")) for p in photos],
            data={"k": "2"},
        )
        assert r.status_code == 201, r.text
        search_id = int(r.json()["search_id"])
    session = session_for("sam")  # a supervisor reads it too
    page = session.page
    page.set_viewport_size(LAPTOP)
    session.go(f"#/searches/{search_id}?at=0")
    panel = page.locator("#probe-panel")
    panel.get_by_role("heading", name="Probe 2: astronaut-small.jpg").wait_for()
    assert panel.locator("li.probe").count() == 2
    assert "Probe 1: astronaut.jpg" in panel.inner_text()
    assert "The only face found in the photo." in panel.inner_text()
    _until(page, "document.querySelector('#pair-probe-face').naturalWidth > 0")
    best = page.locator("#pair-probe-face").get_attribute("alt") or ""
    assert best.startswith("Searched face of probe ")
    check_page(session)
