"""Standing data moves with the gallery to another recognizer (issue 25, item 3): standing
queries, suppression entries and media faces, with the real models (SFace, and the agency
model the test suite makes: dlib's ResNet re-exported under the card "test-resnet").

For each kind: before preparation the move lists what blocks the switch; prepare() makes the
target model's vectors (and again does nothing more); switch() inside a transaction swaps them
in (the old kept: a switch back restores the same bytes); drop() deletes the kept ones. The
switch of the gallery's own faces is another module's: here the catalog is only told that the
gallery now searches with the agency model, and a standing query moved to it alerts on a face
ingested with it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from sqlalchemy import select
from tests.conftest import write_image
from tests.support.media import make_app

from facesearch.app.service import SearchRequest, Service
from facesearch.app.standing_moves import model_pipeline, standing_moves
from facesearch.govern import RefusedError
from facesearch.govern.moves_schema import StandingQueryVector, SuppressionVector
from facesearch.govern.schema import StandingQuery, Suppression
from facesearch.govern.standing import EMBEDDING_COLUMN
from facesearch.govern.standing_moves import carried_threshold
from facesearch.govern.suppression import SuppressionMatcher
from facesearch.media.moves_schema import MediaFaceVector
from facesearch.media.schema import MediaFace, MediaFile
from facesearch.media.vectors import open_face_vector
from facesearch.models.card import parse_card, read_card
from facesearch.models.manifest import load_manifest
from facesearch.models.store import ModelStore
from facesearch.settings import Settings
from facesearch.store.crypto import open_embedding
from facesearch.store.recognizers import set_active

AGENCY = "test-resnet"
BANDS = {"match": 0.92, "strong": 0.95}  # plausible for dlib's ResNet, whose vectors of
# different people score high (0.89 for two of the test photos); not measured here


@pytest.fixture
def database_url(request) -> str | None:  # type: ignore[no-untyped-def]
    """SQLite in the data directory unless a test asks for PostgreSQL (a fresh schema)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def world(tmp_path, pipeline, agency_model, database_url):
    setup = make_app(tmp_path / "data", pipeline, search_workers=1, database_url=database_url)
    onnx, card = agency_model
    store = ModelStore.of(setup.service.settings.data_dir)
    store.add(onnx, parse_card(read_card(card), load_manifest()))
    store.write_calibration(AGENCY, {"thresholds": BANDS, "note": "plausible test bands"})
    target = model_pipeline(setup.service.ctx, AGENCY)
    yield setup, target
    setup.service.close()


def _move(service: Service, kind: str):  # type: ignore[no-untyped-def]
    (move,) = [m for m in standing_moves(service.ctx) if m.kind == kind]
    return move


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def _same_person(astronaut: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(astronaut[0:400, 40:440][:, ::-1])


def test_a_standing_query_moves_and_alerts_with_the_new_model(
    world, tmp_path, astronaut, other_faces
):
    setup, target = world
    service = setup.service
    gov = service.governance
    admin = service.accounts.principal("admin", "cli")
    ivy = service.accounts.principal("ivy", "cli")
    # an empty gallery (the gallery's own faces are moved by another module, its index too)
    probe = write_image(tmp_path / "probe.jpg", astronaut).read_bytes()
    first = service.searches.search(ivy, "A", probe, SearchRequest(k=5))
    query = service.standing.create(ivy, first.outcome.search_id, "identify the child")
    ended = service.standing.create(ivy, first.outcome.search_id, "a second, ended later")
    source, tkey = service.gallery.model_key, target.model_key
    assert source != tkey
    move = _move(service, "standing queries")

    blockers = move.blockers(source, tkey)
    assert len(blockers) == 2 and f"standing query {query.id} " in blockers[0]
    report = move.prepare(target, source)
    assert (report.moved, report.already, report.failed) == (2, 0, {})
    assert move.blockers(source, tkey) == []
    again = move.prepare(target, source)
    assert (again.moved, again.already) == (0, 2)  # resumable: done queries are skipped
    expected = _unit(target.process_bytes(probe).faces[0].embedding)
    with gov.session() as s:
        row = s.get(StandingQueryVector, (query.id, tkey))
        assert row is not None
        kept = open_embedding(gov.cipher, row.embedding, query.id, tkey, EMBEDDING_COLUMN)
    assert float(kept @ expected) > 0.999
    service.standing.end(ivy, ended.id, "not needed")  # its kept vectors go with it
    with gov.session() as s:
        assert s.get(StandingQueryVector, (ended.id, tkey)) is None
        original = s.get(StandingQuery, query.id).embedding

    # the switch, and a switch back: the same bytes come back; then switch again
    with gov.session() as s:
        assert move.switch(s, source, tkey) == 1
    with gov.session() as s:
        row = s.get(StandingQuery, query.id)
        assert row.model == tkey
        assert s.get(StandingQueryVector, (query.id, source)).embedding == original
        assert s.get(StandingQueryVector, (query.id, tkey)) is None
    with gov.session() as s:
        assert move.switch(s, tkey, source) == 1
    with gov.session() as s:
        assert s.get(StandingQuery, query.id).embedding == original
    with gov.session() as s:
        assert move.switch(s, source, tkey) == 1
        previous = service.gallery.manifest.default_recognizer
        set_active(s, AGENCY, tkey, previous=previous, previous_model_key=source, by="admin")
    data_dir = service.settings.data_dir
    service.close()
    # the gallery's own faces and index move with the switch (another module's): this gallery
    # has no face, so its index is simply made again for the agency model
    shutil.rmtree(data_dir / "index")

    # the gallery now searches with the agency model: an ingest of another photo of the same
    # person alerts the moved query, scored with the agency model
    with Service(Settings(data_dir=data_dir, search_workers=1)) as moved:
        assert moved.gallery.model_key == tkey
        folder = tmp_path / "same"
        write_image(folder / "same.png", _same_person(astronaut))
        admin = moved.accounts.principal("admin", "cli")
        ivy = moved.accounts.principal("ivy", "cli")
        report = moved.library.ingest(admin, [folder], workers=0)
        assert report.faces_indexed == 1
        assert report.followups["standing_queries"] == 1
        (alert,) = moved.standing.alerts(ivy)
        assert alert.query_id == query.id
        found = moved.searches.view(ivy, alert.search_id)
        assert len(found.candidates) == 1 and found.candidates[0].band == "strong"
        (view,) = [q for q in moved.standing.queries(ivy, "A") if q.id == query.id]
        assert view.model == tkey

        # a new removal request on the agency model: the policy's threshold is carried to its
        # scale (taken as it is, 0.40 would list her face for another person: 0.89 with dlib)
        stranger = write_image(tmp_path / "other.jpg", other_faces[0]).read_bytes()
        request_id, matches = moved.admin.preview_removal(admin, [stranger], "him", "DSR-2")
        assert matches == []
        with moved.governance.session() as s:
            (entry,) = s.scalars(select(Suppression).where(Suppression.request_id == request_id))
            sface = load_manifest().recognizer.thresholds
            threshold = moved.governance.policy.suppression.threshold
            assert entry.threshold == pytest.approx(carried_threshold(threshold, sface, BANDS))


def test_a_suppression_entry_blocks_until_enrolled_with_a_photo_of_the_same_person(
    world, tmp_path, astronaut, other_faces
):
    setup, target = world
    service = setup.service
    gov = service.governance
    admin = service.accounts.principal("admin", "cli")
    photo = write_image(tmp_path / "her.jpg", astronaut).read_bytes()
    request_id, _ = service.admin.preview_removal(
        admin, [photo], "the person", "request 1", names=["her.jpg"]
    )
    service.admin.apply_removal(admin, request_id, None)
    with gov.session() as s:
        (entry_id,) = s.scalars(select(Suppression.id)).all()
    source, tkey = service.gallery.model_key, target.model_key
    move = _move(service, "suppression entries")

    (blocker,) = move.blockers(source, tkey)
    assert f"suppress enrol-model {entry_id} PHOTO --model {AGENCY}" in blocker
    assert move.prepare(target, source).failed  # nothing can be re-embedded
    stranger = write_image(tmp_path / "other.jpg", other_faces[0]).read_bytes()
    with pytest.raises(RefusedError, match="not the same person"):
        service.standing_moves.enrol_suppression(admin, entry_id, stranger, AGENCY, pipeline=target)
    assert move.blockers(source, tkey) == [blocker]  # nothing stored
    same = write_image(tmp_path / "same.jpg", _same_person(astronaut)).read_bytes()
    done = service.standing_moves.enrol_suppression(admin, entry_id, same, AGENCY, pipeline=target)
    assert done.model == tkey and done.old_model == source
    assert done.old_score >= gov.policy.suppression.threshold
    assert move.blockers(source, tkey) == []

    with gov.session() as s:
        assert move.switch(s, source, tkey) == 1
    with gov.session() as s:
        entry = s.get(Suppression, entry_id)
        assert entry.model == tkey and entry.active
        # the policy's threshold (on SFace's scale) carried to the agency model's bands
        sface = service.gallery.manifest.recognizer.thresholds
        carried = carried_threshold(gov.policy.suppression.threshold, sface, BANDS)
        assert entry.threshold == pytest.approx(carried) and carried > BANDS["strong"]
        kept = s.get(SuppressionVector, (entry_id, source))
        assert kept is not None and kept.source == "kept"
        matcher = SuppressionMatcher.load(s, gov.policy.suppression.threshold, gov.cipher)
    assert set(matcher.by_model) == {tkey}  # enforced with the new model only
    her = target.process_bytes(photo).faces[0].embedding
    other = target.process_bytes(stranger).faces[0].embedding
    assert matcher.is_suppressed(her, tkey) and not matcher.is_suppressed(other, tkey)
    assert not matcher.is_suppressed(her, source)
    with gov.session() as s:
        assert move.drop(s, source) == 1
    actions = [e["action"] for e in _audit(service)]
    assert "suppression.enrol_model" in actions


@pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_media_faces_move_from_their_crops_and_persons_keep_their_ids(
    world, tmp_path, astronaut, other_faces
):
    setup, target = world
    service, media = setup.service, setup.media
    gov = service.governance
    cipher = service.gallery.cipher
    folder = tmp_path / "seized"
    write_image(folder / "a.png", astronaut)
    write_image(folder / "b.jpg", other_faces[0])
    media.import_media("ivy", "A", [folder], workers=0)
    source, tkey = service.gallery.model_key, target.model_key
    move = _move(service, "media faces")
    with gov.session() as s:
        before = {f.id: f.embedding for f in s.scalars(select(MediaFace))}
    assert len(before) == 2

    (blocker,) = move.blockers(source, tkey)
    assert blocker.startswith("case A: 2 searchable media face(s)")
    # a face whose crop is gone cannot move: said so, and it still blocks the switch
    with gov.session() as s:
        gone, key = s.execute(
            select(MediaFace.id, MediaFace.crop)
            .join(MediaFile, MediaFile.id == MediaFace.file_id)
            .where(MediaFile.path.like("%b.jpg"))
        ).one()
    kept_crop = media.blobs.get_stored(key)
    media.blobs.delete(key)
    report = move.prepare(target, source)
    assert (report.moved, report.failed) == (1, {f"media face {gone}": "its stored crop is gone"})
    (blocker,) = move.blockers(source, tkey)
    assert blocker.startswith("case A: 1 searchable media face(s)")
    media.blobs.put_stored(key, kept_crop)
    report = move.prepare(target, source)  # resumed: only the face left
    assert (report.moved, report.already, report.failed) == (1, 1, {})
    assert move.blockers(source, tkey) == []
    assert move.prepare(target, source).moved == 0
    # made from the 160 px crop: close to the vector of the original photo's face
    whole = _unit(target.process_bytes((folder / "a.png").read_bytes()).faces[0].embedding)
    with gov.session() as s:
        vectors = {
            r.face_id: open_face_vector(cipher, r.embedding, r.face_id, tkey)
            for r in s.scalars(select(MediaFaceVector).where(MediaFaceVector.model == tkey))
        }
    assert max(float(_unit(v) @ whole) for v in vectors.values()) > 0.9

    # a media person's standing query: the mean of its faces' target vectors (here one face)
    media.cluster("ivy", "A")
    ivy = service.accounts.principal("ivy", "cli")
    with gov.session() as s:
        her = max(vectors, key=lambda i: float(_unit(vectors[i]) @ whole))
        cluster = s.get(MediaFace, her).cluster_id
        persons = {f.id: f.cluster_id for f in s.scalars(select(MediaFace))}
    assert cluster is not None and len(set(persons.values())) == 2
    found = service.searches.cluster_search(ivy, "A", cluster, SearchRequest(k=5))
    query = service.standing.create(ivy, found.outcome.search_id, "identify the child")
    admin = service.accounts.principal("admin", "cli")
    seen: list[str] = []
    reports = service.standing_moves.prepare(
        admin, AGENCY, pipeline=target, on_progress=lambda kind, done, total: seen.append(kind)
    )
    by_kind = {r.kind: (r.moved, r.already, len(r.failed)) for r in reports}
    assert by_kind == {
        "media faces": (0, 2, 0),
        "standing queries": (1, 0, 0),
        "suppression entries": (0, 0, 0),
    }
    assert "standing queries" in seen
    assert "models.standing_prepare" in [e["action"] for e in _audit(service)]
    with gov.session() as s:
        row = s.get(StandingQueryVector, (query.id, tkey))
        kept = open_embedding(gov.cipher, row.embedding, query.id, tkey, EMBEDDING_COLUMN)
    assert float(kept @ _unit(vectors[her])) > 0.9999

    with gov.session() as s:
        assert move.switch(s, source, tkey) == 2
    with gov.session() as s:
        after = {f.id: f for f in s.scalars(select(MediaFace))}
        for face_id, face in after.items():
            assert face.model == tkey and face.cluster_id == persons[face_id]
            got = open_face_vector(cipher, face.embedding, face_id, tkey)
            assert np.allclose(got, vectors[face_id])
            assert s.get(MediaFaceVector, (face_id, source)).embedding == before[face_id]
    with gov.session() as s:  # switch back: the same bytes
        assert move.switch(s, tkey, source) == 2
    with gov.session() as s:
        assert {f.id: f.embedding for f in s.scalars(select(MediaFace))} == before
        assert move.drop(s, tkey) == 2


def _audit(service):  # type: ignore[no-untyped-def]
    from facesearch.govern.audit import entries

    with service.governance.session() as s:
        return [{"action": e.action} for e in entries(s)]
