"""Both vectors at ingest: where second vectors are made, and what a fresh gallery holds.

Real models (the manifest's runtimes), a real SQLite catalog and blob store, real worker
processes where said; the oracle for every stored vector is the pipeline on the original photo.
"""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from tests.conftest import write_image

from facesearch.engine.decode import decode_array


@pytest.fixture
def photos(tmp_path, astronaut, other_faces):
    folder = tmp_path / "photos"
    write_image(folder / "astronaut.png", astronaut)
    for i, img in enumerate(other_faces[:6]):
        write_image(folder / f"other_{i}.png", img)
    return folder


def _queue(gallery) -> list[tuple]:  # type: ignore[no-untyped-def]
    with gallery.catalog.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("select * from second_vector_queue"))]


def _blob_keys_in_use(gallery) -> set[str]:  # type: ignore[no-untyped-def]
    with gallery.catalog.engine.connect() as conn:
        crops = conn.execute(sa.text("select crop from faces where crop is not null")).scalars()
        thumbs = conn.execute(
            sa.text("select thumbnail from images where thumbnail is not null")
        ).scalars()
        originals = conn.execute(
            sa.text("select original from images where original is not null")
        ).scalars()
        return set(crops) | set(thumbs) | set(originals)


def _blob_keys_on_disk(gallery) -> set[str]:  # type: ignore[no-untyped-def]
    return {p.name for p in (gallery.data_dir / "blobs").rglob("*") if p.is_file()}


def test_the_choice_follows_the_second_recognizers_runtime() -> None:
    from facesearch.engine.embed import second_model_spec
    from facesearch.ingest.second_vectors import resolve
    from facesearch.models.manifest import load_manifest

    spec = second_model_spec(load_manifest())
    assert spec is not None
    dlib, onnx = spec.runtime_spec("dlib"), spec.runtime_spec("onnxruntime-fp32")
    assert resolve("auto", onnx).at == "ingest" and resolve("auto", onnx).in_workers
    assert resolve("auto", dlib).at == "pass" and "dlib" in resolve("auto", dlib).reason
    assert resolve("ingest", dlib).at == "ingest"  # asked for: slow, but at ingest
    assert resolve("pass", onnx).at == "pass"
    assert resolve("auto", None).at == "off" and resolve("ingest", None).at == "off"
    with pytest.raises(ValueError, match="choose one of auto, ingest, pass"):
        resolve("later", onnx)  # type: ignore[arg-type]
    # the shipped default runtime is a fast one: a default ingest makes both vectors
    assert resolve("auto", spec.runtime_spec()).at == "ingest"


def test_a_default_ingest_stores_both_vectors_and_queues_nothing(
    gallery, photos, astronaut, pipeline
):
    """Worker processes, default settings: every face has its second vector, made from the
    photo, in the same transaction as the face; no chip is written or queued; search fuses,
    and a photo searched for itself scores at least 0.99 (issue 9)."""
    report = gallery.ingest([photos], workers=2)
    faces = gallery.catalog.stats()["faces"]
    assert report.second_vectors == "ingest" and report.second_errors == []
    assert faces == report.faces_indexed + report.faces_flagged_total >= 7
    assert report.second_vectors_made == faces and report.second_vectors_queued == 0
    counts = gallery.catalog.second_vector_counts()
    assert counts == {
        "with": faces, "from_photo": faces, "from_crop": 0, "made_before_0004": 0,
        "pending": 0, "failed": 0, "without": 0,
    }  # fmt: skip
    assert _queue(gallery) == []
    assert _blob_keys_on_disk(gallery) == _blob_keys_in_use(gallery)  # crops, thumbnails, originals
    assert report.stage_seconds["second"] > 0 and "chip" in report.stage_seconds
    with gallery.catalog.engine.connect() as conn:
        face_id = conn.execute(
            sa.text(
                "select faces.id from faces join images on images.id = faces.image_id "
                "where images.path like '%astronaut.png' and faces.face_index = 0"
            )
        ).scalar_one()
    stored = gallery.catalog.faces([face_id])[face_id]
    want = pipeline.process_image(decode_array(astronaut)).faces[0].second
    assert stored.second_model == gallery.scoring.second_model
    assert float(stored.second_embedding @ want) == pytest.approx(
        1.0, abs=1e-4
    )  # bf16 runtimes round by batch
    result = gallery.search(astronaut, k=5)
    assert result.candidates and all(c.fused for c in result.candidates)
    top = result.candidates[0]
    assert top.face_id == face_id and top.score >= 0.99 and top.band == "strong"
    # the pass after ingest has nothing to do
    assert gallery.second_pass(workers=0).described == 0


def test_ingest_again_and_after_an_interruption_stores_each_face_once(gallery, photos):
    from facesearch.ingest.runner import IngestProgress, IngestRun
    from facesearch.search.gallery import GallerySink

    pressed = []

    def ctrl_c(progress: IngestProgress) -> None:  # one Ctrl-C, once two files are done
        if progress.files_done >= 2 and not pressed:
            pressed.append(progress.files_done)
            raise KeyboardInterrupt

    gallery.index  # noqa: B018  (as Gallery.ingest does)
    first = IngestRun(
        GallerySink(gallery), [photos], plan=gallery.ingest_plan(), workers=0, batch_size=1,
        commit_every=1, on_progress=ctrl_c,
    ).run()  # fmt: skip
    assert first.interrupted and 0 < first.images_new < 7
    assert gallery.catalog.second_vector_counts()["without"] == 0
    rest = gallery.ingest([photos], workers=0)
    assert rest.images_new == 7 - first.images_new
    assert rest.images_already_stored == first.images_new
    again = gallery.ingest([photos], workers=0)
    assert again.images_new == 0 and again.second_vectors_made == 0
    faces = gallery.catalog.stats()["faces"]
    assert faces == first.second_vectors_made + rest.second_vectors_made
    counts = gallery.catalog.second_vector_counts()
    assert counts["with"] == faces and counts["pending"] == 0 and _queue(gallery) == []
    assert len(gallery.index) == gallery.catalog.stats()["searchable_faces"]


def test_with_dlibs_own_runtime_chips_are_queued_for_the_pass(
    tmp_path, astronaut, monkeypatch, pipeline
):
    """``auto`` with the slow runtime keeps ingest fast: chips queued, the pass describes
    them (with dlib's own code), and the result matches the fast runtime's vector."""
    from facesearch.search.gallery import Gallery

    folder = tmp_path / "photos"
    write_image(folder / "astronaut.png", astronaut)
    monkeypatch.setenv("FACESEARCH_SECOND_RUNTIME", "dlib")
    with Gallery.open(tmp_path / "data", pipeline=pipeline) as g:
        assert g.second_vectors_plan().at == "pass"
        report = g.ingest([folder], workers=0)
        assert report.second_vectors == "pass" and report.second_vectors_made == 0
        assert report.second_vectors_queued == 1 == len(_queue(g))
        assert g.catalog.second_vector_counts()["pending"] == 1
        made = g.second_pass(workers=0)
        assert made.described == 1 and _queue(g) == []
        stored = g.catalog.faces([1])[1].second_embedding
    want = pipeline.process_image(decode_array(astronaut)).faces[0].second
    assert float(stored @ want) > 0.9999  # dlib's own code and its ONNX graph agree


def test_a_runtime_error_queues_the_batchs_faces_instead_of_losing_them(pipeline, astronaut):
    """The second recognizer fails on the batch (here: chips of the wrong size for its
    graph): the faces come back with their chips for the pass, and the error is reported."""
    import cv2

    from facesearch.engine.pipeline import FacePipeline, PipelineSettings
    from facesearch.ingest.worker import ChipGeometry, process_batch

    sface = FacePipeline(pipeline.manifest, PipelineSettings(second_model=False))
    sface.detector, sface.embedder = pipeline.detector, pipeline.embedder
    assert pipeline.second is not None and pipeline.second_template is not None
    data = cv2.imencode(".png", astronaut[:, :, ::-1])[1].tobytes()
    good = ChipGeometry(pipeline.second_template, pipeline.second_size)
    out = process_batch([(0, "a" * 64, data)], pipeline=sface, chips=good, second=pipeline.second)
    face = out.images[0].faces[0]
    assert (
        out.second_error == ""
        and face.second_embedding is not None
        and face.second_chip_png is None
    )
    wrong = ChipGeometry(pipeline.second_template * (100 / 150), (100, 100))
    out = process_batch([(0, "a" * 64, data)], pipeline=sface, chips=wrong, second=pipeline.second)
    face = out.images[0].faces[0]
    assert out.images[0].ok and face.second_embedding is None
    assert face.second_chip_png is not None and face.second_chip_png.startswith(b"\x89PNG")
    assert "150" in out.second_error  # the runtime's own message: it expected 150 pixels
    # without a second recognizer (the 'pass' choice) the chip is queued, no error
    out = process_batch([(0, "a" * 64, data)], pipeline=sface, chips=good, second=None)
    face = out.images[0].faces[0]
    assert (
        out.second_error == ""
        and face.second_embedding is None
        and face.second_chip_png is not None
    )
    assert np.frombuffer(face.second_chip_png, np.uint8).size > 0
