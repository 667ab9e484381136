"""Model cards: how an agency describes its own recognizer, so that no code change adds it.

A card is a small TOML or JSON file next to an ONNX file::

    name = "agency-arcface"        # the model's key: lower-case letters, digits, - and .
    version = "2025.1"
    licence = "Licensed to the Agency under contract 2025-17; not for redistribution"
    input_size = [112, 112]        # width, height of the aligned face the graph takes
    colour = "rgb"                 # rgb | bgr
    layout = "nchw"                # nchw | nhwc
    mean = [127.5, 127.5, 127.5]   # tensor = (pixel - mean) * scale, per channel
    scale = 0.0078125              # one number or three
    alignment = "arcface-112"      # a known 5-point template, or
    # template = [[38.29, 51.70], [73.53, 51.50], [56.03, 71.74], [41.55, 92.37], [70.73, 92.20]]
    embedding_size = 512
    normalise = "l2"               # l2: facesearch normalises the output; none: it already is
    flip = false                   # average each face's vector with its mirror image's
    runtime = "onnxruntime"        # onnxruntime | openvino

The five template points are the right eye, left eye, nose tip, right and left mouth corner as
seen in the image, in pixels of the input. A known alignment is scaled to the card's input
size. :func:`parse_card` checks every field and says what is wrong and how to write it;
:meth:`ModelCard.to_spec` makes the :class:`~facesearch.models.manifest.ModelSpec` the
pipeline runs, with the file's SHA-256 (``models/store.py`` keeps both).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facesearch.errors import ModelFileError
from facesearch.models.manifest import STORE, Manifest, ModelSpec, Preprocess, RuntimeSpec

#: the kind of every model added from a card: a recognizer that can answer searches
AGENCY_KIND = "recognizer"
RUNTIMES = ("onnxruntime", "openvino")
COLOURS = ("rgb", "bgr")
LAYOUTS = ("nchw", "nhwc")
NORMALISE = ("l2", "none")
NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}$")
# known alignments: name -> (the manifest model whose template it is, that template's size)
KNOWN_ALIGNMENTS = {
    "arcface-112": ("sface-2021dec-int8bq", (112, 112)),  # the ArcFace/InsightFace template
    "dlib-150": ("dlib-resnet-v1", (150, 150)),  # dlib's chips (get_face_chip, padding 0.25)
}
REQUIRED = ("name", "version", "licence", "input_size", "embedding_size")


class CardError(ModelFileError):
    """A model card that cannot be used, with what to change."""


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    licence: str
    input_size: tuple[int, int]
    embedding_size: int
    template: tuple[tuple[float, float], ...]
    alignment: str  # the known alignment's name, or "custom"
    preprocess: Preprocess = field(default_factory=Preprocess)
    runtime: str = "onnxruntime"
    input_name: str | None = None
    description: str = ""
    # written by facesearch, never by hand: the calibration and the fusion chosen for it
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The card as stored (JSON), with every default written out."""
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "licence": self.licence,
            "input_size": list(self.input_size),
            "embedding_size": self.embedding_size,
            "alignment": self.alignment,
            "template": [list(p) for p in self.template],
            **self.preprocess.to_dict(),
            "runtime": self.runtime,
            "description": self.description,
        }
        if self.input_name:
            out["input_name"] = self.input_name
        return out

    def to_spec(self, path: Path, sha256: str) -> ModelSpec:
        """The spec the pipeline runs: the file at ``path`` (checked against ``sha256`` on
        every load), on this card's runtime in float32."""
        runtime = f"{self.runtime}-fp32"
        return ModelSpec(
            key=self.name,
            kind=AGENCY_KIND,
            name=self.name,
            version=self.version,
            file=str(path),
            sha256=sha256,
            runtime=runtime,
            input_size=self.input_size,
            normalisation=_describe(self.preprocess),
            licence=self.licence,
            embedding_size=self.embedding_size,
            input_name=self.input_name,
            alignment_template=self.template,
            runtimes={runtime: RuntimeSpec(runtime, self.runtime, "fp32")},
            vector_variant="flip" if self.preprocess.flip else "",
            preprocess=self.preprocess,
            source=STORE,
        )


def _describe(p: Preprocess) -> str:
    return (
        f"{p.colour.upper()} {p.layout.upper()}, (pixel - {list(p.mean)}) * {list(p.scale)}; "
        f"output {'L2-normalised by facesearch' if p.l2 else 'used as given'}"
        + ("; averaged with the mirrored face" if p.flip else "")
    )


def read_card(path: Path) -> dict[str, Any]:
    """The raw fields of a TOML or JSON card (by its suffix; JSON when it starts with "{")."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CardError(f"cannot read the model card {path}: {exc.strerror or exc}") from exc
    try:
        if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
            raw = json.loads(text)
        else:
            raw = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CardError(f"the model card {path} is not valid TOML or JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise CardError(f"the model card {path} must be a table of fields")
    return raw


def _number_list(raw: Any, n: int, field_name: str) -> tuple[float, ...]:
    values = [raw] * n if isinstance(raw, int | float) and not isinstance(raw, bool) else raw
    if (
        not isinstance(values, list)
        or len(values) != n
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    ):
        raise CardError(f"{field_name} must be one number or a list of {n} numbers, got {raw!r}")
    return tuple(float(v) for v in values)


def _choice(raw: dict[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    value = str(raw.get(key, default)).lower()
    if value not in choices:
        raise CardError(f"{key} must be one of {', '.join(choices)}, got {raw.get(key)!r}")
    return value


def _points(raw: Any, size: tuple[int, int]) -> tuple[tuple[float, float], ...]:
    if not (
        isinstance(raw, list)
        and len(raw) == 5
        and all(
            isinstance(p, list)
            and len(p) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in p)
            for p in raw
        )
    ):
        raise CardError(
            "template must be five [x, y] points (right eye, left eye, nose tip, right "
            "and left mouth corner as seen in the image), in pixels of the input"
        )
    pts = tuple((float(p[0]), float(p[1])) for p in raw)
    if not all(0 <= x <= size[0] and 0 <= y <= size[1] for x, y in pts):
        raise CardError(f"template points must lie inside the {size[0]}x{size[1]} input")
    return pts


def _template(
    raw: dict[str, Any], size: tuple[int, int], manifest: Manifest
) -> tuple[str, tuple[tuple[float, float], ...]]:
    """The alignment's name ("custom" for a card's own points) and its template at ``size``.
    A stored card (``ModelCard.to_dict``) names both: a known alignment with its scaled
    points, or "custom" with the card's own."""
    name = raw.get("alignment")
    points = raw.get("template")
    if name is None or str(name).lower() == "custom":
        if points is None:
            raise CardError(
                f"the card needs alignment = one of {', '.join(KNOWN_ALIGNMENTS)}, or "
                "template = five [x, y] points"
            )
        return "custom", _points(points, size)
    name = str(name).lower()
    if name not in KNOWN_ALIGNMENTS:
        raise CardError(
            f"alignment must be one of {', '.join(KNOWN_ALIGNMENTS)} (or give template = five "
            f"[x, y] points instead), got {raw.get('alignment')!r}"
        )
    key, (w, h) = KNOWN_ALIGNMENTS[name]
    base = manifest.models[key].alignment_template
    assert base is not None
    sx, sy = size[0] / w, size[1] / h
    scaled = tuple((x * sx, y * sy) for x, y in base)
    if points is not None:
        given = _points(points, size)
        if any(
            abs(a - b) > 1e-3
            for p, q in zip(given, scaled, strict=True)
            for a, b in zip(p, q, strict=True)
        ):
            raise CardError(
                f"give alignment = {name!r} or your own template, not both (the template "
                f"differs from {name}'s at {size[0]}x{size[1]})"
            )
    return name, scaled


def parse_card(raw: dict[str, Any], manifest: Manifest) -> ModelCard:
    """Check a card's fields (``manifest``: the shipped one, for known alignments and the keys
    an agency model may not take)."""
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise CardError(f"the model card lacks {', '.join(missing)} (see docs/models.md)")
    name = str(raw["name"]).strip().lower()
    if not NAME.match(name):
        raise CardError(
            f"name must be lower-case letters, digits, '-' and '.', at most 63 characters, "
            f"got {raw['name']!r}"
        )
    if name in manifest.models:
        raise CardError(f"{name} is a model that ships with facesearch; give the card a new name")
    size = raw["input_size"]
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= 1024 for v in size)
    ):
        raise CardError(f"input_size must be [width, height] in pixels (16..1024), got {size!r}")
    dim = raw["embedding_size"]
    if not (isinstance(dim, int) and not isinstance(dim, bool) and 2 <= dim <= 8192):
        raise CardError(f"embedding_size must be a whole number of dimensions, got {dim!r}")
    input_size = (int(size[0]), int(size[1]))
    alignment, template = _template(raw, input_size, manifest)
    scale = _number_list(raw.get("scale", 1.0), 3, "scale")
    if any(s == 0 for s in scale):
        raise CardError("scale must not be 0")
    flip = raw.get("flip", False)
    if not isinstance(flip, bool):
        raise CardError(f"flip must be true or false, got {flip!r}")
    preprocess = Preprocess(
        colour=_choice(raw, "colour", COLOURS, "rgb"),
        layout=_choice(raw, "layout", LAYOUTS, "nchw"),
        mean=_number_list(raw.get("mean", 0.0), 3, "mean"),  # type: ignore[arg-type]
        scale=scale,  # type: ignore[arg-type]
        l2=_choice(raw, "normalise", NORMALISE, "l2") == "l2",
        flip=flip,
    )
    for text_field in ("version", "licence"):
        if not str(raw[text_field]).strip():
            raise CardError(f"{text_field} must not be empty")
    return ModelCard(
        name=name,
        version=str(raw["version"]).strip(),
        licence=str(raw["licence"]).strip(),
        input_size=input_size,
        embedding_size=int(dim),
        template=template,
        alignment=alignment,
        preprocess=preprocess,
        runtime=_choice(raw, "runtime", RUNTIMES, "onnxruntime"),
        input_name=str(raw["input_name"]) if raw.get("input_name") else None,
        description=str(raw.get("description", "")),
    )
