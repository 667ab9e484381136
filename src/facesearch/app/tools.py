"""The engine's stand-alone tools as the CLI runs them: embed photos, compare two photos or a
list of pairs. No gallery is searched and nothing is governed (photos the caller holds)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from facesearch.engine.decode import decode_file
from facesearch.engine.pipeline import FacePipeline, PipelineSettings
from facesearch.errors import DecodeError
from facesearch.models.inference import InferenceSettings
from facesearch.models.manifest import load_manifest
from facesearch.search.compare import (
    PairError,
    PhotoComparison,
    Verifier,
    check_rule,
    compare_pairs,
    read_pair_list,
)
from facesearch.settings import Settings

__all__ = ["PairError", "check_rule", "compare_pair_file", "compare_photos", "embed_rows"]


def embed_rows(settings: Settings, files: Sequence[Path]) -> Iterator[dict[str, Any]]:
    """One row per face found in each file (box, landmarks, quality, model, embedding), by
    the models on the runtimes ``settings`` choose; a file without a face, or unreadable,
    gets one row saying so."""
    pipeline = FacePipeline.load(
        PipelineSettings(inference=InferenceSettings.from_settings(settings))
    )
    model = load_manifest().recognizer.model_key
    for path in files:
        try:
            faces = pipeline.process_image(decode_file(path)).faces
        except DecodeError as exc:
            yield {
                "file": str(path),
                "face": None,
                "model": model,
                "embedding": None,
                "error": str(exc),
            }
            continue
        if not faces:
            yield {
                "file": str(path),
                "face": None,
                "model": model,
                "embedding": None,
                "reason": "no face found",
            }
        for f in faces:
            yield {
                "file": str(path),
                "face": f.index,
                "bbox": [round(v, 2) for v in f.bbox],
                "landmarks": f.landmarks.astype(float).round(2).tolist(),
                "detector_score": round(f.detector_score, 4),
                "quality": f.quality.score,
                "flags": list(f.quality.flags),
                "model": f.model,
                "embedding": [round(float(v), 7) for v in f.embedding],
            }


def compare_photos(
    settings: Settings,
    a: Path,
    b: Path,
    *,
    face_a: int | None,
    face_b: int | None,
    rule: str,
) -> PhotoComparison:
    """1:1 verification of a face in ``a`` and one in ``b`` (the bands of the settings' data
    directory, the models on the runtimes the settings choose)."""
    result: PhotoComparison = Verifier.load(settings=settings).compare(
        a, b, face_a=face_a, face_b=face_b, rule=rule
    )
    return result


def compare_pair_file(settings: Settings, pairs: Path, rule: str) -> Iterator[dict[str, Any]]:
    """A row per pair of the TSV ``pairs`` (see ``search.compare.read_pair_list``)."""
    yield from compare_pairs(Verifier.load(settings=settings), read_pair_list(pairs), rule=rule)
