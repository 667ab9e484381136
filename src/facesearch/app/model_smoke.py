"""The smoke test of a recognizer added with ``facesearch models add``: does it run here, and do
its vectors tell two people apart?

The model is loaded from the model store (hash checked, on the runtime its card names) and run
through the same pipeline as searches (YuNet, the card's alignment, its pre-processing), on
photos of at least two people: by default the demo photos (Barack Obama and Joe Biden from the
``face_recognition`` 1.3.0 sdist, :mod:`facesearch.app.demo_photos`, fetched once and cached),
or a folder of identity folders an agency gives (``--photos DIR``, for machines without a
network). Each photo's largest face is embedded. The model passes when every vector is finite,
of the card's size and of unit length, and every pair of one person's photos scores above every
pair of two people's. The figures measured (the lowest same-person and highest different-person
score, the margin between them, the faces per person) and the time per face on this CPU are
kept in the model's ``card.json``, whether it passed or not (a failed model is removed again,
and the figures are told to whoever added it).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.app.demo_photos import PHOTOS, fetch_demo_photos
from facesearch.engine.pipeline import FacePipeline, PipelineSettings
from facesearch.errors import DecodeError, FacesearchError, ModelFileError
from facesearch.models.manifest import Manifest

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm"}
PER_PERSON = 6  # photos used of each identity folder (sorted by name)
MAX_PEOPLE = 8
NORM_TOLERANCE = 1e-3
RUNS = 3  # timed runs of the recognizer for its ms/face
# the demo photos used: whole faces only (the two partial-face crops of obama.jpg are left out:
# they are the same photo as obama.jpg, cut off at the frame's edge)
DEMO_NAMES = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")


class SmokeTestFailed(ModelFileError):
    """The model did not pass its smoke test (it has been removed from the store again)."""

    def __init__(self, name: str, result: SmokeResult) -> None:
        self.result = result
        super().__init__(
            f"{name} failed its smoke test and was not added: {'; '.join(result.problems)} "
            f"({result.measured()})"
        )


@dataclass(frozen=True)
class SmokeResult:
    """What the smoke test measured."""

    passed: bool
    photos: str  # where the photos came from
    people: dict[str, int]  # faces embedded per person
    same_pairs: int
    different_pairs: int
    lowest_same: float | None
    highest_different: float | None
    dim: int | None
    finite: bool
    max_norm_error: float | None
    ms_per_face: float | None
    runtime: str
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # photos without a face, or unreadable

    @property
    def margin(self) -> float | None:
        if self.lowest_same is None or self.highest_different is None:
            return None
        return round(self.lowest_same - self.highest_different, 4)

    def measured(self) -> str:
        """The figures in one line."""
        bits = [f"{n} face{'s' if n != 1 else ''} of {p}" for p, n in self.people.items()]
        if self.lowest_same is not None:
            bits.append(f"lowest same-person score {self.lowest_same:.3f}")
        if self.highest_different is not None:
            bits.append(f"highest different-person score {self.highest_different:.3f}")
        if self.dim is not None:
            bits.append(f"{self.dim}-d vectors")
        if self.max_norm_error is not None:
            bits.append(f"largest |norm - 1| {self.max_norm_error:.2g}")
        if self.ms_per_face is not None:
            bits.append(f"{self.ms_per_face:.1f} ms/face on {self.runtime}")
        return ", ".join(bits) or "nothing measured"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["margin"] = self.margin
        out["tested_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return out


def identity_photos(folder: Path) -> dict[str, list[Path]]:
    """The photos of ``folder``'s identity folders (one folder per person), at most
    :data:`PER_PERSON` of each, sorted by name."""
    if not folder.is_dir():
        raise ModelFileError(f"no folder of photos at {folder}")
    people: dict[str, list[Path]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir())[:MAX_PEOPLE]:
        files = sorted(
            f for f in sub.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
        )
        if files:
            people[sub.name] = files[:PER_PERSON]
    if len(people) < 2 or not any(len(v) >= 2 for v in people.values()):
        raise ModelFileError(
            f"{folder} must hold a folder of photos for each of at least two people, one of "
            "them with two photos or more (e.g. DIR/alice/1.jpg, DIR/alice/2.jpg, DIR/bob/1.jpg)"
        )
    return people


def demo_people(cache: Path) -> dict[str, list[Path]]:
    """The demo photos used by the smoke test, by person (fetched once and cached)."""
    photos = fetch_demo_photos(cache)
    people: dict[str, list[Path]] = {}
    for p in PHOTOS:
        if p.name in DEMO_NAMES:
            path = photos.probe if p.role == "probe" else photos.gallery / p.name
            people.setdefault(p.person, []).append(path)
    return people


def smoke_test(
    manifest: Manifest,
    name: str,
    people: dict[str, list[Path]],
    source: str,
    settings: PipelineSettings,
) -> SmokeResult:
    """Run the model ``name`` of ``manifest`` (the model store's models added) on ``people``'s
    photos and judge its vectors (see the module docstring)."""
    spec = manifest.models[name]
    pipe = FacePipeline(
        dataclasses.replace(manifest, default_recognizer=name),
        dataclasses.replace(settings, second_model=False, flip_fusion=False),
    )
    runtime = spec.runtime
    empty = SmokeResult(False, source, {}, 0, 0, None, None, None, True, None, None, runtime)
    try:
        pipe.load_models()
    except FacesearchError as exc:
        return dataclasses.replace(empty, problems=[f"the model could not be loaded: {exc}"])
    except Exception as exc:  # the runtime's own errors (a broken graph): say what it said
        return dataclasses.replace(
            empty, problems=[f"the runtime could not load the model: {type(exc).__name__}: {exc}"]
        )
    vectors: dict[str, list[np.ndarray]] = {}
    crops: list[np.ndarray] = []
    skipped: list[str] = []
    try:
        for person, files in people.items():
            for path in files:
                try:
                    faces = pipe.process_file(path)
                except DecodeError:
                    skipped.append(f"{path.name} (unreadable)")
                    continue
                if not faces:
                    skipped.append(f"{path.name} (no face found)")
                    continue
                vectors.setdefault(person, []).append(np.asarray(faces[0].embedding))
                crops.append(faces[0].aligned)
        ms = _ms_per_face(pipe, crops)
    except FacesearchError as exc:
        return dataclasses.replace(empty, skipped=skipped, problems=[str(exc)])
    except Exception as exc:
        return dataclasses.replace(
            empty,
            skipped=skipped,
            problems=[f"the model failed when run: {type(exc).__name__}: {exc}"],
        )
    return judge(vectors, int(spec.embedding_size or 0), source, runtime, ms, skipped)


def _ms_per_face(pipe: FacePipeline, crops: list[np.ndarray]) -> float | None:
    """Milliseconds per face of the recognizer alone on this CPU: the best of three more runs
    of the faces already embedded (loading and the first run's set-up not counted; the best,
    as other work on a shared machine only ever adds time)."""
    if not crops:
        return None
    batch = np.stack(crops)
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        pipe.embed_aligned(batch)
        best = min(best, time.perf_counter() - start)
    return round(best * 1000 / len(crops), 2)


def judge(
    vectors: dict[str, list[np.ndarray]],
    dim: int,
    source: str,
    runtime: str,
    ms_per_face: float | None,
    skipped: list[str],
) -> SmokeResult:
    """The verdict on each person's vectors (see the module docstring)."""
    problems: list[str] = []
    people = {p: len(v) for p, v in vectors.items()}
    every = [v for vs in vectors.values() for v in vs]
    finite = all(bool(np.all(np.isfinite(v))) for v in every)
    dims = {int(v.shape[-1]) for v in every}
    got_dim = dims.pop() if len(dims) == 1 else None
    norm_error = max((abs(float(np.linalg.norm(v)) - 1.0) for v in every), default=None)
    if not finite:
        problems.append("some vectors hold NaN or infinite values")
    if got_dim is not None and got_dim != dim:
        problems.append(f"the vectors have {got_dim} dimensions, the card says {dim}")
    if norm_error is not None and finite and norm_error > NORM_TOLERANCE:
        problems.append(
            f"the vectors are not of unit length (largest |norm - 1| {norm_error:.3g}): "
            'set normalise = "l2" in the card if the model\'s output is not normalised'
        )
    same = [
        float(np.dot(a, b)) for vs in vectors.values() for a, b in itertools.combinations(vs, 2)
    ]
    different = [
        float(np.dot(a, b))
        for (_, va), (_, vb) in itertools.combinations(vectors.items(), 2)
        for a in va
        for b in vb
    ]
    if len(people) < 2 or not same:
        problems.append(
            "too few faces found to compare two people (a face in at least two photos of one "
            "person and one of another is needed)"
            + (f"; skipped: {', '.join(skipped)}" if skipped else "")
        )
    lowest = round(min(same), 4) if same and finite else None
    highest = round(max(different), 4) if different and finite else None
    if lowest is not None and highest is not None and lowest <= highest:
        problems.append(
            f"its vectors do not separate the two people: a same-person pair scores "
            f"{lowest:.3f}, not above a different-person pair's {highest:.3f} (check colour, "
            "layout, mean, scale and alignment in the card)"
        )
    return SmokeResult(
        passed=not problems,
        photos=source,
        people=people,
        same_pairs=len(same),
        different_pairs=len(different),
        lowest_same=lowest,
        highest_different=highest,
        dim=got_dim,
        finite=finite,
        max_norm_error=round(norm_error, 6) if norm_error is not None and finite else None,
        ms_per_face=ms_per_face,
        runtime=runtime,
        problems=problems,
        skipped=skipped,
    )
