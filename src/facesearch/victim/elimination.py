"""Known-image elimination: exact (MD5, SHA-1, SHA-256) and near (PDQ) matches.

Exact matches are looked up in the catalog (indexed columns). Near matches compare a file's
8 dihedral PDQ variants with every trusted PDQ of the hash sets in a FAISS binary index
(exact Hamming distances, brute force with popcount); the nearest within the threshold wins.
Hashes of low quality (flat or featureless images, PDQ quality under ``min_pdq_quality``) are
not trusted on either side: they neither eliminate nor get eliminated by PDQ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facesearch.victim.hashing import DIHEDRAL_NAMES, PDQ_BITS, PdqHash, hex_to_code

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

    def __init__(self, codes: np.ndarray, entry_ids: np.ndarray, settings: EliminationSettings):
        import faiss

        self.settings = settings
        self.entry_ids = np.asarray(entry_ids, np.int64)
        self.index = faiss.IndexBinaryFlat(PDQ_BITS)
        if len(self.entry_ids):
            self.index.add(np.ascontiguousarray(codes, np.uint8).reshape(-1, PDQ_BITS // 8))

    @classmethod
    def from_hex(
        cls, rows: list[tuple[int, str]], settings: EliminationSettings | None = None
    ) -> PdqIndex:
        codes = np.stack([hex_to_code(h) for _, h in rows]) if rows else np.zeros((0, 32), np.uint8)
        return cls(
            codes, np.array([i for i, _ in rows], np.int64), settings or EliminationSettings()
        )

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def match(self, pdq: PdqHash) -> PdqMatch | None:
        """The nearest trusted entry within the threshold over the 8 variants, or None."""
        if not len(self) or pdq.quality < self.settings.min_pdq_quality:
            return None
        queries = np.stack([hex_to_code(v) for v in pdq.variants])
        distances, labels = self.index.search(queries, 1)
        best = int(np.argmin(distances[:, 0]))
        distance, label = int(distances[best, 0]), int(labels[best, 0])
        if label < 0 or distance > self.settings.pdq_threshold:
            return None
        return PdqMatch(int(self.entry_ids[label]), distance, DIHEDRAL_NAMES[best])
