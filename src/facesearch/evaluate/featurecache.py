"""A per-image feature cache for fusion studies: both recognizers' vectors of the scored face,
with the face terms a fusion may use (yaw, detector score, face size, quality), in one ``.npz``.

Embedding every labelled photo with both recognizers takes tens of minutes on two cores;
scoring pairs from stored vectors takes milliseconds. :func:`build_cache` runs the real
pipeline once (:func:`facesearch.evaluate.embedding.embed_images`, as ``facesearch eval``) and
:class:`FeatureCache` keeps what it made, keyed by the path relative to a data root, so the
cache stays valid when the data folder moves. Stored with ``numpy.savez`` (no pickle: strings
are fixed-width unicode arrays, loaded with ``allow_pickle=False``).

With ``flips=True`` (:func:`build_cache`), the cache also keeps each recognizer's unit vector
of the same face mirrored left to right (the aligned SFace crop and the dlib chip, flipped), so
that test-time flip averaging (``normalise(v + v_mirror)``) can be measured per recognizer
without embedding anything again (:meth:`FeatureCache.with_flip_averaging`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facesearch.engine.align import align_face
from facesearch.engine.embed import normalise, second_model_spec
from facesearch.engine.pipeline import FacePipeline, PipelineSettings
from facesearch.evaluate.embedding import (
    NO_FACE,
    EmbeddingSet,
    ImageResult,
    embed_images,
    embed_in_workers,
    embed_one_face,
    eval_worker_pipeline,
    failed_image,
)
from facesearch.models.manifest import load_manifest

if TYPE_CHECKING:
    from facesearch.engine.embed import ScoreFusion
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings
    from facesearch.evaluate.embedding import EmbeddingSet, ImageResult, ProgressFn

CACHE_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: no mirrored vectors


@dataclass(frozen=True)
class FeatureCache:
    """Row ``i`` describes image ``paths[i]`` (relative to the data root); NaN rows (vectors)
    and NaN terms mark a photo where no face was found."""

    paths: np.ndarray  # (n,) str, relative to the data root
    primary: np.ndarray  # (n, d1) float32 unit vectors (SFace), NaN rows without a face
    secondary: np.ndarray  # (n, d2) float32 unit vectors (dlib), NaN rows without one
    yaw: np.ndarray  # (n,) float64
    detector_score: np.ndarray  # (n,)
    face_size: np.ndarray  # (n,) sqrt(w*h) of the box, pixels
    quality: np.ndarray  # (n,)
    sha256: np.ndarray  # (n,) str, "" when unreadable
    model_key: str
    second_model_key: str
    # unit vectors of the same face mirrored left to right (NaN rows where not made)
    primary_flip: np.ndarray | None = None
    secondary_flip: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.paths)
        for name in ("primary", "secondary", "yaw", "detector_score", "face_size", "quality"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"feature cache: {name} has {len(getattr(self, name))} rows, not {n}"
                )
        for name in ("primary_flip", "secondary_flip"):
            if getattr(self, name) is not None and len(getattr(self, name)) != n:
                raise ValueError(
                    f"feature cache: {name} has {len(getattr(self, name))} rows, not {n}"
                )

    def index(self) -> dict[str, int]:
        return {str(p): i for i, p in enumerate(self.paths.tolist())}

    def rows(self, paths: Sequence[Path], root: Path) -> np.ndarray:
        """Row numbers of ``paths`` (absolute, under ``root``); KeyError names a missing one."""
        index = self.index()
        out = np.empty(len(paths), np.int64)
        for i, p in enumerate(paths):
            key = Path(p).resolve().relative_to(root.resolve()).as_posix()
            if key not in index:
                raise KeyError(f"{key} is not in the feature cache: rebuild it (--cache)")
            out[i] = index[key]
        return out

    @property
    def enrolled(self) -> np.ndarray:
        return np.isfinite(self.primary[:, 0])

    def save(self, path: Path | str) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp.npz")
        np.savez(
            tmp,
            version=np.array(CACHE_VERSION),
            paths=self.paths.astype(str),
            primary=self.primary,
            secondary=self.secondary,
            yaw=self.yaw,
            detector_score=self.detector_score,
            face_size=self.face_size,
            quality=self.quality,
            sha256=self.sha256.astype(str),
            model_key=np.array(self.model_key),
            second_model_key=np.array(self.second_model_key),
            primary_flip=self.flipped(second=False),
            secondary_flip=self.flipped(second=True),
        )
        tmp.replace(target)
        return target

    @classmethod
    def load(cls, path: Path | str) -> FeatureCache:
        with np.load(Path(path), allow_pickle=False) as z:
            version = int(z["version"])
            if version not in READABLE_VERSIONS:
                raise ValueError(
                    f"{path}: feature cache version {version}, expected {CACHE_VERSION}; rebuild it"
                )
            return cls(
                paths=z["paths"],
                primary=z["primary"],
                secondary=z["secondary"],
                yaw=z["yaw"],
                detector_score=z["detector_score"],
                face_size=z["face_size"],
                quality=z["quality"],
                sha256=z["sha256"],
                model_key=str(z["model_key"]),
                second_model_key=str(z["second_model_key"]),
                primary_flip=z.get("primary_flip"),
                secondary_flip=z.get("secondary_flip"),
            )

    def flipped(self, second: bool) -> np.ndarray:
        """The mirrored vectors of one recognizer (all NaN when the cache has none)."""
        got = self.secondary_flip if second else self.primary_flip
        if got is not None:
            return got
        like = self.secondary if second else self.primary
        return np.full(like.shape, np.nan, np.float32)

    @property
    def has_flips(self) -> bool:
        """Every photo with a face has both recognizers' mirrored vectors."""
        ok = self.enrolled & np.isfinite(self.secondary[:, 0])
        return bool(
            np.isfinite(self.flipped(False)[ok, 0]).all()
            and np.isfinite(self.flipped(True)[ok, 0]).all()
        )

    def with_flip_averaging(self, primary: bool, secondary: bool) -> FeatureCache:
        """The cache as a flip-averaging pipeline would have made it: for the recognizers
        asked, each vector is ``normalise(v + v_mirror)`` (as ``SFaceEmbedder(flip_fusion=
        True)``); a photo without a mirrored vector keeps NaN there (no face)."""

        def average(v: np.ndarray, f: np.ndarray) -> np.ndarray:
            out = np.full(v.shape, np.nan, np.float32)
            ok = np.isfinite(v[:, 0]) & np.isfinite(f[:, 0])
            if ok.any():
                out[ok] = normalise(v[ok] + f[ok])
            return out

        return dataclasses.replace(
            self,
            primary=average(self.primary, self.flipped(False)) if primary else self.primary,
            secondary=average(self.secondary, self.flipped(True)) if secondary else self.secondary,
        )

    def merge(self, other: FeatureCache) -> FeatureCache:
        """This cache's rows and ``other``'s (``other`` wins for a path in both)."""
        if self.len and (other.model_key, other.second_model_key) != (
            self.model_key,
            self.second_model_key,
        ):
            raise ValueError(
                f"cannot merge feature caches of different models: {self.model_key} / "
                f"{self.second_model_key} and {other.model_key} / {other.second_model_key}"
            )
        mine = np.isin(self.paths, other.paths, invert=True)
        names = ("paths", "primary", "secondary", "yaw", "detector_score", "face_size")
        fields = {
            name: np.concatenate([getattr(self, name)[mine], getattr(other, name)])
            for name in (*names, "quality", "sha256")
        }
        if self.primary_flip is not None or other.primary_flip is not None:
            for name, second in (("primary_flip", False), ("secondary_flip", True)):
                fields[name] = np.concatenate([self.flipped(second)[mine], other.flipped(second)])
        order = np.argsort(fields["paths"], kind="stable")
        return FeatureCache(
            **{k: v[order] for k, v in fields.items()},
            model_key=other.model_key,
            second_model_key=other.second_model_key,
        )

    @property
    def len(self) -> int:
        return len(self.paths)

    @classmethod
    def empty(cls, dim1: int = 128, dim2: int = 128) -> FeatureCache:
        nothing = np.zeros(0, np.float64)
        return cls(
            paths=np.zeros(0, "<U1"),
            primary=np.zeros((0, dim1), np.float32),
            secondary=np.zeros((0, dim2), np.float32),
            yaw=nothing,
            detector_score=nothing,
            face_size=nothing,
            quality=nothing,
            sha256=np.zeros(0, "<U1"),
            model_key="",
            second_model_key="",
        )

    def embedding_set(self, root: Path, fusion: ScoreFusion | None = None) -> EmbeddingSet:
        """The cache as an evaluation :class:`~facesearch.evaluate.embedding.EmbeddingSet` (absolute
        paths under ``root``), scored with ``fusion`` (None: SFace alone)."""

        results = {}
        for i, rel in enumerate(self.paths.tolist()):
            path = root / rel
            ok = bool(np.isfinite(self.primary[i, 0]))
            second_ok = bool(np.isfinite(self.secondary[i, 0]))
            results[path] = ImageResult(
                path=path,
                embedding=self.primary[i] if ok else None,
                quality=float(self.quality[i]),
                flags=(),
                n_faces=int(ok),
                sha256=str(self.sha256[i]),
                error="" if ok else NO_FACE,
                second=self.secondary[i] if second_ok else None,
                face=0 if ok else None,
                yaw=float(self.yaw[i]),
                detector_score=float(self.detector_score[i]),
                face_size=float(self.face_size[i]),
            )
        return EmbeddingSet(
            results=results,
            model_key=self.model_key,
            variant="single" + ("+dlib-fusion" if fusion is not None else ""),
            dim=int(self.primary.shape[1]),
            fusion=fusion,
        )

    @classmethod
    def from_embeddings(cls, emb: EmbeddingSet, root: Path, second_model_key: str) -> FeatureCache:
        paths = sorted(emb.results)
        results = [emb.results[p] for p in paths]
        return cls(
            paths=np.array(
                [Path(p).resolve().relative_to(root.resolve()).as_posix() for p in paths]
            ),
            primary=emb.matrix(paths),
            secondary=emb.matrix(paths, second=True),
            yaw=np.array([r.yaw for r in results], np.float64),
            detector_score=np.array([r.detector_score for r in results], np.float64),
            face_size=np.array([r.face_size for r in results], np.float64),
            quality=np.array([r.quality for r in results], np.float64),
            sha256=np.array([r.sha256 for r in results]),
            model_key=emb.model_key,
            second_model_key=second_model_key,
        )


def describe_with_flips(
    pipeline: FacePipeline, path: Path
) -> tuple[ImageResult, np.ndarray | None, np.ndarray | None]:
    """The scored face of ``path`` (as ``facesearch eval``), and each recognizer's unit vector
    of that face mirrored left to right: the same aligned SFace crop and dlib chip, flipped
    (one more inference per recognizer)."""

    if pipeline.settings.flip_fusion or (pipeline.second is not None and pipeline.second.flip):
        raise ValueError(
            "describe the mirrored face with a pipeline without flip averaging "
            "(PipelineSettings(flip_fusion=False, second_flip=False))"
        )
    result, face, decoded = embed_one_face(pipeline, path)
    if face is None or decoded is None:
        return result, None, None
    mirrored = np.ascontiguousarray(face.aligned[:, ::-1])
    flip1 = pipeline.embedder.predict(mirrored[None])[0]
    flip2 = None
    if pipeline.second is not None and pipeline.second_template is not None:
        chip = align_face(
            decoded.pixels, face.landmarks, pipeline.second_template, pipeline.second_size
        )
        flip2 = pipeline.second.predict(np.ascontiguousarray(chip[:, ::-1])[None])[0]
    return result, flip1, flip2


FlipRow = tuple["ImageResult", np.ndarray | None, np.ndarray | None]


def _flip_chunk(paths: list[Path]) -> list[FlipRow]:

    pipeline = eval_worker_pipeline()
    return [describe_with_flips(pipeline, p) for p in paths]


def _flip_failed(path: Path, reason: str) -> FlipRow:

    return failed_image(path, reason), None, None


def _embed_with_flips(
    paths: Sequence[Path],
    root: Path,
    settings: PipelineSettings,
    second_key: str,
    workers: int,
    on_progress: ProgressFn | None,
    chunk_size: int = 8,
) -> FeatureCache:
    """Like :meth:`FeatureCache.from_embeddings` of ``embed_images``, with mirrored vectors."""

    rows: list[tuple[ImageResult, np.ndarray | None, np.ndarray | None]] = []
    chunks = [list(paths[i : i + chunk_size]) for i in range(0, len(paths), chunk_size)]
    if workers <= 0:
        pipe = FacePipeline.load(settings)
        for part in chunks:
            rows += [describe_with_flips(pipe, p) for p in part]
            if on_progress:
                on_progress(len(rows), len(paths))
    else:
        for got in embed_in_workers(chunks, _flip_chunk, settings, workers, _flip_failed):
            rows += got
            if on_progress:
                on_progress(len(rows), len(paths))
    model_key = FacePipeline(load_manifest(), settings).model_key
    emb = EmbeddingSet(
        results={r.path: r for r, _, _ in rows}, model_key=model_key, variant="single", dim=128
    )
    base = FeatureCache.from_embeddings(emb, root, second_key)
    order = {r.path: (f1, f2) for r, f1, f2 in rows}
    absolute = {Path(p).resolve().relative_to(root.resolve()).as_posix(): Path(p) for p in order}

    def stack(i: int, like: np.ndarray) -> np.ndarray:
        out = np.full(like.shape, np.nan, np.float32)
        for row, rel in enumerate(base.paths.tolist()):
            v = order[absolute[rel]][i]
            if v is not None:
                out[row] = v
        return out

    return dataclasses.replace(
        base,
        primary_flip=stack(0, base.primary),
        secondary_flip=stack(1, base.secondary),
    )


def build_cache(
    paths: Sequence[Path],
    root: Path,
    target: Path | str,
    *,
    settings: PipelineSettings | None = None,
    workers: int | None = None,
    chunk: int = 500,
    on_progress: ProgressFn | None = None,
    flips: bool = False,
) -> FeatureCache:
    """Embed ``paths`` once with both recognizers (the default pipeline) into ``target``.

    Resumable: photos already in ``target`` (made by the same models) are not embedded again,
    and the cache is saved after every ``chunk`` photos, in the order given, so an
    interrupted run keeps what it made. ``on_progress(done, total)`` counts all ``paths``.
    ``flips``: also each recognizer's vector of the mirrored face (:func:`describe_with_flips`;
    a cache made without them is started again).
    """

    # plain vectors of both recognizers (and, with ``flips``, their mirrors'): the flip-averaged
    # ones are made from these (FeatureCache.with_flip_averaging)
    chosen = settings or PipelineSettings(second_flip=False)
    if not chosen.second_model:
        raise ValueError("a fusion feature cache needs the second model (second_model=True)")
    pipe = FacePipeline(load_manifest(), chosen)
    spec = second_model_spec(pipe.manifest)
    second_key = spec.model_key if spec else ""
    model_key = pipe.model_key
    cache = FeatureCache.load(target) if Path(target).exists() else FeatureCache.empty()
    if cache.len and (cache.model_key, cache.second_model_key) != (model_key, second_key):
        cache = FeatureCache.empty()  # made by other models: start again
    if flips and cache.len and not cache.has_flips:
        cache = FeatureCache.empty()  # made without mirrored vectors: start again
    have = set(cache.paths.tolist())
    unique = list(dict.fromkeys(Path(p) for p in paths))
    todo = [p for p in unique if p.resolve().relative_to(root.resolve()).as_posix() not in have]
    done = len(unique) - len(todo)
    if on_progress:
        on_progress(done, len(unique))
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        base = done

        def progress(n: int, _total: int, base: int = base) -> None:
            if on_progress:
                on_progress(base + n, len(unique))

        if flips:
            n_workers = 2 if workers is None else workers
            made = _embed_with_flips(part, root, chosen, second_key, n_workers, progress)
        else:
            emb = embed_images(part, settings=chosen, workers=workers, on_progress=progress)
            made = FeatureCache.from_embeddings(emb, root, second_key)
        cache = cache.merge(made)
        cache.save(target)
        done += len(part)
    return cache
