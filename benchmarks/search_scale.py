"""Search at scale: real CFP mates planted among synthetic distractors (run by hand).

For each gallery size N it builds the index ``new_index`` picks (or ``--kind``), plants one
frontal photo per CFP identity among N - 500 random unit vectors, probes with the other
frontal photos of each identity, and prints: build time, index memory (RSS delta and the
index's own arrays), single-query latency (p50/p99; one query at a time, its shards scanned on
``--search-threads`` threads, several values timed side by side), batch throughput, recall@10
against exact search, and mate retrieval at rank 1 and 20 next to exact search in the same
run, plus how often the mate is kept wherever exact search retrieves it. Exact search is run
chunk by chunk over regenerated distractors, so 10M needs no 5 GB float32 copy.

    python benchmarks/search_scale.py                     # N = 100k and 1M
    python benchmarks/search_scale.py --n 10000000 --json
    python benchmarks/search_scale.py --n 1000000 --rerank 250 --rerank 1000 --rerank 4000
    python benchmarks/search_scale.py --n 100000 --vector-store milvus://127.0.0.1:19530 \
        --milvus-base /tmp/scale-milvus/base      # Milvus beside FAISS, same mates and exact

The CFP embeddings are cached in benchmarks/out/cfp_embeddings.npz (made with
``facesearch.engine.pipeline.FacePipeline`` when missing).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from facesearch.store.vectors.base import VectorIndex  # noqa: E402
from facesearch.store.vectors.flat import FlatVectorIndex  # noqa: E402
from facesearch.store.vectors.plan import index_plan, new_index  # noqa: E402
from facesearch.store.vectors.pq_refine import PQRefineVectorIndex  # noqa: E402

DIM = 128
TOP = 20
BLOCK = 250_000  # distractors are generated (and regenerated) in blocks of this size


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def unit(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- mates ---------------------------------------------------------------------------- #
def make_cache(cfp_root: Path, cache: Path) -> None:
    """Embed every frontal CFP photo with the facesearch pipeline into ``cache``."""
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings
    from facesearch.models.inference import InferenceSettings
    from facesearch.settings import Settings

    paths = sorted((cfp_root / "Data" / "Images").glob("*/frontal/*.jpg"))
    if not paths:
        raise SystemExit(f"no CFP frontal photos under {cfp_root}")
    pipe = FacePipeline.load(
        PipelineSettings(inference=InferenceSettings.from_settings(Settings.load()))
    )
    embs, idents, kept = [], [], []
    try:
        from rich.console import Console
        from rich.progress import Progress

        progress: Any = Progress(console=Console(stderr=True))
    except ImportError:  # pragma: no cover
        progress = None
    t0 = time.perf_counter()
    task = progress.add_task("embedding CFP frontal photos", total=len(paths)) if progress else 0
    if progress:
        progress.start()
    try:
        for i, path in enumerate(paths):
            faces = pipe.process_file(path)
            if faces:
                embs.append(np.asarray(faces[0].embedding, np.float32))
                idents.append(int(path.parent.parent.name))
                kept.append(str(path.relative_to(cfp_root)))
            if progress:
                progress.advance(task)
            elif i % 500 == 0:
                log(f"  {i}/{len(paths)} photos, {time.perf_counter() - t0:.0f} s")
    finally:
        if progress:
            progress.stop()
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, embeddings=np.stack(embs), identities=np.array(idents), paths=np.array(kept))
    log(f"embedded {len(embs)} of {len(paths)} photos in {time.perf_counter() - t0:.0f} s")


def load_mates(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    """(gallery vectors (m, 128), probe vectors with their identity index) and a source."""
    if args.synthetic_mates:
        rng = np.random.default_rng(args.seed + 7)
        m = 500
        centres = unit(rng.standard_normal((m, DIM)))
        # cosine to the identity centre; genuine pairs then score about its square (0.3-0.9)
        c = np.sqrt(rng.beta(6, 4, (m, 10)) * 0.8 + 0.15)
        noise = unit(rng.standard_normal((m, 10, DIM)).reshape(-1, DIM)).reshape(m, 10, DIM)
        noise -= (noise * centres[:, None]).sum(-1, keepdims=True) * centres[:, None]
        noise /= np.linalg.norm(noise, axis=-1, keepdims=True)
        photos = centres[:, None] * c[..., None] + noise * np.sqrt(1 - c**2)[..., None]
        emb = unit(photos.reshape(-1, DIM))
        ident = np.repeat(np.arange(m), 10)
        source = "synthetic mates"
    else:
        cache = Path(args.mates_cache)
        if not cache.exists():
            log(f"{cache} missing: embedding CFP frontal photos with facesearch.engine.pipeline")
            make_cache(Path(args.cfp_root), cache)
        with np.load(cache, allow_pickle=False) as z:
            emb = unit(z["embeddings"].astype(np.float32))
            ident = z["identities"].astype(np.int64)
        source = f"CFP frontal ({cache.name})"
    return emb, ident, source


def split_mates(
    emb: np.ndarray, ident: np.ndarray, probes_per_identity: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gallery = first photo of each identity; probes = up to n of its other photos."""
    gal, probes, probe_mate = [], [], []
    for who in np.unique(ident):
        rows = np.flatnonzero(ident == who)
        if len(rows) < 2:
            continue
        gal.append(emb[rows[0]])
        for r in rows[1 : 1 + probes_per_identity]:
            probes.append(emb[r])
            probe_mate.append(len(gal) - 1)
    return np.stack(gal), np.stack(probes), np.asarray(probe_mate)


def spread(emb: np.ndarray, ident: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """Cosine spread of random distractor pairs and of real impostor / genuine pairs."""
    d = unit(rng.standard_normal((20000, DIM), dtype=np.float32))
    a, b = rng.integers(0, len(d), 200000), rng.integers(0, len(d), 200000)
    ok = a != b
    dist = (d[a[ok]] * d[b[ok]]).sum(1)
    a, b = rng.integers(0, len(emb), 200000), rng.integers(0, len(emb), 200000)
    imp = ident[a] != ident[b]
    cos = (emb[a] * emb[b]).sum(1)
    gen = cos[(ident[a] == ident[b]) & (a != b)]
    return {
        "distractor_mean": float(dist.mean()),
        "distractor_std": float(dist.std()),
        "impostor_mean": float(cos[imp].mean()),
        "impostor_std": float(cos[imp].std()),
        "impostor_p999": float(np.quantile(cos[imp], 0.999)),
        "genuine_mean": float(gen.mean()),
        "genuine_p05": float(np.quantile(gen, 0.05)),
    }


# -- gallery ---------------------------------------------------------------------------- #
class Gallery:
    """N ids 0..N-1; mates at random ids, distractors regenerated per chunk from a seed."""

    def __init__(self, n: int, mates: np.ndarray, seed: int) -> None:
        self.n, self.mates, self.seed = n, mates, seed
        rng = np.random.default_rng(seed)
        self.mate_ids = np.sort(rng.choice(n, len(mates), replace=False)).astype(np.int64)
        # mate j (row of `mates`) is planted at id mate_ids[perm[j]]
        self.perm = rng.permutation(len(mates))
        self.id_of_mate = self.mate_ids[self.perm]

    def chunks(self):
        """(ids, vectors) in blocks of BLOCK ids, the same whoever asks."""
        for j, start in enumerate(range(0, self.n, BLOCK)):
            stop = min(start + BLOCK, self.n)
            rng = np.random.default_rng([self.seed, j])
            vecs = rng.standard_normal((stop - start, DIM), dtype=np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            inside = (self.id_of_mate >= start) & (self.id_of_mate < stop)
            vecs[self.id_of_mate[inside] - start] = self.mates[inside]
            yield np.arange(start, stop, dtype=np.int64), vecs


def merge_top(
    s1: np.ndarray, i1: np.ndarray, s2: np.ndarray, i2: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    s, i = np.concatenate([s1, s2], 1), np.concatenate([i1, i2], 1)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)


def exact_oracle(
    gallery: Gallery, probes: np.ndarray, allowed: np.ndarray, lat_n: int, threads: int
) -> dict[str, Any]:
    """Exact top-20 (all and within ``allowed``) and exact single-query latency, by chunks."""
    import faiss

    nq = len(probes)
    s_all = np.full((nq, 0), -np.inf, np.float32)
    i_all = np.zeros((nq, 0), np.int64)
    s_f, i_f = s_all.copy(), i_all.copy()
    lat = np.zeros(lat_n)
    for ids, vecs in gallery.chunks():
        flat = faiss.IndexFlatIP(DIM)
        flat.add(vecs)
        faiss.omp_set_num_threads(1)
        for q in range(lat_n):
            t0 = time.perf_counter()
            flat.search(probes[q : q + 1], TOP)
            lat[q] += time.perf_counter() - t0
        faiss.omp_set_num_threads(threads)
        s, i = flat.search(probes, TOP)
        s_all, i_all = merge_top(s_all, i_all, s, ids[i], TOP)
        mask = np.isin(ids, allowed)
        if mask.any():
            sub = faiss.IndexFlatIP(DIM)
            sub.add(vecs[mask])
            s, i = sub.search(probes, min(TOP, int(mask.sum())))
            s_f, i_f = merge_top(s_f, i_f, s, ids[mask][i], TOP)
        del flat, vecs
        gc.collect()
    return {"ids": i_all, "scores": s_all, "ids_f": i_f, "lat": lat}


def ranks(ids: np.ndarray, mate: np.ndarray) -> np.ndarray:
    """1-based rank of each probe's mate in its result row; 0 if absent."""
    hit = ids == mate[:, None]
    return np.where(hit.any(1), hit.argmax(1) + 1, 0)


def retrieval(r: np.ndarray, r_exact: np.ndarray) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in (1, TOP):
        got, got_e = (r > 0) & (r <= k), (r_exact > 0) & (r_exact <= k)
        lost = got_e & ~got
        out[f"mate_rank{k}"] = float(got.mean())
        out[f"mate_rank{k}_exact"] = float(got_e.mean())
        # probes where "exact retrieves it => this index retrieves it" holds
        out[f"mate_kept_rank{k}"] = float(1 - lost.mean())
        out[f"mate_lost_rank{k}"] = int(lost.sum())
    return out


def timed_single(index: VectorIndex, probes: np.ndarray, **kw: Any) -> np.ndarray:
    lat = np.empty(len(probes))
    for q in range(len(probes)):
        t0 = time.perf_counter()
        index.search(probes[q : q + 1], TOP, **kw)
        lat[q] = time.perf_counter() - t0
    return lat


def interleaved(
    index: VectorIndex, probes: np.ndarray, threads: list[int], repeats: int, **kw: Any
) -> dict[int, np.ndarray]:
    """Single-query latencies per ``search_threads`` value, taking turns query by query."""
    lat = {t: np.empty(repeats * len(probes)) for t in threads}
    before = getattr(index, "search_threads", 0)
    for rep in range(repeats):
        for q in range(len(probes)):
            for t in threads:
                if t:
                    index.search_threads = t  # type: ignore[attr-defined]
                t0 = time.perf_counter()
                index.search(probes[q : q + 1], TOP, **kw)
                lat[t][rep * len(probes) + q] = time.perf_counter() - t0
    if before:
        index.search_threads = before  # type: ignore[attr-defined]
    return lat


def run(n: int, args: argparse.Namespace, emb: np.ndarray, ident: np.ndarray) -> dict[str, Any]:
    import faiss

    rng = np.random.default_rng(args.seed)
    gal_vecs, probes, probe_mate = split_mates(emb, ident, args.probes_per_identity)
    gallery = Gallery(n, gal_vecs, args.seed)
    mate_id = gallery.id_of_mate[probe_mate]
    nq = len(probes)
    lat_n = min(args.latency_queries, nq)
    lat_probes = probes[rng.permutation(nq)[:lat_n]]
    # the allowed_ids filter: a random share of the gallery plus every planted mate
    allowed = np.union1d(
        rng.choice(n, int(n * args.filter_fraction), replace=False), gallery.mate_ids
    ).astype(np.int64)

    faiss.omp_set_num_threads(args.threads)
    gc.collect()
    rss0 = rss_mb()
    custom = args.pq_m or args.refine_dtype or args.shards
    if args.kind == "flat" or (args.kind == "auto" and not custom):
        index = FlatVectorIndex("sface", DIM) if args.kind == "flat" else new_index("sface", DIM, n)
    else:
        plan = index_plan(max(n, 1_000_000), DIM)
        params = {**plan.params, "expected_size": n}
        if args.pq_m:
            params["pq_m"] = args.pq_m
        if args.refine_dtype:
            params["refine_dtype"] = args.refine_dtype
        if args.shards:
            params["shards"] = args.shards
        index = PQRefineVectorIndex("sface", DIM, **params)
    build = 0.0
    for ids, vecs in gallery.chunks():
        t0 = time.perf_counter()
        index.add(ids, vecs)
        build += time.perf_counter() - t0
        del vecs
    gc.collect()
    rss_delta = rss_mb() - rss0
    log(f"N={n}: built {index.describe()['factory']} in {build:.1f} s, +{rss_delta:.0f} MB RSS")

    t0 = time.perf_counter()
    # exact results depend only on the data; --reuse-exact keeps them across runs
    key = hashlib.sha256(
        b"".join(a.tobytes() for a in (probes, lat_probes, allowed, gallery.id_of_mate))
    ).hexdigest()[:16]
    cache = Path(args.mates_cache).parent / f"exact_{n}_{key}.npz"
    if args.reuse_exact and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            oracle = {name: z[name] for name in z.files}
        log(f"N={n}: exact results (and exact latency) reused from {cache.name}")
    else:
        oracle = exact_oracle(gallery, probes, allowed, lat_n, args.threads)
        log(f"N={n}: exact oracle in {time.perf_counter() - t0:.0f} s")
        if args.reuse_exact:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, **oracle)
    r_exact = ranks(oracle["ids"], mate_id)
    rf_exact = ranks(oracle["ids_f"], mate_id)

    efforts: list[int | None] = [None]
    if isinstance(index, PQRefineVectorIndex) and args.rerank:
        efforts = list(args.rerank)
    # threads scanning the shards of one query: each value is timed on the same build,
    # interleaved query by query so that the machine's load falls on all of them alike
    scan_threads = [0]
    if isinstance(index, PQRefineVectorIndex):
        scan_threads = args.search_threads or [index.search_threads]
    sweep = []
    for effort in efforts:
        kw: dict[str, Any] = {} if effort is None else {"rerank": effort}
        faiss.omp_set_num_threads(1)
        timed_single(index, lat_probes[:20], **kw)  # warm-up
        lat_by = interleaved(index, lat_probes, scan_threads, args.repeats, **kw)
        lat = lat_by[scan_threads[0]]
        lat_f = interleaved(index, lat_probes, scan_threads[:1], 1, allowed_ids=allowed, **kw)[
            scan_threads[0]
        ]
        faiss.omp_set_num_threads(args.threads)
        t0 = time.perf_counter()
        hits = index.search(probes, TOP, **kw)
        batch_s = time.perf_counter() - t0
        hits_f = index.search(probes, TOP, allowed_ids=allowed, **kw)
        r = ranks(hits.ids, mate_id)
        rf = ranks(hits_f.ids, mate_id)
        rec10 = np.mean(
            [len(np.intersect1d(hits.ids[q, :10], oracle["ids"][q, :10])) / 10 for q in range(nq)]
        )
        row: dict[str, Any] = {
            "rerank": effort if effort is not None else index.describe()["params"].get("rerank"),
            "search_threads": scan_threads[0],
            "p50_ms": float(np.median(lat) * 1e3),
            "p99_ms": float(np.quantile(lat, 0.99) * 1e3),
            "by_threads": {
                str(t): {
                    "p50_ms": float(np.median(v) * 1e3),
                    "p99_ms": float(np.quantile(v, 0.99) * 1e3),
                    # p50 of each timing pass: the spread from the machine's load
                    "pass_p50_ms": [
                        float(np.median(part) * 1e3) for part in np.array_split(v, args.repeats)
                    ],
                }
                for t, v in lat_by.items()
            },
            "batch_qps": float(nq / batch_s),
            "recall_at_10": float(rec10),
            **retrieval(r, r_exact),
            "filtered_p50_ms": float(np.median(lat_f) * 1e3),
            "filtered_mate_rank1": float((rf == 1).mean()),
            "filtered_mate_rank1_exact": float((rf_exact == 1).mean()),
            "filtered_mate_kept_rank1": float(1 - ((rf_exact == 1) & (rf != 1)).mean()),
        }
        sweep.append(row)
    index_bytes = index.nbytes()
    disk_dir = Path(args.mates_cache).parent / f"faiss_disk_{n}"
    index.save(disk_dir)  # the FAISS index's files, as a gallery keeps them
    faiss_disk_mb = _du_mb(disk_dir)
    import shutil

    shutil.rmtree(disk_dir, ignore_errors=True)
    stores = [
        run_store(url, n, args, gallery, probes, lat_probes, allowed, mate_id, r_exact, rf_exact)
        for url in args.vector_store or []
    ]
    result: dict[str, Any] = {
        "n": n,
        "mates": len(gal_vecs),
        "probes": nq,
        "latency_queries": lat_n * args.repeats,
        "structure": index.describe(),
        "build_s": round(build, 2),
        "index_rss_mb": round(rss_delta, 1),
        "index_nbytes_mb": round(index_bytes / 2**20, 1),
        "exact_p50_ms": float(np.median(oracle["lat"]) * 1e3),
        "exact_p99_ms": float(np.quantile(oracle["lat"], 0.99) * 1e3),
        "single_query_threads": sweep[0]["search_threads"],
        "batch_threads": args.threads,
        "filter_allowed": len(allowed),
        # other work on the machine skews latency: the 1-minute load average at the end
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        **sweep[0],
        "sweep": sweep,
        "faiss_disk_mb": round(faiss_disk_mb, 1),
        "bytes_per_face_rss": round(rss_delta * 2**20 / n, 1),
        "bytes_per_face_disk": round(faiss_disk_mb * 2**20 / n, 1),
        "stores": stores,
    }
    del index
    gc.collect()
    return result


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _milvus_process(base: Path) -> int | None:
    """The pid of the Milvus standalone whose binary lies under ``base`` (its --milvus-base)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv0 = (proc / "cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        if argv0.startswith(str(base)) and argv0.endswith("milvus"):
            return int(proc.name)
    return None


def _du_mb(path: Path, skip: str = "bin") -> float:
    total = 0
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != skip]
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total / 2**20


def run_store(
    url: str,
    n: int,
    args: argparse.Namespace,
    gallery: Gallery,
    probes: np.ndarray,
    lat_probes: np.ndarray,
    allowed: np.ndarray,
    mate_id: np.ndarray,
    r_exact: np.ndarray,
    rf_exact: np.ndarray,
) -> dict[str, Any]:
    """The same gallery in a server vector store (``milvus://...``): insert, index, latency,
    mate retention against the same exact results, and the server's memory and disk."""
    import uuid

    from facesearch.search.backends import Backends

    spec = Backends.parse(vector_store=url).vector_store
    assert spec.milvus is not None, "--vector-store must be a milvus:// URL"
    cfg = spec.milvus
    from dataclasses import replace

    if "collection=" not in url:  # a collection of its own, dropped at the end
        cfg = replace(cfg, prefix=f"bench{uuid.uuid4().hex[:8]}")
    from facesearch.store.vectors.milvus import MilvusVectorStore
    from facesearch.store.vectors.port import Facet, VectorFilter

    # provenance facets beside the vectors: the allowed faces in collection "case", the rest
    # in "other", so that the facet filter (pushed into the Milvus expression) and the id-list
    # filter select the same faces
    in_case, elsewhere = [Facet("case")], [Facet("other")]

    base = Path(args.milvus_base) if args.milvus_base else None
    pid = _milvus_process(base) if base else None
    rss0 = _proc_rss_mb(pid) if pid else float("nan")
    disk0 = _du_mb(base) if base else float("nan")
    store = MilvusVectorStore(cfg, "sface-bench", DIM)
    t0 = time.perf_counter()
    for ids, vecs in gallery.chunks():
        for start in range(0, len(ids), 50_000):
            part = ids[start : start + 50_000]
            inside = np.isin(part, allowed)
            facets = [in_case if x else elsewhere for x in inside.tolist()]
            store.add(part, vecs[start : start + 50_000], facets)
    insert_s = time.perf_counter() - t0
    store.client.flush(store.name)
    t1 = time.perf_counter()
    while True:  # the index is built on sealed segments in the background
        info = store.client.describe_index(store.name, "vec")
        if int(info.get("indexed_rows", 0)) >= int(info.get("total_rows", 1)) > 0:
            break
        if time.perf_counter() - t1 > args.milvus_index_timeout:
            log(f"N={n}: Milvus index still building after {args.milvus_index_timeout} s: {info}")
            break
        time.sleep(2)
    index_s = time.perf_counter() - t1
    store.client.release_collection(store.name)
    store.client.load_collection(store.name)
    log(f"N={n}: Milvus insert {insert_s:.1f} s, index {index_s:.1f} s ({store.count()} faces)")
    for q in range(min(20, len(lat_probes))):  # warm-up
        store.search(lat_probes[q : q + 1], TOP)
    lat = np.empty(len(lat_probes))
    for q in range(len(lat_probes)):
        t2 = time.perf_counter()
        store.search(lat_probes[q : q + 1], TOP)
        lat[q] = time.perf_counter() - t2
    strong = store.config  # the same searches without Strong consistency's wait
    store.config = replace(strong, consistency="Bounded")
    lat_b = np.empty(len(lat_probes))
    for q in range(len(lat_probes)):
        t2 = time.perf_counter()
        store.search(lat_probes[q : q + 1], TOP)
        lat_b[q] = time.perf_counter() - t2
    store.config = strong
    nf = min(len(lat_probes), args.filtered_queries)
    lat_f = np.empty(nf)
    for q in range(nf):
        t2 = time.perf_counter()
        store.search(lat_probes[q : q + 1], TOP, allowed_ids=allowed)
        lat_f[q] = time.perf_counter() - t2
    only_case = VectorFilter(collection="case")
    lat_c = np.empty(nf)
    for q in range(nf):
        t2 = time.perf_counter()
        store.search(lat_probes[q : q + 1], TOP, where=only_case)
        lat_c[q] = time.perf_counter() - t2
    rc = ranks(store.search(probes[:nf], TOP, where=only_case).ids, mate_id[:nf])
    t3 = time.perf_counter()
    hits = store.search(probes, TOP)
    batch_s = time.perf_counter() - t3
    r = ranks(hits.ids, mate_id)
    hits_f = store.search(probes[:nf], TOP, allowed_ids=allowed)
    rf = ranks(hits_f.ids, mate_id[:nf])
    sweep = []  # wider HNSW/IVF search on the same collection (Bounded: no time-tick wait)
    for effort in args.milvus_effort or []:
        key = {"HNSW": "ef", "DISKANN": "search_list"}.get(strong.index_type, "nprobe")
        store.config = replace(
            strong, consistency="Bounded", search_params={**strong.search_params, key: effort}
        )
        lat_e = np.empty(len(lat_probes))
        for q in range(len(lat_probes)):
            t2 = time.perf_counter()
            store.search(lat_probes[q : q + 1], TOP)
            lat_e[q] = time.perf_counter() - t2
        r_e = ranks(store.search(probes, TOP).ids, mate_id)
        sweep.append(
            {
                key: effort,
                "p50_ms": float(np.median(lat_e) * 1e3),
                "p99_ms": float(np.quantile(lat_e, 0.99) * 1e3),
                **retrieval(r_e, r_exact),
            }
        )
    store.config = strong
    rss1 = _proc_rss_mb(pid) if pid else float("nan")
    disk1 = _du_mb(base) if base else float("nan")
    out: dict[str, Any] = {
        "url": url,
        "describe": store.describe(),
        "insert_s": round(insert_s, 1),
        "index_s": round(index_s, 1),
        "p50_ms": float(np.median(lat) * 1e3),
        "p99_ms": float(np.quantile(lat, 0.99) * 1e3),
        "bounded_p50_ms": float(np.median(lat_b) * 1e3),
        "bounded_p99_ms": float(np.quantile(lat_b, 0.99) * 1e3),
        "batch_qps": float(len(probes) / batch_s),
        **retrieval(r, r_exact),
        "filtered_queries": nf,
        "filtered_p50_ms": float(np.median(lat_f) * 1e3),
        "filtered_mate_rank1": float((rf == 1).mean()),
        "filtered_mate_rank1_exact": float((rf_exact[:nf] == 1).mean()),
        "facet_filtered_p50_ms": float(np.median(lat_c) * 1e3),
        "facet_filtered_mate_rank1": float((rc == 1).mean()),
        "server_rss_delta_mb": round(rss1 - rss0, 1),
        "server_disk_delta_mb": round(disk1 - disk0, 1),
        "bytes_per_face_rss": round((rss1 - rss0) * 2**20 / n, 1),
        "bytes_per_face_disk": round((disk1 - disk0) * 2**20 / n, 1),
        "sweep": sweep,
    }
    if "collection=" not in url:
        store.drop()
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, action="append", help="gallery size (repeatable)")
    ap.add_argument("--json", action="store_true", help="print one JSON object per N")
    ap.add_argument("--kind", choices=["auto", "flat", "pq_refine"], default="auto")
    ap.add_argument("--rerank", type=int, action="append", help="rerank values to sweep")
    ap.add_argument("--pq-m", type=int, default=0, help="override PQ sub-quantisers")
    ap.add_argument("--refine-dtype", choices=["float32", "float16"], default="")
    ap.add_argument("--shards", type=int, default=0, help="override the PQ code shards")
    ap.add_argument(
        "--search-threads",
        type=int,
        action="append",
        help="threads scanning one query's shards (repeatable: timed side by side; the first "
        "is reported)",
    )
    ap.add_argument("--threads", type=int, default=2, help="threads for build and batches")
    ap.add_argument("--probes-per-identity", type=int, default=9)
    ap.add_argument("--latency-queries", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3, help="timing passes over the queries")
    ap.add_argument("--filter-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--mates-cache", default=str(REPO / "benchmarks/out/cfp_embeddings.npz"))
    ap.add_argument("--cfp-root", default=str(REPO.parent / "shared/faces/cfp"))
    ap.add_argument(
        "--reuse-exact", action="store_true", help="cache exact results per N in benchmarks/out"
    )
    ap.add_argument("--synthetic-mates", action="store_true", help="no CFP: synthetic mates")
    ap.add_argument(
        "--vector-store",
        action="append",
        metavar="URL",
        help="also measure this server store (milvus://HOST:19530[?index=..]) beside FAISS",
    )
    ap.add_argument(
        "--milvus-base",
        default="",
        help="the Milvus standalone's base dir (its process RSS and disk are measured)",
    )
    ap.add_argument("--milvus-index-timeout", type=float, default=1800)
    ap.add_argument("--filtered-queries", type=int, default=100)
    ap.add_argument(
        "--milvus-effort",
        type=int,
        action="append",
        help="also time these ef (HNSW) / nprobe (IVF) / search_list (DISKANN) values",
    )
    args = ap.parse_args()
    sizes = args.n or [100_000, 1_000_000]

    emb, ident, source = load_mates(args)
    sp = spread(emb, ident, np.random.default_rng(args.seed))
    log(
        f"mates: {source}, {len(emb)} photos of {len(np.unique(ident))} identities\n"
        f"cosine spread: distractor pairs mean {sp['distractor_mean']:+.4f} std "
        f"{sp['distractor_std']:.4f}; real impostor pairs mean {sp['impostor_mean']:+.4f} std "
        f"{sp['impostor_std']:.4f} (p99.9 {sp['impostor_p999']:.3f}); genuine mean "
        f"{sp['genuine_mean']:.3f} (p5 {sp['genuine_p05']:.3f})"
    )
    if abs(sp["impostor_std"] - sp["distractor_std"]) > 0.02 or abs(sp["impostor_mean"]) > 0.03:
        log("NOTE: real impostor spread differs from the random distractors' (see above)")
    for n in sizes:
        res = run(n, args, emb, ident)
        res["source"] = source
        res["cosine_spread"] = sp
        if args.json:
            print(json.dumps(res), flush=True)
            continue
        print(
            f"\nN = {n:,}  structure {res['structure']['factory']} "
            f"{json.dumps(res['structure']['params'])}\n"
            f"  build {res['build_s']:.1f} s ({args.threads} threads); index memory "
            f"+{res['index_rss_mb']:.0f} MB RSS, {res['index_nbytes_mb']:.0f} MB own arrays\n"
            f"  exact search: p50 {res['exact_p50_ms']:.2f} ms, p99 {res['exact_p99_ms']:.2f} ms "
            f"(1 thread, {res['probes']} probes, {res['mates']} mates)"
        )
        for row in res["sweep"]:
            by = "; ".join(
                f"{t or 1} thread(s) p50 {v['p50_ms']:.2f} p99 {v['p99_ms']:.2f} ms (passes "
                + ", ".join(f"{x:.1f}" for x in v["pass_p50_ms"])
                + ")"
                for t, v in row["by_threads"].items()
            )
            print(
                f"  rerank {row['rerank']}: {by}; batch {row['batch_qps']:.0f} q/s "
                f"({args.threads} threads); "
                f"recall@10 {row['recall_at_10']:.4f}\n"
                f"    mate rank1 {row['mate_rank1']:.4f} (exact {row['mate_rank1_exact']:.4f}), "
                f"rank20 {row['mate_rank20']:.4f} (exact {row['mate_rank20_exact']:.4f}); kept "
                f"where exact has it: rank1 {row['mate_kept_rank1']:.4f} "
                f"({row['mate_lost_rank1']} lost), rank20 {row['mate_kept_rank20']:.4f} "
                f"({row['mate_lost_rank20']} lost)\n"
                f"    filtered ({res['filter_allowed']:,} allowed ids): p50 "
                f"{row['filtered_p50_ms']:.2f} ms, mate rank1 {row['filtered_mate_rank1']:.4f} "
                f"(exact {row['filtered_mate_rank1_exact']:.4f}), kept "
                f"{row['filtered_mate_kept_rank1']:.4f}",
                flush=True,
            )
        print(
            f"  FAISS per face: {res['bytes_per_face_rss']:.0f} B RAM (RSS), "
            f"{res['bytes_per_face_disk']:.0f} B disk ({res['faiss_disk_mb']:.0f} MB saved)"
        )
        for st in res["stores"]:
            d = st["describe"]
            print(
                f"  {d['backend']} {d['index_type']} {json.dumps(d['params'])} search "
                f"{json.dumps(d['search_params'])} rerank {d['rerank']}: insert "
                f"{st['insert_s']:.1f} s, index {st['index_s']:.1f} s\n"
                f"    single query ({d['consistency']}) p50 {st['p50_ms']:.2f} ms, p99 "
                f"{st['p99_ms']:.2f} ms; Bounded p50 {st['bounded_p50_ms']:.2f} ms, p99 "
                f"{st['bounded_p99_ms']:.2f} ms; batch {st['batch_qps']:.0f} q/s\n"
                f"    mate rank1 {st['mate_rank1']:.4f} (exact {st['mate_rank1_exact']:.4f}), "
                f"rank20 {st['mate_rank20']:.4f} (exact {st['mate_rank20_exact']:.4f}); kept "
                f"where exact has it: rank1 {st['mate_kept_rank1']:.4f} "
                f"({st['mate_lost_rank1']} lost), rank20 {st['mate_kept_rank20']:.4f} "
                f"({st['mate_lost_rank20']} lost)\n"
                f"    filtered ({st['filtered_queries']} queries): p50 "
                f"{st['filtered_p50_ms']:.2f} ms, mate rank1 {st['filtered_mate_rank1']:.4f} "
                f"(exact {st['filtered_mate_rank1_exact']:.4f})\n"
                f"    facet-filtered (collection == 'case', the same faces, pushed down): p50 "
                f"{st['facet_filtered_p50_ms']:.2f} ms, mate rank1 "
                f"{st['facet_filtered_mate_rank1']:.4f}\n"
                f"    server per face: {st['bytes_per_face_rss']:.0f} B RAM (RSS delta "
                f"{st['server_rss_delta_mb']:.0f} MB), {st['bytes_per_face_disk']:.0f} B disk "
                f"(delta {st['server_disk_delta_mb']:.0f} MB)",
                flush=True,
            )
            for row in st["sweep"]:
                effort = {k: v for k, v in row.items() if k in ("ef", "nprobe", "search_list")}
                print(
                    f"    {json.dumps(effort)} (Bounded): p50 {row['p50_ms']:.2f} ms, p99 "
                    f"{row['p99_ms']:.2f} ms; mate rank1 {row['mate_rank1']:.4f}, rank20 "
                    f"{row['mate_rank20']:.4f}; kept rank1 {row['mate_kept_rank1']:.4f} "
                    f"({row['mate_lost_rank1']} lost), rank20 {row['mate_kept_rank20']:.4f} "
                    f"({row['mate_lost_rank20']} lost)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
