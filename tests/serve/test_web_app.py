"""Browser tests of the web app: Debian's Chromium driven by Playwright against a real server
(the API, the real models, SQLite), one session-scoped server for the module.

Flows: sign in as each role; open a case and approve it as another user; search by uploading a
probe (dropped and chosen), pick a face of a two-face probe, review candidates by keyboard
(with undo and the position kept on reload), export the report; the wellbeing blur of full
images and its logged reveal; a case's media view (media sets, eliminated files by category,
cross-case alerts, persons with their faces greyscale and blurred, a logged reveal, a search with
a person; nothing for an investigator of another case); administrators' and auditors' pages. Each main page is saved to
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
    KNOWN_CATEGORY,
    OTHER_CASE,
    OTHER_INVESTIGATOR,
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
        assert nav.get_by_role("link", name=link, exact=True).count() == (1 if present else 0), link
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
    page.locator("body").press("u")  # undo a decision: back to 3 and told how it is kept
    progress.filter(has_text=f"Candidate 3 of {n}").wait_for()
    assert "choose a new decision" in page.locator("#flash").inner_text()
    page.locator("body").press("ArrowRight")
    progress.filter(has_text=f"Candidate 4 of {n}").wait_for()

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


# --- the media view of a case (issue 12): persons blurred, a logged reveal, other case refused
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

    # the case's supervisor: the same persons, blurred, but no search (investigators search)
    sam = session_for("sam")
    sup = sam.go(f"#/cases/{CASE}/media")
    sup.wait_for_function(PICTURES_SHOWN)
    assert sup.locator('.media-face img[data-state="blurred"]').count() == len(faces)
    assert sup.get_by_role("button", name=re.compile("^Search the gallery")).count() == 0
    assert sam.errors == [], sam.errors

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
    row = page.get_by_role("table", name="Review decisions").locator("tbody tr").first
    assert "named “Adult 1”" in row.inner_text() and "seen in two photos" in row.inner_text()
    page.wait_for_function(PICTURES_SHOWN)
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
