"""Calibrated thresholds: the FAR rule, the calibration file, and the packaged manifest's
record reproduced by ``facesearch calibrate`` on its recorded subset (../shared/faces)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from facesearch.evaluate.calibrate import (
    CALIBRATION_FILE,
    Calibration,
    CalibrationError,
    apply_calibration,
    calibrate_scores,
    calibrated_manifest,
    embedding_variant,
    far_key,
    load_calibration,
    packaged_calibration,
    round_up,
    write_calibration,
)
from facesearch.models.manifest import load_manifest
from facesearch.search.scoring import Bands


def _scores(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.7, 0.1, 2_000), rng.normal(0.05, 0.1, 50_000)


def _calibration(**kw: object) -> Calibration:
    gen, imp = _scores()
    spec = load_manifest().recognizer
    args: dict[str, object] = {
        "model_key": spec.model_key,
        "embedding": embedding_variant(),
        "dataset": "synthetic",
        "protocol": "synthetic",
        "n_images": 0,
        "n_no_face": 0,
        "date": "2000-01-01",
    }
    args.update(kw)
    return calibrate_scores(gen, imp, **args)  # type: ignore[arg-type]


def test_thresholds_meet_their_far_on_the_calibration_data() -> None:
    gen, imp = _scores()
    cal = _calibration()
    assert np.mean(imp >= cal.match) <= 1e-3
    assert np.mean(imp >= cal.strong) <= 1e-4
    assert cal.strong >= cal.match
    assert cal.n_impostor == imp.size and cal.n_genuine == gen.size
    # rounded up to 4 decimals, never below the exact threshold
    assert cal.match >= cal.thresholds[far_key(1e-3)] and cal.match == round(cal.match, 4)
    assert cal.figures[far_key(1e-4)]["false_accepts"] <= 5
    assert far_key(1e-5) not in cal.thresholds  # 50,000 impostors cannot support 1e-5
    assert round_up(0.12341) == 0.1235 and round_up(0.1234) == 0.1234


def test_too_few_impostors_is_refused_and_failures_are_rejections() -> None:
    with pytest.raises(CalibrationError, match="at least 10000"):
        calibrate_scores(
            np.ones(10),
            np.zeros(999),
            model_key="m",
            embedding="e",
            dataset="d",
            protocol="p",
            n_images=0,
            n_no_face=0,
        )
    gen, imp = _scores()
    imp_with_failures = np.concatenate([imp, np.full(500, np.nan)])
    cal = calibrate_scores(
        gen,
        imp_with_failures,
        model_key="m",
        embedding="e",
        dataset="d",
        protocol="p",
        n_images=0,
        n_no_face=1,
    )
    assert cal.n_impostor == imp.size + 500  # kept in the denominator, never accepted


def test_calibration_file_applies_to_the_manifest(tmp_path: Path) -> None:
    cal = _calibration()
    write_calibration(cal, tmp_path / CALIBRATION_FILE)
    assert load_calibration(tmp_path / CALIBRATION_FILE) == cal
    manifest = calibrated_manifest(tmp_path)
    bands = Bands.from_spec(manifest.recognizer)
    assert (bands.match, bands.strong) == (cal.match, cal.strong)
    assert manifest.recognizer.calibration is not None
    assert manifest.recognizer.model_key == load_manifest().recognizer.model_key
    # no file: the packaged manifest, unchanged
    assert calibrated_manifest(tmp_path / "empty") == load_manifest()


def test_a_calibration_for_another_model_or_embedding_is_refused() -> None:
    with pytest.raises(CalibrationError, match="was made for"):
        apply_calibration(load_manifest(), _calibration(model_key="other@123"))
    with pytest.raises(CalibrationError, match="embeddings"):
        apply_calibration(load_manifest(), _calibration(embedding="other"), variant="flip-fusion")


def test_packaged_fused_thresholds_come_from_the_fusion_record() -> None:
    from facesearch.engine.embed import DLIB_RECOGNIZER_KEY, manifest_fusion
    from facesearch.search.scoring import Scoring

    manifest = load_manifest()
    record = manifest.models[DLIB_RECOGNIZER_KEY].calibration
    scoring = Scoring.from_manifest(manifest)
    assert scoring.fused and scoring.fusion == manifest_fusion(manifest)
    fused = record["fused_thresholds"]
    assert scoring.bands_for(True).match == fused["match"] == round_up(fused[far_key(1e-3)])
    assert scoring.bands_for(True).strong == fused["strong"] == round_up(fused[far_key(1e-4)])
    # a fused score reads with fused bands, a SFace-only one with SFace's
    assert scoring.bands_for(False) == Bands.from_spec(manifest.recognizer)
    assert Scoring.from_manifest(manifest, fusion=False).fusion is None


def test_packaged_manifest_thresholds_come_from_its_calibration_record() -> None:
    spec = load_manifest().recognizer
    cal = packaged_calibration()
    assert cal is not None, "the recognizer has no calibration record"
    assert spec.thresholds["match"] == cal.match == round_up(cal.thresholds[far_key(1e-3)])
    assert spec.thresholds["strong"] == cal.strong == round_up(cal.thresholds[far_key(1e-4)])
    assert cal.model_key == spec.model_key
    assert cal.embedding == embedding_variant()
    assert cal.n_impostor * 1e-4 >= 10  # FAR 1e-4 rests on at least 10 false accepts
    assert cal.date and cal.dataset and cal.protocol


@pytest.mark.shared_data
@pytest.mark.e2e
def test_calibrate_reproduces_the_recorded_subset(shared_faces, tmp_path):
    """`facesearch calibrate` on the manifest's recorded CFP subset gives its recorded figures."""
    from facesearch.cli.evaluate import make_app

    spec = load_manifest().recognizer
    subset = (spec.calibration or {}).get("check_subset")
    assert subset, "the manifest's calibration record has no check_subset"
    data = shared_faces / subset["data"]
    args = ["calibrate", str(data), "--data-dir", str(tmp_path), "--workers", "2"]
    for pattern in subset["include"]:
        args += ["--include", pattern]
    result = CliRunner().invoke(make_app(), args)
    assert result.exit_code == 0, result.output
    assert "old threshold" in result.output
    written = json.loads((tmp_path / CALIBRATION_FILE).read_text())
    assert written["n_images"] == subset["n_images"]
    assert written["n_genuine"] == subset["n_genuine"]
    assert written["n_impostor"] == subset["n_impostor"]
    assert written["n_no_face"] == subset["n_no_face"]
    for key in ("match", "strong"):
        assert written[key] == pytest.approx(subset[key], abs=2e-3), key
    # the fused bands (SFace + dlib, what search and compare use) are calibrated too
    from facesearch.engine.embed import DLIB_RECOGNIZER_KEY
    from facesearch.search.scoring import Scoring

    fused_subset = load_manifest().models[DLIB_RECOGNIZER_KEY].calibration["check_subset"]
    for key in ("match", "strong"):
        assert written["fused"][key] == pytest.approx(fused_subset[key], abs=2e-3), key
    assert "fused match" in result.output
    # and the gallery-side loader applies exactly this file
    manifest = calibrated_manifest(tmp_path)
    assert manifest.recognizer.thresholds["match"] == written["match"]
    fused_bands = Scoring.from_manifest(manifest).bands_for(True)
    assert (fused_bands.match, fused_bands.strong) == (
        written["fused"]["match"],
        written["fused"]["strong"],
    )
