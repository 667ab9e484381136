"""Clustering quality and time on CFP frontal faces (by hand).

    PYTHONPATH=src python benchmarks/media_cluster.py benchmarks/out/cfp_frontal_sface.npz

The .npz holds the SFace vectors of the 5,000 CFP frontal photos (``emb``), each face's photo
(``photo``) and identity (``ident``), as written by embedding the photos with the pipeline.
Prints BCubed precision/recall/F per threshold and the time for 5,000 faces and for 100,000
synthetic faces around the real identities (each real vector plus Gaussian noise).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from facesearch.media.cluster import ClusterSettings, bcubed, cluster_vectors


def main(path: str) -> None:
    d = np.load(path)
    emb, photo, ident = d["emb"], d["photo"], d["ident"]
    keep = ~d["flagged"]
    emb, photo, ident = emb[keep], photo[keep], ident[keep]
    people, photos = len(set(ident.tolist())), len(set(photo.tolist()))
    print(f"{len(emb)} searchable faces of {photos} photos, {people} people")
    for th in (0.40, 0.45, 0.50, 0.55, 0.60):
        t0 = time.perf_counter()
        labels = cluster_vectors(emb, photo, ClusterSettings(threshold=th))
        secs = time.perf_counter() - t0
        p, r, f = bcubed(labels, ident)
        print(
            f"threshold {th:.2f}: {labels.max() + 1} clusters, "
            f"BCubed P {p:.3f} R {r:.3f} F {f:.3f}, {secs:.1f} s"
        )
    rng = np.random.default_rng(0)
    reps = 20
    big = np.repeat(emb, reps, axis=0) + rng.normal(0, 0.02, (len(emb) * reps, emb.shape[1]))
    big = (big / np.linalg.norm(big, axis=1, keepdims=True)).astype(np.float32)
    big_photo = np.arange(len(big))
    t0 = time.perf_counter()
    labels = cluster_vectors(big, big_photo, ClusterSettings())
    secs = time.perf_counter() - t0
    p, r, f = bcubed(labels, np.repeat(ident, reps))
    print(f"{len(big)} synthetic faces: {labels.max() + 1} clusters, F {f:.3f}, {secs:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1])
