"""1:1 verification: compare two photos, or score many pairs, with the scoring search uses.

Needs no gallery: ``Verifier.load()`` loads the models and the bands from the manifest.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from facesearch.decode import DecodedImage, ImageInput, decode_any
from facesearch.errors import DecodeError, FacesearchError, ModelMismatchError, NoFaceError
from facesearch.pipeline import Face, FacePipeline
from facesearch.search import Bands, Comparison, ProbeFace, Scoring


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


class Embedder(Protocol):
    scoring: Scoring

    def embed(self, image: ImageInput) -> list[Face]: ...


class Verifier:
    """Faces of images and their comparison, without a gallery."""

    def __init__(self, pipeline: FacePipeline, scoring: Scoring) -> None:
        self.pipeline = pipeline
        self.scoring = scoring

    @property
    def bands(self) -> Bands:
        return self.scoring.bands

    @classmethod
    def load(cls, data_dir: Path | str | None = None) -> Verifier:
        """Models and bands from the manifest, with the calibration of ``data_dir`` (default
        $FACESEARCH_DATA or ./facesearch-data) applied when it has one; no gallery opened."""
        from facesearch.evaluate.calibrate import calibrated_manifest
        from facesearch.settings import resolve_data_dir

        manifest = calibrated_manifest(resolve_data_dir(data_dir))
        pipeline = FacePipeline(manifest)
        pipeline.load_models()
        return cls(pipeline, Scoring.from_manifest(manifest, fusion=pipeline.second is not None))

    def decode(self, image: ImageInput) -> DecodedImage:
        return decode_any(image, self.pipeline.settings.max_pixels)

    def embed(self, image: ImageInput) -> list[Face]:
        """Every face in ``image``, largest first, with quality and embedding."""
        return self.pipeline.process_image(self.decode(image)).faces

    def face(
        self, image: ImageInput, index: int | None = None
    ) -> tuple[DecodedImage, list[Face], Face]:
        """The decoded image, all its faces, and the chosen one (the largest by default)."""
        decoded = self.decode(image)
        faces = self.pipeline.process_image(decoded).faces
        if not faces:
            raise NoFaceError("no face found in the image")
        i = 0 if index is None else index
        if not 0 <= i < len(faces):
            raise NoFaceError(
                f"face {i} requested, but the image has {len(faces)} face(s) (0..{len(faces) - 1})"
            )
        return decoded, faces, faces[i]

    def compare(
        self, a: ImageInput, b: ImageInput, *, face_a: int | None = None, face_b: int | None = None
    ) -> Comparison:
        """1:1 verification of the largest (or chosen) face in each image."""
        _, _, fa = self.face(a, face_a)
        _, _, fb = self.face(b, face_b)
        if fa.model != fb.model:
            raise ModelMismatchError(f"cannot compare vectors of {fa.model} and {fb.model}")
        score, fused = self.scoring.score(fa.embedding, fb.embedding, fa.second, fb.second)
        bands = self.scoring.bands_for(fused)
        return Comparison(
            score=round(score, 4),
            band=bands.band(score),
            same=score >= bands.match,
            threshold=bands.match,
            model=fa.model,
            face_a=probe_face(fa),
            face_b=probe_face(fb),
            fused=fused,
        )


def probe_face(f: Face) -> ProbeFace:
    x, y, w, h = (round(float(v), 1) for v in f.bbox)
    return ProbeFace(
        index=f.index, bbox=(x, y, w, h), quality=f.quality.score, flags=f.quality.flags
    )


def compare_pairs(gallery: Embedder, pairs: list[tuple[Path, Path]]) -> Iterator[dict[str, Any]]:
    """One result per pair; each image is embedded once even if it appears in many pairs.

    ``gallery`` is a Verifier or a Gallery (anything with ``embed`` and ``scoring``); each
    pair is scored as ``compare`` and search score it (fused when both recognizers ran)."""
    Vectors = tuple[np.ndarray, np.ndarray | None]  # SFace's and the second recognizer's
    cache: dict[Path, Vectors | str] = {}

    def largest(path: Path) -> Vectors | str:
        if path not in cache:
            try:
                faces = gallery.embed(path)
                cache[path] = (faces[0].embedding, faces[0].second) if faces else "no face found"
            except DecodeError as exc:
                cache[path] = str(exc)
        return cache[path]

    scoring = gallery.scoring
    for a, b in pairs:
        fa, fb = largest(a), largest(b)
        row: dict[str, Any] = {"a": str(a), "b": str(b)}
        if isinstance(fa, str) or isinstance(fb, str):
            reason = fa if isinstance(fa, str) else fb
            row.update(score=None, same=False, band=None, error=str(reason))
        else:
            score, fused = scoring.score(fa[0], fb[0], fa[1], fb[1])
            bands = scoring.bands_for(fused)
            row.update(
                score=round(score, 4),
                same=score >= bands.match,
                band=bands.band(score),
                fused=fused,
            )
        yield row
