"""Scoring many pairs of images with the same scoring that search uses."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.errors import DecodeError, FacesearchError

if TYPE_CHECKING:
    from facesearch.gallery import Gallery


class PairError(FacesearchError):
    pass


def read_pair_list(path: Path) -> list[tuple[Path, Path]]:
    """Two image paths per line (tab-separated; a header line and '#' comments are skipped).

    Relative paths are taken from the pair file's folder. A third column is ignored.
    """
    pairs = []
    base = path.parent
    with open(path, newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise PairError(f"{path}:{lineno}: expected two tab-separated image paths")
            a, b = Path(row[0].strip()), Path(row[1].strip())
            if lineno == 1 and not (base / a).exists() and a.suffix == "":
                continue  # header
            pairs.append((a if a.is_absolute() else base / a, b if b.is_absolute() else base / b))
    return pairs


def compare_pairs(gallery: Gallery, pairs: list[tuple[Path, Path]]) -> Iterator[dict[str, Any]]:
    """One result per pair; each image is embedded once even if it appears in many pairs."""
    cache: dict[Path, np.ndarray | str] = {}

    def vector(path: Path) -> np.ndarray | str:
        if path not in cache:
            try:
                faces = gallery.embed(path)
                cache[path] = faces[0].embedding if faces else "no face found"
            except DecodeError as exc:
                cache[path] = str(exc)
        return cache[path]

    for a, b in pairs:
        va, vb = vector(a), vector(b)
        row: dict[str, Any] = {"a": str(a), "b": str(b)}
        if isinstance(va, str) or isinstance(vb, str):
            reason = va if isinstance(va, str) else vb
            row.update(score=None, same=False, band=None, error=str(reason))
        else:
            score = float(np.dot(va, vb))
            row.update(
                score=round(score, 4),
                same=score >= gallery.bands.match,
                band=gallery.bands.band(score),
            )
        yield row
