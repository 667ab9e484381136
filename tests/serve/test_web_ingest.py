"""Browser tests of the ingest page and the gallery browser (issue 23, finding 11 and the
administrators' daily use): the allowed folders beside the folder field; a job's "starting"
state, its rate and estimated end, and a finished job's results grouped; ingest by upload at
390 px; collections → a collection's browser → the flagged filter with the reasons in words →
a face and an image deleted after a confirmation (gone from the page and the gallery)."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tests.support.web import WebServer, check_page

pytestmark = pytest.mark.slow

COLLECTION = "upload-web"
# the elements that reach past the right edge of the window (none: no sideways scrolling)
WIDER = """() => [...document.querySelectorAll('body *')]
  .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .map((el) => `${el.tagName}.${el.className} ${Math.round(el.getBoundingClientRect().right)}`)"""


def _jpeg(rgb: np.ndarray, fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format=fmt)
    return out.getvalue()


def _zip(path: Path, astronaut: np.ndarray, other: np.ndarray) -> Path:
    """Three photos: a face too small to search (flagged), a face, no face."""
    tiny = np.asarray(Image.fromarray(astronaut).resize((96, 96), Image.Resampling.BOX))
    face = np.asarray(Image.fromarray(other).resize((200, 200)))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("photos/tiny.png", _jpeg(tiny, "PNG"))
        z.writestr("photos/visitor.jpg", _jpeg(face))
        z.writestr("photos/blank.jpg", _jpeg(np.full((120, 160, 3), 200, np.uint8)))
    return path


def _job_table(server: WebServer) -> tuple[Any, Any]:
    from sqlalchemy.orm import sessionmaker

    from facesearch.store.database import make_engine
    from facesearch.store.jobs import JobTable

    engine = make_engine(f"sqlite:///{(server.data_dir / 'catalog.db').resolve()}")
    return engine, JobTable(sessionmaker(engine, expire_on_commit=False))


def test_a_job_shows_starting_then_rate_and_end_then_grouped_results(
    session_for: Any, web_server: WebServer
) -> None:
    """A job of another server process (a row of the catalog) is followed as it moves:
    counting its files, reading with its rate and estimated end, and its results grouped."""
    from facesearch.store.jobs import Owner

    engine, table = _job_table(web_server)
    try:
        job = table.add(Owner("other.example", 1, "1"), ["/srv/x"], "elsewhere", "admin", [])
        job_id = job["id"]
        started = datetime.now(UTC) - timedelta(seconds=30)
        table.write(job_id, status="running", started_at=started)
        session = session_for("admin")
        session.page.set_viewport_size({"width": 1280, "height": 720})
        page = session.go("#/admin/ingest")
        row = page.locator(f"#jobs tr[data-job='{job_id}']")
        row.locator(".phase").get_by_text("starting: counting the files to read").wait_for()
        assert "counting files…" in row.inner_text()
        assert row.locator("progress").get_attribute("value") is None  # indeterminate

        table.write(job_id, files_total=180, files_done=60, faces=50)
        row.get_by_text("60 / 180 files, 50 faces").wait_for()
        assert "reading photos and storing their faces" in row.inner_text()
        rate = row.locator(".rate").inner_text()
        assert "files/s" in rate and "ends about" in rate and "UTC" in rate
        assert row.locator("progress").get_attribute("value") == "60"
        check_page(session)

        counts = {"files_read": 180, "images_new": 150, "images_already_stored": 20}
        counts |= {"duplicates": 5, "images_without_face": 4, "faces_indexed": 170}
        counts |= {"faces_flagged": 3, "failures": 1, "original_bytes": 3 * 1024 * 1024}
        table.write(
            job_id,
            status="completed",
            files_done=180,
            counts=counts,
            finished_at=datetime.now(UTC),
        )
        page.locator(f"#jobs tr[data-job='{job_id}'][data-status='completed']").wait_for()
        results = row.locator("dl.job-counts")
        assert results.locator("dt").all_inner_texts()[:4] == [
            "Files",
            "Images",
            "Faces",
            "Originals",
        ]
        assert results.locator("[data-count='images_new']").inner_text() == "stored 150"
        assert results.locator("[data-count='duplicates']").inner_text() == "duplicates 5"
        assert results.locator("[data-count='images_without_face']").inner_text() == "no face 4"
        assert results.locator("[data-count='failures']").inner_text() == "failed 1"
        assert results.locator("[data-count='original_bytes']").inner_text() == "bytes 3.0 MB"
        started_cell = row.locator("td[data-label='Started']").inner_text()
        assert re.search(r"ended \d{4}-\d\d-\d\d \d\d:\d\d UTC", started_cell), started_cell
        check_page(session)
    finally:
        table.write(job_id, status="completed")
        engine.dispose()


def test_ingest_by_upload_at_390px_then_browse_flagged_and_delete(
    session_for: Any,
    web_server: WebServer,
    tmp_path: Path,
    astronaut: np.ndarray,
    other_faces: list[np.ndarray],
) -> None:
    archive = _zip(tmp_path / "visit.zip", astronaut, other_faces[22])
    session = session_for("admin")
    page = session.page
    page.set_viewport_size({"width": 390, "height": 844})
    session.go("#/admin/ingest")
    roots = page.locator("#ingest-roots")
    assert str(web_server.ingest_root.resolve()) in roots.inner_text()
    page.get_by_label("Archive (zip or tar)").set_input_files(str(archive))
    page.locator("#ingest-upload").get_by_label("Collection").fill(COLLECTION)
    page.get_by_role("button", name="Upload and ingest").click()
    row = page.locator("#jobs tr[data-job]").filter(has_text="visit.zip").first
    row.wait_for()
    done = page.locator("#jobs tr[data-status='completed']").filter(has_text="visit.zip")
    done.wait_for(timeout=120_000)
    results = done.locator("dl.job-counts")
    assert results.locator("[data-count='images_new']").inner_text() == "stored 3"
    assert results.locator("[data-count='images_without_face']").inner_text() == "no face 1"
    assert results.locator("[data-count='faces_flagged']").inner_text() == "flagged 1"
    wider = page.evaluate(WIDER)
    assert wider == [], "; ".join(wider)
    check_page(session)
    page.set_viewport_size({"width": 1280, "height": 720})
    assert page.evaluate(WIDER) == []
    check_page(session)

    session.go("#/admin/collections")
    line = page.locator(f"tr[data-collection='{COLLECTION}']")
    assert [t.strip() for t in line.locator("td").all_inner_texts()[1:]] == ["3", "2", "1"]
    line.get_by_role("link", name=f"Browse collection {COLLECTION}").click()
    page.locator(f'main[data-route="/admin/collections/{COLLECTION}"]').wait_for()
    assert page.locator(".pager-count").first.inner_text() == "images 1–3 of 3"
    assert page.locator(".browse-face img").count() == 2  # the crops, from /faces/{id}/crop
    check_page(session)

    page.get_by_label("Flagged faces only").check()
    page.get_by_text("images with flagged faces 1–1 of 1").first.wait_for()
    (face,) = page.locator(".browse-face").all()
    reason = face.locator("[data-flag='too_small']").inner_text()
    assert reason.startswith("too small: the face box is under the minimum size")
    assert page.evaluate("() => document.querySelector('.browse-face img').naturalWidth") > 0
    check_page(session)

    # deleting asks for a reason, then for a confirmation that can be declined
    page.get_by_role("button", name="Delete face 1 of tiny.png").click()
    assert "Give the reason" in page.locator("#flash").inner_text()
    page.get_by_label("Reason for deletions").fill("test photo, not evidence")
    page.get_by_role("button", name="Delete face 1 of tiny.png").click()
    dialog = page.get_by_role("dialog")
    assert "cannot be undone" in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert page.locator(".browse-face").count() == 1
    page.get_by_role("button", name="Delete face 1 of tiny.png").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete face 1 of tiny.png").click()
    page.locator("#flash").get_by_text("Deleted face 1 of tiny.png").wait_for()
    page.get_by_text("No images with flagged faces.").first.wait_for()

    page.get_by_label("Flagged faces only").uncheck()
    page.get_by_text("images 1–2 of 2").first.wait_for()
    page.get_by_role("button", name="Delete image visitor.jpg").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete image visitor.jpg").click()
    page.get_by_text("images 1–1 of 1").first.wait_for()
    page.get_by_role("button", name="Delete image blank.jpg").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete image blank.jpg").click()
    page.get_by_text("No images.").first.wait_for()
    check_page(session)

    logged = [e for e in web_server.audit_actions() if e["action"].endswith(".delete")]
    assert [e["action"] for e in logged[-3:]] == ["faces.delete", "images.delete", "images.delete"]
    assert {e["details"]["reason"] for e in logged[-3:]} == {"test photo, not evidence"}
