"""The model store: an agency's own recognizers, each an ONNX file and its card, in the data
directory (``<data dir>/models/<name>/``).

``model.onnx`` is the file as added (its SHA-256 is recorded in ``card.json`` and checked on
every load, like the shipped models'); ``card.json`` is the checked card
(:mod:`facesearch.models.card`) with the hash, when and by whom it was added and its smoke test;
``calibration.json``, once ``facesearch calibrate --model NAME`` has run, holds its own bands
(and any fusion chosen for it). A model without a calibration can be measured but not
searched with: its bands are never borrowed from another model.

:func:`with_store` adds the stored models to a manifest, so everything that takes a manifest
(the pipeline, evaluation, the gallery) can run them by key.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facesearch.errors import ModelFileError
from facesearch.models.card import CardError, ModelCard, parse_card
from facesearch.models.digest import sha256_file, verified_once
from facesearch.models.manifest import STORE, Manifest, ModelSpec

MODEL_FILE = "model.onnx"
CARD_FILE = "card.json"
CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class StoredModel:
    name: str
    folder: Path
    card: ModelCard
    sha256: str
    added_at: str
    added_by: str
    smoke: dict[str, Any]  # what the smoke test measured when it was added
    calibration: dict[str, Any] | None  # calibration.json, when calibrated

    @property
    def path(self) -> Path:
        return self.folder / MODEL_FILE

    @property
    def spec(self) -> ModelSpec:
        """The model's spec, with its own calibrated bands and fusion when it has them."""
        spec = self.card.to_spec(self.path, self.sha256)
        if not self.calibration:
            return spec
        return dataclasses.replace(
            spec,
            thresholds=dict(self.calibration.get("thresholds", {})),
            calibration=dict(self.calibration),
        )

    @property
    def calibrated(self) -> bool:
        thresholds = (self.calibration or {}).get("thresholds", {})
        return "match" in thresholds and "strong" in thresholds


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelFileError(f"{path} is not a JSON object")
    return data


def _atomic_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class ModelStore:
    """The agency models of one data directory (``root`` is its ``models`` folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def of(cls, data_dir: Path) -> ModelStore:
        return cls(data_dir / "models")

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / CARD_FILE).is_file())

    def models(self, manifest: Manifest) -> list[StoredModel]:
        return [self.get(name, manifest) for name in self.names()]

    def get(self, name: str, manifest: Manifest) -> StoredModel:
        folder = self.root / name
        card_path = folder / CARD_FILE
        if not card_path.is_file():
            known = ", ".join(self.names()) or "none"
            raise ModelFileError(f"no model {name!r} in {self.root} (added models: {known})")
        raw = _read_json(card_path)
        calibration_path = folder / CALIBRATION_FILE
        calibration = _read_json(calibration_path) if calibration_path.is_file() else None
        if not isinstance(raw.get("card"), dict) or not raw.get("sha256"):
            raise ModelFileError(
                f"{card_path} lacks the card or the file's SHA-256: add the model again"
            )
        try:
            card = parse_card(raw["card"], manifest)
        except CardError as exc:
            raise ModelFileError(f"stored card of {name} is no longer valid: {exc}") from exc
        return StoredModel(
            name=name,
            folder=folder,
            card=card,
            sha256=str(raw["sha256"]),
            added_at=str(raw.get("added_at", "")),
            added_by=str(raw.get("added_by", "")),
            smoke=dict(raw.get("smoke", {})),
            calibration=calibration,
        )

    def add(
        self,
        onnx: Path,
        card: ModelCard,
        *,
        added_by: str = "",
        smoke: dict[str, Any] | None = None,
        replace: bool = False,
    ) -> StoredModel:
        """Copy ``onnx`` into the store under the card's name (hashed as copied: the hash is
        of the bytes stored, not of a file that could change meanwhile)."""
        if not onnx.is_file():
            raise ModelFileError(f"no model file at {onnx}")
        folder = self.root / card.name
        if (folder / CARD_FILE).exists() and not replace:
            raise ModelFileError(
                f"a model named {card.name} is already in the store; give the card another "
                f'name or version it (name = "{card.name}-2")'
            )
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (MODEL_FILE + ".tmp")
        shutil.copyfile(onnx, tmp)
        digest = sha256_file(tmp)
        os.replace(tmp, folder / MODEL_FILE)
        (folder / CALIBRATION_FILE).unlink(missing_ok=True)  # bands belong to the old file
        added_at = datetime.now(UTC).isoformat(timespec="seconds")
        record: dict[str, Any] = {
            "card": card.to_dict(),
            "sha256": digest,
            "source_file": onnx.name,
            "added_at": added_at,
            "added_by": added_by,
            "smoke": smoke or {},
        }
        _atomic_json(folder / CARD_FILE, record)
        return StoredModel(
            card.name,
            folder,
            card,
            digest,
            added_at,
            added_by,
            smoke or {},
            None,
        )

    def record_smoke(self, name: str, smoke: dict[str, Any]) -> None:
        path = self.root / name / CARD_FILE
        raw = json.loads(path.read_text(encoding="utf-8"))
        raw["smoke"] = smoke
        _atomic_json(path, raw)

    def write_calibration(self, name: str, calibration: dict[str, Any]) -> Path:
        """Record the model's own calibration (bands, figures, any fusion chosen for it)."""
        folder = self.root / name
        if not (folder / CARD_FILE).is_file():
            raise ModelFileError(f"no model {name!r} in {self.root}")
        path = folder / CALIBRATION_FILE
        _atomic_json(path, calibration)
        return path

    def remove(self, name: str) -> None:
        folder = self.root / name
        if not (folder / CARD_FILE).is_file():
            raise ModelFileError(f"no model {name!r} in {self.root}")
        shutil.rmtree(folder)


def verified_store_file(spec: ModelSpec) -> Path:
    """The stored file of an agency model, checked against its recorded SHA-256."""
    if spec.source != STORE:
        raise ModelFileError(f"{spec.key} is not a model of the model store")
    path = Path(spec.file)
    if not path.is_file():
        raise ModelFileError(f"model file {path} of {spec.key} is missing from the model store")
    if not verified_once(path, spec.sha256):
        raise ModelFileError(
            f"model file {path} does not match its recorded hash: expected SHA-256 "
            f"{spec.sha256}, got {sha256_file(path)}; add the model again from its source"
        )
    return path


def with_store(manifest: Manifest, store: ModelStore) -> Manifest:
    """``manifest`` with the store's models added (by key; a shipped key is never replaced)."""
    stored = {m.name: m.spec for m in store.models(manifest) if m.name not in manifest.models}
    if not stored:
        return manifest
    return dataclasses.replace(manifest, models={**manifest.models, **stored})
