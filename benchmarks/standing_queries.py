"""What standing queries add to an ingest: the run after it (every active query compared with
the faces the ingest added, alerts recorded) for Q queries and F new faces, against the
ingest's own time for the same faces, measured in the same run.

The gallery is real (catalog, vector index, governance in one data directory, the shipped
models loaded): B synthetic faces first (random unit vectors written to the catalog, as
benchmarks/search_e2e.py does), then Q standing queries on one case (their vectors random,
except ``--hits`` of them whose person is among the new faces), then F new synthetic faces, of
which ``--hits`` are noisy copies of those queries' vectors: each must raise one alert. The
ingest's own rate comes from ingesting ``--photos`` real photos (scikit-image's LFW subset) in
the same process, per face.

    python benchmarks/standing_queries.py [--base 10000] [--queries 100] [--new 1000] [--hits 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_e2e import synthetic_faces  # a sibling benchmark's gallery filler

PASSWORD = "benchmark password 1"


def _photos(folder: Path, count: int) -> Path:
    import cv2
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(data.lfw_subset()[:count]):
        grey = cv2.resize((img * 255).astype(np.uint8), (150, 150), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"lfw-{i}.png"), grey)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=int, default=10_000, help="faces before the queries")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--new", type=int, default=1_000, help="faces the ingest adds")
    parser.add_argument("--hits", type=int, default=5, help="new faces of queried people")
    parser.add_argument("--photos", type=int, default=40, help="real photos for the ingest rate")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import cv2
    from skimage import data

    from facesearch.app.service import SearchRequest, Service
    from facesearch.govern import standing as st
    from facesearch.search.scoring import ProbeFace
    from facesearch.settings import Settings

    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        service = Service(Settings(data_dir=root / "data"))
        service.library.initialise([("admin", PASSWORD), ("admin2", PASSWORD)])
        gov = service.governance
        change = gov.add_user("admin", "sup", ["supervisor"])
        if change is not None:
            gov.approve_change("admin2", change.id)
        gov.add_user("admin", "inv", ["investigator"])
        gov.open_case("inv", "B-1", "threat-to-life", "Order 1", "standing queries benchmark")
        gov.approve_case("sup", "B-1")
        admin = service.accounts.principal("admin", "cli")
        inv = service.accounts.principal("inv", "cli")

        # the ingest's own rate, per face, on real photos
        photos = _photos(root / "photos", args.photos)
        t0 = time.perf_counter()
        report = service.library.ingest(admin, [photos], workers=0)
        ingest_s = time.perf_counter() - t0
        per_face = ingest_s / max(report.faces_indexed, 1)

        gallery = service.ctx.gallery
        synthetic_faces(gallery, args.base, seed=1)
        probe = cv2.imencode(".jpg", np.asarray(data.astronaut())[:, :, ::-1])[1].tobytes()
        search = service.searches.search(inv, "B-1", probe, SearchRequest(k=5))
        model, dim = gallery.model_key, gallery.pipeline_dim
        second_model = gallery.scoring.second_model or None
        _, mark = gallery.catalog.searchable_summary(model)
        seen = ProbeFace(0, (10.0, 10.0, 100.0, 120.0), 0.9, ())  # as a good probe's
        vectors = rng.standard_normal((args.queries, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for i in range(args.queries):
            q = st.QueryVectors(model, vectors[i], None, None, 0.0, seen)
            gov.run(
                "inv",
                "standing.create",
                {},
                lambda s, a, q=q, i=i: st.create_query(
                    s, a, gov.policy, gov.cipher, "inv", search.outcome.search_id,
                    f"benchmark {i}", q, mark, gov.clock(),
                ).id,
            )  # fmt: skip
        # the new faces: F - hits random ones, and hits noisy copies of the first queries
        synthetic_faces(gallery, args.new - args.hits, seed=2)
        if args.hits:
            _copies(gallery, vectors[: args.hits], rng, second_model)

        t0 = time.perf_counter()
        run = service.standing.run(admin)
        run_s = time.perf_counter() - t0
        first_ids = sorted(q.id for q in service.standing.queries(inv))[: args.hits]
        alerted = {a.query_id for a in service.standing.alerts(inv)}
        service.close()

    per_1000 = run_s * 1000 / max(run.new_faces, 1)
    out = {
        "base_faces": args.base,
        "standing_queries": run.queries,
        "new_faces": run.new_faces,
        "alerts": len(run.alerts),
        "queried_people_found": f"{len(alerted & set(first_ids))} of {args.hits}",
        "other_alerts": len(alerted - set(first_ids)),
        "run_seconds": round(run_s, 3),
        "run_seconds_per_1000_new_faces": round(per_1000, 3),
        "ingest_seconds_per_1000_faces": round(per_face * 1000, 1),
        "added_to_ingest": f"{100 * per_1000 / (per_face * 1000):.2f}%",
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for key, value in out.items():
        print(f"{key:>32}: {value}")


def _copies(gallery, queries: np.ndarray, rng, second_model) -> None:  # type: ignore[no-untyped-def]
    """New faces that are noisy copies of the given query vectors (cosine about 0.8)."""
    import hashlib

    from facesearch.store.catalog import FaceRecord, ImageRecord, ProvenanceRecord

    records = []
    for i, q in enumerate(queries):
        noise = rng.standard_normal(q.shape).astype(np.float32)
        noise /= np.linalg.norm(noise)
        v = 0.8 * q + 0.6 * noise
        v /= np.linalg.norm(v)
        face = FaceRecord(
            face_index=0, bbox=(10.0, 10.0, 100.0, 120.0), landmarks=[[0.0, 0.0]] * 5,
            detector_score=0.9, quality=0.9, sharpness=100.0, yaw=0.0, flags=(),
            model=gallery.model_key, embedding=v, second_model=None, second_embedding=None,
        )  # fmt: skip
        sha = hashlib.sha256(f"hit-{i}".encode()).hexdigest()
        records.append(
            ImageRecord(
                sha256=sha, size_bytes=0, width=250, height=250, format="synthetic",
                path=f"hits/{i}.jpg", thumbnail=None, faces=[face],
                provenance=ProvenanceRecord(path=f"hits/{i}.jpg", collection="hits"),
            )
        )  # fmt: skip
    gallery.catalog.add_images(records, None)


if __name__ == "__main__":
    main()
