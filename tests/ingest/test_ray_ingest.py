"""Ingest on Ray actors (a local Ray cluster with 2 CPUs, started by the ``ray_local`` fixture):
the same faces as the local process pool, resumable, and a killed actor loses nothing."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import write_image

from facesearch.search.backends import Backends
from facesearch.search.gallery import Gallery
from facesearch.store.originals import originals_summary

pytest.importorskip("ray")


@pytest.fixture
def photos(tmp_path: Path, other_faces) -> Path:
    folder = tmp_path / "photos"
    for i, img in enumerate(other_faces[1:25]):
        write_image(folder / f"{i:03d}.png", img)
        write_image(folder / f"{i:03d}_flip.png", np.ascontiguousarray(img[:, ::-1]))
    return folder


def _open(path: Path, executor: str) -> Gallery:
    return Gallery.open(path, backends=Backends.parse(executor=executor))


def _faces(g: Gallery) -> dict[tuple[str, tuple[int, ...]], np.ndarray]:
    """Each stored face's vector, by its image's hash and rounded box: what ingest made."""
    ids = g.catalog.face_ids(g.model_key, searchable_only=False)
    stored = g.catalog.faces(ids)
    vectors = g.catalog.embeddings(ids)
    return {
        (stored[int(i)].image_sha256, tuple(round(v) for v in stored[int(i)].bbox)): vec
        for i, vec in zip(ids, vectors, strict=True)
    }


@pytest.mark.slow
def test_ray_ingest_equals_the_process_pool_and_resumes(ray_local, photos, tmp_path) -> None:
    with _open(tmp_path / "local", "local") as local:
        want = local.ingest([photos], workers=2)
        want_faces = _faces(local)
    with _open(tmp_path / "ray", ray_local) as g:
        got = g.ingest([photos], workers=2)
        assert got.failures == [] and got.worker_crashes == 0
        assert (got.images_new, got.faces_indexed) == (want.images_new, want.faces_indexed)
        got_faces = _faces(g)
        assert sorted(got_faces) == sorted(want_faces)  # the same faces of the same images
        # the originals are kept by the driver, which read them: the same on Ray as locally
        assert got.originals_kept == want.originals_kept > 0
        assert got.original_bytes == want.original_bytes
        assert originals_summary(g.catalog)["not_yet_stored"] == 0
        for key, vec in want_faces.items():  # made by the same worker function
            assert np.allclose(got_faces[key], vec, atol=1e-5), key
        again = g.ingest([photos], workers=2)  # resumable and idempotent: nothing new
        assert (again.images_new, again.images_already_stored) == (0, got.images_new)
        assert np.array_equal(g.index.ids(), g.catalog.face_ids(g.model_key))


@pytest.mark.slow
def test_a_killed_ray_actor_loses_nothing_and_doubles_nothing(ray_local, photos, tmp_path) -> None:
    from facesearch.ingest.ray_executor import RayExecutor

    started: list[RayExecutor] = []
    killed: list[int] = []

    def kill_one_actor_mid_batch(executor: RayExecutor) -> None:
        pid = executor.pids()[0]  # waits until the actors have loaded their models
        deadline = time.monotonic() + 60
        while executor._load[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        if executor._load[0] > 0:  # batches are in flight on this actor
            os.kill(pid, signal.SIGKILL)  # as the out-of-memory killer would
            killed.append(pid)

    def make(workers, initializer, initargs):  # type: ignore[no-untyped-def]
        started.append(RayExecutor(workers, initializer, initargs))
        threading.Thread(target=kill_one_actor_mid_batch, args=(started[0],)).start()
        return started[0]

    with _open(tmp_path / "data", ray_local) as g:
        g.backends = Backends()  # the executor comes from ``make``
        from facesearch.ingest.runner import IngestRun
        from facesearch.ingest.sink import IngestPlan

        plan = IngestPlan(
            worker_settings=g.ingest_settings(),
            model=g.model_key,
            second_model=None,
            chips=None,
            pipeline=lambda: g.pipeline,
            originals=g.settings.max_original_bytes,
        )
        from facesearch.search.gallery import GallerySink

        g.index  # noqa: B018
        report = IngestRun(
            GallerySink(g),
            [photos],
            plan=plan,
            workers=2,
            executor=make,
        ).run()
        assert killed, "the run ended before an actor could be killed"
        assert started[0].crashes >= 1, "the kill landed between batches"
        assert started[0].retried == started[0].crashes  # each lost batch sent again, whole
        assert report.failures == [] and report.worker_crashes == 0
        n = len(list(photos.iterdir()))
        stats = g.catalog.stats()
        assert report.images_new == n and stats["images"] == n
        assert np.array_equal(g.index.ids(), g.catalog.face_ids(g.model_key))
        hashes = [
            sf.image_sha256 for sf in g.catalog.faces(g.catalog.face_ids(g.model_key)).values()
        ]
        assert len(set(hashes)) == len(hashes)  # one face per photo here: nothing doubled
        # the batches retried after the kill kept their originals too
        summary = originals_summary(g.catalog)
        assert summary["kept"] == report.originals_kept and summary["not_yet_stored"] == 0


@pytest.mark.slow
def test_the_second_pass_runs_on_ray_actors(ray_local, other_faces, tmp_path) -> None:
    """FACESEARCH_EXECUTOR=ray://... : the second-vector pass's batches go to Ray actors (dlib
    loaded once each), with the vectors the in-process pass makes."""
    folder = tmp_path / "few"
    for i, img in enumerate(other_faces[1:7]):
        write_image(folder / f"{i:03d}.png", img)
    made: dict[str, dict[tuple[str, tuple[int, ...]], np.ndarray]] = {}
    for name, executor, workers in (("local", "local", 0), ("ray", ray_local, 2)):
        with _open(tmp_path / name, executor) as g:
            g.ingest([folder], workers=0, second_vectors="pass")
            pending = g.catalog.second_vector_counts()["pending"]
            assert pending > 0
            report = g.second_pass(workers=workers)
            assert report.executor == ("RayExecutor" if name == "ray" else "inline")
            assert report.described == pending and not report.failed and report.remaining == 0
            ids = g.catalog.face_ids(g.model_key, searchable_only=False)
            stored = g.catalog.faces(ids)
            made[name] = {
                (sf.image_sha256, tuple(round(v) for v in sf.bbox)): sf.second_embedding
                for sf in stored.values()
                if sf.second_embedding is not None
            }
            assert len(made[name]) == pending
    assert sorted(made["ray"]) == sorted(made["local"])
    for key, vec in made["local"].items():  # bf16 storage: batch-dependent rounding
        assert float(vec @ made["ray"][key]) == pytest.approx(1.0, abs=1e-3), key
