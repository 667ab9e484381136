"""Search results, bands and 1:1 comparison: what an investigator sees.

Candidates are investigative leads, never identifications: every result carries that
statement, the score, and a plain-language band derived from the model's thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.engine.embed import manifest_fusion, pair_pose, second_model_spec
from facesearch.engine.fusion import MultiFusion, is_multi_record
from facesearch.engine.quality import TOO_SMALL
from facesearch.errors import ConfigError
from facesearch.models.manifest import ModelSpec

if TYPE_CHECKING:
    from facesearch.engine.embed import ScoreFusion
    from facesearch.models.manifest import Manifest

LEADS_NOTICE = (
    "Results are investigative leads, not identifications: every candidate needs independent "
    "confirmation by a trained person before any action is taken."
)

STRONG, POSSIBLE, WEAK = "strong", "possible", "weak"


# Two faces are "of similar size" when the smaller box's area is at least this share of the
# larger's, i.e. box sides within about 16% (sqrt 0.7 = 0.84). Two people side by side at
# the same distance from the camera differ about that much (head size, pose and YuNet's box
# jitter); a bystander behind the subject, the case the largest-face rule gets right, is
# usually far below it. Below the ratio the largest face is a sound default; at or above it,
# the rule would be a coin toss, so the photo is reported ambiguous.
SIMILAR_SIZE_RATIO = 0.7


@dataclass(frozen=True)
class Bands:
    """Score cut-offs: >= strong is 'strong', >= match is 'possible', else 'weak'."""

    match: float
    strong: float

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> Bands:
        if "match" not in spec.thresholds or "strong" not in spec.thresholds:
            raise ConfigError(
                f"{spec.key} has no bands of its own: calibrate it on labelled photos first "
                f"('facesearch calibrate --model {spec.key}'); bands never come from another model"
            )
        return cls(match=float(spec.thresholds["match"]), strong=float(spec.thresholds["strong"]))

    def band(self, score: float) -> str:
        if score >= self.strong:
            return STRONG
        if score >= self.match:
            return POSSIBLE
        return WEAK


def recorded_multi_fusion(manifest: Manifest) -> tuple[MultiFusion, Bands] | None:
    """The N-recognizer fusion recorded in the active recognizer's own calibration (a store
    model's calibration.json, ``facesearch calibrate --model NAME --fuse ...``) and its fused
    bands, if any. A record chosen for another file of the model is refused, not ignored."""
    spec = manifest.recognizer
    raw = (spec.calibration or {}).get("fusion")
    if not is_multi_record(raw):
        return None
    fusion = MultiFusion.from_dict(raw)
    if fusion.primary != spec.model_key:
        raise ConfigError(
            f"the fusion recorded for {spec.key} was chosen for {fusion.primary}, not "
            f"{spec.model_key}: run `facesearch calibrate --model {spec.key} --fuse ...` again"
        )
    known = {s.model_key for s in manifest.models.values()}
    gone = [key for key in fusion.extra_models if key not in known]
    if gone:  # said when the gallery opens, not at every search
        raise ConfigError(
            f"the fusion recorded for {spec.key} names {', '.join(gone)}, not among this data "
            f"directory's models (removed, or added again as another file): add it back, or run "
            f"`facesearch calibrate --model {spec.key} --fuse ...` again"
        )
    thresholds = raw.get("thresholds") or {}
    if "match" not in thresholds or "strong" not in thresholds:
        raise ConfigError(f"the fusion recorded for {spec.key} has no fused bands")
    return fusion, Bands(float(thresholds["match"]), float(thresholds["strong"]))


@dataclass(frozen=True)
class Scoring:
    """How two faces are scored, the same way in search, ``compare`` and ``eval``.

    With ``fusion`` (the default pipeline: SFace plus dlib's ResNet), a pair whose faces both
    carry the second model's vector gets the fused score
    (:class:`~facesearch.engine.embed.ScoreFusion`, on SFace's scale) and is banded with
    ``fused_bands``; a pair without it (a gallery face ingested with the second model switched
    off) keeps the SFace score and SFace's ``bands``.

    With ``multi`` (an agency model whose calibration records a fusion with other recognizers:
    :func:`recorded_multi_fusion`), a pair whose faces both carry every other member's vector
    gets the N-recognizer fused score (:class:`~facesearch.engine.fusion.MultiFusion`, on the
    primary's scale) banded with ``fused_bands``; a pair missing any member's vector keeps the
    primary's score and bands (the fusion's missing-member rule). The two kinds never mix: the
    shipped SFace+dlib fusion is off when the primary is a store model.
    """

    bands: Bands
    fusion: ScoreFusion | None = None
    fused_bands: Bands | None = None
    model: str = ""  # key of the primary recognizer
    second_model: str = ""  # key of the second recognizer when fusion is on
    multi: MultiFusion | None = None  # an N-recognizer fusion (then ``fusion`` is None)

    @classmethod
    def from_manifest(cls, manifest: Manifest, *, fusion: bool = True) -> Scoring:

        bands = Bands.from_spec(manifest.recognizer)
        multi = recorded_multi_fusion(manifest) if fusion else None
        if multi is not None:
            return cls(
                bands=bands,
                fused_bands=multi[1],
                model=manifest.recognizer.model_key,
                multi=multi[0],
            )
        spec = second_model_spec(manifest) if fusion else None
        score_fusion = manifest_fusion(manifest) if spec is not None else None
        if spec is None or score_fusion is None:
            return cls(bands=bands, model=manifest.recognizer.model_key)
        if "match" not in spec.thresholds or "strong" not in spec.thresholds:
            raise ConfigError(
                f"the manifest records a score fusion for {spec.key} but no fused thresholds"
            )
        return cls(
            bands=bands,
            fusion=score_fusion,
            fused_bands=Bands.from_spec(spec),
            model=manifest.recognizer.model_key,
            second_model=spec.model_key,
        )

    @property
    def fused(self) -> bool:
        return self.fusion is not None

    def scores(
        self,
        primary: np.ndarray,
        probe_second: np.ndarray | None,
        others_second: np.ndarray,
        probe_yaw: float | None = None,
        others_yaw: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores of one face against many: ``primary`` (n,) SFace cosines, the probe's second
        vector (or None) and the others' (n, d) second vectors (NaN rows where absent), and
        the faces' yaws (used only by a pose-dependent fusion; unknown reads as frontal).
        Returns the scores and a boolean mask of which ones are fused."""

        p = np.asarray(primary, np.float64)
        if self.fusion is None or probe_second is None:
            return p, np.zeros(p.shape, bool)
        second = np.asarray(others_second, np.float64).reshape(len(p), -1) @ np.asarray(
            probe_second, np.float64
        )
        fused = np.isfinite(second)
        pose = None
        if self.fusion.pose_dependent:
            yaw_b = np.full(p.shape, np.nan) if others_yaw is None else others_yaw
            pose = pair_pose(np.nan if probe_yaw is None else probe_yaw, yaw_b)
        out = np.where(fused, self.fusion.fuse(p, np.where(fused, second, 0.0), pose), p)
        return out, fused

    def score(
        self,
        a: np.ndarray,
        b: np.ndarray,
        a_second: np.ndarray | None = None,
        b_second: np.ndarray | None = None,
        a_yaw: float | None = None,
        b_yaw: float | None = None,
    ) -> tuple[float, bool]:
        """One pair: the score and whether it is fused (read it with :meth:`bands_for`)."""

        primary = float(np.dot(a, b))
        if self.fusion is None or self.fused_bands is None or a_second is None or b_second is None:
            return primary, False
        pose = pair_pose(np.nan if a_yaw is None else a_yaw, np.nan if b_yaw is None else b_yaw)
        fused = self.fusion.fuse(primary, float(np.dot(a_second, b_second)), pose)
        return float(fused), True

    @property
    def member_models(self) -> tuple[str, ...]:
        """The model keys of an N-recognizer fusion's members beyond the primary."""
        return self.multi.extra_models if self.multi is not None else ()

    def scores_multi(
        self,
        primary: np.ndarray,
        probe_members: Mapping[str, np.ndarray] | None,
        others_members: Mapping[str, np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores of one face against many with the N-recognizer fusion: ``primary`` (n,)
        cosines, the probe's vector by each other member (or None), and the others' (n, d)
        vectors by each member (NaN rows where absent). Returns the scores and which are fused
        (the others keep the primary's cosine, banded with the primary's bands)."""
        p = np.asarray(primary, np.float64)
        if self.multi is None or probe_members is None:
            return p, np.zeros(p.shape, bool)
        columns = [p]
        for model in self.multi.extra_models:
            probe = probe_members.get(model)
            others = others_members.get(model)
            column = np.full(p.shape, np.nan)
            if probe is not None and others is not None:
                x = np.asarray(others, np.float64).reshape(len(p), -1)
                if x.shape[1] == np.size(probe):
                    column = x @ np.asarray(probe, np.float64)
            columns.append(column)
        matrix = np.column_stack(columns)
        return self.multi.fuse(matrix), self.multi.fused_mask(matrix)

    def score_multi(
        self,
        a: np.ndarray,
        b: np.ndarray,
        a_members: Mapping[str, np.ndarray] | None,
        b_members: Mapping[str, np.ndarray] | None,
    ) -> tuple[float, bool]:
        """One pair with the N-recognizer fusion: the score and whether it is fused."""
        primary = np.array([float(np.dot(a, b))])
        if b_members is None:
            return float(primary[0]), False
        others = {k: np.asarray(v, np.float64)[None, :] for k, v in b_members.items()}
        scores, fused = self.scores_multi(primary, a_members, others)
        return float(scores[0]), bool(fused[0])

    def bands_for(self, fused: bool) -> Bands:
        return self.fused_bands if fused and self.fused_bands is not None else self.bands

    def thresholds(self) -> dict[str, float]:
        """The operating bands (``match``, ``strong``: the fused ones when fusion is on) and,
        with fusion, SFace's own (``sface_match``, ``sface_strong``) for unfused scores."""
        if self.fused_bands is None:
            return {"match": self.bands.match, "strong": self.bands.strong}
        if self.multi is not None:  # the primary is not SFace: its own bands by that name
            return {
                "match": self.fused_bands.match,
                "strong": self.fused_bands.strong,
                "primary_match": self.bands.match,
                "primary_strong": self.bands.strong,
            }
        return {
            "match": self.fused_bands.match,
            "strong": self.fused_bands.strong,
            "sface_match": self.bands.match,
            "sface_strong": self.bands.strong,
        }


@dataclass(frozen=True)
class ProbeFace:
    index: int
    bbox: tuple[float, float, float, float]
    quality: float
    flags: tuple[str, ...]


@dataclass(frozen=True)
class SearchCandidate:
    rank: int
    face_id: int
    score: float
    band: str
    face_index: int
    bbox: tuple[float, float, float, float]
    quality: float
    crop: str | None  # blob key of the face crop
    crop_path: str | None
    image_sha256: str
    image_path: str
    thumbnail: str | None
    provenance: list[dict[str, Any]] = field(default_factory=list)
    fused: bool = False  # scored with both recognizers (see Scoring)


@dataclass(frozen=True)
class SearchResult:
    probe_sha256: str
    model: str
    model_sha256: str
    thresholds: dict[str, float]
    k: int
    face: int  # index of the probe face searched
    probe_faces: list[ProbeFace]
    candidates: list[SearchCandidate]
    gallery_size: int
    seconds: float
    notice: str = LEADS_NOTICE

    @property
    def probe_ambiguous(self) -> bool:
        """The probe's two largest faces are of similar size (:func:`ambiguous_faces`):
        which face is meant cannot be told from size, so the searched one must be checked."""
        return ambiguous_faces(self.probe_faces)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "probe_ambiguous": self.probe_ambiguous}


@dataclass(frozen=True)
class Comparison:
    score: float
    band: str
    same: bool  # score >= the model's match threshold
    threshold: float
    model: str
    face_a: ProbeFace
    face_b: ProbeFace
    fused: bool = False  # scored with both recognizers (see Scoring)
    notice: str = LEADS_NOTICE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def face_area(face: ProbeFace) -> float:
    return float(face.bbox[2]) * float(face.bbox[3])


def ambiguous_faces(faces: Sequence[ProbeFace]) -> bool:
    """Whether a photo's two largest faces are of similar size (see SIMILAR_SIZE_RATIO).

    Faces flagged ``too_small`` do not count: they are too small to be the face a photo is
    about, and the quality flags already report them."""
    areas = sorted((face_area(f) for f in faces if TOO_SMALL not in f.flags), reverse=True)
    return len(areas) >= 2 and areas[0] > 0 and areas[1] >= SIMILAR_SIZE_RATIO * areas[0]
