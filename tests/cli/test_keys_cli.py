"""``facesearch keys``: a new key, and rotation of a real data directory - from plain data to
a first key, then to a second key - each killed halfway (the test hook) and finished by the
command, resumed from its progress record; search answers the same throughout."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from tests.support.atrest import fill, open_gallery, unit_vectors
from tests.support.cli import PASSWORD, init_args, init_input, make_token
from typer.testing import CliRunner

from facesearch.app.keys import STATE_FILE, Keys, RotationStopped
from facesearch.app.service import Service
from facesearch.errors import EncryptionError
from facesearch.govern.schema import AuditEntry, Case, Probe, RemovalRequest, Suppression, User
from facesearch.govern.searches import store_probe
from facesearch.govern.suppression import open_entry, to_blob
from facesearch.media.schema import MediaFace, MediaFile, MediaImport, MediaSet
from facesearch.media.vectors import open_face_vector
from facesearch.settings import Settings
from facesearch.store.crypto import Cipher, generate_key, key_id_of, parse_key
from facesearch.store.schema import FaceRow, Image
from facesearch.store.vectors.files import INDEX_FILE

K1, K2 = generate_key(), generate_key()
PROBE = b"\xff\xd8\xff a probe photo" * 30


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in (
        "FACESEARCH_ENCRYPTION_KEY",
        "FACESEARCH_OLD_ENCRYPTION_KEY",
        "FACESEARCH_ENCRYPTION_KEY_FILE",
        "FACESEARCH_KEY_COMMAND",
        "FACESEARCH_USER",
        "FACESEARCH_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "data"


def run(data: Path, *args: str, code: int = 0, stdin: str | None = None, **env: str) -> str:
    from facesearch.cli import app

    result = CliRunner().invoke(app, ["-d", str(data), *args], input=stdin, env=env)
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.output


def stats(data: Path) -> dict[str, Any]:
    out = run(data, "stats", "--json")  # warnings on standard error first
    info: dict[str, Any] = json.loads(out[out.index("{") :])
    return info


def search(data: Path, key: str | None, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = open_gallery(data, key)
    try:
        hits = g.vectors.search(probes, 10)
        assert g.vectors.repairs == {}
        return hits.ids, hits.scores
    finally:
        g.close()


SUPPRESSED = unit_vectors(2, 128, seed=11)  # a removed person's embedding-only entries
MEDIA = unit_vectors(3, 128, seed=12)  # faces of a case's seized material


def add_probe(data: Path) -> None:
    """A case's stored probe image, kept while no key was set (plain); with it, as stored
    without a key: a removal request (its preview names a face's crop) with its suppression
    entries, and a media set's faces."""
    g = open_gallery(data)
    assert g.pipeline_dim == 128
    with g.catalog.session() as s:
        admin = s.scalars(select(User).where(User.username == "admin")).one()
        case = Case(
            number="C-1", purpose_key="p", purpose_name="p", legal_authority="w",
            justification="j", status="open", requires_approval=False,
            requested_by_id=admin.id, requested_at=datetime.now(UTC),
        )  # fmt: skip
        s.add(case)
        s.flush()
        store_probe(s, case, None, PROBE, datetime.now(UTC))
        face_id, crop = s.execute(select(FaceRow.id, FaceRow.crop).order_by(FaceRow.id)).first()
        req = RemovalRequest(
            requester="the person", reason="erasure", model=g.model_key, threshold=0.5,
            status="previewed", removed=[], created_by="admin", created_at=datetime.now(UTC),
            preview=[{"face_id": face_id, "score": 0.9, "image_sha256": None,
                      "image_path": None, "crop": crop}],
        )  # fmt: skip
        s.add(req)
        s.flush()
        for vec in SUPPRESSED:
            s.add(
                Suppression(
                    request_id=req.id, model=g.model_key, dim=128, embedding=to_blob(vec),
                    requester="the person", reason="erasure", active=True, created_by="admin",
                    created_at=datetime.now(UTC),
                )
            )  # fmt: skip
        mset = MediaSet(case_id=case.id, name="phone", created_by="admin")
        s.add(mset)
        s.flush()
        run = MediaImport(set_id=mset.id, actor="admin")
        s.add(run)
        s.flush()
        mfile = MediaFile(
            set_id=mset.id, import_id=run.id, path="a.jpg", source="/x/a.jpg", size=1,
            md5="0" * 32, sha1="0" * 40, sha256="0" * 64, status="faces",
        )  # fmt: skip
        s.add(mfile)
        s.flush()
        for i, vec in enumerate(MEDIA):
            s.add(
                MediaFace(
                    file_id=mfile.id, case_id=case.id, face_index=i, x=0.0, y=0.0, w=9.0,
                    h=9.0, landmarks=[], detector_score=0.9, quality=0.9, model=g.model_key,
                    embedding=vec.astype("<f4").tobytes(),
                )
            )  # fmt: skip
    g.close()


def assert_vectors_under(g: Any, cipher: Cipher) -> None:
    """The suppression entries and the media faces are sealed with ``cipher`` and open to the
    vectors stored; the removal preview names the crop's current (keyed) name."""
    with g.catalog.session() as s:
        sups = s.execute(
            select(Suppression.id, Suppression.model, Suppression.embedding).order_by(
                Suppression.id
            )
        ).all()
        media = s.execute(
            select(MediaFace.id, MediaFace.model, MediaFace.embedding).order_by(MediaFace.id)
        ).all()
        (preview,) = s.scalars(select(RemovalRequest.preview)).all()
        crop = s.scalar(select(FaceRow.crop).where(FaceRow.id == preview[0]["face_id"]))
    assert len(sups) == 2 and len(media) == 3
    for (entry_id, model, blob), vec in zip(sups, SUPPRESSED, strict=True):
        assert key_id_of(blob) == cipher.key_id and vec.astype("<f4").tobytes() not in blob
        np.testing.assert_array_equal(open_entry(cipher, blob, entry_id, model, 128), vec)
    for (face_id, model, blob), vec in zip(media, MEDIA, strict=True):
        assert key_id_of(blob) == cipher.key_id and vec.astype("<f4").tobytes() not in blob
        np.testing.assert_array_equal(open_face_vector(cipher, blob, face_id, model), vec)
    assert preview[0]["crop"] == crop and g.blobs.get(crop)  # renamed with the blob


def assert_all_under(data: Path, key: str) -> None:
    cipher = Cipher(parse_key(key))
    g = open_gallery(data, key)
    try:
        with g.catalog.session() as s:
            faces = s.execute(
                select(FaceRow.id, FaceRow.embedding, FaceRow.second_embedding, FaceRow.crop)
            ).all()
            thumbs = [t for t in s.scalars(select(Image.thumbnail)) if t]
            probe = s.scalars(select(Probe)).one()
        assert probe.encrypted and key_id_of(probe.data or b"") == cipher.key_id
        assert cipher.decrypt(probe.data or b"", probe.sha256.encode()) == PROBE
        for _, emb, second, _ in faces:
            assert key_id_of(emb) == cipher.key_id
            assert second is None or key_id_of(second) == cipher.key_id
        names = g.blobs.keys()
        assert sorted(names) == sorted([f[3] for f in faces] + thumbs)  # no stray old files
        for name in names:
            body = g.blobs.get(name)  # decrypts and checks the name binding
            assert cipher.blob_name(body) == name
            assert key_id_of(g.blobs.get_stored(name)) == cipher.key_id
        index = (data / "index" / INDEX_FILE).read_bytes()
        assert index[:4] == b"FSS1" and index[4:12] == cipher.key_id
        assert_vectors_under(g, cipher)
    finally:
        g.close()
    assert not (data / STATE_FILE).exists()


def audit(data: Path) -> list[dict[str, Any]]:
    g = open_gallery(data)
    try:
        with g.catalog.session() as s:
            rows = s.execute(
                select(AuditEntry.actor, AuditEntry.details)
                .where(AuditEntry.action == "keys.rotate")
                .order_by(AuditEntry.seq)
            ).all()
    finally:
        g.close()
    return [{"actor": a, **json.loads(d)} for a, d in rows]


def killed_rotation(data: Path, stop_after: int, **kw: Any) -> None:
    with Service.for_cli(Settings.load(data_dir=data)) as service:
        who = service.accounts.for_cli("admin", password=PASSWORD)
        with pytest.raises(RotationStopped):
            Keys(service.ctx).rotate(who, stop_after=stop_after, **kw)


def test_generate_prints_a_usable_key(data: Path) -> None:
    out = run(data, "keys", "generate").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", out)
    assert Cipher(parse_key(out)).key_id


def test_rotation_killed_halfway_and_resumed(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = open_gallery(data)
    fill(g, 30)
    probes = unit_vectors(6, g.pipeline_dim, seed=5)
    g.close()
    want = search(data, None, probes)
    run(data, *init_args("admin"), stdin=init_input("admin"))
    admin = make_token(data, "admin")  # before any key is set: the tokens live in the catalog
    run(data, "user", "add", "ivy", "-r", "investigator", "--no-password", FACESEARCH_TOKEN=admin)
    ivy = make_token(data, "ivy")
    add_probe(data)

    # encryption turned on: only an administrator may rotate, and plain data needs --from-plain
    monkeypatch.setenv("FACESEARCH_ENCRYPTION_KEY", K1)
    out = run(data, "keys", "rotate", "--from-plain", code=2, FACESEARCH_TOKEN=ivy)
    assert "refused" in out
    out = run(data, "keys", "rotate", code=1, FACESEARCH_TOKEN=admin)
    assert "--from-plain" in out

    killed_rotation(data, 20, from_plain=True)  # 20 faces' vectors rewritten, then killed
    state = json.loads((data / STATE_FILE).read_text())
    assert state["new_key_id"] == Cipher(parse_key(K1)).key_id.hex() and state["done"] == []
    g = open_gallery(data, K1)
    with g.catalog.session() as s:
        kinds = [key_id_of(e) is not None for e in s.scalars(select(FaceRow.embedding))]
    assert kinds.count(True) == 20 and kinds.count(False) == 10  # mixed, as recorded
    with pytest.raises(EncryptionError):  # the rest is refused, not read as plain
        g.catalog.embeddings(np.asarray(g.catalog.face_ids(g.model_key)))
    g.close()
    # a rotation to another key may not start over an unfinished one
    out = run(data, "keys", "rotate", "--from-plain", code=1,
              FACESEARCH_TOKEN=admin, FACESEARCH_ENCRYPTION_KEY=K2)  # fmt: skip
    assert "unfinished rotation" in out

    # killed again while renaming blobs (after the vectors, the index, the probe and 5 blobs)
    killed_rotation(data, 10 + 1 + 1 + 5, from_plain=True)
    state = json.loads((data / STATE_FILE).read_text())
    assert state["done"] == ["embeddings", "index", "probes"]
    info = stats(data)
    assert any("rotation is unfinished" in w for w in info["warnings"])
    # and once more after the first suppression entry (the other 55 blobs before it)
    killed_rotation(data, 55 + 1, from_plain=True)
    state = json.loads((data / STATE_FILE).read_text())
    assert state["done"] == ["embeddings", "index", "probes", "blobs", "media-blobs"]
    g = open_gallery(data, K1)
    with g.catalog.session() as s:
        kinds = [key_id_of(e) is not None for e in s.scalars(select(Suppression.embedding))]
    g.close()
    assert kinds == [True, False]
    with (
        Service.for_cli(Settings.load(data_dir=data)) as service,
        pytest.raises(EncryptionError),  # the plain entry is refused, not read as plain
    ):
        service.governance.suppression_matcher()

    out = run(data, "keys", "rotate", "--from-plain", "--json", FACESEARCH_TOKEN=admin)
    report = json.loads(out[out.index("{") :])
    assert report["resumed"] is True and report["counts"]["blobs"] == 60
    assert report["counts"]["embeddings"] == 30 and report["counts"]["index"] == 1
    assert report["counts"]["probes"] == 1
    assert report["counts"]["suppressions"] == 2 and report["counts"]["media-faces"] == 3
    assert_all_under(data, K1)
    info = stats(data)
    assert info["encryption"] == f"AES-256-GCM, key id {Cipher(parse_key(K1)).key_id.hex()}"
    assert not any("rotation" in w for w in info["warnings"])
    got = search(data, K1, probes)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], atol=1e-6)

    # the first key to a second one: the old key from a private file outside the data
    monkeypatch.setenv("FACESEARCH_ENCRYPTION_KEY", K2)
    monkeypatch.setenv("FACESEARCH_OLD_ENCRYPTION_KEY", K1)
    killed_rotation(data, 45)  # the 30 faces, the index, the probe and 13 blobs
    monkeypatch.delenv("FACESEARCH_OLD_ENCRYPTION_KEY")
    old_file = data.parent / "old.key"
    old_file.write_text(K1)
    os.chmod(old_file, 0o644)
    out = run(data, "keys", "rotate", "--old-key-file", str(old_file), code=1,
              FACESEARCH_TOKEN=admin)  # fmt: skip
    assert "readable by others" in out
    os.chmod(old_file, 0o600)
    out = run(data, "keys", "rotate", "--old-key-file", str(old_file), FACESEARCH_TOKEN=admin)
    assert "rotated to key id" in out and "(resumed)" in out
    assert_all_under(data, K2)
    got = search(data, K2, probes)
    np.testing.assert_array_equal(got[0], want[0])
    with pytest.raises(EncryptionError, match="different key"):  # the old key reads nothing
        search(data, K1, probes)

    entries = audit(data)
    phases = [(e["actor"], e["phase"]) for e in entries]
    assert phases.count(("admin", "finished")) == 2
    assert phases.count(("admin", "started")) == 6  # 4 runs to the first key, 2 to the second
    finished = [e for e in entries if e["phase"] == "finished"]
    assert finished[-1]["counts"]["embeddings"] == 30 and finished[-1]["counts"]["blobs"] == 60
    assert finished[-1]["counts"]["suppressions"] == 2
    assert finished[-1]["counts"]["media-faces"] == 3
