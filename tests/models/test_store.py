"""The model store (models/store.py): a model's file is hashed as it is copied in and checked
against that hash whenever it is loaded, so a file changed afterwards is refused; its bands come
only from its own calibration."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from facesearch.engine.recognizers import make_recognizer
from facesearch.errors import ModelFileError
from facesearch.models.card import parse_card, read_card
from facesearch.models.digest import sha256_file
from facesearch.models.manifest import STORE, load_manifest
from facesearch.models.store import ModelStore, verified_store_file, with_store

MANIFEST = load_manifest()


@pytest.fixture
def stored(tmp_path: Path, agency_model: tuple[Path, Path]) -> ModelStore:
    onnx, card_path = agency_model
    store = ModelStore.of(tmp_path / "data")
    store.add(onnx, parse_card(read_card(card_path), MANIFEST), added_by="admin")
    return store


def test_the_file_is_hashed_as_copied_and_runs(
    stored: ModelStore, agency_model: tuple[Path, Path]
) -> None:
    model = stored.get("test-resnet", MANIFEST)
    assert model.sha256 == sha256_file(agency_model[0])
    assert model.added_by == "admin"
    assert model.path.read_bytes() == agency_model[0].read_bytes()
    spec = model.spec
    assert spec.source == STORE and spec.model_key == f"test-resnet@{model.sha256[:12]}"
    assert verified_store_file(spec) == model.path
    recognizer = make_recognizer(spec)
    faces = np.full((2, 150, 150, 3), 128, np.uint8)
    vectors = recognizer.predict(faces)
    assert vectors.shape == (2, 128)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_stored_file_changed_afterwards_is_refused(stored: ModelStore) -> None:
    model = stored.get("test-resnet", MANIFEST)
    data = bytearray(model.path.read_bytes())
    data[-1] ^= 0xFF  # one byte of the weights, the size unchanged
    model.path.write_bytes(bytes(data))
    os.utime(model.path, ns=(1, 1))  # a new mtime: the remembered check cannot be reused
    with pytest.raises(ModelFileError, match="does not match its recorded hash"):
        verified_store_file(model.spec)
    with pytest.raises(ModelFileError, match="does not match its recorded hash"):
        make_recognizer(model.spec).load()
    model.path.unlink()
    with pytest.raises(ModelFileError, match="missing from the model store"):
        verified_store_file(model.spec)


def test_a_name_is_taken_once_and_bands_come_from_its_own_calibration(
    stored: ModelStore, agency_model: tuple[Path, Path]
) -> None:
    card = stored.get("test-resnet", MANIFEST).card
    with pytest.raises(ModelFileError, match='name = "test-resnet-2"'):
        stored.add(agency_model[0], card)
    model = stored.get("test-resnet", MANIFEST)
    assert not model.calibrated and model.spec.thresholds == {}
    stored.write_calibration("test-resnet", {"thresholds": {"match": 0.5, "strong": 0.6}})
    model = stored.get("test-resnet", MANIFEST)
    assert model.calibrated and model.spec.thresholds == {"match": 0.5, "strong": 0.6}
    # a new file under the same name (replace) loses the old file's bands
    stored.add(agency_model[0], card, replace=True)
    assert not stored.get("test-resnet", MANIFEST).calibrated
    manifest = with_store(MANIFEST, stored)
    assert manifest.models["test-resnet"].source == STORE
    assert manifest.default_recognizer == MANIFEST.default_recognizer
    stored.remove("test-resnet")
    assert stored.names() == []
    with pytest.raises(ModelFileError, match="no model 'test-resnet'"):
        stored.get("test-resnet", MANIFEST)


def test_a_stored_card_edited_by_hand_is_refused(stored: ModelStore) -> None:
    path = stored.root / "test-resnet" / "card.json"
    path.write_text(path.read_text().replace('"layout": "nhwc"', '"layout": "hwc"'))
    with pytest.raises(ModelFileError, match="no longer valid: layout must be one of"):
        stored.get("test-resnet", MANIFEST)
    path.write_text("{ not json")
    with pytest.raises(ModelFileError, match=r"cannot read .*card\.json"):
        stored.get("test-resnet", MANIFEST)
