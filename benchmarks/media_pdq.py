"""PDQ elimination on CFP: changed copies of known photos against unrelated photos (by hand).

    PYTHONPATH=src python benchmarks/media_pdq.py /work/shared/faces

Known: frontal photos 1, 4, 7 of people 1-100 (300). Unrelated: the 10 frontal photos of
people 101-500 (4,000). Prints, per Hamming threshold, the share of JPEG-50, half-size and
5%-cropped copies eliminated (best distance over the 8 variants, FAISS binary index) and the
share of unrelated photos eliminated.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import faiss
import numpy as np

from facesearch.victim.hashing import hex_to_code, pdq_hash


def photo(root: Path, person: int, k: int) -> Path:
    return root / "cfp" / "Data" / "Images" / f"{person:03d}" / "frontal" / f"{k:02d}.jpg"


def jpeg50(img: np.ndarray) -> np.ndarray:
    _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 50])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def half(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)


def crop5(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    dy, dx = round(h * 0.025), round(w * 0.025)
    return img[dy : h - dy, dx : w - dx]


def main(root: Path) -> None:
    known = [photo(root, p, k) for p in range(1, 101) for k in (1, 4, 7)]
    unrelated = [photo(root, p, k) for p in range(101, 501) for k in range(1, 11)]
    t0 = time.perf_counter()
    hashes = [pdq_hash(cv2.imread(str(p))) for p in known]
    print(f"PDQ (8 variants) per photo: {(time.perf_counter() - t0) / len(known) * 1000:.1f} ms")
    index = faiss.IndexBinaryFlat(256)
    index.add(np.stack([hex_to_code(h.hex) for h in hashes]))

    def best(img: np.ndarray) -> int:
        h = pdq_hash(img)
        d, _ = index.search(np.stack([hex_to_code(v) for v in h.variants]), 1)
        return int(d.min())

    dist = {
        name: np.array([best(change(cv2.imread(str(p)))) for p in known])
        for name, change in (("jpeg50", jpeg50), ("half", half), ("crop5", crop5))
    }
    un = np.array([best(cv2.imread(str(p))) for p in unrelated])
    for t in (31, 40, 50, 60, 70):
        shares = ", ".join(f"{k} {np.mean(v <= t):.1%}" for k, v in dist.items())
        print(f"threshold {t}: {shares}, unrelated {np.mean(un <= t):.2%}")
    print(f"nearest unrelated distance: min {un.min()}, 1st percentile {np.percentile(un, 1):.0f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
