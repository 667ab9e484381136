"""The migration pass on Ray actors (the ``ray_local`` fixture: a local cluster of 2 CPUs), as
with ``FACESEARCH_EXECUTOR=ray://...``: the same target vectors as the pass in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import write_image

from facesearch.models.card import parse_card, read_card
from facesearch.models.manifest import load_manifest
from facesearch.models.store import ModelStore
from facesearch.search.backends import Backends
from facesearch.search.calibration import gallery_manifest
from facesearch.search.gallery import Gallery
from facesearch.search.migration import MigrationPass, target_of
from facesearch.store import face_vectors as fv
from facesearch.store import model_migrations as rows

pytest.importorskip("ray")


def _migrate(g: Gallery, workers: int) -> tuple[Any, dict[int, Any]]:
    spec, key = target_of(
        gallery_manifest(g.data_dir, g.catalog), "test-resnet", g.pipeline_settings
    )
    opened, _ = rows.open_migration(g.catalog.engine, spec.key, key, g.model_key, "test")
    report = MigrationPass(
        g, opened.id, spec, key, g.model_key, workers=workers,
        executor=g.backends.executor_factory() if workers else None,
    ).run()  # fmt: skip
    return report, fv.read_face_vectors(g.catalog.engine, g.cipher, key)


@pytest.mark.long  # Ray starts (5 s); the process-pool pass is in the default run
def test_the_pass_on_ray_makes_the_vectors_of_the_pass_in_process(
    ray_local: str, tmp_path: Path, other_faces: Any, agency_model: Any, pipeline: Any
) -> None:
    photos = tmp_path / "photos"
    for i, img in enumerate(other_faces[:4]):
        write_image(photos / f"{i}.png", img)
    onnx_path, card_path = agency_model
    got: dict[str, Any] = {}
    for executor, workers in (("local", 0), (ray_local, 2)):
        data = tmp_path / executor.replace(":", "").replace("/", "")
        ModelStore.of(data).add(onnx_path, parse_card(read_card(card_path), load_manifest()))
        with Gallery.open(data, backends=Backends.parse(executor=executor), pipeline=pipeline) as g:
            g.ingest([photos], workers=0)
            report, vectors = _migrate(g, workers)
            assert report.state == "ready" and report.made == len(vectors) > 0
            got[executor] = (report, vectors)  # the same photos in the same order: same ids
    assert got[ray_local][0].executor == "RayExecutor"
    local, ray = got["local"][1], got[ray_local][1]
    assert set(local) == set(ray)
    for face_id, vec in local.items():
        assert float(vec @ ray[face_id]) > 0.9999
