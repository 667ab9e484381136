"""The calibration data: the thresholds a recognizer's bands use, and where they come from.

A calibration record (:class:`Calibration`) holds one model's thresholds for one embedding
variant and how they were made; it is shipped in the manifest for each recognizer
(:func:`packaged_calibration`) and written by ``facesearch calibrate`` into a gallery's data
directory (``calibration.json``, :func:`find_calibration`). Reading and writing them lives here,
below the engine; making one (the procedure) is ``evaluate/calibrate.py``, and applying one to
a manifest is ``search/calibration.py``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facesearch.errors import FacesearchError
from facesearch.models.manifest import load_manifest

if TYPE_CHECKING:
    from facesearch.models.manifest import Manifest

CALIBRATION_FILE = "calibration.json"
CALIBRATION_FORMAT = 1
FAR_MATCH = 1e-3
FAR_STRONG = 1e-4
RECORDED_FARS = (1e-2, 1e-3, 1e-4, 1e-5)
MIN_FALSE_ACCEPTS = 10
BAND_RULE = (
    "match ('possible' band, compare's decision) = lowest score with FAR <= 1e-3 over all "
    "impostor pairs of the calibration set; strong = the same at FAR <= 1e-4"
)


class CalibrationError(FacesearchError):
    """The data cannot support a calibration, or a calibration file does not fit the model."""


def far_key(far: float) -> str:
    """``1e-3`` -> ``"far_1e-03"``: the key of a FAR threshold in records and manifests."""
    return f"far_{far:.0e}"


@dataclass(frozen=True)
class Calibration:
    """Thresholds for one model and embedding, and how they were made."""

    model_key: str
    embedding: str  # embedding variant, e.g. "flip-fusion"
    match: float
    strong: float
    thresholds: dict[str, float]  # far_key(far) -> threshold, for every supported FAR
    dataset: str
    protocol: str
    date: str
    n_images: int
    n_no_face: int
    n_genuine: int
    n_impostor: int
    figures: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    band_rule: str = BAND_RULE
    facesearch_version: str = ""
    # thresholds for fused scores (SFace + the second recognizer), with the fusion they
    # belong to: {"model", "fusion", "match", "strong", "thresholds", "figures"}
    fused: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["warnings"] = list(self.warnings)
        return {"format": CALIBRATION_FORMAT, **out}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Calibration:
        if int(raw.get("format", 1)) > CALIBRATION_FORMAT:
            raise CalibrationError(
                f"calibration format {raw['format']} is newer than this facesearch understands"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        missing = {"model_key", "embedding", "match", "strong"} - raw.keys()
        if missing:
            raise CalibrationError(f"calibration record lacks {sorted(missing)}")
        values = {k: v for k, v in raw.items() if k in names}
        values["warnings"] = tuple(values.get("warnings", ()))
        values["match"] = float(values["match"])
        values["strong"] = float(values["strong"])
        values.setdefault("thresholds", {})
        for key in ("dataset", "protocol", "date"):
            values.setdefault(key, "")
        for key in ("n_images", "n_no_face", "n_genuine", "n_impostor"):
            values.setdefault(key, 0)
        return cls(**values)


def write_calibration(calibration: Calibration, path: Path | str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(calibration.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


def load_calibration(path: Path | str) -> Calibration:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise CalibrationError(f"{path} does not hold a calibration record")
    return Calibration.from_dict(raw)


def find_calibration(data_dir: Path | str) -> Calibration | None:
    """The calibration file in a gallery's data directory, or None."""
    path = Path(data_dir) / CALIBRATION_FILE
    return load_calibration(path) if path.is_file() else None


def packaged_calibration(manifest: Manifest | None = None) -> Calibration | None:
    """The calibration record shipped in the manifest for its recognizer, if any."""

    spec = (manifest or load_manifest()).recognizer
    if not spec.calibration:
        return None
    raw = {k: v for k, v in spec.calibration.items() if k != "check_subset"}
    raw.setdefault("model_key", spec.model_key)
    raw.setdefault("match", spec.thresholds["match"])
    raw.setdefault("strong", spec.thresholds["strong"])
    return Calibration.from_dict(raw)
