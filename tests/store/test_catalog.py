"""The catalog on SQLite (in memory) and on PostgreSQL over a real connection."""

from __future__ import annotations

import numpy as np
import pytest

from facesearch.store.catalog import FaceRecord, ImageRecord, ProvenanceRecord, SqlCatalog


def _record(sha: str, n_faces: int, path: str, collection: str = "c") -> ImageRecord:
    rng = np.random.default_rng(int(sha[:6], 16))
    faces = []
    for i in range(n_faces):
        v = rng.normal(size=128).astype(np.float32)
        faces.append(
            FaceRecord(
                face_index=i,
                bbox=(1.0, 2.0, 50.0, 60.0),
                landmarks=[[0.0, 0.0]] * 5,
                detector_score=0.9,
                quality=0.8,
                sharpness=100.0,
                yaw=0.0,
                flags=("too_small",) if i == 1 else (),
                model="m@1",
                embedding=v / np.linalg.norm(v),
            )
        )
    return ImageRecord(
        sha256=sha,
        size_bytes=10,
        width=100,
        height=100,
        format="jpeg",
        path=path,
        thumbnail=None,
        faces=faces,
        provenance=ProvenanceRecord(path=path, collection=collection),
    )


def _exercise(catalog: SqlCatalog) -> None:
    run = catalog.start_run(["x"], "c")
    ids = catalog.add_images([_record("a" * 64, 2, "/a.jpg"), _record("b" * 64, 1, "/b.jpg")], run)
    assert [len(x) for x in ids] == [2, 1]
    # the same bytes again: no new faces, one more provenance
    again = catalog.add_images([_record("a" * 64, 2, "/copy/a.jpg", "other")], run)
    assert again == [[]]
    assert (
        catalog.add_provenance(
            catalog.image_id_by_sha("a" * 64), ProvenanceRecord(path="/a.jpg", collection="c"), run
        )
        is False
    )
    stats = catalog.stats()
    assert stats["images"] == 2 and stats["faces"] == 3 and stats["searchable_faces"] == 2
    assert stats["flagged_faces"] == {"too_small": 1} and stats["provenance_records"] == 3
    searchable = catalog.face_ids("m@1")
    assert len(searchable) == 2
    assert list(catalog.face_ids("m@1", collection="other")) == [ids[0][0]]
    assert catalog.searchable_summary("m@1") == (2, int(searchable.max()))
    chunks = list(catalog.iter_embeddings("m@1", chunk=1))
    assert [len(c[0]) for c in chunks] == [1, 1]
    vecs = catalog.embeddings(searchable)
    assert vecs.shape == (2, 128) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-6)
    faces = catalog.faces(searchable.tolist())
    provs = faces[ids[0][0]].provenance
    assert {p["collection"] for p in provs} == {"c", "other"}
    # the facets a store that pushes filters down keeps beside each vector: per face given
    facets = catalog.facets([ids[1][0], ids[0][0], 10**9])
    assert [sorted(f.collection for f in fs) for fs in facets] == [["c"], ["c", "other"], []]
    assert {f.source_url for f in facets[1]} == {""}
    a_faces = catalog.image_face_ids([catalog.image_id_by_sha("a" * 64)], "m@1")
    assert a_faces.tolist() == [ids[0][0]]  # the searchable one of a's two faces
    assert catalog.delete_faces([ids[1][0]]) == 1
    assert catalog.stats()["faces"] == 2
    catalog.finish_run(run, "completed", {"images_new": 2})
    assert catalog.runs()[0]["status"] == "completed"


def test_sqlite_in_memory_catalog():
    catalog = SqlCatalog("sqlite://")
    _exercise(catalog)
    catalog.close()


def test_sqlite_file_uses_wal(tmp_path):
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'c.db'}")
    with catalog.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    catalog.close()


@pytest.mark.postgres
def test_postgres_catalog(postgres_url):
    catalog = SqlCatalog(postgres_url)
    _exercise(catalog)
    catalog.close()


@pytest.mark.postgres
def test_gallery_on_postgres(tmp_path, postgres_url, pipeline, astronaut, other_faces):
    from tests.conftest import write_image

    from facesearch.search.gallery import Gallery

    folder = tmp_path / "p"
    write_image(folder / "a.png", astronaut)
    write_image(folder / "h.png", other_faces[0])
    with Gallery.open(tmp_path / "data", database_url=postgres_url, pipeline=pipeline) as g:
        report = g.ingest([folder], workers=0)
        assert report.images_new == 2
        assert g.search(folder / "a.png", k=1).candidates[0].image_path.endswith("a.png")
    assert not (tmp_path / "data" / "catalog.db").exists()
