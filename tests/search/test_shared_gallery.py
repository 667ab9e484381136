"""One data directory, two galleries open on it (as a server and a CLI command are): each search
sees every face the other committed before it started, added or removed, without a re-open;
and a write of one waits for the other's (``search/gallery.py``, ``search/indexing.py``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from tests.conftest import write_image

from facesearch.search.gallery import Gallery


def _photos(tmp_path: Path, astronaut: np.ndarray, other_faces: list[np.ndarray]) -> Path:
    folder = tmp_path / "late"
    write_image(folder / "astronaut.png", astronaut)
    write_image(folder / "astronaut_flipped.png", np.ascontiguousarray(astronaut[:, ::-1]))
    return folder


def test_a_search_sees_faces_another_gallery_added_and_removed(
    tmp_path, pipeline, astronaut, other_faces
):
    data = tmp_path / "data"
    first = tmp_path / "first"
    for i, img in enumerate(other_faces[1:7]):
        write_image(first / f"other_{i}.png", img)
    probe = write_image(tmp_path / "probe.jpg", astronaut[40:300, 120:360]).read_bytes()

    server = Gallery.open(data, pipeline=pipeline)
    other = Gallery.open(data, pipeline=pipeline)
    try:
        server.ingest([first], workers=0)
        before = server.search(probe, k=5)
        assert all(c.score < 0.5 for c in before.candidates)
        size = before.gallery_size

        added = other.ingest([_photos(tmp_path, astronaut, other_faces)], workers=0)
        assert added.faces_indexed == 2

        after = server.search(probe, k=5)  # no re-open
        assert after.gallery_size == size + 2
        found = [c for c in after.candidates if "astronaut" in c.image_path]
        assert len(found) == 2 and all(c.score > 0.5 for c in found)

        other.remove_faces([found[0].face_id])
        again = server.search(probe, k=5)
        assert again.gallery_size == size + 1
        assert found[0].face_id not in {c.face_id for c in again.candidates}
        assert found[1].face_id in {c.face_id for c in again.candidates}
        assert len(server.index) == server.catalog.searchable_summary(server.model_key)[0]
    finally:
        other.close()
        server.close()


def test_a_write_waits_for_the_other_gallerys_write(tmp_path, pipeline, astronaut, other_faces):
    data = tmp_path / "data"
    first = Gallery.open(data, pipeline=pipeline)
    second = Gallery.open(data, pipeline=pipeline)
    told: list[str] = []
    second.writer.on_wait = told.append
    done: list[str] = []
    try:
        with first.writing("ingest"):
            thread = threading.Thread(
                target=lambda: done.append(
                    str(second.ingest([_photos(tmp_path, astronaut, other_faces)], workers=0))
                )
            )
            thread.start()
            time.sleep(1.0)
            assert done == [] and len(told) == 1
            assert told[0].startswith("waiting for the ingest of pid ")
        thread.join(timeout=120)
        assert len(done) == 1
        # the index the second saved holds every face the catalog does
        with Gallery.open(data, pipeline=pipeline) as fresh:
            assert len(fresh.index) == 2 and fresh.index_repairs == {}
    finally:
        second.close()
        first.close()
