"""One conformance suite for every VectorStore backend, against an exact brute-force oracle.

FAISS (the embedded default) and Milvus (a real standalone server, started once per session by
the ``milvus_uri`` fixture) must give the oracle's top-k ids and scores for seeded data: after
adds, removes (a removed face is never returned once ``remove`` has returned), re-adds, under
each filter, with k larger than the store, on an empty store; vectors of another model are
refused.

``faiss-catalog`` is the path production runs: faces written to a real catalog (SQLite) with
their provenance records, vectors kept by the gallery's index upkeep
(``search.indexing.GalleryIndex``) in a ``FaissVectorStore`` whose filters' facet terms the
catalog answers, searches made as the gallery makes them. Flagged (low-quality) faces stay
in the catalog and out of the index, also after a rebuild and a reopen from the files.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pytest

from facesearch.errors import ModelMismatchError
from facesearch.search.backends import Backends
from facesearch.search.indexing import GalleryIndex
from facesearch.store.catalog import (
    FaceRecord,
    ImageRecord,
    ProvenanceRecord,
    SearchFilters,
    SqlCatalog,
)
from facesearch.store.vectors.faiss_store import FaissVectorStore
from facesearch.store.vectors.port import Facet, SearchHits, VectorFilter

MODEL = "sface:test-conformance"
DIM = 128
N = 400
COLLECTIONS = ["alpha", "beta", 'gamma" or face_id > 0 or "']  # the last one: hostile text
BASE = datetime(2020, 1, 1)


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class Oracle:
    """Exact search over what was added, filters applied record by record in Python."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[np.ndarray, list[Facet]]] = {}

    def add(self, ids: np.ndarray, vecs: np.ndarray, facets: list[list[Facet]]) -> None:
        for i, v, f in zip(ids.tolist(), vecs, facets, strict=True):
            self.rows[i] = (v, f)

    def remove(self, ids: np.ndarray) -> int:
        return sum(self.rows.pop(i, None) is not None for i in ids.tolist())

    def search(self, q: np.ndarray, k: int, where: VectorFilter | None = None) -> list[int]:
        scored = []
        for fid, (v, facets) in self.rows.items():
            if where is not None:
                if where.allowed_ids is not None and fid not in set(where.allowed_ids.tolist()):
                    continue
                if where.excluded_ids is not None and fid in set(where.excluded_ids.tolist()):
                    continue
                if where.has_facet_terms and not any(_matches(where, f) for f in facets):
                    continue
            scored.append((float(np.dot(v, q)), fid))
        scored.sort(key=lambda p: (-p[0], p[1]))
        return [fid for _, fid in scored[:k]]


def _matches(w: VectorFilter, f: Facet) -> bool:
    """The filter rule written out independently of the product's code."""
    if w.collection is not None and f.collection != w.collection:
        return False
    if w.captured_from is not None and (f.captured_at is None or f.captured_at < w.captured_from):
        return False
    if w.captured_to is not None and (f.captured_at is None or f.captured_at > w.captured_to):
        return False
    return w.source_prefix is None or f.source_url.startswith(w.source_prefix)


def seeded(seed: int = 7) -> tuple[np.ndarray, np.ndarray, list[list[Facet]]]:
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(1, 10 * N), size=N, replace=False).astype(np.int64)
    vecs = unit(rng, N)
    facets = []
    for i in range(N):
        records = []
        for _ in range(1 + (i % 7 == 0)):  # every 7th face has two provenance records
            day = int(rng.integers(0, 1000))
            records.append(
                Facet(
                    collection=COLLECTIONS[int(rng.integers(0, len(COLLECTIONS)))],
                    captured_at=None if rng.random() < 0.15 else BASE + timedelta(days=day),
                    source_url=f"https://src{int(rng.integers(0, 4))}.example.org/p/{i}",
                )
            )
        facets.append(records)
    return ids, vecs, facets


def probes(vecs: np.ndarray, n: int = 12, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = vecs[:n] + 0.6 * unit(rng, n)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


class CatalogBacked:
    """The production FAISS path behind the suite's calls: each face is an image in a real
    catalog with its provenance records; its vector goes through ``GalleryIndex`` (as the
    gallery's ingest, removal and search do). The suite's ids map to the catalog's face ids."""

    def __init__(self, directory) -> None:  # type: ignore[no-untyped-def]
        self.directory = directory
        self.catalog = SqlCatalog(f"sqlite:///{directory / 'catalog.db'}")
        self.index = self.open_index()
        self.to_cat: dict[int, int] = {}
        self.to_test: dict[int, int] = {}
        self.images = 0

    def open_index(self) -> GalleryIndex:
        index = GalleryIndex(self.catalog, Backends(), MODEL, DIM, self.directory / "index")
        assert isinstance(index.store, FaissVectorStore) and not index.store.keeps_facets
        return index

    def write(self, vec: np.ndarray, facets: list[Facet], flags: tuple[str, ...] = ()) -> int:
        """One image with one face of ``vec`` and a provenance record per facet: its face id."""
        self.images += 1
        records = [
            ProvenanceRecord(  # one file per record: the catalog keys them by path and URL
                path=f"p/{self.images}/{j}.png",
                collection=f.collection,
                source_url=f.source_url,
                captured_at=f.captured_at,
            )
            for j, f in enumerate(facets)
        ]
        face = FaceRecord(0, (0, 0, 10, 10), [], 1.0, 1.0, 1.0, 0.0, flags, vec, model=MODEL)
        sha = f"{self.images:064x}"
        image = ImageRecord(sha, 1, 10, 10, "png", f"p/{self.images}.png", None, [face], records[0])
        [[face_id]] = self.catalog.add_images([image], None)
        image_id = self.catalog.image_id_by_sha(sha)
        assert image_id is not None
        for prov in records[1:]:
            self.catalog.add_provenance(image_id, prov, None)
        return face_id

    def add(self, ids, vectors, facets=None, *, model_key=None) -> None:  # type: ignore[no-untyped-def]
        vectors = np.asarray(vectors, np.float32)
        if model_key is not None or vectors.shape[-1] != DIM:  # refused before any write
            self.index.store.add(np.asarray(ids), vectors, model_key=model_key)
        old = [self.to_cat.pop(int(i)) for i in ids if int(i) in self.to_cat]
        if old:
            self.catalog.remove_faces(old)
            self.index.remove(np.asarray(old, np.int64))
        made = []
        for i, vec, fs in zip(ids, vectors, facets, strict=True):
            face_id = self.write(vec, list(fs))
            self.to_cat[int(i)], self.to_test[face_id] = face_id, int(i)
            made.append(face_id)
        self.index.add(made, list(vectors))

    def remove(self, ids: np.ndarray) -> int:
        known = [self.to_cat.pop(int(i)) for i in ids if int(i) in self.to_cat]
        self.catalog.remove_faces(known)
        self.index.remove(np.asarray(known, np.int64))
        return len(known)

    def _cat(self, ids: np.ndarray | None) -> np.ndarray | None:
        if ids is None:
            return None
        return np.asarray([self.to_cat[int(i)] for i in ids if int(i) in self.to_cat], np.int64)

    def search(self, queries, k, allowed_ids=None, *, where=None) -> SearchHits:  # type: ignore[no-untyped-def]
        if allowed_ids is None and (where is None or where.allowed_ids is where.excluded_ids):
            filters = None  # as the gallery searches: the search filters, pushed down
            if where is not None:
                filters = SearchFilters(
                    where.collection, where.captured_from, where.captured_to, where.source_prefix
                )
            hits = self.index.search(queries, k, filters=filters)
        else:
            mapped = None
            if where is not None:
                mapped = VectorFilter(
                    where.collection,
                    where.captured_from,
                    where.captured_to,
                    where.source_prefix,
                    self._cat(where.allowed_ids),
                    self._cat(where.excluded_ids),
                )
            hits = self.index.store.search(queries, k, self._cat(allowed_ids), where=mapped)
        back = np.vectorize(lambda i: self.to_test.get(int(i), -1), otypes=[np.int64])
        ids = back(hits.ids) if hits.ids.size else hits.ids
        return SearchHits(hits.scores, ids)

    def count(self) -> int:
        return self.index.store.count()

    def ids(self) -> np.ndarray:
        return np.sort(np.asarray([self.to_test[int(i)] for i in self.index.store.ids()], np.int64))

    def health(self):  # type: ignore[no-untyped-def]
        return self.index.store.health()


# Milvus (a real server, ~17 s to start) runs with the end-to-end tests: make test-e2e, in CI
BACKENDS = ["faiss", "faiss-catalog", pytest.param("milvus", marks=pytest.mark.e2e)]


@pytest.fixture(scope="module")
def milvus_store(request: pytest.FixtureRequest) -> Iterator[object]:
    """One collection for the module (creating one takes seconds); emptied before each test."""
    from facesearch.store.vectors.milvus import MilvusConfig, MilvusVectorStore

    uri = request.getfixturevalue("milvus_uri")
    cfg = MilvusConfig(uri=uri, prefix=f"t{uuid.uuid4().hex[:10]}", rerank=100, num_partitions=16)
    s = MilvusVectorStore(cfg, MODEL, DIM)
    yield s
    s.drop()
    s.close()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[object]:
    if request.param == "faiss":
        yield FaissVectorStore.new(MODEL, DIM)
        return
    if request.param == "faiss-catalog":
        backed = CatalogBacked(request.getfixturevalue("tmp_path"))
        yield backed
        backed.index.close()
        backed.catalog.close()
        return
    s = request.getfixturevalue("milvus_store")
    s.remove(s.ids())
    assert s.count() == 0
    yield s


def check(store, oracle: Oracle, queries: np.ndarray, k: int, where=None) -> None:  # type: ignore[no-untyped-def]
    hits = store.search(queries, k, where=where)
    for qi, q in enumerate(queries):
        want = oracle.search(q, k, where)
        got = [int(i) for i in hits.ids[qi] if i >= 0]
        assert got == want, f"query {qi}: {got[:5]}... != {want[:5]}..."
        exact = [float(np.dot(oracle.rows[i][0], q)) for i in got]
        np.testing.assert_allclose(hits.scores[qi][: len(got)], exact, atol=1e-5)


def test_empty_store(store) -> None:  # type: ignore[no-untyped-def]
    q = unit(np.random.default_rng(0), 2)
    hits = store.search(q, 5)
    assert hits.ids.shape[0] == 2 and (hits.ids < 0).all()
    assert store.count() == 0
    assert store.remove(np.array([1, 2, 3])) == 0
    assert store.health().ok


def test_add_and_search_like_exact(store) -> None:  # type: ignore[no-untyped-def]
    ids, vecs, facets = seeded()
    oracle = Oracle()
    store.add(ids, vecs, facets)
    oracle.add(ids, vecs, facets)
    assert store.count() == N
    assert np.array_equal(store.ids(), np.sort(ids))
    check(store, oracle, probes(vecs), 10)
    # k larger than the store: every face once, best first
    hits = store.search(probes(vecs, 2), N + 50)
    assert sorted(int(i) for i in hits.ids[0] if i >= 0) == sorted(ids.tolist())
    check(store, oracle, probes(vecs, 2), N + 50)


def test_remove_then_never_returned_and_readd(store) -> None:  # type: ignore[no-untyped-def]
    ids, vecs, facets = seeded()
    oracle = Oracle()
    store.add(ids, vecs, facets)
    oracle.add(ids, vecs, facets)
    gone = ids[:60]
    assert store.remove(np.concatenate([gone, [10**9]])) == 60  # an unknown id is not counted
    oracle.remove(gone)
    assert store.count() == N - 60
    queries = vecs[:60]  # each removed face's own vector: it would be rank 1
    hits = store.search(queries, 20)
    assert not set(hits.ids.ravel().tolist()) & set(gone.tolist())
    check(store, oracle, queries, 20)
    # re-add five with new vectors and new provenance: the new ones are what is found
    rng = np.random.default_rng(11)
    back, new_vecs = gone[:5], unit(rng, 5)
    new_facets = [[Facet("beta", BASE, "https://readded.example.org/x")] for _ in range(5)]
    store.add(back, new_vecs, new_facets)
    oracle.add(back, new_vecs, new_facets)
    assert store.count() == N - 55
    check(store, oracle, new_vecs, 5)
    check(store, oracle, new_vecs, 5, VectorFilter(source_prefix="https://readded."))
    # re-adding an id replaces it: its old provenance no longer matches
    store.add(ids[100:101], vecs[100:101], [[Facet("alpha")]])
    oracle.add(ids[100:101], vecs[100:101], [[Facet("alpha")]])
    check(store, oracle, vecs[100:101], 10, VectorFilter(collection="alpha"))
    check(store, oracle, vecs[100:101], 10, VectorFilter(collection="beta"))
    assert store.count() == N - 55


FILTERS = {
    "collection": VectorFilter(collection="alpha"),
    "hostile collection text": VectorFilter(collection=COLLECTIONS[2]),
    "unknown collection": VectorFilter(collection='nope" or "1" == "1'),
    "captured from": VectorFilter(captured_from=BASE + timedelta(days=500)),
    "captured to": VectorFilter(captured_to=BASE + timedelta(days=300)),
    "captured range": VectorFilter(
        captured_from=BASE + timedelta(days=200), captured_to=BASE + timedelta(days=400)
    ),
    "source prefix": VectorFilter(source_prefix="https://src1.example.org/"),
    "source prefix with wildcard": VectorFilter(source_prefix="https://src_.example.org/p/1"),
    "collection and dates": VectorFilter(
        collection="beta", captured_from=BASE + timedelta(days=100)
    ),
}


def test_each_filter(store) -> None:  # type: ignore[no-untyped-def]
    ids, vecs, facets = seeded()
    oracle = Oracle()
    store.add(ids, vecs, facets)
    oracle.add(ids, vecs, facets)
    for name, where in FILTERS.items():
        # each filter keeps some faces, except those meant to keep none ("src_" is literal)
        empty = name in ("unknown collection", "source prefix with wildcard")
        assert bool(oracle.search(vecs[0], 10, where)) != empty, name
        check(store, oracle, probes(vecs, 6), 10, where)


def test_id_filters(store) -> None:  # type: ignore[no-untyped-def]
    ids, vecs, facets = seeded()
    oracle = Oracle()
    store.add(ids, vecs, facets)
    oracle.add(ids, vecs, facets)
    q = probes(vecs, 6)
    allowed = ids[::3]
    check(store, oracle, q, 10, VectorFilter(allowed_ids=allowed))
    check(store, oracle, q, 10, VectorFilter(excluded_ids=ids[:6]))  # suppressed faces
    check(
        store,
        oracle,
        q,
        10,
        VectorFilter(collection="alpha", allowed_ids=allowed, excluded_ids=ids[:30]),
    )
    assert (
        store.search(q, 10, where=VectorFilter(allowed_ids=np.array([], np.int64))).ids < 0
    ).all()
    # the allowed_ids argument (what today's gallery passes) works the same way
    hits = store.search(q, 10, allowed_ids=allowed)
    assert set(hits.ids[hits.ids >= 0].tolist()) <= set(allowed.tolist())


def test_catalog_backed_upkeep_keeps_flagged_faces_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The production path's index upkeep: flagged faces stay in the catalog and out of the
    index under every filter; a rebuild from the catalog, and a reopen from the saved files
    after a lost write (repaired against the catalog), answer as the oracle does."""
    backed = CatalogBacked(tmp_path)
    ids, vecs, facets = seeded()
    oracle = Oracle()
    backed.add(ids, vecs, facets)
    oracle.add(ids, vecs, facets)
    near = probes(vecs, 20, seed=9)  # flagged faces next to the probes: they would rank high
    flagged = {
        backed.write(
            v,
            [Facet("alpha", BASE + timedelta(days=450), "https://src1.example.org/")],
            ("too_small",),
        )
        for v in near
    }
    q = probes(vecs, 6)

    def as_oracle() -> None:
        check(backed, oracle, q, 10)
        for where in FILTERS.values():
            check(backed, oracle, q, 10, where)
        hits = backed.index.store.search(near, 5)
        assert not set(hits.ids.ravel().tolist()) & flagged

    as_oracle()
    assert backed.index.rebuild() == N
    as_oracle()
    store = backed.index.store
    store.remove(np.array([backed.to_cat[int(ids[0])]]))  # lost: a face, and a ghost kept
    store.add(np.array([10**9]), vecs[:1])
    store.save()
    backed.index = backed.open_index()
    assert backed.index.repairs == {"added": 1, "removed": 1}
    as_oracle()
    backed.index.close()
    backed.catalog.close()


def test_catalog_backed_search_with_and_without_flagged_faces(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The gallery's search (``search.searcher.Searcher``) on the production path: under every
    filter its candidates are the oracle's; asked for flagged faces too, it also finds those
    (an exact scan of their embeddings in the catalog) exactly where they rank."""
    from facesearch.models.manifest import load_manifest
    from facesearch.search.scoring import Scoring
    from facesearch.search.searcher import Searcher
    from facesearch.store.blobs import FileBlobStore

    backed = CatalogBacked(tmp_path)
    ids, vecs, facets = seeded()
    searchable = Oracle()
    backed.add(ids, vecs, facets)
    searchable.add(ids, vecs, facets)
    everything = Oracle()
    everything.rows = dict(searchable.rows)
    for j, v in enumerate(probes(vecs, 6, seed=9)):  # flagged faces near the probes
        f = [
            Facet(
                COLLECTIONS[j % 2],
                BASE + timedelta(days=100 * j),
                f"https://src{j % 4}.example.org/",
            )
        ]
        face_id = backed.write(v, f, ("too_small",))
        backed.to_test[face_id] = 10**6 + j
        everything.add(np.array([10**6 + j]), v[None, :], [f])
    scoring = Scoring.from_manifest(load_manifest(), fusion=False)
    searcher = Searcher(backed.index, backed.catalog, scoring, FileBlobStore(tmp_path / "b"), "")
    found_flagged = 0
    for where in [None, *FILTERS.values()]:
        filters = None
        if where is not None:
            filters = SearchFilters(
                where.collection, where.captured_from, where.captured_to, where.source_prefix
            )
        for flagged, oracle in ((False, searchable), (True, everything)):
            for q in probes(vecs, 6):
                result = searcher.search_embedding(
                    q, 10, model=MODEL, filters=filters, include_flagged=flagged
                )
                got = [backed.to_test[c.face_id] for c in result.candidates]
                assert got == oracle.search(q, 10, where), (where, flagged)
                found_flagged += sum(i >= 10**6 for i in got)
    assert found_flagged >= 6  # not vacuous: flagged faces rank among the best
    backed.index.close()
    backed.catalog.close()


def test_vectors_of_another_model_refused(store) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    with pytest.raises(ModelMismatchError):
        store.add(np.array([1]), unit(rng, 1)[:, :64])
    with pytest.raises(ModelMismatchError):
        store.add(np.array([1]), unit(rng, 1), model_key="dlib:other")
    with pytest.raises(ModelMismatchError):
        store.search(unit(rng, 1)[:, :64], 5)
    assert store.count() == 0


@pytest.mark.e2e
def test_milvus_collection_of_another_model_refused(milvus_uri: str) -> None:
    from facesearch.store.vectors.milvus import MilvusConfig, MilvusVectorStore, collection_name

    cfg = MilvusConfig(uri=milvus_uri, prefix=f"t{uuid.uuid4().hex[:10]}")
    store = MilvusVectorStore(cfg, MODEL, DIM)
    try:
        with pytest.raises(ModelMismatchError):
            MilvusVectorStore(cfg, MODEL, 64)  # same collection name, another dimension
        assert store.name == collection_name(cfg.prefix, MODEL)
        assert store.describe()["consistency"] == "Strong"
    finally:
        store.drop()
        store.close()


@pytest.mark.e2e
def test_milvus_reingest_and_reindex_write_in_batches(  # type: ignore[no-untyped-def]
    milvus_uri: str, tmp_path, pipeline, other_faces, monkeypatch
) -> None:
    """Photos already stored, ingested again into another collection: their faces' facets are
    rewritten in Milvus in one batch (not one image at a time), and a search filtered on either
    collection finds every face; ``reindex`` refills a new collection in batches without
    delete round trips, with the same result."""
    from urllib.parse import urlparse

    from tests.conftest import write_image

    from facesearch.search.backends import Backends
    from facesearch.search.gallery import Gallery
    from facesearch.store.vectors.milvus import MilvusVectorStore

    m = urlparse(milvus_uri)
    url = f"milvus://{m.hostname}:{m.port}?collection=t{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "photos"
    for i, img in enumerate(other_faces[1:13]):
        write_image(folder / f"{i:03d}.png", img)
    g = Gallery.open(
        tmp_path / "data", backends=Backends.parse(vector_store=url), pipeline=pipeline
    )
    try:
        first = g.ingest([folder], collection="first", workers=0)
        ids = g.catalog.face_ids(g.model_key)
        assert first.faces_indexed == len(ids) >= 10

        adds: list[int] = []
        deletes: list[int] = []
        real_add, real_delete = MilvusVectorStore.add, MilvusVectorStore._delete_ids

        def add(self, ids, *args, **kwargs):  # type: ignore[no-untyped-def]
            adds.append(len(ids))
            return real_add(self, ids, *args, **kwargs)

        def delete(self, ids):  # type: ignore[no-untyped-def]
            deletes.append(len(ids))
            return real_delete(self, ids)

        monkeypatch.setattr(MilvusVectorStore, "add", add)
        monkeypatch.setattr(MilvusVectorStore, "_delete_ids", delete)
        again = g.ingest([folder], collection="second", workers=0)
        assert again.duplicates == 12 and again.faces_indexed == 0
        assert adds == [len(ids)] and deletes == [len(ids)]  # one write for the whole run

        probes = g.catalog.embeddings(ids)

        def found_in(collection: str) -> list[int]:
            hits = g.search_index(probes, 1, collection=collection)
            return [int(row[0]) if row.size else -1 for row in hits.ids]

        assert found_in("first") == found_in("second") == ids.tolist()
        assert set(found_in("third")) == {-1}

        adds.clear(), deletes.clear()
        assert g.reindex() == len(ids)
        assert adds == [len(ids)] and deletes == []  # a new collection: nothing to delete
        assert g.index.count() == len(ids)
        assert found_in("first") == found_in("second") == ids.tolist()
    finally:
        g.index.drop()  # type: ignore[union-attr]
        g.close()
