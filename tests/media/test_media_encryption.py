"""Media faces' vectors with an encryption key: sealed at rest (bound to the face's id and
model), read strictly, and clustering, cross-case alerts and the cluster search work as they
do without a key. Real models, SQLite, photos from the shared CFP set."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from sqlalchemy import select
from tests.support.media import cfp_frontal, make_app

from facesearch.app.service import SearchRequest
from facesearch.errors import EncryptionError
from facesearch.media.schema import MediaFace
from facesearch.media.vectors import open_face_vector
from facesearch.store.crypto import Cipher, generate_key, is_encrypted, parse_key

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

KEY = generate_key()


@pytest.fixture
def keyed(tmp_path, pipeline, shared_faces, monkeypatch):
    for var in ("FACESEARCH_ENCRYPTION_KEY_FILE", "FACESEARCH_KEY_COMMAND"):
        monkeypatch.delenv(var, raising=False)
    s = make_app(tmp_path / "data", pipeline, encryption_key=KEY, search_workers=1)
    folder = tmp_path / "gallery"
    folder.mkdir()
    for p in (65, 66, 67):
        for k in (8, 9):
            shutil.copy(cfp_frontal(shared_faces, p, k), folder / f"p{p}_{k}.jpg")
    admin = s.service.accounts.principal("admin", "cli")
    assert not s.service.library.ingest(admin, [folder], workers=0).failures
    yield s
    s.service.close()


def test_media_face_vectors_are_sealed_and_clustering_alerts_and_search_still_work(
    keyed, shared_faces, tmp_path
) -> None:
    service, media = keyed.service, keyed.media
    cipher = Cipher(parse_key(KEY))
    assert service.gallery.cipher is not None
    assert service.gallery.cipher.key_id == cipher.key_id
    a, b = tmp_path / "seized-a", tmp_path / "seized-b"
    a.mkdir()
    b.mkdir()
    for k in (1, 2, 3):
        shutil.copy(cfp_frontal(shared_faces, 65, k), a / f"child-{k}.jpg")
    shutil.copy(cfp_frontal(shared_faces, 90, 1), a / "other.jpg")
    for k in (4, 5):
        shutil.copy(cfp_frontal(shared_faces, 65, k), b / f"b-{k}.jpg")
    media.import_media("ivy", "A", [a], workers=0)
    media.import_media("ian", "B", [b], workers=0)  # the import looks across cases

    # at rest: every stored vector is sealed and does not decode as the real float32 vector
    with service.governance.session() as s:
        rows = s.execute(
            select(MediaFace.id, MediaFace.model, MediaFace.embedding).order_by(MediaFace.id)
        ).all()
    assert len(rows) >= 6
    for face_id, model, blob in rows:
        assert is_encrypted(blob)
        vec = open_face_vector(cipher, blob, face_id, model)
        assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-3
        assert vec.astype("<f4").tobytes()[:16] not in blob
        decoded = np.frombuffer(blob[: vec.size * 4], "<f4")
        assert not np.allclose(decoded, vec, atol=1e-3)
        with pytest.raises(EncryptionError):  # without the key: refused, never misread
            open_face_vector(None, blob, face_id, model)
    first, second = rows[0], rows[1]
    with pytest.raises(EncryptionError, match="modified"):  # bound to its own face
        open_face_vector(cipher, first[2], second[0], second[1])

    # cross-case alerts: the same child in A and B
    (alert_a,) = media.alerts("ivy", "A")
    assert alert_a.other_case == "B"
    # clustering: the child's three photos together, the other person apart
    run = media.cluster("ivy", "A")
    assert run.faces == 4
    views = media.clusters("ivy", "A")
    child = next(v for v in views if any("child" in f.file for f in v.faces))
    assert sorted(f.file for f in child.faces) == [f"seized-a/child-{k}.jpg" for k in (1, 2, 3)]
    # the cluster searched in the gallery: its probes' vectors opened with the key
    ivy = service.accounts.principal("ivy", "cli")
    out = service.searches.cluster_search(ivy, "A", child.cluster, SearchRequest(k=3), max_probes=2)
    assert len(out.probes) == 2
    assert out.outcome.candidates[0].provenance[0]["path"].endswith(("p65_8.jpg", "p65_9.jpg"))
