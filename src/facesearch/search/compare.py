"""1:1 verification: compare two photos, or score many pairs, with the scoring search uses.

Needs no gallery: ``Verifier.load()`` loads the models and the bands from the manifest.

Which face of a photo is compared is always said, never silently decided: every face found
is reported (box, quality, flags) with the one used and how it was chosen (``given`` by the
user, or by a rule: ``largest``, the default, or ``central``), and a photo whose two largest
faces are of similar size is flagged ambiguous (:func:`ambiguous_faces`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from facesearch.engine.decode import DecodedImage, ImageInput, decode_any
from facesearch.engine.pipeline import Face, FacePipeline, PipelineSettings
from facesearch.engine.quality import TOO_SMALL
from facesearch.errors import DecodeError, FacesearchError, ModelMismatchError, NoFaceError
from facesearch.models.inference import InferenceSettings
from facesearch.search.calibration import calibrated_manifest
from facesearch.search.member_probe import MemberRecognizers
from facesearch.search.scoring import (
    Bands,
    Comparison,
    ProbeFace,
    Scoring,
    ambiguous_faces,
    face_area,
)
from facesearch.settings import Settings

if TYPE_CHECKING:
    from facesearch.settings import Settings

LARGEST = "largest"  # the face with the largest box (as Amazon Rekognition's CompareFaces)
CENTRAL = "central"  # the face whose box centre is nearest the image centre (LFW-style crops)
GIVEN = "given"  # chosen by the user (--face-a/--face-b, a pair file's face column)
FACE_RULES = (LARGEST, CENTRAL)


class PairError(FacesearchError):
    pass


# ---------------------------------------------------------------------------- face choice


def central_face(faces: Sequence[ProbeFace], width: int, height: int) -> int:
    """Index of the face whose box centre is nearest the image centre (ties: the larger)."""
    if not faces:
        raise NoFaceError("no face found in the image")
    cx, cy = width / 2.0, height / 2.0

    def distance(face: ProbeFace) -> tuple[float, float]:
        x, y, w, h = face.bbox
        return (float(x + w / 2.0 - cx) ** 2 + float(y + h / 2.0 - cy) ** 2, -face_area(face))

    return min(faces, key=distance).index


def check_rule(rule: str) -> str:
    """``rule`` if it is a face rule, else a clear error naming the choices."""
    if rule not in FACE_RULES:
        raise PairError(f"unknown face rule {rule!r}: choose {' or '.join(FACE_RULES)}")
    return rule


@dataclass(frozen=True)
class FaceChoice:
    """Every face of a photo, the one used, how it was chosen, and whether it is ambiguous."""

    faces: tuple[ProbeFace, ...]
    used: int  # index of the face compared (0 = largest)
    chosen_by: str  # GIVEN, LARGEST or CENTRAL
    ambiguous: bool  # its two largest faces are of similar size (ambiguous_faces)

    @property
    def face(self) -> ProbeFace:
        return self.faces[self.used]

    @property
    def decided_by_rule(self) -> bool:
        """An ambiguous photo whose face a rule picked: the user must be told."""
        return self.ambiguous and self.chosen_by != GIVEN

    def warning(self, photo: str, option: str) -> str:
        """The line that tells the user an ambiguous photo was decided by the rule."""
        similar = sorted(
            (f for f in self.faces if TOO_SMALL not in f.flags), key=face_area, reverse=True
        )[:2]
        sizes = ", ".join(f"face {f.index} {f.bbox[2]:.0f}x{f.bbox[3]:.0f} px" for f in similar)
        return (
            f"{photo} holds faces of similar size ({sizes}); compared face {self.used} "
            f"({self.chosen_by}). Choose the face with {option}."
        )


def choose_face(
    faces: Sequence[ProbeFace],
    width: int,
    height: int,
    *,
    index: int | None = None,
    rule: str = LARGEST,
    photo: str = "the image",
) -> FaceChoice:
    """The face to compare: ``index`` when given (GIVEN), else the one ``rule`` picks.

    Raises NoFaceError without a face, or for an index the photo does not have."""
    if not faces:
        raise NoFaceError(f"no face found in {photo}")
    if index is not None:
        if not 0 <= index < len(faces):
            raise NoFaceError(
                f"face {index} requested, but {photo} has {len(faces)} face(s) "
                f"(0..{len(faces) - 1}, largest first)"
            )
        used, chosen_by = index, GIVEN
    elif check_rule(rule) == CENTRAL:
        used, chosen_by = central_face(faces, width, height), CENTRAL
    else:
        used, chosen_by = 0, LARGEST  # faces come largest first
    return FaceChoice(tuple(faces), used, chosen_by, ambiguous_faces(faces))


def probe_face(f: Face) -> ProbeFace:
    x, y, w, h = (round(float(v), 1) for v in f.bbox)
    return ProbeFace(
        index=f.index, bbox=(x, y, w, h), quality=f.quality.score, flags=f.quality.flags
    )


# ------------------------------------------------------------------------------ pair lists


@dataclass(frozen=True)
class PairEntry:
    """One line of a pair list: two photos and, optionally, the face to use in each."""

    a: Path
    b: Path
    face_a: int | None = None  # None: the rule decides
    face_b: int | None = None
    line: int = 0  # 1-based line in the pair file (0: not from a file)


def _face_value(path: Path, lineno: int, column: str, text: str) -> int | None:
    value = text.strip()
    if value in ("", "-"):
        return None
    if not value.isdigit():
        raise PairError(
            f"{path}:{lineno}: {column} must be a face number (0 = largest face) or empty, "
            f"got {value!r}"
        )
    return int(value)


def read_pair_list(path: Path) -> list[PairEntry]:
    """Pairs of image paths, tab-separated, one per line, with optional face columns.

    ``A<TAB>B`` or ``A<TAB>B<TAB>FACE_A<TAB>FACE_B``: a face number (0 = the largest face, as
    ``embed`` and ``compare`` number them) picks the face; an empty field or ``-`` leaves it
    to the rule. With a header line (its first field is no image), the columns named
    ``face_a`` and ``face_b`` hold the faces and other columns after the first two are
    ignored (``eval --out``'s ``scores.tsv`` is such a file); without one, a line has two
    fields or four. '#' comments and blank lines are skipped. Relative paths are taken from
    the pair file's folder. A malformed line is an error naming it, before anything is read.
    """
    pairs = []
    base = path.parent
    face_columns: tuple[int, int] | None = (2, 3)  # positions, unless a header names them
    header = False
    with open(path, newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or not "".join(row).strip() or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise PairError(f"{path}:{lineno}: expected two tab-separated image paths")
            a, b = Path(row[0].strip()), Path(row[1].strip())
            if lineno == 1 and not (base / a).exists() and a.suffix == "":
                face_columns, header = _header_face_columns(row), True
                continue
            face_a = face_b = None
            if not header and len(row) not in (2, 4):
                raise PairError(
                    f"{path}:{lineno}: expected 2 fields (A, B) or 4 (A, B, FACE_A, FACE_B), "
                    f"got {len(row)}; other columns need a header line naming them"
                )
            if face_columns is not None and len(row) > max(face_columns):
                face_a = _face_value(path, lineno, "face_a", row[face_columns[0]])
                face_b = _face_value(path, lineno, "face_b", row[face_columns[1]])
            pairs.append(
                PairEntry(
                    a if a.is_absolute() else base / a,
                    b if b.is_absolute() else base / b,
                    face_a,
                    face_b,
                    lineno,
                )
            )
    return pairs


def _header_face_columns(header: list[str]) -> tuple[int, int] | None:
    names = [h.strip().lower() for h in header]
    if "face_a" in names and "face_b" in names:
        return names.index("face_a"), names.index("face_b")
    return None


# --------------------------------------------------------------------------- verification


class Embedder(Protocol):
    scoring: Scoring

    def decode(self, image: ImageInput) -> DecodedImage: ...

    def embed(self, image: ImageInput) -> list[Face]: ...


@dataclass(frozen=True)
class PhotoComparison(Comparison):
    """A comparison with every face of both photos, how each compared face was chosen and
    whether each photo is ambiguous (``face_a``/``face_b`` are the faces compared)."""

    faces_a: tuple[ProbeFace, ...] = ()
    faces_b: tuple[ProbeFace, ...] = ()
    chosen_a: str = LARGEST
    chosen_b: str = LARGEST
    ambiguous_a: bool = False
    ambiguous_b: bool = False

    def choice(self, side: str) -> FaceChoice:
        """Side ``"a"`` or ``"b"`` as a FaceChoice (its faces, the one used, how, ambiguity)."""
        if side == "a":
            return FaceChoice(self.faces_a, self.face_a.index, self.chosen_a, self.ambiguous_a)
        return FaceChoice(self.faces_b, self.face_b.index, self.chosen_b, self.ambiguous_b)


class Verifier:
    """Faces of images and their comparison, without a gallery."""

    def __init__(
        self, pipeline: FacePipeline, scoring: Scoring, members: MemberRecognizers | None = None
    ) -> None:
        self.pipeline = pipeline
        self.scoring = scoring
        # an N-recognizer fusion's other members (given, or loaded on first use: like the
        # pipeline, a thread's own)
        self._members = members

    def member_vectors(self, decoded: DecodedImage, face: Face) -> dict[str, np.ndarray] | None:
        """The face's vectors by the other members of the scoring's N-recognizer fusion
        (None without one): each member on the face aligned on its landmarks."""
        if self.scoring.multi is None:
            return None
        if self._members is None:
            self._members = MemberRecognizers(
                self.pipeline.manifest, self.scoring.multi, self.pipeline.settings.inference
            )
        return self._members.vectors(decoded.pixels, face.landmarks)

    @property
    def bands(self) -> Bands:
        return self.scoring.bands

    @classmethod
    def load(
        cls, data_dir: Path | str | None = None, *, settings: Settings | None = None
    ) -> Verifier:
        """Models and bands from the manifest, with the calibration of the data directory
        (``data_dir``, else the settings': $FACESEARCH_DATA_DIR or ./facesearch-data) applied
        when it has one; the models' runtimes and cache from the typed ``settings`` (default:
        ``Settings.load()``); no gallery opened."""

        if settings is None:
            settings = Settings.load(data_dir=data_dir)
        root = Path(data_dir) if data_dir is not None else settings.data_dir
        chosen = PipelineSettings(inference=InferenceSettings.from_settings(settings))
        pipeline = FacePipeline(calibrated_manifest(root, settings=chosen), chosen)
        pipeline.load_models()
        return cls(
            pipeline, Scoring.from_manifest(pipeline.manifest, fusion=pipeline.second is not None)
        )

    def decode(self, image: ImageInput) -> DecodedImage:
        return decode_any(image, self.pipeline.settings.max_pixels)

    def embed(self, image: ImageInput) -> list[Face]:
        """Every face in ``image``, largest first, with quality and embedding."""
        return self.pipeline.process_image(self.decode(image)).faces

    def choose(
        self,
        image: ImageInput,
        index: int | None = None,
        *,
        rule: str = LARGEST,
        photo: str = "the image",
    ) -> tuple[DecodedImage, list[Face], FaceChoice]:
        """The decoded image, all its faces, and which one to compare (see choose_face)."""
        decoded = self.decode(image)
        faces = self.pipeline.process_image(decoded).faces
        choice = choose_face(
            [probe_face(f) for f in faces],
            decoded.width,
            decoded.height,
            index=index,
            rule=rule,
            photo=photo,
        )
        return decoded, faces, choice

    def face(
        self, image: ImageInput, index: int | None = None, *, rule: str = LARGEST
    ) -> tuple[DecodedImage, list[Face], Face]:
        """The decoded image, all its faces, and the chosen one (the largest by default)."""
        decoded, faces, choice = self.choose(image, index, rule=rule)
        return decoded, faces, faces[choice.used]

    def compare(
        self,
        a: ImageInput,
        b: ImageInput,
        *,
        face_a: int | None = None,
        face_b: int | None = None,
        rule: str = LARGEST,
    ) -> PhotoComparison:
        """1:1 verification of the chosen face in each image (``face_a``/``face_b``, else the
        one ``rule`` picks), with every face found and whether each photo is ambiguous."""
        dec_a, faces_a, choice_a = self.choose(a, face_a, rule=rule, photo=_photo_name(a, "A"))
        dec_b, faces_b, choice_b = self.choose(b, face_b, rule=rule, photo=_photo_name(b, "B"))
        fa, fb = faces_a[choice_a.used], faces_b[choice_b.used]
        if fa.model != fb.model:
            raise ModelMismatchError(f"cannot compare vectors of {fa.model} and {fb.model}")
        if self.scoring.multi is not None:  # an agency model's fusion with other recognizers
            score, fused = self.scoring.score_multi(
                fa.embedding,
                fb.embedding,
                self.member_vectors(dec_a, fa),
                self.member_vectors(dec_b, fb),
            )
        else:
            score, fused = self.scoring.score(
                fa.embedding, fb.embedding, fa.second, fb.second, fa.quality.yaw, fb.quality.yaw
            )
        bands = self.scoring.bands_for(fused)
        return PhotoComparison(
            score=round(score, 4),
            band=bands.band(score),
            same=score >= bands.match,
            threshold=bands.match,
            model=fa.model,
            face_a=choice_a.face,
            face_b=choice_b.face,
            fused=fused,
            faces_a=choice_a.faces,
            faces_b=choice_b.faces,
            chosen_a=choice_a.chosen_by,
            chosen_b=choice_b.chosen_by,
            ambiguous_a=choice_a.ambiguous,
            ambiguous_b=choice_b.ambiguous,
        )


def _photo_name(image: ImageInput, side: str) -> str:
    return f"{side} ({image})" if isinstance(image, str | Path) else side


# ------------------------------------------------------------------------------ many pairs


@dataclass(frozen=True)
class _PhotoFaces:
    """What compare_pairs keeps of one photo: each face's two vectors and its description."""

    # SFace's vector, the second recognizer's, and the face's yaw (the fusion's pose term)
    vectors: list[tuple[np.ndarray, np.ndarray | None, float]]
    faces: list[ProbeFace]
    width: int
    height: int


def _side(
    photo: _PhotoFaces | str, index: int | None, rule: str, name: str
) -> tuple[FaceChoice | None, str]:
    """The face choice for one side of a pair, or None and the reason there is none."""
    if isinstance(photo, str):
        return None, photo
    try:
        return choose_face(
            photo.faces, photo.width, photo.height, index=index, rule=rule, photo=name
        ), ""
    except NoFaceError as exc:
        return None, str(exc)


def compare_pairs(
    gallery: Embedder, pairs: Sequence[PairEntry | tuple[Path, Path]], *, rule: str = LARGEST
) -> Iterator[dict[str, Any]]:
    """One result per pair; each image is embedded once even if it appears in many pairs.

    ``gallery`` is a Verifier or a Gallery (anything with ``decode``, ``embed`` and
    ``scoring``); each pair is scored as ``compare`` and search score it (fused when both
    recognizers ran), on the faces the entry names or else the ones ``rule`` picks. Each row
    carries the faces compared (``face_a``, ``face_b``), every face found (``faces_a``,
    ``faces_b``), how each was chosen (``chosen_a``, ``chosen_b``) and whether each photo is
    ambiguous (``ambiguous_a``, ``ambiguous_b``); a pair that cannot be scored has
    ``score: null`` and an ``error`` (with the pair file's line)."""
    check_rule(rule)
    cache: dict[Path, _PhotoFaces | str] = {}

    def photo(path: Path) -> _PhotoFaces | str:
        if path not in cache:
            try:
                decoded = gallery.decode(path)
                faces = gallery.embed(decoded)
                cache[path] = _PhotoFaces(
                    [(f.embedding, f.second, float(f.quality.yaw)) for f in faces],
                    [probe_face(f) for f in faces],
                    decoded.width,
                    decoded.height,
                )
            except DecodeError as exc:
                cache[path] = str(exc)
        return cache[path]

    scoring = gallery.scoring
    for pair in pairs:
        entry = pair if isinstance(pair, PairEntry) else PairEntry(Path(pair[0]), Path(pair[1]))
        pa, pb = photo(entry.a), photo(entry.b)
        choice_a, why_a = _side(pa, entry.face_a, rule, str(entry.a))
        choice_b, why_b = _side(pb, entry.face_b, rule, str(entry.b))
        row: dict[str, Any] = {"a": str(entry.a), "b": str(entry.b)}
        if entry.line:
            row["line"] = entry.line
        if choice_a is None or choice_b is None or isinstance(pa, str) or isinstance(pb, str):
            reason = why_a or why_b
            if entry.line:
                reason = f"line {entry.line}: {reason}"
            row.update(score=None, same=False, band=None, error=reason)
        else:
            va, vb = pa.vectors[choice_a.used], pb.vectors[choice_b.used]
            score, fused = scoring.score(va[0], vb[0], va[1], vb[1], va[2], vb[2])
            bands = scoring.bands_for(fused)
            row.update(
                score=round(score, 4),
                same=score >= bands.match,
                band=bands.band(score),
                fused=fused,
            )
        row.update(_choice_fields("a", pa, choice_a))
        row.update(_choice_fields("b", pb, choice_b))
        yield row


def _choice_fields(
    side: str, photo: _PhotoFaces | str, choice: FaceChoice | None
) -> dict[str, Any]:
    """A row's fields for one side: the face compared, how chosen, ambiguity, every face."""
    if choice is None:  # no face, unreadable, or a face number the photo does not have
        faces = photo.faces if isinstance(photo, _PhotoFaces) else []
        return {
            f"face_{side}": None,
            f"chosen_{side}": None,
            f"ambiguous_{side}": ambiguous_faces(faces),
            f"faces_{side}": [asdict(f) for f in faces],
        }
    return {
        f"face_{side}": asdict(choice.face),
        f"chosen_{side}": choice.chosen_by,
        f"ambiguous_{side}": choice.ambiguous,
        f"faces_{side}": [asdict(f) for f in choice.faces],
    }
