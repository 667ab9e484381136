"""Switching a gallery to an agency's own recognizer while searches run (issue 25 item 3):
the one audited transaction, the refusals, the switch back and dropping kept vectors, and a
second process (its own Service on the same data directory) answering with the new model.

Real models: SFace (the shared pipeline) and the test suite's own ONNX re-export of dlib's
ResNet (``test-resnet``); the target vectors are the ones a gallery ingested from scratch with
``test-resnet`` made of the same photos (what the migration pass makes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.support.cli import make_token
from tests.support.govern import add_user_approved
from tests.support.media import cfp_frontal
from tests.support.switching import (
    AGENCY,
    BANDS,
    add_agency_model,
    face_names,
    fill_target_vectors,
    scratch_gallery,
)

from facesearch.app.service import SearchRequest, Service
from facesearch.govern.errors import RefusedError
from facesearch.govern.schema import AuditEntry, Search
from facesearch.govern.users import Role
from facesearch.models.store import ModelStore
from facesearch.settings import Settings
from facesearch.store import model_migrations as migration_rows
from facesearch.store.schema import FaceVector

K = 5


@pytest.fixture(scope="module")
def photos(tmp_path_factory, shared_faces) -> Path:
    """Good CFP frontal photos (every face searchable whichever recognizer aligns it: the
    quality check runs on the recognizer's own aligned crop)."""
    folder = tmp_path_factory.mktemp("switch-photos")
    for person in range(1, 6):
        for photo in (1, 2):
            shutil.copy(cfp_frontal(shared_faces, person, photo), folder / f"p{person}_{photo}.jpg")
    return folder


@pytest.fixture(scope="module")
def probe(shared_faces) -> bytes:
    return cfp_frontal(shared_faces, 2, 3).read_bytes()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, agency_model, photos):  # type: ignore[no-untyped-def]
    """The same photos ingested with test-resnet as the gallery's recognizer from scratch."""
    gallery = scratch_gallery(tmp_path_factory.mktemp("scratch") / "data", agency_model, photos)
    yield gallery
    gallery.close()


@pytest.fixture
def database_url(request) -> str | None:  # type: ignore[no-untyped-def]
    """SQLite in the data directory unless a test asks for PostgreSQL (a fresh schema)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def service(tmp_path, pipeline, photos, database_url):  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    svc = Service.for_cli(settings, pipeline=pipeline)
    svc.library.initialise("admin")
    gov = svc.governance
    add_user_approved(gov, "admin", "sup", [Role.SUPERVISOR])
    gov.add_user("admin", "inv", [Role.INVESTIGATOR])
    gov.open_case("inv", "C-1", "threat-to-life", "Order 7", "imminent threat")
    gov.approve_case("sup", "C-1")
    svc.library.ingest(svc.accounts.principal("admin", "cli"), [photos], workers=0)
    yield svc
    svc.close()


def _admin(svc: Service):  # type: ignore[no-untyped-def]
    return svc.accounts.principal("admin", "cli")


def _ranked(result, names: dict[int, tuple[str, int]]) -> list[tuple[tuple[str, int], float]]:  # type: ignore[no-untyped-def]
    return [(names[c.face_id], c.score) for c in result.candidates]


def _same(a: list[tuple[tuple[str, int], float]], b: list[tuple[tuple[str, int], float]]) -> bool:
    return [n for n, _ in a] == [n for n, _ in b] and all(
        abs(x - y) < 1e-4 for (_, x), (_, y) in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_switch_while_searching_back_and_drop(service, scratch, agency_model, probe, tmp_path):
    svc = service
    data = svc.settings.data_dir
    names = face_names(svc.gallery)
    sface_key = svc.gallery.model_key
    agency_key = add_agency_model(data, agency_model, calibrate=True)
    assert agency_key == scratch.model_key
    migrated = svc.migrations.start_or_resume(_admin(svc), AGENCY, workers=0)  # the real pass
    assert migrated.state == "ready" and migrated.done == len(names)
    assert svc.model_switch.status(_admin(svc)).can_switch
    request = SearchRequest(k=K)
    before = svc.searches.engine_search(probe, K, request)
    assert before.model == sface_key
    expected = {
        sface_key: _ranked(before, names),
        agency_key: _ranked(scratch.search(probe, K), face_names(scratch)),
    }
    assert expected[agency_key] != expected[sface_key]

    # a second process's view: its own Service (and pipelines) on the same data directory
    other = Service.open(Settings(data_dir=data, database_url=svc.settings.database_url))
    try:
        assert other.searches.engine_search(probe, K, request).model == sface_key

        # searches loop in another thread while the switch happens, and go on for three
        # more once it returned
        results, errors, stop = [], [], threading.Event()
        until = [10**9]

        def loop() -> None:
            while len(results) < until[0] and not errors:
                try:
                    results.append(svc.searches.engine_search(probe, K, request))
                except Exception as exc:
                    errors.append(exc)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            while len(results) < 3 and not errors:
                stop.wait(0.05)
            report = svc.model_switch.switch(_admin(svc), AGENCY)
            n_before_switch_done = len(results)
        finally:
            until[0] = len(results) + 3
            thread.join(timeout=120)
        assert not errors, errors
        assert report.moved == len(names) and report.kept == 0
        assert report.source_model_key == sface_key and report.target_model_key == agency_key
        models = {r.model for r in results}
        assert models == {sface_key, agency_key}, models
        for r in results:  # each search answered with one model, with that model's scores
            assert _same(_ranked(r, names), expected[r.model])
        assert results[-1].model == agency_key and n_before_switch_done < len(results)

        # the other process picks the switch up before its next search
        seen = other.searches.engine_search(probe, K, request)
        assert seen.model == agency_key
        assert _same(_ranked(seen, names), expected[agency_key])
    finally:
        other.close()

    # a governed search records the model that answered
    view = svc.searches.search(svc.accounts.principal("inv", "cli"), "C-1", probe, request)
    assert view.outcome.model == agency_key
    with svc.governance.session() as s:
        row = s.scalar(select(Search).order_by(Search.id.desc()).limit(1))
        assert row is not None and row.model == agency_key
        assert row.model_sha256 == svc.gallery.manifest.recognizer.sha256
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "models.switch"))
        assert entry is not None and entry.actor == "admin"
        assert f'"to_model_key":"{agency_key}"' in entry.details.replace(" ", "")
    assert svc.admin.verify_audit(_admin(svc)).ok

    status = svc.model_switch.status(_admin(svc))
    assert status.active == AGENCY and status.previous_model_key == sface_key
    assert status.can_switch_back and status.migration is not None
    assert status.migration.state == "switched"

    # the active model's vectors cannot be dropped; back to SFace restores its results
    with pytest.raises(RefusedError):
        svc.model_switch.drop(_admin(svc), agency_key)
    back = svc.model_switch.switch_back(_admin(svc))
    assert back.target_model_key == sface_key and back.moved == len(names)
    again = svc.searches.engine_search(probe, K, request)
    assert again.model == sface_key and _same(_ranked(again, names), expected[sface_key])

    dropped = svc.model_switch.drop(_admin(svc), agency_key)
    assert dropped.vectors == len(names)
    with svc.gallery.catalog.session() as s:
        left = s.scalar(select(func.count()).select_from(FaceVector))
    assert left == 0
    assert not svc.model_switch.status(_admin(svc)).can_switch_back
    assert svc.admin.verify_audit(_admin(svc)).ok


def test_switch_refused_uncalibrated_or_incomplete(service, scratch, agency_model, probe):
    svc = service
    data = svc.settings.data_dir
    sface_key = svc.gallery.model_key
    add_agency_model(data, agency_model, calibrate=False)
    fill_target_vectors(svc.gallery, scratch, skip=1)  # one searchable face lacks its vector
    with pytest.raises(RefusedError, match="no calibration of its own"):
        svc.model_switch.switch(_admin(svc), AGENCY)
    ModelStore.of(data).write_calibration(AGENCY, BANDS)
    engine = svc.gallery.catalog.engine
    started, _ = migration_rows.open_migration(engine, AGENCY, scratch.model_key, sface_key, "t")
    with pytest.raises(RefusedError, match="still running"):  # its pass may still commit
        svc.model_switch.switch(_admin(svc), AGENCY)
    with pytest.raises(RefusedError, match="still running"):  # nor drop what it writes
        svc.model_switch.drop(_admin(svc), AGENCY)
    with svc.gallery.catalog.session() as s:
        migration_rows.update_migration(s, started.id, state="interrupted")
    with pytest.raises(RefusedError, match="1 searchable faces"):
        svc.model_switch.switch(_admin(svc), AGENCY)
    with pytest.raises(RefusedError):  # investigators may not switch
        svc.model_switch.switch(svc.accounts.principal("inv", "cli"), AGENCY)
    # nothing moved: the gallery still answers with SFace
    assert svc.searches.engine_search(probe, K, SearchRequest(k=K)).model == sface_key
    with svc.governance.session() as s:
        refused = s.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "models.switch.refused")
        ).all()
    assert len(refused) == 4 and "1 searchable faces" in refused[2]


def test_switch_refused_while_standing_data_cannot_move(
    service, scratch, agency_model, shared_faces
):
    """A suppression entry keeps no image: it blocks the switch until it is enrolled for the
    new model (the service's standing moves, app/standing_moves.py, run by the switch)."""
    svc = service
    add_agency_model(svc.settings.data_dir, agency_model, calibrate=True)
    admin = _admin(svc)
    her = cfp_frontal(shared_faces, 5, 3).read_bytes()
    request_id, _ = svc.admin.preview_removal(admin, [her], "the person", "request 1")
    svc.admin.apply_removal(admin, request_id, None)
    fill_target_vectors(svc.gallery, scratch)
    with pytest.raises(RefusedError, match=r"suppression entries: .*enrol-model"):
        svc.model_switch.switch(admin, AGENCY)
    assert svc.model_switch.status(admin).active != AGENCY


def test_a_server_picks_up_a_switch_the_cli_made_in_another_process(
    service, scratch, agency_model, probe
):
    """``facesearch models switch`` in its own process; this process's service (holding the
    gallery, its index and pipelines in memory) answers its next search with the new model."""
    svc = service
    data = svc.settings.data_dir
    names = face_names(svc.gallery)
    agency_key = add_agency_model(data, agency_model, calibrate=True)
    fill_target_vectors(svc.gallery, scratch)
    request = SearchRequest(k=K)
    assert svc.searches.engine_search(probe, K, request).model != agency_key
    env = {k: v for k, v in os.environ.items() if k not in ("FACESEARCH_TOKEN", "FACESEARCH_USER")}
    token = make_token(data, "admin")
    done = subprocess.run(
        [sys.executable, "-m", "facesearch", "-d", str(data), "models", "switch", AGENCY,
         "--yes", "--json", "--token", token],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["target_model_key"] == agency_key
    seen = svc.searches.engine_search(probe, K, request)
    assert seen.model == agency_key
    expected = _ranked(scratch.search(probe, K), face_names(scratch))
    assert _same(_ranked(seen, names), expected)
