"""The cost of encryption at rest, key against no key, at open, ingest and search.

Run by hand::

    python benchmarks/bench_encryption.py                 # 100k faces, 128-d (SFace), ~2 min
    python benchmarks/bench_encryption.py --dim 512 --faces 100000 --crops 500

Over a synthetic gallery (random unit vectors, random "crops") written the way ingest writes
it (``SqlCatalog.add_images``, ``FileBlobStore.put``, the FAISS index saved in the data
directory), once without a key and once with one, it prints side by side:

- **ingest**: writing ``--crops`` crops of ~10 KB into the blob store (keyed names, AES-GCM),
  and the catalog rows of all faces in batches of 256 (with a key each vector is sealed and
  bound to its face id, written by a second statement once the ids are known);
- **open**: reading the saved index back (decrypted into memory), and reading every vector
  from the catalog (what a rebuild or a reconcile does);
- **primitives**: one vector sealed and opened as the catalog stores it, and the index's bytes
  written and read through the sealed stream (no SQLite, no disk: the cost itself);
- **search**: one query at a time, k = 20, on the index, then the catalog rows of the 20
  candidates (their second vectors decrypted), p50 / p99 over ``--queries`` queries.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from facesearch.store.blobs import FileBlobStore
from facesearch.store.catalog import SqlCatalog
from facesearch.store.crypto import (
    Cipher,
    generate_key,
    open_embedding,
    parse_key,
    seal_embedding,
)
from facesearch.store.records import FaceRecord, ImageRecord, ProvenanceRecord
from facesearch.store.sealed import SealedReader, SealedWriter
from facesearch.store.vectors.flat import FlatVectorIndex
from facesearch.store.vectors.load import load_index

MODEL = "bench@1"


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def records(vectors: np.ndarray, start: int, crop: str | None) -> list[ImageRecord]:
    out = []
    for i, vec in enumerate(vectors, start):
        face = FaceRecord(
            face_index=0, bbox=(1.0, 2.0, 50.0, 60.0), landmarks=[[0.0, 0.0]] * 5,
            detector_score=0.9, quality=0.8, sharpness=100.0, yaw=0.0, flags=(),
            embedding=vec, model=MODEL, crop=crop, second_model="second@1",
            second_embedding=vec,
        )  # fmt: skip
        sha = hashlib.sha256(str(i).encode()).hexdigest()
        out.append(
            ImageRecord(
                sha, 10, 100, 100, "jpeg", f"/p/{i}.jpg", crop, [face],
                ProvenanceRecord(path=f"/p/{i}.jpg", collection="c"),
            )
        )  # fmt: skip
    return out


def run(root: Path, cipher: Cipher | None, vectors: np.ndarray, crops: list[bytes],
        queries: np.ndarray) -> dict[str, float]:  # fmt: skip
    root.mkdir(parents=True)
    got: dict[str, float] = {}
    blobs = FileBlobStore(root / "blobs", cipher)
    t = time.perf_counter()
    keys = [blobs.put(c) for c in crops]
    got["ingest: crops put, ms each"] = (time.perf_counter() - t) / len(crops) * 1e3
    catalog = SqlCatalog(f"sqlite:///{root / 'catalog.db'}", cipher=cipher)
    t = time.perf_counter()
    ids: list[int] = []
    for start in range(0, len(vectors), 256):
        recs = records(vectors[start : start + 256], start, keys[start % len(keys)])
        ids += [x[0] for x in catalog.add_images(recs, None)]
    got["ingest: catalog rows, s per 10k faces"] = (time.perf_counter() - t) / len(ids) * 1e4
    index = FlatVectorIndex(MODEL, vectors.shape[1])
    index.add(np.asarray(ids, np.int64), vectors)
    t = time.perf_counter()
    index.save(root / "index", cipher)
    got["ingest: index save, s"] = time.perf_counter() - t
    catalog.close()

    t = time.perf_counter()
    loaded = load_index(root / "index", cipher)
    got["open: index load, s"] = time.perf_counter() - t
    assert loaded is not None and len(loaded) == len(ids)
    catalog = SqlCatalog(f"sqlite:///{root / 'catalog.db'}", cipher=cipher)
    t = time.perf_counter()
    n = sum(len(i) for i, _ in catalog.iter_embeddings(MODEL))
    got["open: all vectors from the catalog, s"] = time.perf_counter() - t
    assert n == len(ids)

    index_ms, total_ms = [], []
    for q in queries:
        t = time.perf_counter()
        hits = loaded.search(q[None, :], 20)
        t1 = time.perf_counter()
        faces = catalog.faces(hits.ids[0].tolist())
        t2 = time.perf_counter()
        assert len(faces) == 20
        index_ms.append((t1 - t) * 1e3)
        total_ms.append((t2 - t) * 1e3)
    got["search: index, p50 ms"] = statistics.median(index_ms)
    got["search: index + 20 catalog rows, p50 ms"] = statistics.median(total_ms)
    got["search: index + 20 catalog rows, p99 ms"] = float(np.percentile(total_ms, 99))
    catalog.close()
    got["disk: index file, MB"] = (root / "index" / "vectors.faiss").stat().st_size / 1e6
    return got


def primitives(cipher: Cipher | None, vectors: np.ndarray) -> dict[str, float]:
    """The costs underneath, free of SQLite and the file system: one vector sealed and
    opened (as the catalog stores it), and the index's bytes through the sealed stream."""
    got: dict[str, float] = {}
    n = min(20_000, len(vectors))
    t = time.perf_counter()
    blobs = [seal_embedding(cipher, v, i, MODEL) for i, v in enumerate(vectors[:n])]
    got["primitive: seal one vector, us"] = (time.perf_counter() - t) / n * 1e6
    t = time.perf_counter()
    for i, blob in enumerate(blobs):
        open_embedding(cipher, blob, i, MODEL)
    got["primitive: open one vector, us"] = (time.perf_counter() - t) / n * 1e6
    payload = vectors.tobytes()
    out = io.BytesIO()
    t = time.perf_counter()
    if cipher is None:
        out.write(payload)
    else:
        writer = SealedWriter(out, cipher, b"bench")
        writer.write(payload)
        writer.finish()
    got["primitive: index bytes written, ms per 100 MB"] = (
        (time.perf_counter() - t) / len(payload) * 1e11
    )
    out.seek(0)
    t = time.perf_counter()
    back = out.read() if cipher is None else SealedReader(out, cipher, b"bench").read()
    got["primitive: index bytes read, ms per 100 MB"] = (
        (time.perf_counter() - t) / len(payload) * 1e11
    )
    assert back == payload
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--crops", type=int, default=500)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--repeat", type=int, choices=(1, 2), default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.faces, args.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    crops = [rng.integers(0, 256, 10_000 + int(rng.integers(0, 4000)), np.uint8).tobytes()
             for _ in range(args.crops)]  # fmt: skip
    queries = vectors[rng.choice(args.faces, args.queries, replace=False)]
    cipher = Cipher(parse_key(generate_key()))
    faiss.omp_set_num_threads(1)  # one query at a time, on one thread (as a search worker)
    plain: dict[str, float] = {}
    sealed: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # alternating order, best of the runs: the figures of a busy shared machine
        for i, (key, into) in enumerate(
            [(None, plain), (cipher, sealed), (cipher, sealed), (None, plain)][: 2 * args.repeat]
        ):
            got = primitives(key, vectors) | run(Path(tmp) / str(i), key, vectors, crops, queries)
            for name, value in got.items():
                into[name] = min(into.get(name, value), value)
    print(f"encryption at rest: {args.faces:,} faces, {args.dim}-d, {args.crops} crops; {cpu()}")
    print(f"{'':44} {'no key':>10} {'key':>10} {'ratio':>7}")
    for name, a in plain.items():
        b = sealed[name]
        print(f"{name:44} {a:10.3f} {b:10.3f} {b / a if a else float('nan'):7.2f}")


if __name__ == "__main__":
    main()
