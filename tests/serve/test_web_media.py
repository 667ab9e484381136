"""Browser tests of a case's Media page (tests/support/web.py's session server).

The page of WEB-1 (issue 12): media sets, eliminated files by category, cross-case alerts,
persons as cards that open to their faces drawn as the user's wellbeing setting asks, a logged
reveal, a search with a person; nothing for an investigator of another case; the review of the
persons (name, a refused move, split, merge, hide, show). Issue 23: the page stays compact (a
case of eight persons well under 2,000 px at 1366x900), and media are uploaded from the browser
into a new media set, imported and clustered in the background with the progress shown.
Uploads go into cases of their own (WEB-M*), so WEB-1's counts stay as other tests expect.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.web import (
    CASE,
    KNOWN_CATEGORY,
    OTHER_CASE,
    OTHER_INVESTIGATOR,
    WebServer,
    check_page,
)

from facesearch.app.service import Service
from facesearch.settings import Settings

pytestmark = pytest.mark.slow

PICTURES_SHOWN = """() => {
  const imgs = [...document.querySelectorAll('.media-face img, img.best-face')];
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


def open_persons(page: Any) -> None:
    """Open every person's card (its faces and review controls)."""
    closed = page.locator('button.person-toggle[aria-expanded="false"]')
    while closed.count():
        closed.first.click()


def open_section(page: Any, section: str) -> None:
    details = page.locator(f"details#{section}")
    if details.get_attribute("open") is None:
        details.locator("summary").click()


def _case(server: WebServer, number: str) -> str:
    """An open case of ivy's (approved by sam), made through the library."""
    from facesearch.app.service import Service
    from facesearch.settings import Settings

    with Service.for_cli(Settings.load(data_dir=server.data_dir)) as service:
        gov = service.governance
        gov.open_case("ivy", number, "cse-victim-id", "Warrant 12/2026", "seized phone")
        gov.approve_case("sam", number, "victim identification")
    return number


def _zip(paths: list[Path]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for p in paths:
            z.write(p, f"DCIM/{p.name}")
    return out.getvalue()


@pytest.fixture
def ivy_greyscale(web_server: WebServer) -> Iterator[None]:
    """ivy's own wellbeing setting: greyscale, blurred outside the face (stored as the My
    account page stores it), back to the defaults afterwards."""

    def set_to(greyscale: bool, blur: bool) -> None:
        with Service.for_cli(Settings.load(data_dir=web_server.data_dir)) as service:
            ivy = service.accounts.principal("ivy", "cli")
            service.accounts.set_wellbeing(ivy, greyscale, blur)

    set_to(True, True)
    yield
    set_to(False, True)


def test_media_view_blurred_reveal_logged_and_other_case_refused(
    session_for: Any, web_server: WebServer, ivy_greyscale: None
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
    open_section(page, "eliminated")
    by_category = page.get_by_role("table", name="Eliminated files by category")
    assert re.search(rf"{KNOWN_CATEGORY}\s+1", by_category.inner_text())
    assert "md5" in page.get_by_role("table", name="Eliminated files by kind of match").inner_text()

    # the cross-case alert: the other case's number and supervisor, nothing of its material
    alerts = page.get_by_role("table", name="Cross-case alerts").inner_text()
    assert OTHER_CASE in alerts and "Sam Supervisor (sam)" in alerts
    assert "frame.jpg" not in page.locator("main").inner_text()

    # every face of every person once opened, greyscale as this user's setting asks
    assert page.locator(".media-face").count() == 0  # persons are closed cards at first
    open_persons(page)
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

    # the case's supervisor: the same persons, blurred, but no search (investigators search)
    sam = session_for("sam")
    sup = sam.go(f"#/cases/{CASE}/media")
    open_persons(sup)
    sup.wait_for_function(PICTURES_SHOWN)
    assert sup.locator('.media-face img[data-state="blurred"]').count() == len(faces)
    assert sup.get_by_role("button", name=re.compile("^Search the gallery")).count() == 0
    assert sup.locator("#media-upload-form").count() == 0  # investigators upload
    assert sam.errors == [], sam.errors

    # an investigator of another case: no media page, no picture, no file name
    iris = session_for(OTHER_INVESTIGATOR)
    other = iris.go(f"#/cases/{CASE}/media")
    assert other.get_by_role("alert").count() == 1
    assert "IMG_000" not in other.locator("main").inner_text()
    for path in ("", "/clusters", "/jobs", f"/faces/{astronaut['face_id']}/picture"):
        r = other.request.get(f"{api}{path}")
        assert r.status in (403, 404) and "IMG_000" not in r.text(), path
    csrf = next(c["value"] for c in iris.context.cookies() if c["name"] == "facesearch_csrf")
    r = other.request.post(
        f"{api}/faces/{astronaut['face_id']}/reveal", headers={"X-CSRF-Token": csrf}
    )
    assert r.status in (403, 404)
    assert other.locator(".media-face").count() == 0


def _person_of(clusters: list[dict[str, Any]], face: int) -> dict[str, Any]:
    return next(c for c in clusters if face in {f["face_id"] for f in c["faces"]})


def test_media_persons_reviewed_in_the_browser(session_for: Any, web_server: WebServer) -> None:
    """The review of the persons found, with the Media page's own controls: a person named, a
    move the server refuses (one photo's two faces), a face split off and merged back, a person
    hidden and shown again. Each is a decision the server records and audits, and all of it is
    still there after a reload."""
    ivy = session_for("ivy")
    page = ivy.go(f"#/cases/{CASE}/media")
    api = f"{web_server.url}/api/v1/cases/{CASE}/media"
    clusters = page.request.get(f"{api}/clusters").json()
    sizes = [len(c["faces"]) for c in clusters]
    assert sizes == sorted(sizes, reverse=True)  # largest first
    faces = {f["file"].rsplit("/", 1)[-1]: f["face_id"] for c in clusters for f in c["faces"]}
    small = faces["IMG_0002.jpg"]  # the astronaut alone
    astronaut = _person_of(clusters, small)
    pair = [
        f["face_id"] for c in clusters for f in c["faces"] if f["file"].endswith("IMG_0001.jpg")
    ]
    (hopper_face,) = [f for f in pair if f not in {x["face_id"] for x in astronaut["faces"]}]
    assert len(astronaut["faces"]) == 2, "the astronaut's two photos are one person"
    hopper = _person_of(clusters, hopper_face)["cluster"]
    person = astronaut["cluster"]
    open_persons(page)
    page.wait_for_function(PICTURES_SHOWN)
    check_page(ivy)
    actions_before = len(web_server.audit_actions())

    def card(cluster: int) -> Any:
        return page.locator(f'article.person[data-cluster="{cluster}"]')

    def flash(text: str) -> str:
        box = page.locator("#flash p", has_text=text)
        box.wait_for()
        return str(box.inner_text())

    # a name, with a note kept with the decision
    page.get_by_label("Note kept with each decision (optional)").fill("seen in two photos")
    card(hopper).get_by_label(f"Name of person {hopper}").fill("Adult 1")
    card(hopper).get_by_role("button", name="Save name").click()
    card(hopper).locator("h3", has_text="Adult 1").wait_for()
    flash(f"Person {hopper} named “Adult 1”.")
    open_section(page, "review-decisions")
    row = page.get_by_role("table", name="Review decisions").locator("tbody tr").first
    assert "named “Adult 1”" in row.inner_text() and "seen in two photos" in row.inner_text()
    page.wait_for_function(PICTURES_SHOWN)  # the persons opened stay open
    check_page(ivy)
    ivy.screenshot("media-review")

    # a move the server refuses: the photo of Grace Hopper's face is already in the astronaut
    card(hopper).get_by_label(f"Tick face {hopper_face} (move or split)").check()
    card(person).get_by_role("button", name=f"Move the ticked faces to person {person}").click()
    assert "already holds a face of the photo" in flash("already holds a face of the photo")
    assert page.locator("#flash p.error").count() == 1

    # a face split off into a new person, then merged back
    card(person).get_by_label(f"Tick face {small} (move or split)").check()
    card(person).get_by_role("button", name=f"Split the ticked faces off person {person}").click()
    flash(f"split off person {person} into person")
    after_split = page.request.get(f"{api}/clusters").json()
    new = _person_of(after_split, small)
    assert new["cluster"] != person and [f["face_id"] for f in new["faces"]] == [small]
    card(new["cluster"]).wait_for()
    card(person).get_by_label(f"Merge into person {person} (the same person)").select_option(
        str(new["cluster"])
    )
    card(person).get_by_role("button", name="Merge", exact=True).click()
    flash(f"Person {new['cluster']} merged into person {person}.")
    merged = _person_of(page.request.get(f"{api}/clusters").json(), small)
    assert merged["cluster"] == person and len(merged["faces"]) == 2

    # hidden: off the list of persons, listed without pictures; still so after a reload
    card(hopper).get_by_role("button", name=f"Hide Adult 1 (person {hopper})").click()
    flash(f"Person {hopper} hidden.")
    card(hopper).wait_for(state="detached")  # the page shown again as the server has it
    page.locator("#hidden-persons").wait_for()
    page.reload()
    page.locator(f'main[data-route="/cases/{CASE}/media"]').wait_for()
    hidden = page.locator("#hidden-persons")
    assert f"Adult 1 (person {hopper}), 1 face" in hidden.inner_text()
    assert hidden.locator("img").count() == 0
    hidden.get_by_role("button", name=f"Show person {hopper} again").click()
    flash(f"Person {hopper} shown again.")
    card(hopper).locator("h3", has_text="Adult 1").wait_for()
    assert page.locator("#hidden-persons").count() == 0
    assert ivy.errors == [], ivy.errors

    # persisted and audited: the decisions in order, one audit entry each, the refusal too
    decisions = page.request.get(f"{api}/decisions").json()
    mine = [(d["action"], d["cluster"]) for d in decisions[-5:]]
    assert mine == [
        ("name", hopper),
        ("split", person),
        ("merge", person),
        ("hide", hopper),
        ("show", hopper),
    ]
    assert decisions[-5]["name"] == "Adult 1" and decisions[-5]["note"] == "seen in two photos"
    assert all(d["actor"] == "ivy" for d in decisions[-5:])
    audited = [
        (a["action"], a["details"].get("decision_id"))
        for a in web_server.audit_actions()[actions_before:]
        if a["action"].startswith("media.person.")
    ]
    assert audited == [
        ("media.person.name", decisions[-5]["decision_id"]),
        ("media.person.move.refused", None),
        ("media.person.split", decisions[-4]["decision_id"]),
        ("media.person.merge", decisions[-3]["decision_id"]),
        ("media.person.hide", decisions[-2]["decision_id"]),
        ("media.person.show", decisions[-1]["decision_id"]),
    ]
    clusters_now = {c["cluster"]: c for c in page.request.get(f"{api}/clusters").json()}
    assert clusters_now[hopper]["name"] == "Adult 1" and clusters_now[hopper]["reviewed"]


def test_upload_a_zip_in_the_browser_then_its_persons(
    session_for: Any, web_server: WebServer
) -> None:
    """An investigator uploads a zip of two photos into a new media set with its source note;
    the job's progress is shown, and when it ends the page shows the set and its persons."""
    number = _case(web_server, "WEB-M1")
    archive = web_server.data_dir.parent / "two-photos.zip"
    archive.write_bytes(
        _zip([web_server.photos / "astronaut.jpg", web_server.photos / "hopper.jpg"])
    )
    ivy = session_for("ivy")
    page = ivy.go(f"#/cases/{number}/media")
    assert page.locator("article.person").count() == 0
    open_section(page, "media-upload")
    chooser = page.get_by_label("Photos, videos, or a zip or tar archive of them")
    page.get_by_label("Label of the new media set").fill("phone-upload")
    page.get_by_label("Source and legal basis").fill("Seized phone, warrant 12/2026, exhibit 3")
    # a file that is no photo, video or archive: refused with a clear message, nothing queued
    notes = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo"}
    chooser.set_input_files(notes)
    page.get_by_role("button", name="Upload", exact=True).click()
    page.locator("#flash p.error", has_text="notes.txt is not a photo, a video").wait_for()
    assert page.locator("#media-jobs tr[data-job]").count() == 0
    chooser.set_input_files(str(archive))
    check_page(ivy)
    page.get_by_role("button", name="Upload", exact=True).click()
    # the job is listed with its progress, then the page is shown again with the new set
    page.locator("#media-jobs tr[data-job]").first.wait_for()
    page.locator("#flash p", has_text="Media set “phone-upload” imported").wait_for(timeout=90_000)
    sets = page.get_by_role("table", name="Media sets").inner_text()
    assert "phone-upload" in sets and "2 with faces" in sets
    assert "warrant 12/2026, exhibit 3" in sets
    assert page.locator('#media-jobs tr[data-status="completed"]').count() == 1
    cards = page.locator("article.person")
    assert cards.count() == 2  # the astronaut and Grace Hopper
    open_persons(page)
    page.wait_for_function(PICTURES_SHOWN)
    assert page.locator(".media-face").count() == 2
    assert "two-photos.zip!DCIM/astronaut.jpg" in page.locator("#persons").inner_text()
    check_page(ivy)
    uploads = [a for a in web_server.audit_actions() if a["action"] == "media.upload"]
    assert uploads[-1]["actor"] == "ivy" and uploads[-1]["details"]["case"] == number
    assert uploads[-1]["details"]["note"] == "Seized phone, warrant 12/2026, exhibit 3"


def test_media_page_of_eight_persons_is_compact(session_for: Any, web_server: WebServer) -> None:
    """Eight persons (uploaded over the API) fit a page well under 2,000 px at 1366x900; a
    person opens in place to its faces and review, and closes again."""
    number = _case(web_server, "WEB-M8")
    photos = [web_server.photos / f"person-{i:02d}.jpg" for i in range(1, 9)]
    ivy = session_for("ivy")
    page = ivy.page
    page.set_viewport_size({"width": 1366, "height": 900})
    ivy.go(f"#/cases/{number}/media")
    csrf = next(c["value"] for c in ivy.context.cookies() if c["name"] == "facesearch_csrf")
    api = f"{web_server.url}/api/v1/cases/{number}/media"
    zipped = {"name": "eight.zip", "mimeType": "application/zip", "buffer": _zip(photos)}
    form = {"files": zipped, "label": "album", "note": "Seized album, warrant 12/2026"}
    r = page.request.post(f"{api}/upload", multipart=form, headers={"X-CSRF-Token": csrf})
    assert r.status == 202, r.text()
    deadline = time.monotonic() + 90
    while page.request.get(f"{api}/jobs").json()[0]["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the upload job did not end"
        time.sleep(0.3)
    page.reload()
    page.locator(f'main[data-route="/cases/{number}/media"]').wait_for()
    clusters = page.request.get(f"{api}/clusters").json()
    assert len(clusters) == 8, [len(c["faces"]) for c in clusters]
    assert page.locator("article.person").count() == 8, page.locator("main").inner_text()
    page.wait_for_function(PICTURES_SHOWN)
    height = page.evaluate("document.body.scrollHeight")
    assert height < 1600, height
    check_page(ivy)

    # a person opens in place (faces, review) and closes again
    first = page.locator("article.person").first
    first.locator("button.person-toggle").click()
    first.locator(".media-face").first.wait_for()
    assert first.get_by_role("button", name="Save name").is_visible()
    assert first.locator("button.more-faces").is_hidden()  # its one face is shown
    page.wait_for_function(PICTURES_SHOWN)
    check_page(ivy)
    first.locator("button.person-toggle").click()
    assert not first.locator(".media-face").first.is_visible()
    assert page.evaluate("document.body.scrollHeight") == height
    assert ivy.errors == [], ivy.errors
