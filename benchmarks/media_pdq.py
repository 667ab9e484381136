"""PDQ elimination on CFP: changed copies of known photos against unrelated photos (by hand).

    PYTHONPATH=src python benchmarks/media_pdq.py /work/shared/faces

Known: frontal photos 1, 4, 7 of people 1-100 (300). Unrelated: the 10 frontal photos of
people 101-500 (4,000). Every file (copies and unrelated photos) is hashed as the media import
does (8 dihedral variants and the 5 centred crops, hashing.PDQ_CROPS). The known photos are a
hash set twice: as a Project VIC set has them (one PDQ per entry) and as facesearch's own
export has them (with ``PDQCrops``). Prints, per Hamming threshold, the share of JPEG-50,
half-size and cropped copies eliminated (best distance, FAISS binary index) and the share of
unrelated photos eliminated, and the time of the hashes.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import cv2
import faiss
import numpy as np

from facesearch.media.elimination import code_rows
from facesearch.media.hashing import hex_to_code, pdq_hash


def photo(root: Path, person: int, k: int) -> Path:
    return root / "cfp" / "Data" / "Images" / f"{person:03d}" / "frontal" / f"{k:02d}.jpg"


def jpeg50(img: np.ndarray) -> np.ndarray:
    _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 50])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def half(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)


def crop(share_y: float, share_x: float):  # type: ignore[no-untyped-def]
    def cut(img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        dy, dx = round(h * share_y), round(w * share_x)
        return img[dy : h - dy, dx : w - dx]

    return cut


def one_side(img: np.ndarray) -> np.ndarray:
    return img[:, round(img.shape[1] * 0.05) :]


CHANGES = {
    "jpeg50": jpeg50,
    "half": half,
    "crop 2%": crop(0.01, 0.01),
    "crop 5%": crop(0.025, 0.025),  # the test: 2.5% off each side
    "crop 10%": crop(0.05, 0.05),
    "crop 5%+q50+half": lambda img: half(jpeg50(crop(0.025, 0.025)(img))),
    "crop 5% x only": crop(0.0, 0.025),
    "crop one side 5%": one_side,
}


def main(root: Path) -> None:
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    known = [photo(root, p, k) for p in range(1, 101) for k in (1, 4, 7)]
    unrelated = [photo(root, p, k) for p in range(101, 501) for k in range(1, 11)]
    images = [cv2.imread(str(p)) for p in known]
    t0 = time.perf_counter()
    plain = [pdq_hash(img) for img in images]
    t1 = time.perf_counter()
    hashes = [pdq_hash(img, crops=True) for img in images]
    t2 = time.perf_counter()
    print(
        f"PDQ per photo: {(t1 - t0) / len(known) * 1000:.1f} ms (8 variants), "
        f"{(t2 - t1) / len(known) * 1000:.1f} ms (8 variants + 5 crops)"
    )
    assert [h.hex for h in plain] == [h.hex for h in hashes]

    def codes_of(img: np.ndarray) -> np.ndarray:
        h = pdq_hash(img, crops=True)
        return np.stack([hex_to_code(v) for v in (*h.variants, *h.crops)])

    queries = {name: [codes_of(change(img)) for img in images] for name, change in CHANGES.items()}
    un_queries = [codes_of(cv2.imread(str(p))) for p in unrelated]
    for label, rows in (
        ("hash set without crops (Project VIC)", [(i, h.hex) for i, h in enumerate(hashes)]),
        (
            "hash set with crops (facesearch export)",
            [(i, h.hex, " ".join(h.crops)) for i, h in enumerate(hashes)],
        ),
    ):
        codes, ids, _ = code_rows(rows)
        index = faiss.IndexBinaryFlat(256)
        index.add(codes)

        def best(
            q: np.ndarray, want: int, index: faiss.IndexBinary = index, ids: np.ndarray = ids
        ) -> int:
            d, lab = index.search(q, 1)
            j = int(np.argmin(d[:, 0]))
            return int(d[j, 0]) if want < 0 or ids[lab[j, 0]] == want else 256

        dist = {k: np.array([best(q, i) for i, q in enumerate(v)]) for k, v in queries.items()}
        un = np.array([best(q, -1) for q in un_queries])
        print(f"\n{label}: {len(codes)} codes for {len(rows)} entries")
        for t in (31, 40, 50):
            shares = ", ".join(f"{k} {np.mean(v <= t):.1%}" for k, v in dist.items())
            print(f"threshold {t}: {shares}, unrelated {np.mean(un <= t):.2%} ({(un <= t).sum()})")
        print(f"nearest unrelated: min {un.min()}, 1st percentile {np.percentile(un, 1):.0f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
