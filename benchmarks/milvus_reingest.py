"""Photos already stored, ingested again into another collection, on a Milvus gallery (by hand).

A gallery with its vectors in Milvus (``--vector-store``; catalog SQLite, blobs local) ingests
CFP frontal photos into collection ``first``; then the same photos again into collection
``second`` (nothing is detected or embedded: each photo gains a provenance record, and its
faces' provenance facets in Milvus are rewritten so that a search filtered on ``second`` finds
them); then ``reindex`` (the collection dropped and refilled from the catalog). Prints the
time of each step and checks that a search filtered on ``second`` finds every face.
``--src`` runs another checkout's code (e.g. the commit before a change), for a before/after
comparison on the same server.

    python benchmarks/milvus_reingest.py --photos 300 --vector-store milvus://127.0.0.1:19530
    python benchmarks/milvus_reingest.py --photos 300 --vector-store milvus://127.0.0.1:19530 \
        --src /tmp/fs-base/src
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def photos(cfp_root: Path, n: int) -> list[Path]:
    found = sorted((cfp_root / "Data" / "Images").glob("*/frontal/*.jpg"))
    if not found:
        raise SystemExit(f"no CFP frontal photos under {cfp_root}")
    step = max(1, len(found) // n)
    return found[::step][:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--vector-store", default="milvus://127.0.0.1:19530")
    ap.add_argument("--src", default=str(REPO / "src"), help="the facesearch code to run")
    ap.add_argument("--cfp-root", default=str(REPO.parent / "shared/faces/cfp"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, args.src)
    import numpy as np

    from facesearch.search.backends import Backends
    from facesearch.search.gallery import Gallery

    sep = "&" if "?" in args.vector_store else "?"
    url = f"{args.vector_store}{sep}collection=reingest{uuid.uuid4().hex[:8]}"
    paths = photos(Path(args.cfp_root), args.photos)
    root = Path(tempfile.mkdtemp(prefix="fs-reingest-"))
    out: dict[str, object] = {"src": args.src, "photos": len(paths)}
    try:
        with Gallery.open(root, backends=Backends.parse(vector_store=url)) as g:
            t0 = time.perf_counter()
            first = g.ingest(paths, collection="first", workers=args.workers)
            out["ingest_s"] = round(time.perf_counter() - t0, 2)
            out["faces"] = first.faces_indexed
            t0 = time.perf_counter()
            again = g.ingest(paths, collection="second", workers=args.workers)
            out["reingest_s"] = round(time.perf_counter() - t0, 2)
            out["reingest_photos_per_s"] = round(len(paths) / out["reingest_s"], 1)  # type: ignore[operator]
            out["reingest_duplicates"] = again.duplicates
            probes = g.catalog.embeddings(g.catalog.face_ids(g.model_key))
            hits = g.search_index(probes, 1, collection="second")
            out["second_found_self"] = float(
                np.mean(hits.ids[:, 0] == g.catalog.face_ids(g.model_key))
            )
            t0 = time.perf_counter()
            out["reindex_faces"] = g.reindex()
            out["reindex_s"] = round(time.perf_counter() - t0, 2)
            hits = g.search_index(probes, 1, collection="second")
            out["second_found_self_after_reindex"] = float(
                np.mean(hits.ids[:, 0] == g.catalog.face_ids(g.model_key))
            )
            g.index.drop()  # type: ignore[union-attr]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out["loadavg_1m"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(out))
        return
    print(
        f"{out['photos']} photos, {out['faces']} faces ({args.src}): ingest {out['ingest_s']} s; "
        f"again into another collection {out['reingest_s']} s ({out['reingest_photos_per_s']} "
        f"photos/s, {out['reingest_duplicates']} duplicates), each face found by a search "
        f"filtered on it: {out['second_found_self']:.3f}; reindex {out['reindex_s']} s "
        f"({out['reindex_faces']} faces; found after: "
        f"{out['second_found_self_after_reindex']:.3f}); 1-minute load {out['loadavg_1m']}"
    )


if __name__ == "__main__":
    main()
