from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import func, select, update
from tests.support.govern import (  # noqa: F401
    MODEL,
    FakeBackend,
    World,
    add_face,
    engine,
    make_world,
    open_approved_case,
    person_vec,
    probe_bytes,
    remove_faces_from,
    sqlite_engine,
    world,
)

from facesearch.errors import EncryptionError
from facesearch.govern import RefusedError, index_finder
from facesearch.govern.schema import AuditEntry, Suppression
from facesearch.govern.suppression import SuppressionMatcher
from facesearch.store.crypto import Cipher, generate_key, is_encrypted, parse_key, seal_embedding
from facesearch.store.schema import FaceRow as Face

PERSON = 4


def _request_vectors() -> np.ndarray:
    # photos the person supplies: two new pictures of them
    return np.stack([person_vec(PERSON, 50), person_vec(PERSON, 51)])


def test_suppressed_person_is_removed_not_returned_and_not_reingested(world: World) -> None:  # noqa: F811
    gov = world.gov
    open_approved_case(world)
    before = world.search("alice", "C-1", probe_bytes(PERSON))
    theirs = {world.faces[(PERSON, 0)], world.faces[(PERSON, 1)]}
    assert {c.face_id for c in before.candidates} == theirs

    # 1. preview: exactly the person's faces, for a human to check; nothing removed yet
    request_id, matches = gov.preview_removal(
        "admin", _request_vectors(), MODEL, "the person, via counsel", "erasure request DSR-7"
    )
    assert {m.face_id for m in matches} == theirs
    assert all(m.image_sha256 and m.image_path for m in matches)
    assert not gov.is_suppressed(person_vec(PERSON, 60), MODEL)  # inactive until applied
    with world.sessions() as s:
        assert s.execute(select(func.count()).select_from(Face)).scalar_one() == 10

    # 2. apply through the remover the caller supplies (here: catalog deletion)
    removed = gov.apply_removal("admin", request_id, remove_faces_from(world.sessions))
    assert set(removed) == theirs
    with world.sessions() as s:
        assert s.execute(select(func.count()).select_from(Face)).scalar_one() == 8
        sup = s.execute(select(Suppression)).scalars().all()
        assert len(sup) == 2 and all(x.active for x in sup)
        assert all(len(x.embedding) == 128 * 4 for x in sup)  # an embedding, no image
    actions = world.audit_actions()
    assert {"removal.preview", "suppression.activate", "removal.apply"} <= set(actions)

    # 3. ingest would leave them out; other people are unaffected
    matcher = gov.suppression_matcher()
    assert matcher.is_suppressed(person_vec(PERSON, 70), MODEL)
    assert not matcher.is_suppressed(person_vec(PERSON + 1, 70), MODEL)
    assert not matcher.is_suppressed(person_vec(PERSON, 70), "another-model")
    assert gov.is_suppressed(person_vec(PERSON, 71))

    # 4. a photo of them that gets in anyway (ingested before, or by another path) is not shown
    with world.sessions() as s:
        sneaked = add_face(s, PERSON, 80, collection="other")
        s.commit()
    after = world.search("alice", "C-1", probe_bytes(PERSON))
    assert sneaked not in {c.face_id for c in after.candidates}
    assert after.candidates == () and after.hidden_suppressed == 1
    assert world.last_entry().details["hidden_suppressed"] == 1
    others = world.search("alice", "C-1", probe_bytes(2))
    assert len(others.candidates) == 2 and others.hidden_suppressed == 0
    kept, dropped = gov.filter_candidates(
        [SimpleNamespace(face_id=sneaked), SimpleNamespace(face_id=world.faces[(2, 0)])], MODEL
    )
    assert dropped == 1 and [c.face_id for c in kept] == [world.faces[(2, 0)]]


def test_apply_a_subset_and_refuse_faces_not_previewed(world: World) -> None:  # noqa: F811
    gov = world.gov
    request_id, matches = gov.preview_removal(
        "admin", _request_vectors(), MODEL, "the person", "request 8"
    )
    keep_out = world.faces[(1, 0)]
    with pytest.raises(RefusedError, match="not in the preview"):
        gov.apply_removal("admin", request_id, remove_faces_from(world.sessions), [keep_out])
    one = matches[0].face_id
    assert gov.apply_removal("admin", request_id, remove_faces_from(world.sessions), [one]) == [one]
    with pytest.raises(RefusedError, match="is applied"):
        gov.apply_removal("admin", request_id, remove_faces_from(world.sessions))


def test_failed_removal_is_logged_and_suppression_stays(world: World) -> None:  # noqa: F811
    gov = world.gov
    request_id, _ = gov.preview_removal("admin", _request_vectors(), MODEL, "p", "r")

    def broken(ids: list[int]) -> None:
        raise OSError("index locked")

    with pytest.raises(OSError):
        gov.apply_removal("admin", request_id, broken)
    assert world.last_entry().action == "removal.failed"
    assert gov.is_suppressed(person_vec(PERSON, 90), MODEL)


def test_cancel_and_permissions(world: World) -> None:  # noqa: F811
    gov = world.gov
    with pytest.raises(RefusedError, match="lacks the role"):
        gov.preview_removal("alice", _request_vectors(), MODEL, "p", "r")
    request_id, _ = gov.preview_removal("admin", _request_vectors(), MODEL, "p", "r")
    gov.cancel_removal("admin", request_id, "identity not verified")
    with world.sessions() as s:
        assert s.execute(select(func.count()).select_from(Suppression)).scalar_one() == 0
        n = s.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "removal.cancel")
        ).scalar_one()
    assert n == 1 and not gov.is_suppressed(person_vec(PERSON, 1), MODEL)


def test_index_finder_adapter(world: World) -> None:  # noqa: F811
    ids = np.array([[world.faces[(PERSON, 0)], 7, -1]])
    hits = SimpleNamespace(scores=np.array([[0.9, 0.1, -1.0]]), ids=ids)
    find = index_finder(lambda q, k: hits, k=3)
    assert find(np.zeros((1, 128), np.float32), 0.4) == [(world.faces[(PERSON, 0)], 0.9)]


def _seal_faces(keyed: World, cipher: Cipher) -> None:
    """The catalog's faces as a gallery with the key stores them (sealed to their ids)."""
    with keyed.sessions() as s:
        for face_id, blob in s.execute(select(Face.id, Face.embedding)).all():
            vec = np.frombuffer(blob, "<f4")
            sealed = seal_embedding(cipher, vec, face_id, MODEL)
            s.execute(update(Face).where(Face.id == face_id).values(embedding=sealed))
        s.commit()


def test_with_a_key_suppression_entries_are_sealed_and_still_block_the_person(
    engine,  # noqa: F811
) -> None:
    cipher = Cipher(parse_key(generate_key()))
    keyed = make_world(engine, cipher=cipher)
    _seal_faces(keyed, cipher)
    # the fake engine scores a plain twin of the catalog (same faces, same ids); suppression
    # reads the sealed catalog with the key
    twin_engine = sqlite_engine()
    twin = make_world(twin_engine)
    assert twin.faces == keyed.faces
    keyed.backend = FakeBackend(twin.sessions)
    gov = keyed.gov
    open_approved_case(keyed)
    theirs = {keyed.faces[(PERSON, 0)], keyed.faces[(PERSON, 1)]}

    request_id, matches = gov.preview_removal(
        "admin", _request_vectors(), MODEL, "the person", "erasure request DSR-9"
    )
    assert {m.face_id for m in matches} == theirs  # found among the sealed face vectors

    def remove(ids: list[int]) -> int:
        remove_faces_from(twin.sessions)(ids)
        return int(remove_faces_from(keyed.sessions)(ids))

    assert set(gov.apply_removal("admin", request_id, remove)) == theirs
    # at rest: the entries do not decode as the person's vectors
    queries = _request_vectors()
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    with keyed.sessions() as s:
        stored = s.execute(select(Suppression.embedding).order_by(Suppression.id)).scalars().all()
    assert len(stored) == 2
    for blob, q in zip(stored, queries, strict=True):
        assert is_encrypted(blob) and len(blob) == 128 * 4 + 40
        assert q.astype("<f4").tobytes()[:16] not in blob
        decoded = np.frombuffer(blob[: 128 * 4], "<f4")
        assert not np.allclose(decoded, q, atol=1e-3)

    # ingest (the matcher the library uses) and search still leave the person out
    matcher = gov.suppression_matcher()
    assert matcher.is_suppressed(person_vec(PERSON, 70), MODEL)
    assert not matcher.is_suppressed(person_vec(PERSON + 1, 70), MODEL)
    with keyed.sessions() as s:
        sneaked = add_face(s, PERSON, 80, collection="other")
        blob = s.execute(select(Face.embedding).where(Face.id == sneaked)).scalar_one()
        sealed = seal_embedding(cipher, np.frombuffer(blob, "<f4"), sneaked, MODEL)
        s.execute(update(Face).where(Face.id == sneaked).values(embedding=sealed))
        s.commit()
    with twin.sessions() as s:
        assert add_face(s, PERSON, 80, collection="other") == sneaked
        s.commit()
    after = keyed.search("alice", "C-1", probe_bytes(PERSON))
    assert after.candidates == () and after.hidden_suppressed == 1
    others = keyed.search("alice", "C-1", probe_bytes(2))
    assert len(others.candidates) == 2 and others.hidden_suppressed == 0

    # strict: without the key, or with another one, the entries are refused, not misread
    with keyed.sessions() as s:
        with pytest.raises(EncryptionError):
            SuppressionMatcher.load(s, 0.5, None)
        with pytest.raises(EncryptionError, match="different key"):
            SuppressionMatcher.load(s, 0.5, Cipher(parse_key(generate_key())))
        # a sealed entry moved to another entry's row fails its binding
        first, second = s.execute(select(Suppression).order_by(Suppression.id)).scalars().all()
        first.embedding, second.embedding = second.embedding, first.embedding
        s.flush()
        with pytest.raises(EncryptionError, match="modified"):
            SuppressionMatcher.load(s, 0.5, cipher)
        s.rollback()
    twin_engine.dispose()
