"""Identification splits: which labelled images are the gallery, the mated probes and the
non-mated probes of a 1:N evaluation (deterministic for a seed)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facesearch.evaluate.protocols import LabelledImage


@dataclass(frozen=True)
class IdentificationSplit:
    """Gallery, mated probes (identity enrolled) and non-mated probes (identity absent)."""

    gallery: tuple[LabelledImage, ...]
    mated_probes: tuple[LabelledImage, ...]
    nonmated_probes: tuple[LabelledImage, ...]
    unused: tuple[LabelledImage, ...]  # excluded labels and non-mated identities' extra images

    @property
    def gallery_labels(self) -> list[str]:
        return [r.identity for r in self.gallery]

    @property
    def mated_probe_labels(self) -> list[str]:
        return [r.identity for r in self.mated_probes]

    @property
    def nonmated_probe_labels(self) -> list[str]:
        return [r.identity for r in self.nonmated_probes]


def make_identification_split(
    records: Iterable[LabelledImage],
    *,
    seed: int,
    nonmated_fraction: float = 0.2,
    probes_per_identity: int = 1,
    exclude_prefixes: Sequence[str] = ("MULTI:",),
) -> IdentificationSplit:
    """Deterministic mated / non-mated identification split.

    1. Records whose identity starts with one of ``exclude_prefixes`` (multi-person
       photos) go to ``unused``.
    2. ``round(nonmated_fraction * n_identities)`` identities, drawn with ``seed``, are
       left out of the gallery: ``probes_per_identity`` of their images (drawn with the
       seed) become non-mated probes, the rest go to ``unused``.
    3. Every other identity with more than ``probes_per_identity`` images gives that
       many mated probes and enrols the rest; identities with too few images are
       enrolled only (gallery distractors without a probe).

    The result depends only on the records' content and the seed, not their order.
    Byte-identical copies under one label are not detected here; remove them first.
    """
    if not 0.0 <= nonmated_fraction <= 1.0:
        raise ValueError(f"nonmated_fraction must be in [0, 1], got {nonmated_fraction}")
    if probes_per_identity < 1:
        raise ValueError(f"probes_per_identity must be >= 1, got {probes_per_identity}")
    by_identity: dict[str, list[LabelledImage]] = {}
    unused: list[LabelledImage] = []
    seen: set[Path] = set()
    for record in sorted(records, key=lambda r: (r.identity, str(r.path))):
        if record.path in seen:
            raise ValueError(f"image listed twice: {record.path}")
        seen.add(record.path)
        if any(record.identity.startswith(p) for p in exclude_prefixes):
            unused.append(record)
        else:
            by_identity.setdefault(record.identity, []).append(record)
    identities = sorted(by_identity)
    rng = np.random.default_rng(seed)
    n_nonmated = math.floor(nonmated_fraction * len(identities) + 0.5)
    order = rng.permutation(len(identities))
    nonmated_ids = {identities[i] for i in order[:n_nonmated]}
    gallery: list[LabelledImage] = []
    mated: list[LabelledImage] = []
    nonmated: list[LabelledImage] = []
    for identity in identities:
        images = by_identity[identity]
        shuffled = [images[i] for i in rng.permutation(len(images))]
        if identity in nonmated_ids:
            nonmated.extend(shuffled[:probes_per_identity])
            unused.extend(shuffled[probes_per_identity:])
        elif len(images) > probes_per_identity:
            mated.extend(shuffled[:probes_per_identity])
            gallery.extend(shuffled[probes_per_identity:])
        else:
            gallery.extend(images)

    def ordered(items: list[LabelledImage]) -> tuple[LabelledImage, ...]:
        return tuple(sorted(items, key=lambda r: (r.identity, str(r.path))))

    return IdentificationSplit(
        gallery=ordered(gallery),
        mated_probes=ordered(mated),
        nonmated_probes=ordered(nonmated),
        unused=ordered(unused),
    )
