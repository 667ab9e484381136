"""The second-vector pass after ingest, and search reading (never writing) gallery vectors.

Real models, a real SQLite catalog and blob store; the oracle for every stored vector is the
pipeline run on the original photo.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import sqlalchemy as sa
from tests.conftest import write_image

from facesearch.engine.decode import decode_array

WRITES_FACES = re.compile(
    r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(faces|second_vector_queue)\b", re.I
)


@pytest.fixture
def photos(tmp_path, astronaut, other_faces):
    folder = tmp_path / "photos"
    write_image(folder / "astronaut.png", astronaut)
    for i, img in enumerate(other_faces[:8]):
        write_image(folder / f"other_{i}.png", img)
    return folder


def _queue(gallery) -> list[tuple[int, str | None, str | None]]:
    with gallery.catalog.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text("select face_id, chip, error from second_vector_queue order by face_id")
            )
        ]


def _faces_table(gallery) -> list[tuple]:
    with gallery.catalog.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("select * from faces order by id"))]


def test_search_never_writes_to_the_faces(gallery, photos, astronaut):
    gallery.ingest([photos], collection="c", workers=0, second_vectors="pass")
    writes: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if WRITES_FACES.match(statement):
            writes.append(statement)

    sa.event.listen(gallery.catalog.engine, "before_cursor_execute", watch)
    try:
        before = _faces_table(gallery)
        # none of the faces has a second vector yet: the old search made them here
        for kwargs in ({}, {"include_flagged": True}, {"collection": "c"}):
            result = gallery.search(astronaut, k=5, **kwargs)
            assert result.candidates and not any(c.fused for c in result.candidates)
        assert writes == [] and _faces_table(gallery) == before
    finally:
        sa.event.remove(gallery.catalog.engine, "before_cursor_execute", watch)
    # the listener sees writes: the pass's own are caught
    sa.event.listen(gallery.catalog.engine, "before_cursor_execute", watch)
    try:
        gallery.second_pass(workers=0)
    finally:
        sa.event.remove(gallery.catalog.engine, "before_cursor_execute", watch)
    assert any(w.lstrip().upper().startswith("UPDATE") for w in writes)


def test_a_face_without_a_second_vector_is_scored_and_banded_by_sface(
    gallery, photos, astronaut, pipeline
):
    gallery.ingest([photos], workers=0, second_vectors="pass")
    probe = np.clip(astronaut.astype(int) - 30, 0, 255).astype(np.uint8)
    pf = pipeline.process_image(decode_array(probe)).faces[0]
    gf = pipeline.process_image(decode_array(astronaut)).faces[0]
    top = gallery.search(probe, k=3).candidates[0]
    assert top.image_path.endswith("astronaut.png")
    assert top.fused is False
    assert top.score == pytest.approx(float(pf.embedding @ gf.embedding), abs=1e-4)
    assert top.band == gallery.scoring.bands.band(top.score)
    # one face described, the others not: each candidate scored by what it has
    astronaut_id = top.face_id
    made = gallery.second_pass(workers=0)
    assert made.described == gallery.catalog.stats()["faces"]
    with gallery.catalog.engine.begin() as conn:  # take the others' vectors away again
        conn.execute(
            sa.text("update faces set second_embedding = null, second_model = null where id != :i"),
            {"i": astronaut_id},
        )
    result = gallery.search(probe, k=5)
    fused = {c.face_id: c.fused for c in result.candidates}
    assert fused.pop(astronaut_id) is True and not any(fused.values())
    for c in result.candidates:
        assert c.band == gallery.scoring.bands_for(c.fused).band(c.score)


def test_a_photo_searched_for_itself_scores_one_after_the_pass(gallery, photos, astronaut):
    """Both recognizers see the same pixels: both cosines are 1, and the fused score is
    ``fuse(1, 1)``, which the shipped fusion maps to 1 (issue 9: at least 0.99; it was 0.7885
    under the old z-score scale, and 0.784 from the stored crop)."""
    gallery.ingest([photos], workers=0, second_vectors="pass")
    report = gallery.second_pass(workers=0)
    assert report.described == gallery.catalog.stats()["faces"] and report.remaining == 0
    top = gallery.search(astronaut, k=1).candidates[0]
    assert top.image_path.endswith("astronaut.png") and top.fused
    fusion = gallery.scoring.fusion
    assert fusion is not None
    assert float(fusion.fuse(1.0, 1.0)) == pytest.approx(1.0, abs=1e-12)
    assert top.score >= 0.99 and top.score == pytest.approx(1.0, abs=2e-4)
    assert top.band == "strong"


def test_the_pass_describes_each_face_from_its_photo_and_deletes_its_chip(
    gallery, photos, pipeline
):
    report = gallery.ingest([photos], workers=0, second_vectors="pass")
    queue = _queue(gallery)
    faces = gallery.catalog.stats()["faces"]
    assert len(queue) == faces == report.faces_indexed + report.faces_flagged_total
    chips = [chip for _, chip, _ in queue]
    assert all(chip and gallery.blobs.exists(chip) for chip in chips)
    assert gallery.catalog.second_vector_counts()["pending"] == faces
    made = gallery.second_pass(workers=0)
    assert made.described == faces and made.from_crop == 0 and not made.failed
    assert _queue(gallery) == [] and not any(gallery.blobs.exists(c) for c in chips)
    counts = gallery.catalog.second_vector_counts()
    assert counts == {
        "with": faces, "from_photo": faces, "from_crop": 0, "made_before_0004": 0,
        "pending": 0, "failed": 0, "without": 0,
    }  # fmt: skip
    stored = _astronaut_face(gallery, photos)
    want = pipeline.process_image(decode_array(_read(photos / "astronaut.png"))).faces[0].second
    assert float(stored.second_embedding @ want) == pytest.approx(
        1.0, abs=1e-4
    )  # bf16: batch-dependent rounding
    assert stored.second_model == gallery.scoring.second_model
    assert gallery.second_pass(workers=0).described == 0  # idempotent
    assert gallery.stats()["second_vectors"]["with"] == faces


def _astronaut_face(gallery, photos):  # type: ignore[no-untyped-def]
    with gallery.catalog.engine.connect() as conn:
        face_id = conn.execute(
            sa.text(
                "select faces.id from faces join images on images.id = faces.image_id "
                "where images.path like '%astronaut.png' and faces.face_index = 0"
            )
        ).scalar_one()
    return gallery.catalog.faces([face_id])[face_id]


def _read(path):  # type: ignore[no-untyped-def]
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def test_an_interrupted_pass_keeps_its_work_and_the_next_one_finishes(gallery, photos):
    from facesearch.engine.embed import second_model_spec
    from facesearch.ingest.second_pass import SecondPass

    gallery.ingest([photos], workers=0, second_vectors="pass")
    faces = gallery.catalog.stats()["faces"]
    spec = second_model_spec(gallery.manifest)

    def ctrl_c(progress):  # type: ignore[no-untyped-def]
        if progress.done >= 2:
            raise KeyboardInterrupt

    first = SecondPass(
        gallery.catalog, gallery.blobs, spec, gallery.pipeline_inference, workers=0,
        batch_size=1, commit_every=1,
        on_progress=ctrl_c,
    ).run()  # fmt: skip
    assert first.interrupted and first.described == 2
    assert first.remaining == faces - 2 == len(_queue(gallery))
    rest = gallery.second_pass(workers=0)
    assert rest.described == faces - 2 and rest.remaining == 0 and not rest.interrupted
    assert gallery.catalog.second_vector_counts()["with"] == faces


def test_the_pass_runs_in_worker_processes(gallery, photos):
    gallery.ingest([photos], workers=0, second_vectors="pass")
    faces = gallery.catalog.stats()["faces"]
    report = gallery.second_pass(workers=2)
    assert report.described == faces and report.faces_per_second > 0
    assert gallery.catalog.second_vector_counts()["from_photo"] == faces


def test_faces_ingested_before_chips_are_described_from_their_crop(gallery, photos, pipeline):
    gallery.ingest([photos], workers=0, second_vectors="pass")
    with gallery.catalog.engine.begin() as conn:  # as migration 0004 queues older faces
        conn.execute(sa.text("update second_vector_queue set chip = null"))
    made = gallery.second_pass(workers=0)
    faces = gallery.catalog.stats()["faces"]
    assert made.described == made.from_crop == faces
    assert gallery.catalog.second_vector_counts()["from_crop"] == faces
    stored = _astronaut_face(gallery, photos).second_embedding
    want = pipeline.process_image(decode_array(_read(photos / "astronaut.png"))).faces[0].second
    assert 0.9 < float(stored @ want) < 0.9999  # close, not the photo's own


def test_a_missing_chip_fails_with_its_reason_and_is_not_retried(gallery, photos):
    gallery.ingest([photos], workers=0, second_vectors="pass")
    face_id, chip, _ = _queue(gallery)[0]
    gallery.blobs.delete(chip)
    report = gallery.second_pass(workers=0)
    assert list(report.failed) == [face_id] and "missing" in report.failed[face_id]
    assert _queue(gallery) == [(face_id, chip, report.failed[face_id])]
    counts = gallery.catalog.second_vector_counts()
    assert counts["failed"] == 1 and counts["pending"] == 0 and counts["without"] == 1
    assert gallery.second_pass(workers=0).failed == {}


def test_removing_a_face_removes_its_waiting_chip(gallery, photos):
    gallery.ingest([photos], workers=0, second_vectors="pass")
    face_id, chip, _ = _queue(gallery)[0]
    gallery.remove_faces([face_id])
    assert not gallery.blobs.exists(chip) and face_id not in [q[0] for q in _queue(gallery)]


def test_chips_are_encrypted_at_rest_with_a_key(tmp_path, photos, pipeline, monkeypatch):
    from facesearch.search.gallery import Gallery

    monkeypatch.setenv("FACESEARCH_ENCRYPTION_KEY", "ab" * 32)
    with Gallery.open(tmp_path / "enc", pipeline=pipeline) as g:
        g.ingest([photos], workers=0, second_vectors="pass")
        _, chip, _ = _queue(g)[0]
        on_disk = g.blobs.path(chip).read_bytes()
        assert not on_disk.startswith(b"\x89PNG") and g.blobs.get(chip).startswith(b"\x89PNG")
        assert g.second_pass(workers=0).described == g.catalog.stats()["faces"]


def test_a_0003_catalog_queues_its_faces_without_a_second_vector(tmp_path):
    from importlib import resources

    from alembic import command
    from alembic.config import Config

    from facesearch.store.catalog import SqlCatalog

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    engine = sa.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("facesearch") / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(
            sa.text(
                "insert into images (id, sha256, bytes, width, height, format, path, "
                "face_count, created_at) values (1, 'ab', 1, 200, 200, 'png', 'x.png', 3, "
                "'2026-12-01')"
            )
        )
        for face_id, crop, second in ((1, "c" * 64, None), (2, None, None), (3, "d" * 64, "x")):
            conn.execute(
                sa.text(
                    "insert into faces (id, image_id, face_index, x, y, w, h, landmarks, "
                    "detector_score, quality, sharpness, yaw, flags, searchable, model, "
                    "embedding, crop, second_model, second_embedding, created_at) values "
                    "(:id, 1, :id, 10, 10, 50, 50, '[[20,30],[40,30],[30,40],[22,50],[38,50]]',"
                    " 0.9, 0.9, 1, 0, '', 1, 'm', x'00', :crop, :sm, :se, '2026-12-01')"
                ),
                {"id": face_id, "crop": crop, "sm": second, "se": b"\0" * 4 if second else None},
            )
    engine.dispose()
    catalog = SqlCatalog(url)  # migrates to head
    pending = catalog.pending_second()
    assert [(p.face_id, p.chip, p.crop) for p in pending] == [(1, None, "c" * 64)]
    counts = catalog.second_vector_counts()
    assert counts["pending"] == 1 and counts["made_before_0004"] == 1 and counts["without"] == 2
    catalog.close()
