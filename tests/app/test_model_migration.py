"""The model-migration pass (issue 25, item 3): a gallery ingested with SFace re-embedded with a
real second ONNX recognizer (the ``agency_model`` fixture, "test-resnet") into
``face_vectors``, from the stored originals (or the crops where an original is gone), while
searches keep answering with SFace; resumable after an interruption; audited; the CLI.

Real models, a real SQLite catalog and blob store; the pass runs in this process (workers=0).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from tests.conftest import write_image
from tests.support.api import PASSWORD
from typer.testing import CliRunner

from facesearch.app.service import Service
from facesearch.app.types import MigrationError, MigrationProgress, RefusedError
from facesearch.cli import app
from facesearch.engine.decode import decode_file
from facesearch.engine.pipeline import FacePipeline
from facesearch.govern import audit
from facesearch.models.card import parse_card, read_card
from facesearch.models.manifest import load_manifest
from facesearch.models.store import ModelStore, with_store
from facesearch.search.calibration import gallery_manifest
from facesearch.search.migration import MigrationPass, target_of
from facesearch.settings import Settings
from facesearch.store import face_vectors as fv
from facesearch.store import model_migrations as rows
from facesearch.store.schema import FaceRow, FaceVector, Image

TARGET = "test-resnet"


@pytest.fixture
def ws(tmp_path: Path, pipeline: Any, astronaut: Any, other_faces: Any, agency_model: Any):
    """A gallery of 8 photos ingested with SFace, the agency model in its model store."""
    data = tmp_path / "data"
    onnx_path, card_path = agency_model
    ModelStore.of(data).add(onnx_path, parse_card(read_card(card_path), load_manifest()))
    service = Service.for_cli(Settings(data_dir=data), pipeline=pipeline)
    service.library.initialise("admin", PASSWORD)
    service.governance.add_user("admin", "inv", ["investigator"])
    photos = tmp_path / "photos"
    write_image(photos / "astronaut.png", astronaut)
    write_image(photos / "astronaut_flipped.jpg", np.ascontiguousarray(astronaut[:, ::-1]))
    for i, img in enumerate(other_faces[:6]):
        write_image(photos / f"other_{i}.png", img)
    service.library.ingest(admin(service), [photos], workers=0)
    service.photos = photos  # type: ignore[attr-defined]
    yield service
    service.close()


def admin(service: Service) -> Any:
    return service.accounts.principal("admin", "cli")


def faces_by_path(service: Service) -> dict[tuple[str, int], tuple[int, str, bytes, bool]]:
    """(photo name, face index) -> (face id, model, stored embedding, searchable)."""
    with service.gallery.catalog.session() as s:
        found = s.execute(
            select(Image.path, FaceRow.face_index, FaceRow.id, FaceRow.model, FaceRow.embedding,
                   FaceRow.searchable).join(Image, Image.id == FaceRow.image_id)
        ).all()  # fmt: skip
    return {(Path(p).name, int(i)): (int(f), m, bytes(e), bool(s)) for p, i, f, m, e, s in found}


def fresh_vectors(service: Service, photos: Path) -> dict[tuple[str, int], np.ndarray]:
    """What an ingest with the agency model as the gallery's recognizer makes, face by face."""
    g = service.gallery
    manifest = dataclasses.replace(
        with_store(load_manifest(), ModelStore.of(g.data_dir)), default_recognizer=TARGET
    )
    pipe = FacePipeline(manifest, g.pipeline_settings)
    pipe.load_models()
    out = {}
    for path in sorted(photos.iterdir()):
        for face in pipe.process_image(decode_file(path, g.pipeline_settings.max_pixels)).faces:
            out[(path.name, face.index)] = face.embedding
    return out


def test_migrate_makes_the_vectors_a_fresh_ingest_with_the_new_model_makes(ws: Service) -> None:
    before = faces_by_path(ws)
    sface = ws.gallery.model_key
    probe = (ws.photos / "astronaut.png").read_bytes()  # type: ignore[attr-defined]
    searched: list[tuple[str, int]] = []

    def on_progress(p: MigrationProgress) -> None:  # searches go on, with SFace, during it
        result = ws.gallery.search(probe, 3)
        searched.append((result.model, len(result.candidates)))

    # an investigator may not start one; an unknown or the active model is refused
    with pytest.raises(RefusedError):
        ws.migrations.start_or_resume(ws.accounts.principal("inv", "cli"), TARGET, workers=0)
    with pytest.raises(MigrationError, match="no model"):
        ws.migrations.start_or_resume(admin(ws), "nope", workers=0)
    with pytest.raises(MigrationError, match="already searches"):
        ws.migrations.start_or_resume(admin(ws), ws.gallery.manifest.default_recognizer)

    status = ws.migrations.start_or_resume(admin(ws), TARGET, workers=0, on_progress=on_progress)
    assert status.state == "ready", status
    # then the standing data moved with it (none here: each kind ran, nothing failed)
    moved = {m.kind: (m.moved, len(m.failed)) for m in ws.migrations.last_moves}
    assert moved == {k: (0, 0) for k in ("media faces", "standing queries", "suppression entries")}
    assert status.total == status.done == len(before) and status.from_crop == 0
    assert status.source_model_key == sface and status.target_model_key.startswith(TARGET + "@")
    assert ws.migrations.status() == status
    assert searched and all(model == sface and n > 0 for model, n in searched)
    # the faces rows (the vectors searched) are untouched
    assert faces_by_path(ws) == before
    # every face has a target vector equal to a fresh ingest's with the agency model
    engine, cipher = ws.gallery.catalog.engine, ws.gallery.cipher
    made = fv.read_face_vectors(engine, cipher, status.target_model_key)
    fresh = fresh_vectors(ws, ws.photos)  # type: ignore[attr-defined]
    assert set(fresh) == set(before)
    for where, (face_id, *_rest) in before.items():
        assert made[face_id].shape == (128,)
        assert float(made[face_id] @ fresh[where]) > 0.9999, where
    counts = fv.face_vector_counts(engine, status.target_model_key, of_model=sface)
    assert counts == {"with": 8, "from_photo": 8, "from_crop": 0, "faces": 8}
    # audited: started, then finished with its figures; a second run resumes (nothing to do)
    again = ws.migrations.start_or_resume(admin(ws), TARGET, workers=0)
    assert again.id == status.id and again.state == "ready" and ws.migrations.last_report
    assert ws.migrations.last_report.made == 0
    with ws.governance.session() as s:
        entries = [e for e in audit.entries(s) if e.action == "models.migrate"]
    assert [e.details["phase"] for e in entries] == ["started", "finished", "resumed", "finished"]
    assert entries[1].details["made"] == 8 and entries[1].details["state"] == "ready"
    # removing a face removes its target vector too (the foreign key cascades on SQLite)
    face_id = before[("astronaut.png", 0)][0]
    ws.gallery.remove_faces([face_id])
    assert face_id not in fv.read_face_vectors(engine, cipher, status.target_model_key)


def _pass(ws: Service, migration_id: int, **kw: Any) -> Any:
    g = ws.gallery
    spec, key = target_of(gallery_manifest(g.data_dir, g.catalog), TARGET, g.pipeline_settings)
    return MigrationPass(g, migration_id, spec, key, g.model_key, workers=0, **kw)


def test_an_interrupted_pass_keeps_whole_results_and_the_next_does_the_rest(
    ws: Service, tmp_path: Path, astronaut: Any
) -> None:
    g = ws.gallery
    _, key = target_of(gallery_manifest(g.data_dir, g.catalog), TARGET, g.pipeline_settings)
    opened, resumed = rows.open_migration(g.catalog.engine, TARGET, key, g.model_key, "admin")
    assert not resumed

    def stop(p: MigrationProgress) -> None:
        if p.done >= 3:
            raise KeyboardInterrupt

    first = _pass(ws, opened.id, batch_faces=2, commit_every=1, on_progress=stop).run()
    assert first.interrupted and first.state == "interrupted"
    kept = fv.face_vector_counts(g.catalog.engine, key)["with"]
    assert 3 <= kept < 8 and kept == first.made  # whole results: every vector made is stored
    status = rows.get(g.catalog.engine, opened.id)
    assert status is not None and (status.state, status.done, status.total) == (
        "interrupted",
        kept,
        8,
    )
    # the application resumes the same migration and makes only the rest; a photo ingested
    # during it (with SFace) is picked up before it says ready
    new_photo = write_image(tmp_path / "later" / "crop.png", astronaut[0:260, 120:400])
    ingested: list[int] = []

    def ingest_once(p: MigrationProgress) -> None:
        if not ingested:
            report = ws.library.ingest(admin(ws), [new_photo.parent], workers=0, second_pass=False)
            ingested.append(report.faces_indexed)

    done = ws.migrations.start_or_resume(admin(ws), TARGET, workers=0, on_progress=ingest_once)
    assert ingested == [1]
    assert done.id == opened.id and done.state == "ready" and done.done == done.total == 9
    assert ws.migrations.last_report is not None
    assert ws.migrations.last_report.made == 9 - kept
    assert fv.missing_faces(g.catalog.engine, g.model_key, key) == 0


def test_a_face_whose_original_is_gone_is_made_from_its_crop_and_counted(ws: Service) -> None:
    g = ws.gallery

    def image_of(name: str) -> tuple[str, list[tuple[int, str, bool]]]:
        with g.catalog.session() as s:
            image_id, original = s.execute(
                select(Image.id, Image.original).where(Image.path.like(f"%{name}"))
            ).one()
            faces = s.execute(
                select(FaceRow.id, FaceRow.crop, FaceRow.searchable).where(
                    FaceRow.image_id == image_id
                )
            ).all()
        return original, [(int(i), c, bool(v)) for i, c, v in faces]

    original, faces = image_of("other_0.png")
    face_ids = [f[0] for f in faces]
    g.blobs.delete(original)
    # and a face with neither its original nor its crop: it fails, with why
    lost_original, lost = image_of("astronaut_flipped.jpg")
    (lost_id, lost_crop, searchable) = lost[0]
    assert searchable and len(lost) == 1
    g.blobs.delete(lost_original)
    g.blobs.delete(lost_crop)
    status = ws.migrations.start_or_resume(admin(ws), TARGET, workers=0)
    assert status.state == "failed" and status.failed == 1 and status.done == 7
    assert status.errors == {str(lost_id): "its original and its crop are missing"}
    assert status.from_crop == len(face_ids)
    with g.catalog.session() as s:
        sources = dict(s.execute(select(FaceVector.face_id, FaceVector.source)).all())
    assert {sources[i] for i in face_ids} == {"crop"}
    assert sum(1 for v in sources.values() if v == "photo") == 7 - len(face_ids)
    # the crop's vector is of the same face, if less exact than the photo's
    fresh = fresh_vectors(ws, ws.photos)  # type: ignore[attr-defined]
    made = fv.read_face_vectors(g.catalog.engine, g.cipher, status.target_model_key, face_ids)
    assert float(made[face_ids[0]] @ fresh[("other_0.png", 0)]) > 0.8
    # once the face is removed, running it again says ready (nothing else to do)
    ws.gallery.remove_faces([lost_id])
    again = ws.migrations.start_or_resume(admin(ws), TARGET, workers=0)
    assert again.id == status.id and again.state == "ready" and again.failed == 0


def test_the_command_line_migrates_and_shows_the_status(ws: Service, monkeypatch: Any) -> None:
    for var in ("FACESEARCH_USER", "FACESEARCH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    data = ws.gallery.data_dir
    token = ws.governance.create_token("admin", "admin", "migrate")[0]
    ws.close()
    out = CliRunner().invoke(
        app,
        ["-d", str(data), "models", "migrate", TARGET, "--workers", "0", "--json"],
        env={"FACESEARCH_TOKEN": token},
    )
    assert out.exit_code == 0, (out.output, out.exception)
    report = json.loads(out.output[out.output.index("{") :])
    assert (report["state"], report["done"], report["total"]) == ("ready", 8, 8)
    assert report["run"]["made"] == 8 and report["run"]["faces_per_second"] > 0
    refused = CliRunner().invoke(app, ["-d", str(data), "models", "status"], env={})
    assert refused.exit_code != 0  # who asks is always known: administrators and auditors
    shown = CliRunner().invoke(
        app, ["-d", str(data), "models", "status"], env={"FACESEARCH_TOKEN": token}
    )
    assert shown.exit_code == 0, shown.output
    assert "ready" in shown.output and TARGET in shown.output


@pytest.mark.slow  # two worker processes start (3 s on 2 idle cores, ~15 s on busy ones)
def test_the_pass_on_worker_processes_makes_the_same_vectors(ws: Service) -> None:
    """The process pool (what 'models migrate' uses by default): the same vectors as in this
    process, each worker loading the agency model from the store (checked on load)."""
    status = ws.migrations.start_or_resume(admin(ws), TARGET, workers=2)
    assert status.state == "ready" and status.done == 8
    assert ws.migrations.last_report is not None
    assert ws.migrations.last_report.executor == "processes"
    fresh = fresh_vectors(ws, ws.photos)  # type: ignore[attr-defined]
    made = fv.read_face_vectors(
        ws.gallery.catalog.engine, ws.gallery.cipher, status.target_model_key
    )
    for where, (face_id, *_rest) in faces_by_path(ws).items():
        assert float(made[face_id] @ fresh[where]) > 0.9999, where


@pytest.mark.long  # 600 photos ingested, then the command killed halfway: about a minute
def test_the_command_killed_halfway_resumes(
    tmp_path: Path, shared_faces: Path, agency_model: Any, monkeypatch: Any
) -> None:
    """``facesearch models migrate`` killed with SIGKILL after its first grouped commit: the
    vectors committed are whole, the row says running (its process is gone), and the next
    run resumes the same migration and makes only the rest."""
    import os
    import signal
    import subprocess
    import sys
    import time

    for var in ("FACESEARCH_USER", "FACESEARCH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    frontal = sorted((shared_faces / "cfp" / "Data" / "Images").glob("*/frontal/*.jpg"))[:600]
    data = tmp_path / "data"
    onnx_path, card_path = agency_model
    ModelStore.of(data).add(onnx_path, parse_card(read_card(card_path), load_manifest()))
    with Service.for_cli(Settings(data_dir=data)) as service:
        service.library.initialise("admin", PASSWORD)
        service.library.ingest(admin(service), frontal, workers=2, second_pass=False)
        token = service.governance.create_token("admin", "admin", "migrate")[0]
        engine = service.gallery.catalog.engine
        proc = subprocess.Popen(
            [sys.executable, "-m", "facesearch", "-d", str(data), "models", "migrate", TARGET,
             "--workers", "1"],
            env={**os.environ, "FACESEARCH_TOKEN": token},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                found = rows.latest(engine)
                if found is not None and found.done > 0:
                    break
                assert proc.poll() is None, "the command ended before its first commit"
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        killed = rows.latest(engine)
        assert killed is not None and killed.state == "running"
        key = killed.target_model_key
        kept = fv.read_face_vectors(engine, service.gallery.cipher, key)
        assert 0 < len(kept) < killed.total
        assert all(v.shape == (128,) and abs(float(v @ v) - 1) < 1e-4 for v in kept.values())
        done = service.migrations.start_or_resume(admin(service), TARGET, workers=0)
        assert done.id == killed.id and done.state == "ready" and done.done == done.total
        assert service.migrations.last_report is not None
        assert service.migrations.last_report.made == done.total - len(kept)
