"""Ingest: folders, archives, manifests, duplicates, hostile input and resumption."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import write_image


@pytest.fixture
def photos(tmp_path: Path, astronaut, other_faces) -> Path:
    folder = tmp_path / "photos"
    write_image(folder / "a" / "astronaut.jpg", astronaut, quality=92)
    write_image(folder / "b" / "hopper.png", other_faces[0])
    for i in range(3):
        write_image(folder / "b" / f"lfw_{i}.png", other_faces[1 + i])
    (folder / "notes.txt").write_text("not a photo, not an image extension: ignored")
    return folder


def _all_files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_folder_ingest_indexes_every_face_and_rerun_skips(gallery, photos):
    report = gallery.ingest([photos], collection="c1", workers=0)
    assert report.images_new == 5
    assert report.faces_indexed + report.faces_flagged_total == gallery.catalog.stats()["faces"]
    assert not report.failures
    again = gallery.ingest([photos], collection="c1", workers=0)
    assert again.images_new == 0 and again.images_already_stored == 5
    assert gallery.catalog.stats()["images"] == 5
    assert len(gallery.index) == report.faces_indexed


def test_duplicates_are_stored_once_with_every_provenance(gallery, photos, tmp_path):
    copy = tmp_path / "elsewhere" / "same_astronaut.jpg"
    copy.parent.mkdir()
    copy.write_bytes((photos / "a" / "astronaut.jpg").read_bytes())
    report = gallery.ingest([photos, copy], collection="c1", workers=0)
    assert report.images_new == 5 and report.duplicates == 1
    result = gallery.search(photos / "a" / "astronaut.jpg", k=1)
    paths = {p["path"] for p in result.candidates[0].provenance}
    assert paths == {str(photos / "a" / "astronaut.jpg"), str(copy)}
    # the same bytes from another collection add a third provenance record, not a new image
    gallery.ingest([copy], collection="c2", workers=0)
    stored = gallery.search(copy, k=1).candidates[0]
    assert {p["collection"] for p in stored.provenance} == {"c1", "c2"}
    assert gallery.catalog.stats()["images"] == 5


def test_manifest_provenance_is_kept(gallery, photos, tmp_path):
    manifest = tmp_path / "manifest.jsonl"
    rows = [
        {
            "path": str(photos / "a" / "astronaut.jpg"),
            "source_url": "https://example.org/a.jpg",
            "page_url": "https://example.org/a",
            "title": "Astronaut portrait",
            "captured_at": "1984-02-07",
            "collection": "nasa",
        },
        {"path": "missing.jpg"},
        {"path": str(photos / "b" / "hopper.png"), "captured_at": "not a date"},
    ]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken json\n")
    report = gallery.ingest([], manifest=manifest, workers=0)
    assert report.images_new == 1
    reasons = " ".join(r for _, r in report.failures)
    assert "file not found" in reasons and "ISO 8601" in reasons and "invalid JSON" in reasons
    cand = gallery.search(photos / "a" / "astronaut.jpg", k=1).candidates[0]
    prov = cand.provenance[0]
    assert prov["source_url"] == "https://example.org/a.jpg"
    assert prov["page_url"] == "https://example.org/a"
    assert prov["title"] == "Astronaut portrait"
    assert prov["captured_at"].startswith("1984-02-07")
    assert prov["collection"] == "nasa"


def test_csv_manifest(gallery, photos, tmp_path):
    manifest = photos / "list.csv"
    manifest.write_text("path,source_url,title\na/astronaut.jpg,https://x.test/1,One\n")
    report = gallery.ingest([manifest], workers=0)
    assert report.images_new == 1
    prov = gallery.search(photos / "a" / "astronaut.jpg", k=1).candidates[0].provenance[0]
    assert prov["title"] == "One" and prov["collection"] == "default"


def test_hostile_files_fail_clearly_and_the_run_continues(gallery, photos, astronaut):
    bad = photos / "bad"
    bad.mkdir()
    (bad / "zero.jpg").write_bytes(b"")
    good = (photos / "a" / "astronaut.jpg").read_bytes()
    (bad / "truncated.jpg").write_bytes(good[: len(good) // 4])
    (bad / "garbage.png").write_bytes(np.random.default_rng(0).bytes(5000))
    (bad / "text.jpg").write_text("hello")
    from tests.engine.test_decode import _png_header_only

    (bad / "bomb.png").write_bytes(_png_header_only(80_000, 80_000))
    report = gallery.ingest([photos], workers=0)
    failures = dict((Path(p).name, r) for p, r in report.failures)
    assert set(failures) == {"zero.jpg", "truncated.jpg", "garbage.png", "text.jpg", "bomb.png"}
    assert "empty" in failures["zero.jpg"]
    assert "truncated" in failures["truncated.jpg"]
    assert "refused" in failures["bomb.png"]
    assert report.images_new == 5  # every good photo still ingested
    run = gallery.catalog.runs()[0]
    assert run["status"] == "completed" and run["counts"]["failures"] == 5


def test_hostile_archives_write_nothing_outside_the_data_dir(gallery, photos, tmp_path, astronaut):
    good = (photos / "a" / "astronaut.jpg").read_bytes()
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("ok/astronaut.jpg", good)
        zf.writestr("../escape.jpg", good)
        zf.writestr("/abs/escape2.jpg", good)
        link = zipfile.ZipInfo("ok/link.jpg")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "../../etc/passwd")
    tpath = tmp_path / "evil.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        info = tarfile.TarInfo("fine/hopper.jpg")
        hop = (photos / "b" / "hopper.png").read_bytes()
        info.size = len(hop)
        tf.addfile(info, io.BytesIO(hop))
        sym = tarfile.TarInfo("fine/sym.jpg")
        sym.type = tarfile.SYMTYPE
        sym.linkname = "/etc/shadow"
        tf.addfile(sym)
        up = tarfile.TarInfo("../../up.jpg")
        up.size = len(good)
        tf.addfile(up, io.BytesIO(good))
    before = _all_files_under(tmp_path) - _all_files_under(gallery.data_dir)
    report = gallery.ingest([zpath, tpath], workers=0)
    assert report.images_new == 2
    reasons = {p.split("!")[-1]: r for p, r in report.failures}
    assert "escapes" in reasons["../escape.jpg"]
    assert "absolute" in reasons["/abs/escape2.jpg"]
    assert "link" in reasons["ok/link.jpg"] and "link" in reasons["fine/sym.jpg"]
    assert "escapes" in reasons["../../up.jpg"]
    after = _all_files_under(tmp_path) - _all_files_under(gallery.data_dir)
    assert after == before  # nothing written outside the data directory
    assert not (tmp_path.parent / "escape.jpg").exists()


def test_symlink_out_of_folder_is_refused(gallery, photos, tmp_path, astronaut):
    outside = write_image(tmp_path / "outside.png", astronaut)
    (photos / "link.png").symlink_to(outside)
    report = gallery.ingest([photos], workers=0)
    assert any("outside the folder" in r for _, r in report.failures)


def test_empty_folder_and_missing_path(gallery, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    report = gallery.ingest([empty, tmp_path / "nope"], workers=0)
    assert report.images_new == 0
    assert [r for _, r in report.failures] == ["no such file or folder"]


def test_worker_processes_give_the_same_catalog(gallery, photos, pipeline, tmp_path):
    from facesearch.search.gallery import Gallery

    report = gallery.ingest([photos], workers=2)
    other = Gallery.open(tmp_path / "inproc", pipeline=pipeline)
    single = other.ingest([photos], workers=0)
    assert report.faces_indexed == single.faces_indexed
    a = gallery.search(photos / "a" / "astronaut.jpg", k=3)
    b = other.search(photos / "a" / "astronaut.jpg", k=3)
    assert [c.image_sha256 for c in a.candidates] == [c.image_sha256 for c in b.candidates]
    assert np.allclose([c.score for c in a.candidates], [c.score for c in b.candidates], atol=1e-4)
    other.close()


def test_filters_restrict_search_without_losing_the_mate(gallery, photos, tmp_path):
    from datetime import UTC, datetime

    from facesearch.store.catalog import SearchFilters

    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,source_url,captured_at,collection\n"
        f"{photos / 'a' / 'astronaut.jpg'},https://nasa.example/a.jpg,1984-02-07,nasa\n"
        f"{photos / 'b' / 'hopper.png'},https://navy.example/h.png,1960-01-01,navy\n"
    )
    gallery.ingest([photos], collection="all", workers=0)
    gallery.ingest([], manifest=manifest, workers=0)
    probe = photos / "a" / "astronaut.jpg"

    def top(**kw):
        return [
            c.image_path
            for c in gallery.search(probe, k=10, filters=SearchFilters(**kw)).candidates
        ]

    assert top(collection="nasa") == [str(photos / "a" / "astronaut.jpg")]
    assert top(source_prefix="https://navy.example/") == [str(photos / "b" / "hopper.png")]
    assert top(captured_from=datetime(1980, 1, 1, tzinfo=UTC))[0].endswith("astronaut.jpg")
    assert top(captured_to=datetime(1970, 1, 1, tzinfo=UTC)) == [str(photos / "b" / "hopper.png")]
    assert top(collection="nasa", captured_to=datetime(1970, 1, 1, tzinfo=UTC)) == []
    assert len(top(collection="all")) == gallery.catalog.stats()["searchable_faces"]


def test_crops_encrypted_at_rest_with_a_key(gallery, photos, monkeypatch):
    from facesearch.settings import Settings
    from facesearch.store.blobs import FileBlobStore
    from facesearch.store.crypto import Cipher, generate_key, is_encrypted

    monkeypatch.setenv("FACESEARCH_ENCRYPTION_KEY", generate_key())
    gallery.blobs = FileBlobStore(gallery.blobs.root, cipher=Cipher.from_settings(Settings.load()))
    gallery.ingest([photos / "a"], workers=0)
    top = gallery.search(photos / "a" / "astronaut.jpg", k=1).candidates[0]
    raw = gallery.blobs.path(top.crop).read_bytes()
    assert is_encrypted(raw) and b"JFIF" not in raw
    assert gallery.blobs.get(top.crop)[:2] == b"\xff\xd8"  # decrypts to the JPEG crop
    stranger = FileBlobStore(gallery.blobs.root, cipher=Cipher(bytes(32)))
    with pytest.raises(Exception, match="different key"):
        stranger.get(top.crop)


def test_flagged_faces_are_kept_but_searched_only_on_request(gallery, tmp_path, astronaut):
    import cv2

    tiny = cv2.resize(astronaut, (96, 96), interpolation=cv2.INTER_AREA)  # a ~20 px face
    folder = tmp_path / "small"
    write_image(folder / "tiny.png", tiny)
    report = gallery.ingest([folder], workers=0)
    assert report.faces_indexed == 0 and report.faces_flagged.get("too_small") == 1
    assert gallery.catalog.stats()["faces"] == 1  # kept in the catalog, not searched
    assert gallery.search(astronaut, k=5).candidates == []
    assert report.second_vectors_made == 1  # flagged faces get a second vector too
    assert gallery.catalog.second_vector_counts()["with"] == 1
    found = gallery.search(astronaut, k=5, include_flagged=True).candidates
    assert len(found) == 1 and found[0].image_path.endswith("tiny.png")
    assert found[0].fused  # both recognizers ran on probe and gallery face
    assert found[0].score > gallery.scoring.bands_for(True).match
