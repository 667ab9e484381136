"""``facesearch calibrate --model NAME --fuse OTHER DATA``: a real fusion of the test suite's
agency model (tests/support/agency_model.py) with SFace, chosen on 150 ORL photos (15 people:
10,500 impostor pairs, enough for FAR 1e-4) and recorded in the model's own calibration.json.
About 20 s (both recognizers embed every photo)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from facesearch.engine.fusion import MultiFusion
from facesearch.models.card import parse_card, read_card
from facesearch.models.manifest import load_manifest
from facesearch.models.store import CALIBRATION_FILE, ModelStore

SFACE = "sface-2021dec-int8bq"


def _app():  # type: ignore[no-untyped-def]
    from facesearch.cli.evaluate import make_app

    return make_app()


def _orl(shared_faces: Path, folder: Path, n_ids: int = 15) -> Path:
    orl = shared_faces / "orl_att_faces"
    if not orl.is_dir():
        pytest.skip(f"ORL faces not found at {orl}")
    for person in sorted(p for p in orl.iterdir() if p.is_dir())[:n_ids]:
        (folder / person.name).mkdir(parents=True)
        for photo in sorted(person.glob("*.pgm")):
            (folder / person.name / photo.name).symlink_to(photo)
    return folder


def test_fusion_is_chosen_and_recorded_in_the_model_store(
    tmp_path: Path, shared_faces: Path, agency_model: tuple[Path, Path]
) -> None:
    data_dir = tmp_path / "data"
    onnx, card = agency_model
    ModelStore.of(data_dir).add(onnx, parse_card(read_card(card), load_manifest()))
    orl = _orl(shared_faces, tmp_path / "orl")
    args = ["calibrate", str(orl), "--model", "test-resnet", "--fuse", SFACE]
    result = CliRunner().invoke(_app(), [*args, "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "k-fold within one set" in result.output
    assert "fused bands: match" in result.output

    record = json.loads((data_dir / "models" / "test-resnet" / CALIBRATION_FILE).read_text())
    fusion_record = record["fusion"]
    fusion = MultiFusion.from_dict(fusion_record)
    assert fusion.models[0].startswith("test-resnet@") and fusion.models[1].startswith(SFACE)
    assert fusion_record["names"] == ["test-resnet", SFACE]
    assert sum(m.weight for m in fusion.members) == pytest.approx(1.0)
    bands = fusion_record["thresholds"]
    assert bands["match"] < bands["strong"] <= 1.0
    assert fusion_record["bands"]["n_impostor"] == 10500
    chosen = fusion_record["chosen_by"]
    assert chosen["method"] == "k-fold within one set"
    assert len(chosen["held_out"]) == 5
    assert chosen["accepted"] == (not chosen["decision"]["held_out_sets_where_fusion_lost"])
    # a perfect pair scores 1 on the model's own scale; the impostor means map to its mean
    assert fusion.fuse(np.ones((1, 2)))[0] == pytest.approx(1.0)
    # never the gallery's calibration, never a model's own bands borrowed
    assert not (data_dir / "calibration.json").exists()
    assert "thresholds" not in record  # calibrate --model NAME makes the model's own bands


def test_fuse_needs_a_store_model_and_more_data_needs_fuse(tmp_path: Path) -> None:
    data = tmp_path / "set"
    data.mkdir()
    app = _app()
    runner = CliRunner()
    out = runner.invoke(app, ["calibrate", str(data), "--fuse", SFACE, "-d", str(tmp_path)])
    assert out.exit_code != 0 and "--model" in out.output
    out = runner.invoke(app, ["calibrate", str(data), str(data), "-d", str(tmp_path)])
    assert out.exit_code != 0 and "only with --fuse" in out.output
