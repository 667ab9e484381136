"""Encryption at rest with a key set: the catalog's vectors and the saved index do not decode
as the float32 vectors they hold, blob names are keyed, anything plain where encrypted data is
expected is refused, and search answers exactly as without a key."""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, text, update
from tests.support.atrest import fill, open_gallery, unit_vectors

from facesearch.errors import EncryptionError
from facesearch.govern.suppression import candidate_embeddings, catalog_finder
from facesearch.settings import Settings
from facesearch.store.blobs import FileBlobStore
from facesearch.store.catalog import SqlCatalog
from facesearch.store.crypto import Cipher, Keyring, generate_key, is_encrypted, parse_key
from facesearch.store.keysource import key_text
from facesearch.store.rotation import rotate_blobs, rotate_embeddings, rotate_index
from facesearch.store.schema import FaceRow
from facesearch.store.sealed import SealedReader, SealedWriter
from facesearch.store.vectors.files import INDEX_FILE
from facesearch.store.vectors.flat import FlatVectorIndex
from facesearch.store.vectors.load import load_index
from facesearch.store.vectors.pq_refine import PQRefineVectorIndex

KEY = generate_key()


def _raw_faces(catalog: SqlCatalog) -> list[tuple[int, bytes, bytes | None]]:
    with catalog.session() as s:
        return [
            (int(i), bytes(e), None if e2 is None else bytes(e2))
            for i, e, e2 in s.execute(
                select(FaceRow.id, FaceRow.embedding, FaceRow.second_embedding).order_by(FaceRow.id)
            )
        ]


# --- the catalog's vectors ------------------------------------------------------------------


def test_catalog_vectors_are_encrypted_and_bound_to_their_face(tmp_path: Path) -> None:
    g = open_gallery(tmp_path / "data", KEY)
    vectors = fill(g, 6)
    raw = _raw_faces(g.catalog)
    for (_, emb, second), vec in zip(raw, vectors, strict=True):
        plain = vec.astype("<f4").tobytes()
        assert is_encrypted(emb) and plain not in emb
        decoded = np.frombuffer(emb[: len(plain)], "<f4")
        assert not np.allclose(decoded, vec, atol=1e-3)
        if second is not None:
            assert is_encrypted(second)
    ids = np.asarray([r[0] for r in raw])
    np.testing.assert_array_equal(g.catalog.embeddings(ids), vectors)
    chunks = list(g.catalog.iter_embeddings(g.model_key))
    np.testing.assert_array_equal(np.concatenate([v for _, v in chunks]), vectors)
    faces = g.catalog.faces(ids.tolist())
    np.testing.assert_array_equal(faces[int(ids[0])].second_embedding, vectors[1])
    # the pass after ingest stores second vectors encrypted too
    g.catalog.store_second_vectors("second@2", {int(ids[1]): (vectors[0], "crop")})
    assert is_encrypted(_raw_faces(g.catalog)[1][2] or b"")
    np.testing.assert_array_equal(
        g.catalog.faces([int(ids[1])])[int(ids[1])].second_embedding, vectors[0]
    )

    # swapping two faces' stored vectors is detected
    a, b = raw[0], raw[1]
    with g.catalog.session() as s:
        s.execute(update(FaceRow).where(FaceRow.id == a[0]).values(embedding=b[1]))
    with pytest.raises(EncryptionError, match="modified, or belongs under another name"):
        g.catalog.embeddings([a[0]])
    # a plain vector put in place of an encrypted one is refused, not read
    with g.catalog.session() as s:
        s.execute(
            update(FaceRow)
            .where(FaceRow.id == a[0])
            .values(embedding=vectors[0].astype("<f4").tobytes())
        )
    with pytest.raises(EncryptionError, match="not encrypted"):
        g.catalog.embeddings([a[0]])
    g.close()


def test_without_a_key_vectors_stay_plain_and_encrypted_ones_are_refused(tmp_path: Path) -> None:
    g = open_gallery(tmp_path / "data")
    vectors = fill(g, 3)
    raw = _raw_faces(g.catalog)
    assert raw[0][1] == vectors[0].astype("<f4").tobytes()
    g.close()
    g = open_gallery(tmp_path / "data", KEY)  # a key set over plain data: refused
    with pytest.raises(EncryptionError, match="keys rotate --from-plain"):
        g.catalog.embeddings([raw[0][0]])
    g.close()


# --- the saved vector index -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["flat", "pq_refine"])
def test_saved_index_is_encrypted_and_read_back_into_memory(tmp_path: Path, kind: str) -> None:
    dim, n = 64, 3000
    vectors = unit_vectors(n, dim)
    ids = np.arange(1, n + 1, dtype=np.int64)
    index: FlatVectorIndex | PQRefineVectorIndex
    if kind == "flat":
        index = FlatVectorIndex("m", dim)
    else:
        index = PQRefineVectorIndex("m", dim, pq_m=16, rerank=200, train_size=1000, shards=2)
    index.add(ids, vectors)
    cipher = Cipher(parse_key(KEY))
    folder = tmp_path / "index"
    index.save(folder, cipher)
    data = (folder / INDEX_FILE).read_bytes()
    assert data[:4] == b"FSS1"
    for row in (0, 1234, n - 1):
        assert vectors[row].astype("<f4").tobytes() not in data
        assert vectors[row].astype("<f4").tobytes()[:16] not in data
    assert len(data) > len(ids) * dim * (2 if kind != "flat" else 4)  # several 4 MiB chunks?
    before = [p.name for p in folder.iterdir()]
    back = load_index(folder, cipher)
    assert back is not None and len(back) == n
    assert [p.name for p in folder.iterdir()] == before  # no plaintext file written
    q = vectors[:20]
    np.testing.assert_array_equal(back.search(q, 5).ids, index.search(q, 5).ids)
    with pytest.raises(EncryptionError, match="no key is set"):
        load_index(folder)
    with pytest.raises(EncryptionError, match="different key"):
        load_index(folder, Cipher(parse_key(generate_key())))
    # a plain index put in place of the encrypted one is refused with the key set
    index.save(folder)
    with pytest.raises(EncryptionError, match="not encrypted"):
        load_index(folder, cipher)


def test_a_truncated_or_altered_index_file_is_refused(tmp_path: Path) -> None:
    cipher = Cipher(parse_key(KEY))
    payload = os.urandom(300_000)
    path = tmp_path / "f"
    with open(path, "wb") as fh:
        w = SealedWriter(fh, cipher, b"aad", chunk=65_536)
        w.write(payload[:100_000])
        w.write(payload[100_000:])
        w.finish()
    with open(path, "rb") as fh:
        assert SealedReader(fh, cipher, b"aad").read() == payload
    sealed = path.read_bytes()
    header, step = 24, 65_536 + 16
    for bad in (
        sealed[: header + 2 * step],  # cut at a chunk boundary
        sealed[:-1],
        sealed[:header] + sealed[header + step : header + 2 * step] + sealed[header + step :],
    ):
        path.write_bytes(bad)
        with open(path, "rb") as fh, pytest.raises(EncryptionError):
            SealedReader(fh, cipher, b"aad").read()
    path.write_bytes(sealed)
    with open(path, "rb") as fh, pytest.raises(EncryptionError):
        SealedReader(fh, cipher, b"other model").read()


def test_search_answers_the_same_with_and_without_a_key(tmp_path: Path) -> None:
    results = {}
    for name, key in (("plain", None), ("encrypted", KEY)):
        g = open_gallery(tmp_path / name, key)
        fill(g, 40)
        g.close()
        g = open_gallery(tmp_path / name, key)  # the saved index, read back
        probes = unit_vectors(5, g.pipeline_dim, seed=99)
        hits = g.vectors.search(probes, 10)
        assert g.vectors.repairs == {}
        results[name] = (hits.ids, hits.scores)
        data = (tmp_path / name / "index" / INDEX_FILE).read_bytes()
        assert (data[:4] == b"FSS1") == (key is not None)
        g.vectors.rebuild()  # from the catalog's (decrypted) vectors
        again = g.vectors.search(probes, 10)
        np.testing.assert_array_equal(again.ids, hits.ids)
        g.close()
    np.testing.assert_array_equal(results["plain"][0], results["encrypted"][0])
    np.testing.assert_allclose(results["plain"][1], results["encrypted"][1], atol=1e-6)


# --- blobs ----------------------------------------------------------------------------------


def test_blob_names_are_keyed_and_plain_files_are_refused(tmp_path: Path) -> None:
    key = parse_key(KEY)
    store = FileBlobStore(tmp_path / "blobs", cipher=Cipher(key))
    crop = b"\xff\xd8\xff a known photo's crop" * 50
    name = store.put(crop)
    assert name != hashlib.sha256(crop).hexdigest()
    name_key = hmac.new(key, b"facesearch-blob-names", hashlib.sha256).digest()
    assert name == hmac.new(name_key, crop, hashlib.sha256).hexdigest()
    assert store.put(crop) == name and len(store.keys()) == 1  # dedup by name still works
    assert not (tmp_path / "blobs" / hashlib.sha256(crop).hexdigest()[:2]).exists()
    assert FileBlobStore(tmp_path / "b2", Cipher(parse_key(generate_key()))).put(crop) != name
    assert FileBlobStore(tmp_path / "b3").put(crop) == hashlib.sha256(crop).hexdigest()
    assert store.get(name) == crop
    # a plain JPEG put where the encrypted crop lies is refused, not served
    store.path(name).write_bytes(b"\xff\xd8\xff substituted")
    with pytest.raises(EncryptionError, match="not encrypted"):
        store.get(name)
    # an encrypted file of another name moved here fails too
    other = store.put(b"another crop")
    store.path(name).write_bytes(store.path(other).read_bytes())
    with pytest.raises(EncryptionError, match="another name"):
        store.get(name)


# --- key sources ----------------------------------------------------------------------------


def test_key_file_must_be_private_and_outside_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    key_file = tmp_path / "facesearch.key"
    key_file.write_text(KEY + "\n")
    os.chmod(key_file, 0o644)
    with pytest.raises(EncryptionError, match=r"readable by others.*chmod 600"):
        Cipher.from_settings(Settings(data_dir=data, encryption_key_file=key_file))
    os.chmod(key_file, 0o600)
    c = Cipher.from_settings(Settings(data_dir=data, encryption_key_file=key_file))
    assert c is not None and c.key_id == Cipher(parse_key(KEY)).key_id
    inside = data / "key"
    inside.write_text(KEY)
    os.chmod(inside, 0o600)
    with pytest.raises(EncryptionError, match="inside the data directory"):
        Cipher.from_settings(Settings(data_dir=data, encryption_key_file=inside))
    with pytest.raises(EncryptionError, match="only one key source"):
        key_text(Settings(data_dir=data, encryption_key=KEY, encryption_key_file=key_file))
    with pytest.raises(EncryptionError, match="cannot read the key file"):
        key_text(Settings(data_dir=data, encryption_key_file=tmp_path / "missing"))


def test_key_from_the_environment_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "k"
    key_file.write_text(KEY)
    os.chmod(key_file, 0o600)
    monkeypatch.delenv("FACESEARCH_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("FACESEARCH_ENCRYPTION_KEY_FILE", str(key_file))
    c = Cipher.from_settings(Settings.load(data_dir=tmp_path / "d"))
    assert c is not None and c.key_id == Cipher(parse_key(KEY)).key_id
    monkeypatch.delenv("FACESEARCH_ENCRYPTION_KEY_FILE")
    monkeypatch.setenv("FACESEARCH_KEY_COMMAND", f"{sys.executable} -c 'print(\"{KEY}\")'")
    c = Cipher.from_settings(Settings.load(data_dir=tmp_path / "d"))
    assert c is not None and c.key_id == Cipher(parse_key(KEY)).key_id


def test_key_command_runs_without_a_shell_and_fails_clearly(tmp_path: Path) -> None:
    def cipher(command: str, timeout: float = 10.0) -> Cipher | None:
        return Cipher.from_settings(
            Settings(data_dir=tmp_path, key_command=command, key_command_timeout=timeout)
        )

    ok = cipher(f"{sys.executable} -c 'print(\"{KEY}\")'")
    assert ok is not None and ok.key_id == Cipher(parse_key(KEY)).key_id
    # no shell: a ';' is an argument, not a second command
    marker = tmp_path / "ran"
    with pytest.raises(EncryptionError):
        cipher(f"{sys.executable} -c 'import sys; sys.exit(0)' ; touch {marker}")
    assert not marker.exists()
    with pytest.raises(EncryptionError, match=r"failed \(exit 3\): vault is sealed"):
        fail = "import sys; sys.stderr.write('vault is sealed\\n'); sys.exit(3)"
        cipher(f'{sys.executable} -c "{fail}"')
    with pytest.raises(EncryptionError, match="was not found"):
        cipher("/nonexistent/kms-get-key --id facesearch")
    with pytest.raises(EncryptionError, match=r"did not answer within 0\.5 s"):
        cipher(f"{sys.executable} -c 'import time; time.sleep(5)'", timeout=0.5)
    with pytest.raises(EncryptionError, match="printed no key"):
        cipher(f"{sys.executable} -c 'pass'")
    with pytest.raises(EncryptionError, match="32 bytes"):
        cipher(f"{sys.executable} -c 'print(\"short\")'")


def test_sqlite_file_holds_no_plain_vector(tmp_path: Path) -> None:
    g = open_gallery(tmp_path / "data", KEY)
    vectors = fill(g, 5)
    with g.catalog.engine.begin() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    g.close()
    disk = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    for vec in vectors:
        assert vec.astype("<f4").tobytes()[:32] not in disk


def test_removal_requests_find_faces_among_encrypted_vectors(tmp_path: Path) -> None:
    """Suppression reads the catalog's vectors itself (a full scan for a removal preview, the
    candidates' vectors at search): it decrypts them with the gallery's key."""
    g = open_gallery(tmp_path / "data", KEY)
    vectors = fill(g, 8)
    ids = [r[0] for r in _raw_faces(g.catalog)]
    with g.catalog.session() as s:
        found = catalog_finder(s, g.model_key, cipher=g.cipher)(vectors[3:4], 0.99)
        assert [face_id for face_id, _ in found] == [ids[3]]

        class Candidate:
            face_id = ids[5]

        got = candidate_embeddings(s, [Candidate()], g.cipher)
        np.testing.assert_array_equal(got[ids[5]][0], vectors[5])
        with pytest.raises(EncryptionError):
            catalog_finder(s, g.model_key)(vectors[3:4], 0.99)  # no key: refused
    g.close()


def test_a_data_dir_encrypted_by_an_earlier_version_is_brought_up_to_date(tmp_path: Path) -> None:
    """Earlier versions encrypted the crops (named by SHA-256) but not the vectors or the
    index: rotating ``--from-plain`` with the same key encrypts those and keeps the crops."""
    data = tmp_path / "data"
    g = open_gallery(data)  # vectors and index plain
    vectors = fill(g, 6)
    g.close()
    cipher = Cipher(parse_key(KEY))
    store = FileBlobStore(data / "blobs")
    names = store.keys()
    for name in names:  # the crops as an earlier version left them
        store.put_stored(name, cipher.encrypt(store.get_stored(name), name.encode()))
    g = open_gallery(data, KEY)
    with pytest.raises(EncryptionError, match="not encrypted"):
        g.vectors.search(vectors[:1], 3)
    keys = Keyring(cipher, plain=True)
    assert rotate_embeddings(g.catalog.session, keys) == 6
    assert rotate_index(g.vectors.directory, keys) == 1
    before = sorted(g.blobs.keys())
    assert rotate_blobs(g.blobs, keys, g.catalog.session, [FaceRow.crop]) == (0, 0)
    assert sorted(g.blobs.keys()) == before  # already under the key: left as they are
    g.close()
    g = open_gallery(data, KEY)
    hits = g.vectors.search(vectors[:3], 1)
    np.testing.assert_array_equal(hits.ids[:, 0], [r[0] for r in _raw_faces(g.catalog)][:3])
    crop = g.catalog.faces([int(hits.ids[0, 0])])[int(hits.ids[0, 0])].crop
    assert crop is not None and g.blobs.get(crop).startswith(b"crop")
    g.close()
