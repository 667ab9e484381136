"""Known-image elimination: exact (MD5, SHA-1, SHA-256) and near (PDQ) matches.

Exact matches are looked up in the catalog (indexed columns). Near matches compare a file's
8 dihedral PDQ variants with every trusted PDQ of the hash sets in a FAISS binary index
(exact Hamming distances, brute force with popcount); the nearest within the threshold wins.
Hashes of low quality (flat or featureless images, PDQ quality under ``min_pdq_quality``) are
not trusted on either side: they neither eliminate nor get eliminated by PDQ.

Crops (hashing.PDQ_CROPS): an entry's centred-crop hashes (where its source had them, e.g.
facesearch's own exports) are indexed as more codes of the same entry, so a cropped copy of it
is found; a file's own crop hashes are queried too, so a file of which the known image is a
crop is found. The match names the variant ("crop 2%" on the file's side, "original~crop 2%"
when an entry's crop matched).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facesearch.media.hashing import (
    DIHEDRAL_NAMES,
    PDQ_BITS,
    PDQ_CROPS,
    PdqHash,
    hex_to_code,
)

DEFAULT_PDQ_THRESHOLD = 31
DEFAULT_MIN_PDQ_QUALITY = 50


@dataclass(frozen=True)
class EliminationSettings:
    pdq_threshold: int = DEFAULT_PDQ_THRESHOLD  # Hamming distance, of 256 bits
    min_pdq_quality: int = DEFAULT_MIN_PDQ_QUALITY

    def __post_init__(self) -> None:
        if not 0 <= self.pdq_threshold <= PDQ_BITS:
            raise ValueError(f"PDQ threshold must be 0..{PDQ_BITS}, not {self.pdq_threshold}")
        if not 0 <= self.min_pdq_quality <= 100:
            raise ValueError(f"minimum PDQ quality must be 0..100, not {self.min_pdq_quality}")


@dataclass(frozen=True)
class PdqMatch:
    entry_id: int
    distance: int
    variant: str  # which dihedral variant of the file matched


class PdqIndex:
    """Trusted PDQ hashes of the hash sets, searchable by Hamming distance."""

    def __init__(
        self,
        codes: np.ndarray,
        entry_ids: np.ndarray,
        settings: EliminationSettings,
        crop_of_code: np.ndarray | None = None,
    ):
        """``codes[i]`` is a hash of entry ``entry_ids[i]``; ``crop_of_code[i]`` says which of
        its crops (an index into PDQ_CROPS; -1, the default, for the entry's own hash)."""
        import faiss

        self.settings = settings
        self.entry_ids = np.asarray(entry_ids, np.int64)
        self.crop_of_code = (
            np.full(len(self.entry_ids), -1, np.int64)
            if crop_of_code is None
            else np.asarray(crop_of_code, np.int64)
        )
        self.index = faiss.IndexBinaryFlat(PDQ_BITS)
        if len(self.entry_ids):
            self.index.add(np.ascontiguousarray(codes, np.uint8).reshape(-1, PDQ_BITS // 8))

    @classmethod
    def from_hex(
        cls,
        rows: list[tuple[int, str]] | list[tuple[int, str, str | None]],
        settings: EliminationSettings | None = None,
    ) -> PdqIndex:
        """(entry id, PDQ hex[, its crops' hex, space-separated]) rows."""
        codes, ids, crop_of = code_rows(rows)
        return cls(codes, ids, settings or EliminationSettings(), crop_of)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def match(self, pdq: PdqHash) -> PdqMatch | None:
        """The nearest trusted entry within the threshold over the 8 variants, or None."""
        if not len(self) or pdq.quality < self.settings.min_pdq_quality:
            return None
        names = list(DIHEDRAL_NAMES) + [f"crop {c:.0%}" for c in PDQ_CROPS[: len(pdq.crops)]]
        queries = np.stack([hex_to_code(v) for v in (*pdq.variants, *pdq.crops)])
        distances, labels = self.index.search(queries, 1)
        best = int(np.argmin(distances[:, 0]))  # ties: the first, the uncropped file first
        distance, label = int(distances[best, 0]), int(labels[best, 0])
        if label < 0 or distance > self.settings.pdq_threshold:
            return None
        variant = names[best]
        crop = int(self.crop_of_code[label])
        if crop >= 0:
            variant = f"{variant}~crop {PDQ_CROPS[crop]:.0%}"
        return PdqMatch(int(self.entry_ids[label]), distance, variant)


def code_rows(
    rows: list[tuple[int, str]] | list[tuple[int, str, str | None]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes, entry ids and crop positions (-1: the entry's own hash) of hash rows."""
    codes: list[np.ndarray] = []
    ids: list[int] = []
    crop_of: list[int] = []
    for row in rows:
        entry, own = int(row[0]), str(row[1])
        codes.append(hex_to_code(own))
        ids.append(entry)
        crop_of.append(-1)
        extra = row[2] if len(row) > 2 else None
        for k, h in enumerate(str(extra or "").split()[: len(PDQ_CROPS)]):
            codes.append(hex_to_code(h))
            ids.append(entry)
            crop_of.append(k)
    return (
        np.stack(codes) if codes else np.zeros((0, PDQ_BITS // 8), np.uint8),
        np.array(ids, np.int64),
        np.array(crop_of, np.int64),
    )
