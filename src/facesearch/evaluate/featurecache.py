"""A per-image feature cache for fusion studies: both recognizers' vectors of the scored face,
with the face terms a fusion may use (yaw, detector score, face size, quality), in one ``.npz``.

Embedding every labelled photo with both recognizers takes tens of minutes on two cores;
scoring pairs from stored vectors takes milliseconds. :func:`build_cache` runs the real
pipeline once (:func:`facesearch.evaluate.runner.embed_images`, as ``facesearch eval``) and
:class:`FeatureCache` keeps what it made, keyed by the path relative to a data root, so the
cache stays valid when the data folder moves. Stored with ``numpy.savez`` (no pickle: strings
are fixed-width unicode arrays, loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from facesearch.embed import ScoreFusion
    from facesearch.evaluate.runner import EmbeddingSet, ProgressFn
    from facesearch.pipeline import PipelineSettings

CACHE_VERSION = 1


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

    def __post_init__(self) -> None:
        n = len(self.paths)
        for name in ("primary", "secondary", "yaw", "detector_score", "face_size", "quality"):
            if len(getattr(self, name)) != n:
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
        )
        tmp.replace(target)
        return target

    @classmethod
    def load(cls, path: Path | str) -> FeatureCache:
        with np.load(Path(path), allow_pickle=False) as z:
            version = int(z["version"])
            if version != CACHE_VERSION:
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
        """The cache as an evaluation :class:`~facesearch.evaluate.runner.EmbeddingSet` (absolute
        paths under ``root``), scored with ``fusion`` (None: SFace alone)."""
        from facesearch.evaluate.runner import NO_FACE, EmbeddingSet, ImageResult

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


def build_cache(
    paths: Sequence[Path],
    root: Path,
    target: Path | str,
    *,
    settings: PipelineSettings | None = None,
    workers: int | None = None,
    chunk: int = 500,
    on_progress: ProgressFn | None = None,
) -> FeatureCache:
    """Embed ``paths`` once with both recognizers (the default pipeline) into ``target``.

    Resumable: photos already in ``target`` (made by the same models) are not embedded again,
    and the cache is saved after every ``chunk`` photos, in the order given, so an
    interrupted run keeps what it made. ``on_progress(done, total)`` counts all ``paths``.
    """
    from facesearch.embed import second_model_spec
    from facesearch.evaluate.runner import embed_images
    from facesearch.models.manifest import load_manifest
    from facesearch.pipeline import FacePipeline, PipelineSettings

    chosen = settings or PipelineSettings()
    if not chosen.second_model:
        raise ValueError("a fusion feature cache needs the second model (second_model=True)")
    manifest = load_manifest()
    spec = second_model_spec(manifest)
    second_key = spec.model_key if spec else ""
    model_key = FacePipeline(manifest, chosen).model_key
    cache = FeatureCache.load(target) if Path(target).exists() else FeatureCache.empty()
    if cache.len and (cache.model_key, cache.second_model_key) != (model_key, second_key):
        cache = FeatureCache.empty()  # made by other models: start again
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

        emb = embed_images(part, settings=chosen, workers=workers, on_progress=progress)
        cache = cache.merge(FeatureCache.from_embeddings(emb, root, second_key))
        cache.save(target)
        done += len(part)
    return cache
