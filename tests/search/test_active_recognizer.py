"""A gallery answers with the recognizer its catalog names: an agency's own model from the
model store, run by ingest workers and searches alike, its vectors never mixed with SFace's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from tests.conftest import SHARED_FACES

from facesearch.errors import ConfigError, ModelFileError
from facesearch.models.card import parse_card, read_card
from facesearch.models.manifest import load_manifest
from facesearch.models.store import ModelStore
from facesearch.search.gallery import Gallery
from facesearch.store.recognizers import set_active

PHOTOS = SHARED_FACES / "face_recognition_ageitgey"


def _switch_to(data: Path, card: Path, onnx: Path, *, bands: bool = True) -> str:
    """Add the agency model to the store and name it active (what a switch records)."""
    store = ModelStore.of(data)
    stored = store.add(onnx, parse_card(read_card(card), load_manifest()))
    if bands:
        store.write_calibration(stored.name, {"thresholds": {"match": 0.93, "strong": 0.95}})
    with Gallery.open(data) as g, Session(g.catalog.engine) as s:
        set_active(
            s,
            stored.name,
            stored.spec.model_key,
            previous=g.manifest.recognizer.key,
            previous_model_key=g.model_key,
            by="test",
        )
        s.commit()
    return stored.spec.model_key


def test_an_agency_model_answers_ingest_and_search(
    tmp_path: Path, agency_model: tuple[Path, Path], pipeline
) -> None:  # type: ignore[no-untyped-def]
    if not PHOTOS.is_dir():
        pytest.skip(f"shared face photos not found at {PHOTOS}")
    onnx, card = agency_model
    data = tmp_path / "data"
    key = _switch_to(data, card, onnx)
    with Gallery.open(data, pipeline=pipeline) as g:  # the SFace pipeline is not used
        assert g.model_key == key and not g.scoring.fused
        photos = [PHOTOS / "barack_obama" / "obama.jpg", PHOTOS / "joe_biden" / "biden.jpg"]
        report = g.ingest(photos, collection="c", workers=1)  # a worker process
        assert report.counts()["faces_indexed"] == 2, report.failures
        assert g.catalog.models() == [key]
        result = g.search(PHOTOS / "barack_obama" / "obama2.jpg", k=2)
        assert result.model == key and result.model_sha256 == g.manifest.recognizer.sha256
        assert result.candidates[0].image_path.endswith("obama.jpg")
        assert result.candidates[0].score > result.candidates[1].score


def test_a_missing_or_uncalibrated_model_is_refused_clearly(
    tmp_path: Path, agency_model: tuple[Path, Path]
) -> None:
    onnx, card = agency_model
    data = tmp_path / "data"
    _switch_to(data, card, onnx, bands=False)
    with pytest.raises(ConfigError, match="no bands of its own"):
        Gallery.open(data)
    ModelStore.of(data).remove("test-resnet")
    with pytest.raises(ModelFileError, match="not in its model store"):
        Gallery.open(data)
