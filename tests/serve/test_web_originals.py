"""The web viewer says plainly when a face's original is gone (issue 23, finding 1): Debian's
Chromium on the session's real server, a candidate whose kept original and photo were both
taken away; the dialog shows the server's reason, not "internal error"."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.web import CASE, WebServer

from facesearch.govern.schema import CandidateRow
from facesearch.store.blobs import FileBlobStore
from facesearch.store.schema import FaceRow, Image

pytestmark = pytest.mark.slow


def _first_candidate_files(server: WebServer, search_id: int) -> tuple[Path, Path]:
    """Where the first candidate's kept original (blob file) and its photo lie: read from the
    catalog as it is (no service opened beside the server, nothing written)."""
    engine = sa.create_engine(f"sqlite:///{server.data_dir / 'catalog.db'}")
    try:
        with engine.connect() as conn:
            face_id = conn.scalar(
                sa.select(CandidateRow.face_id).where(
                    CandidateRow.search_id == search_id, CandidateRow.rank == 1
                )
            )
            key, path = conn.execute(
                sa.select(Image.original, Image.path)
                .join(FaceRow, FaceRow.image_id == Image.id)
                .where(FaceRow.id == face_id)
            ).one()
    finally:
        engine.dispose()
    assert key is not None, "the original was kept at ingest"
    return FileBlobStore(server.data_dir / "blobs").path(key), Path(path)


def test_the_viewer_says_when_an_original_is_gone(
    session_for: Any, web_server: WebServer, tmp_path: Path
) -> None:
    session = session_for("ivy")
    page = session.go(f"#/cases/{CASE}")
    page.locator("main table a", has_text="Search").first.click()
    page.locator("#candidates li").first.wait_for()
    search_id = int(re.search(r"#/searches/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    blob, photo = _first_candidate_files(web_server, search_id)
    aside = [(blob, tmp_path / "blob"), (photo, tmp_path / "photo")]
    for where, to in aside:
        shutil.move(where, to)
    try:
        page.locator("#candidates li button.pick").first.click()
        page.locator("body").press("v")
        dialog = page.get_by_role("dialog")
        dialog.wait_for()
        page.locator("#full-image[data-state='gone']").wait_for()
        text = dialog.inner_text()
        assert "The original of this face is no longer available" in text, text
        assert "internal error" not in text
        assert dialog.get_by_role("button", name="Reveal the whole image (logged)").is_disabled()
        page.keyboard.press("Escape")
        dialog.wait_for(state="detached")
    finally:
        for where, to in aside:
            shutil.move(to, where)
