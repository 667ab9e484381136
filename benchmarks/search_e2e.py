"""End-to-end search benchmark: a probe photo against a gallery of N faces.

The gallery is the real thing (catalog, vector index, blob store in one data directory):
N - m synthetic faces (random unit vectors, whose cosine spread matches real impostor pairs,
with random second vectors, written straight to the catalog) plus m real CFP photos ingested
through the pipeline, followed by the second-vector pass. Each probe is another CFP photo of
one of those m people. Timed per probe: the whole ``Gallery.search`` (decode, detect, align,
both recognizers on the probe, index search, catalog look-ups of the candidates and their
provenance, fused re-ranking), one probe at a time, each probe searched once: search never
describes gallery faces, so there is no slower first search. Then each person's gallery photo
is searched for itself (its top score, against the fusion's ceiling ``fuse(1, 1)``).

    python benchmarks/search_e2e.py --n 1000000 [--people 100] [--k 20] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CFP_DEFAULT = REPO.parent / "shared" / "faces" / "cfp"


def synthetic_faces(gallery, count: int, seed: int = 7, chunk: int = 20_000) -> None:  # type: ignore[no-untyped-def]
    from facesearch.store.catalog import FaceRecord, ImageRecord, ProvenanceRecord

    rng = np.random.default_rng(seed)
    model = gallery.model_key
    second_model = gallery.scoring.second_model or None
    done = 0
    while done < count:
        n = min(chunk, count - done)
        vecs = rng.standard_normal((n, gallery.pipeline_dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        seconds = rng.standard_normal((n, 128)).astype(np.float32)
        seconds /= np.linalg.norm(seconds, axis=1, keepdims=True)
        records = []
        for i in range(n):
            sha = hashlib.sha256(f"synthetic-{seed}-{done + i}".encode()).hexdigest()
            face = FaceRecord(
                face_index=0,
                bbox=(10.0, 10.0, 100.0, 120.0),
                landmarks=[[0.0, 0.0]] * 5,
                detector_score=0.9,
                quality=0.9,
                sharpness=100.0,
                yaw=0.0,
                flags=(),
                model=model,
                embedding=vecs[i],
                second_model=second_model,
                second_embedding=seconds[i] if second_model else None,
            )
            records.append(
                ImageRecord(
                    sha256=sha,
                    size_bytes=0,
                    width=250,
                    height=250,
                    format="synthetic",
                    path=f"synthetic/{done + i}.jpg",
                    thumbnail=None,
                    faces=[face],
                    provenance=ProvenanceRecord(
                        path=f"synthetic/{done + i}.jpg",
                        collection="distractors",
                        source_url=f"https://distractors.example/{done + i}",
                    ),
                )
            )
        gallery.catalog.add_images(records, None)
        done += n
        print(f"  synthetic faces in the catalog: {done:,}/{count:,}", file=sys.stderr, end="\r")
    print(file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--self-probes", type=int, default=20)
    parser.add_argument("--data", type=Path, default=CFP_DEFAULT, help="The CFP folder.")
    parser.add_argument("--keep", type=Path, help="Keep (and reuse) the gallery in this folder.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cfp = args.data / "Data" / "Images"
    if not cfp.is_dir():
        sys.exit(f"CFP photos not found at {cfp}")
    from facesearch.search.gallery import Gallery

    root = args.keep or Path(tempfile.mkdtemp(prefix="fs-e2e-"))
    fresh = not (root / "gallery.json").exists()
    people = sorted(p for p in cfp.iterdir() if p.is_dir())[: args.people]
    gallery = Gallery.open(root)
    build = {}
    if fresh:
        t0 = time.perf_counter()
        synthetic_faces(gallery, args.n - 9 * len(people))
        build["catalog_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        gallery.reindex()
        build["index_s"] = time.perf_counter() - t0
        photos = [p for person in people for p in sorted((person / "frontal").glob("*.jpg"))[1:]]
        t0 = time.perf_counter()
        gallery.ingest(photos, collection="cfp", workers=2)
        build["ingest_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = gallery.second_pass(workers=2)
        build["second_pass_s"] = time.perf_counter() - t0
        build["second_pass_faces_per_s"] = second.faces_per_second
        gallery.close()
        gallery = Gallery.open(root)
    gallery.pipeline  # noqa: B018  (load the models before timing)
    t0 = time.perf_counter()
    size = len(gallery.index)
    open_s = time.perf_counter() - t0
    probes = [sorted((person / "frontal").glob("*.jpg"))[0] for person in people]
    totals = []
    hits = 0
    fused_top = 0
    for person, probe in zip(people, probes, strict=True):
        t0 = time.perf_counter()
        result = gallery.search(probe, k=args.k)
        totals.append((time.perf_counter() - t0) * 1000)
        top = result.candidates[0] if result.candidates else None
        hits += top is not None and f"/{person.name}/" in top.image_path
        fused_top += top is not None and top.fused
    # a gallery photo searched for itself
    self_scores = []
    for person in people[: args.self_probes]:
        photo = sorted((person / "frontal").glob("*.jpg"))[1]
        top = gallery.search(photo, k=1).candidates[0]
        if top.image_path == str(photo):
            self_scores.append(top.score)
    fusion = gallery.scoring.fusion
    ceiling = float(fusion.fuse(np.array([1.0]), np.array([1.0]))[0]) if fusion else 1.0
    # the index and catalog part alone, from the probe's embedding
    emb = gallery.embed(probes[0])[0].embedding
    lookups = []
    for _ in range(50):
        t0 = time.perf_counter()
        gallery.search_embedding(emb, args.k, model=gallery.model_key)
        lookups.append((time.perf_counter() - t0) * 1000)
    out = {
        "n": size,
        "index": gallery.index.describe(),
        **build,
        "open_index_s": open_s,
        "probes": len(totals),
        "p50_ms": statistics.median(totals),
        "p99_ms": float(np.percentile(totals, 99)),
        "index_and_catalog_p50_ms": statistics.median(lookups),
        "mate_rank1": hits / len(totals),
        "top_fused": fused_top / len(totals),
        "self_search_min": min(self_scores) if self_scores else None,
        "self_search_median": statistics.median(self_scores) if self_scores else None,
        "self_search_found": f"{len(self_scores)}/{min(args.self_probes, len(people))}",
        "fusion_ceiling": ceiling,
    }
    gallery.close()
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(out))
        return
    print(f"gallery of {size:,} faces, index {out['index'].get('factory')}")
    for key in ("catalog_s", "index_s", "ingest_s", "second_pass_s"):
        if key in out:
            print(f"  build {key[:-2]:11s} {out[key]:8.1f} s")
    if "second_pass_faces_per_s" in out:
        print(f"  second pass: {out['second_pass_faces_per_s']:.1f} faces/s (2 workers)")
    print(
        f"  probe photo to ranked candidates with provenance: p50 {out['p50_ms']:.0f} ms, "
        f"p99 {out['p99_ms']:.0f} ms over {len(totals)} probes, each searched once "
        f"(top candidate fused: {out['top_fused']:.0%})"
    )
    if self_scores:
        print(
            f"  a gallery photo searched for itself ({out['self_search_found']} found at rank 1):"
            f" score min {out['self_search_min']:.4f}, median {out['self_search_median']:.4f}"
            f" (the fusion's ceiling fuse(1, 1) = {ceiling:.4f})"
        )
    print(
        f"  of which index search + catalog look-ups: p50 {out['index_and_catalog_p50_ms']:.1f} ms"
    )
    print(f"  mate at rank 1: {out['mate_rank1']:.1%}")


if __name__ == "__main__":
    main()
