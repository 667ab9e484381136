"""Browser test of the web app's media view of a case (Debian's Chromium driven by Playwright
against the real server of test_web_support): the media set with its counts, the file the
known-image hash set eliminated with its category, the cross-case alert (the other case's
number and supervisor only), the persons found with every face's picture greyscale and blurred
outside the face box, a reveal recorded in the audit log, a search of the gallery with a
person, and an investigator of another case shown nothing of the case's media."""

from __future__ import annotations

import re
from typing import Any

import pytest

from test_web_app import check_page
from test_web_support import (
    CASE,
    KNOWN_CATEGORY,
    OTHER_CASE,
    OTHER_INVESTIGATOR,
    WebServer,
    browser,
    session_for,
    web_server,
)

__all__ = ["browser", "session_for", "web_server"]  # fixtures used by the test below

pytestmark = pytest.mark.slow

PICTURES_SHOWN = """() => { const imgs = [...document.querySelectorAll('.media-face img')];
  return imgs.length > 0 && imgs.every((i) => i.dataset.state !== 'loading' && i.complete); }"""

# The largest difference between the colour channels of a face tile's picture, as shown.
COLOUR_SPREAD = """(face) => {
  const img = document.querySelector(`.media-face[data-face="${face}"] img`);
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let spread = 0;
  for (let i = 0; i < d.length; i += 4)
    spread = Math.max(spread, Math.abs(d[i] - d[i + 1]), Math.abs(d[i + 1] - d[i + 2]));
  return spread; }"""


def test_media_view_blurred_reveal_logged_and_other_case_refused(
    session_for: Any, web_server: WebServer
) -> None:
    ivy = session_for("ivy")
    page = ivy.go(f"#/cases/{CASE}")
    page.get_by_role("link", name="Media", exact=True).click()
    page.locator(f'main[data-route="/cases/{CASE}/media"]').wait_for()
    assert page.locator("main h1").inner_text().startswith(f"Media of case {CASE}")
    api = f"{web_server.url}/api/v1/cases/{CASE}/media"
    clusters = page.request.get(f"{api}/clusters").json()
    faces = [f for c in clusters for f in c["faces"]]
    assert faces and len(faces) <= web_server.media_faces

    # the media set and what was eliminated, by category
    sets = page.get_by_role("table", name="Media sets")
    assert "phone-1" in sets.inner_text() and "1 eliminated (known)" in sets.inner_text()
    by_category = page.get_by_role("table", name="Eliminated files by category")
    assert re.search(rf"{KNOWN_CATEGORY}\s+1", by_category.inner_text())
    assert "md5" in page.get_by_role("table", name="Eliminated files by kind of match").inner_text()

    # the cross-case alert: the other case's number and supervisor, nothing of its material
    alerts = page.get_by_role("table", name="Cross-case alerts").inner_text()
    assert OTHER_CASE in alerts and "Sam Supervisor (sam)" in alerts
    assert "frame.jpg" not in page.locator("main").inner_text()

    # every face of every person, greyscale (the server's wellbeing picture) by default
    page.wait_for_function(PICTURES_SHOWN)
    tiles = page.locator(".media-face")
    assert tiles.count() == len(faces)
    for f in faces:
        tile = page.locator(f'.media-face[data-face="{f["face_id"]}"]')
        assert tile.locator("img").get_attribute("data-state") == "blurred"
        assert f["file"] in tile.inner_text()
        assert page.evaluate(COLOUR_SPREAD, f["face_id"]) <= 2  # JPEG rounding only
    check_page(ivy)
    ivy.screenshot("media")

    # a reveal: logged before the picture in colour is shown
    astronaut = next(f for f in faces if f["file"].endswith("IMG_0002.jpg"))
    reveals_before = [a for a in web_server.audit_actions() if a["action"] == "media.face.reveal"]
    page.get_by_role("button", name=f"Reveal face {astronaut['face_id']} (logged)").click()
    tile = page.locator(f'.media-face[data-face="{astronaut["face_id"]}"]')
    tile.locator('img[data-state="revealed"]').wait_for()
    page.wait_for_function(PICTURES_SHOWN)
    assert page.evaluate(COLOUR_SPREAD, astronaut["face_id"]) > 30
    reveals = [a for a in web_server.audit_actions() if a["action"] == "media.face.reveal"]
    assert len(reveals) == len(reveals_before) + 1
    assert reveals[-1]["actor"] == "ivy" and reveals[-1]["details"]["face"] == astronaut["face_id"]
    for f in faces:  # the other pictures stay as they were
        if f != astronaut:
            assert page.evaluate(COLOUR_SPREAD, f["face_id"]) <= 2

    # a person as the query: the results page of the new search
    person = page.locator("article.person", has=tile)
    person.get_by_role("button", name=re.compile("^Search the gallery with")).click()
    page.wait_for_url(re.compile(r"#/searches/\d+$"))
    page.locator('main[data-route^="/searches/"]').wait_for()
    assert page.locator(".candidate").count() > 0
    assert ivy.errors == [], ivy.errors

    # an investigator of another case: no media page, no picture, no file name
    iris = session_for(OTHER_INVESTIGATOR)
    other = iris.go(f"#/cases/{CASE}/media")
    assert other.get_by_role("alert").count() == 1
    assert "IMG_000" not in other.locator("main").inner_text()
    for path in ("", "/clusters", f"/faces/{astronaut['face_id']}/picture"):
        r = other.request.get(f"{api}{path}")
        assert r.status in (403, 404) and "IMG_000" not in r.text(), path
    csrf = next(c["value"] for c in iris.context.cookies() if c["name"] == "facesearch_csrf")
    r = other.request.post(
        f"{api}/faces/{astronaut['face_id']}/reveal", headers={"X-CSRF-Token": csrf}
    )
    assert r.status in (403, 404)
    assert other.locator(".media-face").count() == 0
