"""Multi-probe search against single-photo search, on CFP, in one run.

    PYTHONPATH=src python benchmarks/multiprobe.py /path/to/cfp/Data/Images 100 --gallery profile

A gallery of one photo per person (``--gallery profile``: profile photo 01, the hard case;
``frontal``: frontal photo 10) for N people, plus the frontal photos 04-09 of N other people as
distractors; then frontal photos 01, 02 and 03 of each of the N people as probes. Prints the
rank-1 counts of each single photo, of the best single photo (the slot with the most), of the
"any single photo" oracle, of the multi-probe search (mean of the normalised embeddings, the
shipped ranking) and of ranking by the best single score, and the time per search.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facesearch.errors import NoFaceError
from facesearch.search.gallery import Gallery
from facesearch.search.multiprobe import MultiCandidate, multi_probe_search, probe_from_face

RULES: dict[str, Callable[[MultiCandidate], float]] = {
    "mean score (shipped)": lambda c: c.score,
    "best single score": lambda c: c.best_score,
    "max(mean, best)": lambda c: max(c.score, c.best_score),
    "(mean + best) / 2": lambda c: (c.score + c.best_score) / 2,
    "mean of the probes' scores": lambda c: float(np.mean(c.scores)),
}


def degrade(data: bytes, scale: float) -> bytes:
    if scale == 1.0:
        return data
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 40])
    assert ok
    return bytes(buf.tobytes())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("images", type=Path)
    ap.add_argument("n", type=int)
    ap.add_argument("--gallery", choices=("profile", "frontal"), default="profile")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument(
        "--probe-scale",
        type=float,
        default=1.0,
        help="shrink the probe photos by this factor and re-encode them at JPEG quality 40 "
        "(harder probes)",
    )
    args = ap.parse_args()
    people = sorted(p.name for p in args.images.iterdir() if p.is_dir())
    rng = np.random.default_rng(args.seed)
    chosen = [str(p) for p in rng.choice(people, size=2 * args.n, replace=False)]
    targets, distractors = chosen[: args.n], chosen[args.n :]
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "gallery.csv"
        with open(manifest, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "title"])
            for p in targets:
                photo = "profile/01.jpg" if args.gallery == "profile" else "frontal/10.jpg"
                w.writerow([str(args.images / p / photo), p])
            for p in distractors:
                for i in range(4, 10):
                    w.writerow([str(args.images / p / "frontal" / f"{i:02d}.jpg"), p])
        g = Gallery.open(Path(tmp) / "data")
        t0 = time.perf_counter()
        g.ingest([], manifest=manifest, workers=1)
        print(f"gallery: {len(g.index)} faces, ingest {time.perf_counter() - t0:.1f} s")
        single = np.zeros((args.n, 3), bool)
        multi = np.zeros(args.n, bool)
        by_rule = {name: np.zeros(args.n, bool) for name in RULES}
        t_single = t_multi = 0.0
        no_face = 0
        for row, p in enumerate(targets):
            probes = []
            for j in range(3):
                path = args.images / p / "frontal" / f"{j + 1:02d}.jpg"
                data = degrade(path.read_bytes(), args.probe_scale)
                t0 = time.perf_counter()
                try:
                    res = g.search(data, k=1)
                except NoFaceError:
                    no_face += 1  # a miss for this photo; the others search without it
                    continue
                t_single += time.perf_counter() - t0
                single[row, j] = res.candidates[0].provenance[0]["title"] == p
                decoded = g.decode(data)
                face = g.pipeline.process_image(decoded).faces[0]
                probes.append(probe_from_face(face, decoded.sha256, path.name))
            if not probes:
                continue
            t0 = time.perf_counter()
            res_m = multi_probe_search(g, probes, 20, model=g.model_key)
            t_multi += time.perf_counter() - t0
            multi[row] = res_m.candidates[0].provenance[0]["title"] == p
            # every candidate of the union, to rank by the other rules
            every = multi_probe_search(g, probes, 10_000, model=g.model_key).candidates
            for name, key in RULES.items():
                top = max(every, key=key)
                by_rule[name][row] = top.provenance[0]["title"] == p
        per_slot = single.sum(axis=0)
        print(f"people: {args.n}, gallery photo: {args.gallery}, probe scale {args.probe_scale}")
        print(f"probe photos without a face found: {no_face}")
        print(f"rank-1, single photos 01/02/03: {per_slot.tolist()}")
        print(f"rank-1, best single photo: {per_slot.max()}")
        print(f"rank-1, any single photo (oracle): {single.any(axis=1).sum()}")
        print(f"rank-1, multi-probe (mean, shipped): {multi.sum()}")
        for name, hits in by_rule.items():
            print(f"rank-1, ranked by {name}: {hits.sum()}")
        print(
            f"time per search: single {1000 * t_single / (3 * args.n):.0f} ms (with embedding), "
            f"multi {1000 * t_multi / args.n:.1f} ms (3 probes embedded beforehand)"
        )
        g.close()


if __name__ == "__main__":
    main()
