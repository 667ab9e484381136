"""Evaluation runs: embed a labelled data set once through the face pipeline, then score it.

This is what ``facesearch eval`` runs. Every image goes through
:meth:`facesearch.engine.pipeline.FacePipeline.process_image`, the path ingest, search and
``compare`` use, and one face per image is scored: the one the protocol's face convention
picks (:func:`~facesearch.evaluate.protocols.face_convention`: the **central** face for LFW
``pairs.txt``, whose images are crops centred on the labelled person; the **largest**, as
``compare`` does by default, for everything else). The report says which rule ran, and
counts the photos whose two largest faces are of similar size (ambiguous) and those where
the face scored is not the largest. Each image is embedded once per run, whatever the number
of pairs it is in.

Inputs (see :func:`load_dataset`):

* ``cfp-ff`` / ``cfp-fp``: the CFP ``Protocol/Split`` format, 10 official folds.
* ``lfw``: an LFW ``pairs.txt`` (folds from the file), images under ``--images``.
* ``pairs``: a pair table (``img_a, img_b, same_person``; deepface's ``master.csv`` too).
* ``folders``: a folder of identity subfolders.
* ``manifest``: a CSV/TSV manifest (``path``, ``identity``, optional group columns).

Protocols used on identity-labelled sets (folders, manifests):

* Byte-identical copies of a photo under one identity are kept once (counted in the report);
  identities starting with ``MULTI:`` (several people, no per-face labels) are left out and
  counted.
* **1:1**: every pair of distinct images of one identity is a genuine pair; impostor pairs
  are all pairs of images of different identities, or a seeded uniform sample of
  ``max_impostors`` of them when there are more. ROC, TAR at FAR, EER and the figures at
  the operating thresholds use all of these. The 10-fold accuracy uses every genuine pair
  and as many impostor pairs (seeded sample), dealt into 10 folds at random (seeded); each
  fold's threshold is chosen on the other nine only.
* **1:N closed set**: leave-one-out: every image whose identity has another image is a probe
  against a gallery of all other images (rank-1, rank-5, pessimistic ties).
* **1:N open set**: :func:`~facesearch.evaluate.protocols.make_identification_split`
  (seeded) leaves 20% of the identities out of the gallery; all their images are non-mated
  probes, one image of every other identity is a mated probe; FNIR at FPIR 0.01 and 0.003
  at rank 1 (NIST FRTE definitions).

A photo where no face is found (or that cannot be decoded) is a failure to enrol: it is
counted and listed, never dropped: its pairs are rejected at every threshold (a genuine pair
is a false non-match), as a probe it is a miss, as a gallery image it is never found.
"""

from __future__ import annotations

import fnmatch
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.evaluate.metrics import (
    OpenSetPoint,
    OperatingPoint,
    accuracy_by_quality_bin,
    eer,
    fnir_at_fpir,
    fte_counts,
    kfold_verification_accuracy,
    per_group_error_rates,
    rank_k_accuracy,
    roc_curve,
    scores_with_failures,
    tar_at_far,
)
from facesearch.evaluate.protocols import (
    FaceConvention,
    FaceRecord,
    ProtocolFormatError,
    VerificationPair,
    face_convention,
    make_identification_split,
    read_cfp_protocol,
    read_identity_folders,
    read_lfw_pairs,
    read_manifest,
    read_pair_table,
)
from facesearch.search.compare import LARGEST, choose_face, probe_face

if TYPE_CHECKING:
    from facesearch.engine.decode import DecodedImage
    from facesearch.engine.embed import ScoreFusion
    from facesearch.engine.pipeline import Face, FacePipeline, PipelineSettings

FAR_TARGETS = (1e-2, 1e-3, 1e-4)
FPIR_TARGETS = (0.01, 0.003)
RANKS = (1, 5)
DEFAULT_SEED = 2016
DEFAULT_MAX_IMPOSTORS = 2_000_000
DEFAULT_FOLDS = 10
MIN_PAIRS_FOR_KFOLD = 20
NONMATED_FRACTION = 0.2
MULTI_PREFIX = "MULTI:"
NO_FACE = "no face found"
PROTOCOLS = ("cfp-ff", "cfp-fp", "lfw", "pairs", "folders", "manifest")
# Manifest columns that describe provenance, never a demographic or capture group.
NON_GROUP_COLUMNS = frozenset(
    {"source", "source_url", "page_url", "title", "captured_at", "notes", "sha256", "url"}
)
MAX_GROUP_VALUES = 20

ProgressFn = Callable[[int, int], None]


# ------------------------------------------------------------------------ embedding


@dataclass(frozen=True)
class ImageResult:
    """What the pipeline made of one image: the scored face's embedding, or why not."""

    path: Path
    embedding: np.ndarray | None  # unit vector of the scored face; None = failure to enrol
    quality: float  # that face's quality score; NaN without a face
    flags: tuple[str, ...]
    n_faces: int
    sha256: str  # "" when the file could not be read
    error: str  # "" when enrolled; "no face found" or the decode error otherwise
    second: np.ndarray | None = None  # the second model's vector of that face (fusion runs)
    face: int | None = None  # index of the face scored (0 = largest); None without a face
    ambiguous: bool = False  # its two largest faces are of similar size (verify)
    yaw: float = math.nan  # that face's yaw estimate from YuNet's landmarks (quality.yaw)
    detector_score: float = math.nan  # YuNet's score for that face
    face_size: float = math.nan  # sqrt(w * h) of its box, in original pixels

    @property
    def enrolled(self) -> bool:
        return self.embedding is not None


@dataclass
class EmbeddingSet:
    """Per-path results of one embedding pass, with the model that made them."""

    results: dict[Path, ImageResult]
    model_key: str
    variant: str
    dim: int
    seconds: float = 0.0
    workers: int = 0
    fusion: ScoreFusion | None = None  # set when a second model's vectors are fused in
    face_rule: str = LARGEST  # which face of each image was embedded (verify.FACE_RULES)

    def __getitem__(self, path: Path) -> ImageResult:
        return self.results[path]

    @property
    def has_second(self) -> bool:
        return any(r.second is not None for r in self.results.values())

    def matrix(self, paths: Sequence[Path], *, second: bool = False) -> np.ndarray:
        """(n, dim) float32 embeddings (or the second model's), NaN rows without a face."""
        vectors = [self.results[p].second if second else self.results[p].embedding for p in paths]
        dim = next((v.size for v in vectors if v is not None), self.dim)
        out = np.full((len(paths), dim), np.nan, np.float32)
        for i, vec in enumerate(vectors):
            if vec is not None:
                out[i] = vec
        return out

    def quality(self, paths: Sequence[Path]) -> np.ndarray:
        return np.array([self.results[p].quality for p in paths], np.float64)

    def yaw(self, paths: Sequence[Path]) -> np.ndarray:
        """Yaw of each path's scored face (NaN without one): the fusion's pose term."""
        return np.array([self.results[p].yaw for p in paths], np.float64)

    def failures(self) -> list[ImageResult]:
        return sorted(
            (r for r in self.results.values() if not r.enrolled), key=lambda r: str(r.path)
        )


def embed_one(pipeline: FacePipeline, path: Path, face_rule: str = LARGEST) -> ImageResult:
    """Decode ``path`` and run it through the pipeline; the face ``face_rule`` picks is kept
    (``verify.choose_face``), with the second recognizer's vector when the pipeline runs it."""
    return embed_one_face(pipeline, path, face_rule)[0]


def embed_one_face(
    pipeline: FacePipeline, path: Path, face_rule: str = LARGEST
) -> tuple[ImageResult, Face | None, DecodedImage | None]:
    """:func:`embed_one`, with the scored pipeline face and the decoded image (None when there
    is none), for studies that describe the same face again (``featurecache``'s flips)."""
    from facesearch.engine.decode import decode_file
    from facesearch.errors import DecodeError

    try:
        decoded = decode_file(path, pipeline.settings.max_pixels)
    except DecodeError as exc:
        return ImageResult(path, None, math.nan, (), 0, "", str(exc)), None, None
    faces = pipeline.process_image(decoded).faces
    if not faces:
        return ImageResult(path, None, math.nan, (), 0, decoded.sha256, NO_FACE), None, decoded
    choice = choose_face(
        [probe_face(f) for f in faces], decoded.width, decoded.height, rule=face_rule
    )
    face = faces[choice.used]
    second = None if face.second is None else np.asarray(face.second, np.float32)
    result = ImageResult(
        path=path,
        embedding=np.asarray(face.embedding, np.float32),
        quality=float(face.quality.score),
        flags=tuple(face.quality.flags),
        n_faces=len(faces),
        sha256=decoded.sha256,
        error="",
        second=second,
        face=choice.used,
        ambiguous=choice.ambiguous,
        yaw=float(face.quality.yaw),
        detector_score=float(face.detector_score),
        face_size=float(math.sqrt(max(face.bbox[2], 0.0) * max(face.bbox[3], 0.0))),
    )
    return result, face, decoded


class _Worker:
    pipeline: FacePipeline | None = None


_worker = _Worker()


def _init_worker(settings: PipelineSettings | None) -> None:
    """Set up as ingest's workers are (one OpenCV thread, Ctrl-C left to the parent)."""
    from facesearch.ingest.worker import init_worker, worker_pipeline

    init_worker(settings, 1)
    _worker.pipeline = worker_pipeline()


def _embed_chunk(paths: list[Path], face_rule: str = LARGEST) -> list[ImageResult]:
    if _worker.pipeline is None:  # pragma: no cover - guarded by the initializer
        raise RuntimeError("evaluation worker used before initialisation")
    return [embed_one(_worker.pipeline, p, face_rule) for p in paths]


def default_workers(n_images: int) -> int:
    """One worker per core (at most 2 below 200 images); 0 (in-process) for tiny sets."""
    cores = os.cpu_count() or 1
    if n_images < 40 or cores < 2:
        return 0
    return min(cores, 2) if n_images < 200 else cores


def embed_images(
    paths: Sequence[Path],
    *,
    pipeline: FacePipeline | None = None,
    settings: PipelineSettings | None = None,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
    chunk_size: int = 16,
    fusion: ScoreFusion | None = None,
    face_rule: str = LARGEST,
) -> EmbeddingSet:
    """Embed every distinct path once, keeping the face ``face_rule`` picks in each.

    ``workers=0`` runs in this process (with ``pipeline`` if given); otherwise a spawn pool
    of ``workers`` processes, each with its own pipeline and one OpenCV thread (as ingest's
    workers). ``workers=None`` picks :func:`default_workers`. When the pipeline runs the
    second recognizer (``PipelineSettings.second_model``, the default), every score is
    fused, with ``fusion`` or else the manifest's recorded fusion, as search and ``compare``
    score; ``PipelineSettings(second_model=False)`` measures SFace alone.
    """
    from facesearch.engine.embed import manifest_fusion
    from facesearch.engine.pipeline import FacePipeline
    from facesearch.models.manifest import load_manifest

    unique = list(dict.fromkeys(Path(p) for p in paths))
    n_workers = default_workers(len(unique)) if workers is None else max(0, int(workers))
    start = time.perf_counter()
    results: dict[Path, ImageResult] = {}
    done = 0
    if on_progress:
        on_progress(0, len(unique))
    if n_workers == 0:
        pipe = pipeline or FacePipeline.load(settings)
        for path in unique:
            results[path] = embed_one(pipe, path, face_rule)
            done += 1
            if on_progress:
                on_progress(done, len(unique))
        key, variant, dim = pipe.model_key, _variant(pipe), pipe.dim
    else:
        chosen = settings if settings is not None else (pipeline.settings if pipeline else None)
        chunks = [unique[i : i + chunk_size] for i in range(0, len(unique), chunk_size)]
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=n_workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(chosen,),
        ) as pool:
            for chunk_results in pool.map(_embed_chunk, chunks, [face_rule] * len(chunks)):
                for r in chunk_results:
                    results[r.path] = r
                done += len(chunk_results)
                if on_progress:
                    on_progress(done, len(unique))
        pipe = pipeline or FacePipeline(load_manifest(), chosen)
        key, variant, dim = pipe.model_key, _variant(pipe), pipe.dim
    if pipe.second is None:
        fusion = None
    elif fusion is None:
        fusion = manifest_fusion(pipe.manifest)
    return EmbeddingSet(
        results=results,
        model_key=key,
        variant=variant + ("+dlib-fusion" if fusion is not None else ""),
        dim=dim,
        seconds=time.perf_counter() - start,
        workers=n_workers,
        fusion=fusion,
        face_rule=face_rule,
    )


def _variant(pipeline: FacePipeline) -> str:
    return str(getattr(pipeline.embedder, "variant", "single"))


# -------------------------------------------------------------------------- data sets


@dataclass(frozen=True)
class Dataset:
    """An evaluation input: verification pairs, or identity-labelled records."""

    kind: str  # one of PROTOCOLS
    source: Path
    pairs: tuple[VerificationPair, ...] = ()
    records: tuple[FaceRecord, ...] = ()
    group_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def paths(self) -> list[Path]:
        if self.pairs:
            return list(dict.fromkeys(p for pair in self.pairs for p in (pair.path_a, pair.path_b)))
        return [r.path for r in self.records]


def detect_protocol(data: Path) -> str:
    """Guess the input kind of ``data`` (raises ValueError for CFP, which needs a choice)."""
    if data.is_dir():
        if (data / "Protocol").is_dir() or (data.name == "Protocol" and (data / "Split").is_dir()):
            raise ValueError(f"{data} holds the CFP protocol: choose --protocol cfp-ff or cfp-fp")
        return "folders"
    if not data.is_file():
        raise FileNotFoundError(f"no such file or folder: {data}")
    with open(data, encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline().strip()
    fields = first.split()
    if fields and len(fields) <= 2 and all(f.isdigit() for f in fields):
        return "lfw"
    header = {h.strip().lower() for h in first.replace("\t", ",").split(",")}
    if header & {"img_a", "file_x", "path_a", "image_a"}:
        return "pairs"
    if header & {"path", "relative_path", "file", "image"}:
        return "manifest"
    raise ValueError(
        f"cannot tell what {data} is: expected a folder of identity folders, an LFW pairs.txt, "
        "a pair table (img_a, img_b, same_person) or a manifest (path, identity); "
        "name it with --protocol"
    )


def _included(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    if not patterns:
        return True
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = path.as_posix()
    return any(fnmatch.fnmatch(rel, pat) for pat in patterns)


def _auto_group_columns(records: Sequence[FaceRecord]) -> tuple[list[str], list[str]]:
    """Group columns worth a per-group table, and the columns skipped (with why)."""
    if not records or not records[0].groups:
        return [], []
    keep, skipped = [], []
    for name, _ in records[0].groups:
        values = {r.group(name) for r in records}
        if name in NON_GROUP_COLUMNS:
            skipped.append(f"{name} (provenance column)")
        elif len(values) > MAX_GROUP_VALUES:
            skipped.append(f"{name} ({len(values)} distinct values)")
        else:
            keep.append(name)
    return keep, skipped


def load_dataset(
    data: Path | str,
    protocol: str | None = None,
    *,
    images: Path | str | None = None,
    include: Sequence[str] = (),
    group_columns: Sequence[str] | None = None,
) -> Dataset:
    """Read an evaluation input (``protocol`` None guesses it; CFP must be named).

    ``include`` keeps only images whose path relative to ``data`` (its folder for files)
    matches one of the glob patterns (e.g. ``*/frontal/*``), for folders and manifests.
    ``group_columns`` names manifest group columns; None keeps every column that has at
    most 20 distinct values and is not a provenance column (``source``, ``title``, ...).
    Paths are checked to exist, so a wrong root fails before anything is embedded.
    """
    source = Path(data)
    kind = (protocol or detect_protocol(source)).lower()
    if kind not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    notes: list[str] = []
    if kind in ("cfp-ff", "cfp-fp"):
        pairs = read_cfp_protocol(source, kind[-2:].upper(), check_exists=True)
        return Dataset(kind, source, pairs=tuple(pairs))
    if kind == "lfw":
        root = Path(images) if images else _default_lfw_images(source)
        pairs = read_lfw_pairs(source, root, check_exists=True)
        return Dataset(kind, source, pairs=tuple(pairs))
    if kind == "pairs":
        pairs = read_pair_table(source, check_exists=True)
        return Dataset(kind, source, pairs=tuple(pairs))
    if kind == "folders":
        records = read_identity_folders(source)
        base = source
        groups: list[str] = []
    else:
        records = read_manifest(source, group_columns=group_columns, check_exists=True)
        base = source.parent
        if group_columns is None:
            groups, skipped = _auto_group_columns(records)
            if skipped:
                notes.append("not used as groups: " + ", ".join(skipped))
        else:
            groups = [g.strip().lower() for g in group_columns]
    records = [r for r in records if _included(r.path, base, include)]
    if not records:
        raise ValueError(f"no images in {source}" + (f" match {list(include)}" if include else ""))
    return Dataset(
        kind, source, records=tuple(records), group_columns=tuple(groups), notes=tuple(notes)
    )


def _default_lfw_images(pairs_file: Path) -> Path:
    for candidate in (pairs_file.parent / "lfw", pairs_file.parent / "lfw-deepfunneled"):
        if candidate.is_dir():
            return candidate
    return pairs_file.parent


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class Thresholds:
    """The operating thresholds the report is stated at (the manifest's search bands)."""

    match: float
    strong: float


@dataclass
class VerificationReport:
    n_pairs: int
    n_genuine: int
    n_impostor: int
    n_failed: int
    n_genuine_failed: int
    n_impostor_failed: int
    kfold: dict[str, Any] | None
    tar_at_far: list[dict[str, Any]]
    eer: dict[str, float]
    at_thresholds: dict[str, dict[str, float]]
    quality_bins: list[dict[str, Any]]
    groups: dict[str, dict[str, Any]]
    protocol: str
    genuine_scores: np.ndarray = field(repr=False)  # -inf where a side had no face
    impostor_scores: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "n_pairs": self.n_pairs,
            "n_genuine": self.n_genuine,
            "n_impostor": self.n_impostor,
            "n_pairs_without_score": self.n_failed,
            "n_genuine_without_score": self.n_genuine_failed,
            "n_impostor_without_score": self.n_impostor_failed,
            "kfold_accuracy": self.kfold,
            "tar_at_far": self.tar_at_far,
            "eer": self.eer,
            "at_thresholds": self.at_thresholds,
            "quality_bins": self.quality_bins,
            "groups": self.groups,
        }


@dataclass
class IdentificationReport:
    closed_set: dict[str, Any] | None
    open_set: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"closed_set": self.closed_set, "open_set": self.open_set, "notes": self.notes}


@dataclass
class EvalReport:
    dataset: Dataset
    embeddings: EmbeddingSet
    thresholds: Thresholds
    verification: VerificationReport | None
    identification: IdentificationReport | None
    n_images: int
    n_duplicates_removed: int = 0
    n_multi_excluded: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def face_convention(self) -> FaceConvention:
        return face_convention(self.dataset.kind)

    @property
    def results(self) -> list[ImageResult]:
        """This data set's images (an embedding pass may cover several data sets)."""
        return [self.embeddings[p] for p in self.dataset.paths]

    @property
    def no_face(self) -> list[Path]:
        return sorted(r.path for r in self.results if r.error == NO_FACE)

    @property
    def unreadable(self) -> list[ImageResult]:
        failed = (r for r in self.results if r.error and r.error != NO_FACE)
        return sorted(failed, key=lambda r: str(r.path))

    def to_dict(self) -> dict[str, Any]:
        emb = self.embeddings
        results = self.results
        multi = sum(1 for r in results if r.n_faces > 1)
        convention = self.face_convention
        rule = emb.face_rule
        return {
            "dataset": {
                "protocol": self.dataset.kind,
                "source": str(self.dataset.source),
                "n_images": self.n_images,
                "n_duplicates_removed": self.n_duplicates_removed,
                "n_multi_person_excluded": self.n_multi_excluded,
                "group_columns": list(self.dataset.group_columns),
                "notes": [*self.dataset.notes, *self.notes],
                "face_rule": rule,
                "face_rule_reason": convention.reason
                if rule == convention.rule
                else f"{rule}, set for this run (the protocol's convention: {convention.rule})",
            },
            "model": {
                "key": emb.model_key,
                "embedding": emb.variant,
                "thresholds": {"match": self.thresholds.match, "strong": self.thresholds.strong},
            },
            "enrolment": {
                "n_images": len(results),
                "n_enrolled": sum(1 for r in results if r.enrolled),
                "n_no_face": len(self.no_face),
                "n_unreadable": len(self.unreadable),
                "n_several_faces": multi,
                "n_ambiguous": sum(1 for r in results if r.ambiguous),
                "n_scored_face_not_largest": sum(1 for r in results if r.face not in (None, 0)),
                "no_face": [str(p) for p in self.no_face],
                "unreadable": [{"path": str(r.path), "reason": r.error} for r in self.unreadable],
            },
            "verification": self.verification.to_dict() if self.verification else None,
            "identification": self.identification.to_dict() if self.identification else None,
            "timing": {
                "seconds_embedding": round(emb.seconds, 2),
                "images_per_second": round(len(emb.results) / emb.seconds, 2)
                if emb.seconds
                else None,
                "workers": emb.workers,
            },
        }


# ------------------------------------------------------------------------ verification


def _operating_point_dict(
    far: float, point: OperatingPoint | None, n_impostor: int
) -> dict[str, Any]:
    if point is None:
        return {
            "far": far,
            "supported": False,
            "reason": f"needs at least {math.ceil(1 / far)} impostor pairs, have {n_impostor}",
        }
    return {
        "far": far,
        "supported": True,
        "tar": point.tar,
        "threshold": point.threshold,
        "far_reached": point.far,
    }


def _rates_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> dict[str, float]:
    fnmr = float(np.mean(genuine < threshold)) if genuine.size else math.nan
    fmr = float(np.mean(impostor >= threshold)) if impostor.size else math.nan
    n = genuine.size + impostor.size
    correct = int((genuine >= threshold).sum() + (impostor < threshold).sum())
    return {"threshold": threshold, "fmr": fmr, "fnmr": fnmr, "accuracy": correct / n}


def _kfold_dict(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> dict[str, Any]:
    result = kfold_verification_accuracy(scores, labels, folds)
    return {
        "folds": len(result.folds),
        "mean": result.mean,
        "std": result.std,
        "standard_error": result.standard_error,
        "accuracies": result.accuracies.tolist(),
        "thresholds": result.thresholds.tolist(),
        "n_pairs": int(scores.size),
    }


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def verification_report(
    scores: np.ndarray,
    labels: np.ndarray,
    thresholds: Thresholds,
    *,
    folds: np.ndarray | None,
    kfold_mask: np.ndarray | None = None,
    quality: np.ndarray | None = None,
    groups: dict[str, tuple[list[Any], list[Any]]] | None = None,
    protocol: str,
) -> VerificationReport:
    """Every 1:1 figure from per-pair scores (NaN = no face on a side, never dropped).

    ``folds`` gives a fold id per pair (None: no k-fold figure); ``kfold_mask`` restricts
    the k-fold accuracy to a balanced subset. ``quality`` is (n, 2) per-image quality;
    ``groups`` maps a group column to (genuine groups, impostor groups) in pair order.
    """
    labels = np.asarray(labels, bool)
    counts = fte_counts(scores, labels)
    fs = scores_with_failures(scores).scores
    gen, imp = fs[labels], fs[~labels]
    kfold = None
    if folds is not None:
        mask = np.ones(fs.size, bool) if kfold_mask is None else kfold_mask
        kfold = _kfold_dict(fs[mask], labels[mask], folds[mask])
    tars = [_operating_point_dict(far, tar_at_far(gen, imp, far), imp.size) for far in FAR_TARGETS]
    eer_result = eer(gen, imp)
    at = {
        "match": _rates_at(gen, imp, thresholds.match),
        "strong": _rates_at(gen, imp, thresholds.strong),
    }
    bins: list[dict[str, Any]] = []
    if quality is not None:
        for b in accuracy_by_quality_bin(fs, labels, quality, thresholds.match, bins=5):
            bins.append(
                {
                    "quality_from": _clean(b.lower),
                    "quality_to": _clean(b.upper),
                    "no_face": b.missing,
                    "n_genuine": b.n_genuine,
                    "fnmr": _clean(b.fnmr),
                    "n_impostor": b.n_impostor,
                    "fmr": _clean(b.fmr),
                }
            )
    group_out: dict[str, dict[str, Any]] = {}
    for column, (g_groups, i_groups) in (groups or {}).items():
        rates = per_group_error_rates(gen, g_groups, imp, i_groups, thresholds.match)
        group_out[column] = {
            "threshold": rates.threshold,
            "groups": {
                str(k): {
                    "n_genuine": v.n_genuine,
                    "fnmr": _clean(v.fnmr),
                    "n_impostor": v.n_impostor,
                    "fmr": _clean(v.fmr),
                }
                for k, v in rates.groups.items()
            },
            "cross_group": {
                "n_impostor": rates.cross_group.n_impostor,
                "fmr": _clean(rates.cross_group.fmr),
            },
            "fmr_ratio": _clean(rates.fmr_ratio()),
            "fnmr_ratio": _clean(rates.fnmr_ratio()),
        }
    return VerificationReport(
        n_pairs=counts.n_pairs,
        n_genuine=counts.n_genuine,
        n_impostor=counts.n_impostor,
        n_failed=counts.n_failed,
        n_genuine_failed=counts.n_genuine_failed,
        n_impostor_failed=counts.n_impostor_failed,
        kfold=kfold,
        tar_at_far=tars,
        eer={"eer": eer_result.eer, "threshold": eer_result.threshold},
        at_thresholds=at,
        quality_bins=bins,
        groups=group_out,
        protocol=protocol,
        genuine_scores=gen,
        impostor_scores=imp,
    )


def pair_scores(embeddings: EmbeddingSet, pairs: Sequence[VerificationPair]) -> np.ndarray:
    """Cosine similarity per pair (the score ``compare`` prints); NaN without a face."""
    paths = list(dict.fromkeys(p for pair in pairs for p in (pair.path_a, pair.path_b)))
    index = {p: i for i, p in enumerate(paths)}
    a = np.array([index[p.path_a] for p in pairs], np.int64)
    b = np.array([index[p.path_b] for p in pairs], np.int64)
    scores = _dot_rows(embeddings.matrix(paths), a, b)
    if embeddings.fusion is not None:
        from facesearch.engine.embed import pair_pose

        second = _dot_rows(embeddings.matrix(paths, second=True), a, b)
        yaw = embeddings.yaw(paths)
        scores = embeddings.fusion.fuse(scores, second, pair_pose(yaw[a], yaw[b]))
    return scores


def _dot_rows(matrix: np.ndarray, a: np.ndarray, b: np.ndarray, chunk: int = 262_144) -> np.ndarray:
    out = np.empty(a.size, np.float64)
    for s in range(0, a.size, chunk):
        out[s : s + chunk] = np.einsum(
            "ij,ij->i", matrix[a[s : s + chunk]], matrix[b[s : s + chunk]], dtype=np.float64
        )
    return out


def _random_folds(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return (rng.permutation(n) % k + 1).astype(np.int64)


def evaluate_pairs(
    dataset: Dataset, embeddings: EmbeddingSet, thresholds: Thresholds, *, seed: int = DEFAULT_SEED
) -> EvalReport:
    """The 1:1 report of a pair protocol (CFP, LFW, pair tables)."""
    pairs = list(dataset.pairs)
    scores = pair_scores(embeddings, pairs)
    labels = np.array([p.same for p in pairs], bool)
    notes: list[str] = []
    if all(p.fold is not None for p in pairs):
        fold_ids = np.array([p.fold for p in pairs], np.int64)
        folds: np.ndarray | None = fold_ids
        protocol = f"{len(set(fold_ids.tolist()))} folds of the protocol"
    elif len(pairs) >= MIN_PAIRS_FOR_KFOLD and labels.any() and (~labels).any():
        folds = _random_folds(len(pairs), DEFAULT_FOLDS, np.random.default_rng(seed))
        protocol = f"{DEFAULT_FOLDS} random folds (seed {seed})"
    else:
        folds = None
        protocol = "no folds"
        notes.append(f"too few pairs for a {DEFAULT_FOLDS}-fold accuracy ({len(pairs)})")
    paths_a = [p.path_a for p in pairs]
    paths_b = [p.path_b for p in pairs]
    quality = np.stack([embeddings.quality(paths_a), embeddings.quality(paths_b)], axis=1)
    report = verification_report(
        scores, labels, thresholds, folds=folds, quality=quality, protocol=protocol
    )
    return EvalReport(
        dataset=dataset,
        embeddings=embeddings,
        thresholds=thresholds,
        verification=report,
        identification=None,
        n_images=len(dataset.paths),
        notes=notes,
    )


# ---------------------------------------------------------------- identity-labelled sets


@dataclass(frozen=True)
class PreparedRecords:
    records: list[FaceRecord]
    labels: np.ndarray  # identity per record (object array of str)
    matrix: np.ndarray  # (n, dim) float32, NaN rows without a face
    quality: np.ndarray
    n_duplicates_removed: int
    n_multi_excluded: int
    second: np.ndarray | None = None  # the second model's vectors (fusion runs)
    fusion: ScoreFusion | None = None
    yaw: np.ndarray | None = None  # each record's yaw (the fusion's pose term)

    def _yaw(self) -> np.ndarray:
        return self.yaw if self.yaw is not None else np.full(len(self.labels), np.nan)

    def subset(self, mask: np.ndarray) -> PreparedRecords:
        return PreparedRecords(
            records=[r for r, m in zip(self.records, mask, strict=True) if m],
            labels=self.labels[mask],
            matrix=self.matrix[mask],
            quality=self.quality[mask],
            n_duplicates_removed=0,
            n_multi_excluded=0,
            second=None if self.second is None else self.second[mask],
            fusion=self.fusion,
            yaw=None if self.yaw is None else self.yaw[mask],
        )

    def pair_scores(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Scores of record pairs (a[i], b[i]); NaN without a face."""
        scores = _dot_rows(self.matrix, a, b)
        if self.fusion is not None and self.second is not None:
            from facesearch.engine.embed import pair_pose

            yaw = self._yaw()
            pose = pair_pose(yaw[a], yaw[b])
            scores = self.fusion.fuse(scores, _dot_rows(self.second, a, b), pose)
        return scores

    def similarity(self, rows: np.ndarray | slice, cols: np.ndarray | slice) -> np.ndarray:
        """Scores of records ``rows`` against records ``cols`` (NaN without a face)."""
        sim = _similarity(self.matrix[rows], self.matrix[cols])
        if self.fusion is not None and self.second is not None:
            from facesearch.engine.embed import pair_pose

            second = _similarity(self.second[rows], self.second[cols])
            pose = None
            if self.fusion.pose_dependent:
                yaw = self._yaw()
                pose = pair_pose(yaw[rows][:, None], yaw[cols][None, :])
            sim = self.fusion.fuse(sim, second, pose).astype(np.float32)
        return sim


def prepare_records(records: Sequence[FaceRecord], embeddings: EmbeddingSet) -> PreparedRecords:
    """Leave out ``MULTI:`` photos and byte-identical copies under one identity."""
    kept: list[FaceRecord] = []
    seen: set[tuple[str, str]] = set()
    duplicates = multi = 0
    for r in sorted(records, key=lambda r: (r.identity, str(r.path))):
        if r.identity.startswith(MULTI_PREFIX):
            multi += 1
            continue
        sha = embeddings[r.path].sha256
        if sha:
            if (r.identity, sha) in seen:
                duplicates += 1
                continue
            seen.add((r.identity, sha))
        kept.append(r)
    paths = [r.path for r in kept]
    return PreparedRecords(
        records=kept,
        labels=np.array([r.identity for r in kept], dtype=object),
        matrix=embeddings.matrix(paths),
        quality=embeddings.quality(paths),
        n_duplicates_removed=duplicates,
        n_multi_excluded=multi,
        second=embeddings.matrix(paths, second=True) if embeddings.has_second else None,
        fusion=embeddings.fusion,
        yaw=embeddings.yaw(paths),
    )


def genuine_pairs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of distinct records of one identity, as index arrays."""
    by_id: dict[Any, list[int]] = {}
    for i, lab in enumerate(labels.tolist()):
        by_id.setdefault(lab, []).append(i)
    a_parts, b_parts = [], []
    for idx in by_id.values():
        if len(idx) > 1:
            arr = np.array(idx, np.int64)
            ia, ib = np.triu_indices(len(arr), k=1)
            a_parts.append(arr[ia])
            b_parts.append(arr[ib])
    if not a_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(a_parts), np.concatenate(b_parts)


def impostor_pairs(
    labels: np.ndarray, limit: int | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of records of different identities, or a uniform sample of ``limit``."""
    codes = np.unique(labels.astype(str), return_inverse=True)[1].astype(np.int64)
    n = codes.size
    sizes = np.bincount(codes)
    total = (n * (n - 1) - int((sizes * (sizes - 1)).sum())) // 2
    if limit is None or total <= limit:
        a_parts, b_parts = [], []
        for i in range(n - 1):
            j = np.arange(i + 1, n, dtype=np.int64)
            j = j[codes[j] != codes[i]]
            a_parts.append(np.full(j.size, i, np.int64))
            b_parts.append(j)
        if not a_parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(a_parts), np.concatenate(b_parts)
    chosen = np.zeros(0, np.int64)
    while chosen.size < limit:
        draw = int((limit - chosen.size) * 1.2) + 16
        da = rng.integers(0, n, draw)
        db = rng.integers(0, n, draw)
        ok = codes[da] != codes[db]
        lo, hi = np.minimum(da, db)[ok], np.maximum(da, db)[ok]
        chosen = np.unique(np.concatenate([chosen, lo * n + hi]))
    chosen = rng.permutation(chosen)[:limit]
    chosen.sort()
    return chosen // n, chosen % n


def _pair_groups(
    prepared: PreparedRecords,
    columns: Sequence[str],
    ga: np.ndarray,
    gb: np.ndarray,
    ia: np.ndarray,
    ib: np.ndarray,
) -> dict[str, tuple[list[Any], list[Any]]]:
    out: dict[str, tuple[list[Any], list[Any]]] = {}
    for column in columns:
        values = [r.group(column) or "" for r in prepared.records]
        gen = [
            values[a] if values[a] == values[b] else "<mixed>" for a, b in zip(ga, gb, strict=True)
        ]
        imp: list[Any] = [(values[a], values[b]) for a, b in zip(ia, ib, strict=True)]
        out[column] = (gen, imp)
    return out


def evaluate_identities(
    dataset: Dataset,
    embeddings: EmbeddingSet,
    thresholds: Thresholds,
    *,
    seed: int = DEFAULT_SEED,
    max_impostors: int | None = DEFAULT_MAX_IMPOSTORS,
    identification: bool = True,
) -> EvalReport:
    """1:1 and 1:N report of an identity-labelled set (folders, manifests)."""
    prepared = prepare_records(dataset.records, embeddings)
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    ga, gb = genuine_pairs(prepared.labels)
    ia, ib = impostor_pairs(prepared.labels, max_impostors, rng)
    verification = None
    if ga.size and ia.size:
        a = np.concatenate([ga, ia])
        b = np.concatenate([gb, ib])
        labels = np.concatenate([np.ones(ga.size, bool), np.zeros(ia.size, bool)])
        scores = prepared.pair_scores(a, b)
        n_fold = min(ga.size, ia.size)
        kfold_mask = np.zeros(labels.size, bool)
        kfold_mask[: ga.size][rng.permutation(ga.size)[:n_fold]] = True
        kfold_mask[ga.size + rng.permutation(ia.size)[:n_fold]] = True
        folds = None
        if 2 * n_fold >= MIN_PAIRS_FOR_KFOLD:
            folds = np.zeros(labels.size, np.int64)
            folds[kfold_mask] = _random_folds(int(kfold_mask.sum()), DEFAULT_FOLDS, rng)
        else:
            notes.append("too few pairs for a 10-fold accuracy")
        quality = np.stack([prepared.quality[a], prepared.quality[b]], axis=1)
        groups = _pair_groups(prepared, dataset.group_columns, ga, gb, ia, ib)
        sampled = max_impostors is not None and ia.size == max_impostors
        protocol = (
            f"all {ga.size} genuine pairs; "
            + (f"{ia.size} sampled impostor pairs" if sampled else f"all {ia.size} impostor pairs")
            + f"; 10-fold on {2 * n_fold} balanced pairs, random folds (seed {seed})"
        )
        verification = verification_report(
            scores,
            labels,
            thresholds,
            folds=folds,
            kfold_mask=kfold_mask if folds is not None else None,
            quality=quality,
            groups=groups,
            protocol=protocol,
        )
    else:
        notes.append("no genuine or no impostor pairs: no 1:1 figures")
    ident = identification_report(prepared, seed=seed) if identification else None
    return EvalReport(
        dataset=dataset,
        embeddings=embeddings,
        thresholds=thresholds,
        verification=verification,
        identification=ident,
        n_images=len(dataset.records),
        n_duplicates_removed=prepared.n_duplicates_removed,
        n_multi_excluded=prepared.n_multi_excluded,
        notes=notes,
    )


def _similarity(m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Cosine similarities; NaN where either side had no face."""
    return np.asarray(m1, np.float32) @ np.asarray(m2, np.float32).T


def identification_report(prepared: PreparedRecords, *, seed: int) -> IdentificationReport:
    labels = prepared.labels
    notes: list[str] = []
    closed = None
    _, inverse, counts = np.unique(labels.astype(str), return_inverse=True, return_counts=True)
    probes = np.flatnonzero(counts[inverse] > 1)
    if probes.size:
        sim = prepared.similarity(probes, slice(None))
        sim[np.arange(probes.size), probes] = np.nan  # a probe is not its own gallery item
        ranks = rank_k_accuracy(sim, labels[probes], labels, ks=RANKS)
        closed = {
            "protocol": "leave-one-out: each image with a mate is a probe against all others",
            "n_probes": ranks.n_probes,
            "n_gallery": int(labels.size - 1),
            "n_probes_without_face": int(np.isnan(prepared.matrix[probes, 0]).sum()),
            **{f"rank_{k}": acc for k, acc in ranks.accuracy.items()},
            "misses_at_rank_1": int((ranks.ranks > 1).sum()),
        }
    else:
        notes.append("no identity has two images: no closed-set figures")
    open_set = None
    n_ids = int(counts.size)
    if n_ids >= 5:
        split = make_identification_split(
            prepared.records, seed=seed, nonmated_fraction=NONMATED_FRACTION
        )
        out_ids = {r.identity for r in split.nonmated_probes}
        nonmated = [*split.nonmated_probes, *(r for r in split.unused if r.identity in out_ids)]
        index = {r.path: i for i, r in enumerate(prepared.records)}
        g = np.array([index[r.path] for r in split.gallery], np.int64)
        m = np.array([index[r.path] for r in split.mated_probes], np.int64)
        nm = np.array([index[r.path] for r in nonmated], np.int64)
        if g.size and m.size and nm.size:
            sim_m = prepared.similarity(m, g)
            sim_n = prepared.similarity(nm, g)
            points = []
            for fpir in FPIR_TARGETS:
                point = fnir_at_fpir(sim_m, labels[m], sim_n, labels[g], fpir, rank=1)
                points.append(_open_set_dict(fpir, point, nm.size))
            open_set = {
                "protocol": f"{NONMATED_FRACTION:.0%} of identities left out of the gallery "
                f"(seed {seed}); all their images are non-mated probes, one image of every "
                "other identity is a mated probe; rank 1",
                "n_gallery": int(g.size),
                "n_mated": int(m.size),
                "n_nonmated": int(nm.size),
                "points": points,
            }
    else:
        notes.append("fewer than 5 identities: no open-set figures")
    return IdentificationReport(closed_set=closed, open_set=open_set, notes=notes)


def _open_set_dict(fpir: float, point: OpenSetPoint | None, n_nonmated: int) -> dict[str, Any]:
    if point is None:
        return {
            "fpir": fpir,
            "supported": False,
            "reason": f"needs at least {math.ceil(1 / fpir)} non-mated probes, have {n_nonmated}",
        }
    return {
        "fpir": fpir,
        "supported": True,
        "fnir": point.fnir,
        "threshold": point.threshold,
        "fpir_reached": point.fpir,
    }


# ------------------------------------------------------------------------- one call


def evaluate(
    dataset: Dataset,
    embeddings: EmbeddingSet,
    thresholds: Thresholds,
    *,
    seed: int = DEFAULT_SEED,
    max_impostors: int | None = DEFAULT_MAX_IMPOSTORS,
    identification: bool = True,
) -> EvalReport:
    if dataset.pairs:
        return evaluate_pairs(dataset, embeddings, thresholds, seed=seed)
    return evaluate_identities(
        dataset,
        embeddings,
        thresholds,
        seed=seed,
        max_impostors=max_impostors,
        identification=identification,
    )


def run_evaluation(
    dataset: Dataset,
    *,
    thresholds: Thresholds | None = None,
    face_rule: str | None = None,
    pipeline: FacePipeline | None = None,
    settings: PipelineSettings | None = None,
    workers: int | None = None,
    seed: int = DEFAULT_SEED,
    max_impostors: int | None = DEFAULT_MAX_IMPOSTORS,
    identification: bool = True,
    on_progress: ProgressFn | None = None,
    fusion: ScoreFusion | None = None,
) -> EvalReport:
    """Embed the data set's images once, then compute every figure it supports.

    ``thresholds`` default to the manifest's search bands (the operating point);
    ``face_rule`` to the protocol's face convention (:func:`face_convention`).
    """
    if face_rule is None:
        face_rule = face_convention(dataset.kind).rule
    if thresholds is None:
        thresholds = manifest_thresholds()
    embeddings = embed_images(
        dataset.paths,
        pipeline=pipeline,
        settings=settings,
        workers=workers,
        on_progress=on_progress,
        fusion=fusion,
        face_rule=face_rule,
    )
    return evaluate(
        dataset,
        embeddings,
        thresholds,
        seed=seed,
        max_impostors=max_impostors,
        identification=identification,
    )


def manifest_thresholds() -> Thresholds:
    from facesearch.models.manifest import load_manifest

    spec = load_manifest().recognizer
    return Thresholds(float(spec.thresholds["match"]), float(spec.thresholds["strong"]))


# ---------------------------------------------------------------------------- outputs


def thin_curve(
    far: np.ndarray, tar: np.ndarray, points: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` ROC points, log-spaced in FAR, for plotting large curves."""
    if far.size <= points:
        return far, tar
    positive = far > 0
    if not positive.any():
        return far[:1], tar[:1]
    grid = np.geomspace(float(far[positive].min()), 1.0, points)
    idx = np.clip(np.searchsorted(far, grid, side="right") - 1, 0, far.size - 1)
    idx = np.unique(np.concatenate([idx, [far.size - 1]]))
    return far[idx], tar[idx]


def write_plots(report: EvalReport, out_dir: Path | str, *, name: str | None = None) -> list[Path]:
    """ROC and genuine/impostor histograms as PNG files in ``out_dir``."""
    from facesearch.evaluate.plots import plot_roc, plot_score_histograms

    v = report.verification
    if v is None:
        return []
    out = Path(out_dir)
    label = name or report.dataset.kind
    curve = roc_curve(v.genuine_scores, v.impostor_scores)
    far, tar = thin_curve(curve.far, curve.tar)
    t = report.thresholds
    model = f"{report.embeddings.model_key} ({report.embeddings.variant})"
    roc = plot_roc({model: (far, tar)}, out / "roc.png", title=f"ROC: {label}")
    hist = plot_score_histograms(
        v.genuine_scores,
        v.impostor_scores,
        {f"match {t.match:.3f}": t.match, f"strong {t.strong:.3f}": t.strong},
        out / "scores.png",
        title=f"Genuine vs impostor scores: {label}",
    )
    return [roc, hist]


def write_scores(report: EvalReport, path: Path | str) -> Path:
    """The scored pairs of a pair protocol as a TSV that ``facesearch compare --pairs`` reads.

    Columns ``img_a, img_b, same_person, score, face_a, face_b``: ``compare --pairs`` scores
    the two images on the faces named (the ones this run scored), so its output reproduces
    the ``score`` column.
    """
    if not report.dataset.pairs:
        raise ValueError("per-pair scores are written for pair protocols only")
    scores = pair_scores(report.embeddings, list(report.dataset.pairs))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("img_a\timg_b\tsame_person\tscore\tface_a\tface_b\n")
        for pair, score in zip(report.dataset.pairs, scores, strict=True):
            shown = "" if math.isnan(score) else f"{score:.4f}"
            a, b = pair.path_a.resolve(), pair.path_b.resolve()
            faces = [report.embeddings[p].face for p in (pair.path_a, pair.path_b)]
            face_a, face_b = ("" if f is None else str(f) for f in faces)
            fh.write(f"{a}\t{b}\t{int(pair.same)}\t{shown}\t{face_a}\t{face_b}\n")
    return out


def iter_summary_rows(report: EvalReport) -> Iterator[tuple[str, str]]:
    """(figure, value) rows for the terminal table."""

    def pct(x: float | None) -> str:
        return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f}%"

    d = report.to_dict()
    enrol = d["enrolment"]
    yield "images", f"{enrol['n_images']} ({report.n_duplicates_removed} duplicates left out)"
    yield "face scored", f"{d['dataset']['face_rule']}: {d['dataset']['face_rule_reason']}"
    yield (
        "photos with several faces",
        f"{enrol['n_several_faces']} ({enrol['n_ambiguous']} ambiguous: two largest of similar "
        f"size; scored face not the largest in {enrol['n_scored_face_not_largest']})",
    )
    yield "no face found (counted as errors)", str(enrol["n_no_face"])
    if enrol["n_unreadable"]:
        yield "unreadable (counted as errors)", str(enrol["n_unreadable"])
    v = report.verification
    if v is not None:
        yield "pairs (genuine / impostor)", f"{v.n_genuine} / {v.n_impostor}"
        if v.kfold:
            k = v.kfold
            yield (
                f"{k['folds']}-fold accuracy",
                f"{100 * k['mean']:.2f}% ± {100 * k['std']:.2f}",
            )
        for p in v.tar_at_far:
            value = (
                f"{pct(p['tar'])} (threshold {p['threshold']:.4f})"
                if p["supported"]
                else "n/a: " + p["reason"]
            )
            yield f"TAR @ FAR {p['far']:.0e}", value
        yield "EER", f"{pct(v.eer['eer'])} (threshold {v.eer['threshold']:.4f})"
        for band, r in v.at_thresholds.items():
            yield (
                f"at {band} threshold {r['threshold']:.4f}",
                f"FMR {pct(r['fmr'])}, FNMR {pct(r['fnmr'])}, accuracy {pct(r['accuracy'])}",
            )
        for column, g in v.groups.items():
            parts = ", ".join(
                f"{k}: FMR {pct(x['fmr'])} FNMR {pct(x['fnmr'])}" for k, x in g["groups"].items()
            )
            yield f"by {column} (at match)", parts
    ident = report.identification
    if ident is not None and ident.closed_set:
        c = ident.closed_set
        yield (
            "closed-set rank-1 / rank-5",
            f"{pct(c['rank_1'])} / {pct(c['rank_5'])} ({c['n_probes']} probes)",
        )
    if ident is not None and ident.open_set:
        o = ident.open_set
        for p in o["points"]:
            value = (
                f"{pct(p['fnir'])} (threshold {p['threshold']:.4f})"
                if p["supported"]
                else "n/a: " + p["reason"]
            )
            yield f"FNIR @ FPIR {p['fpir']}", value


__all__ = [
    "FAR_TARGETS",
    "FPIR_TARGETS",
    "PROTOCOLS",
    "Dataset",
    "EmbeddingSet",
    "EvalReport",
    "IdentificationReport",
    "ImageResult",
    "ProtocolFormatError",
    "Thresholds",
    "VerificationReport",
    "detect_protocol",
    "embed_images",
    "embed_one",
    "evaluate",
    "evaluate_identities",
    "evaluate_pairs",
    "genuine_pairs",
    "identification_report",
    "impostor_pairs",
    "load_dataset",
    "manifest_thresholds",
    "pair_scores",
    "prepare_records",
    "run_evaluation",
    "verification_report",
    "write_plots",
    "write_scores",
]
