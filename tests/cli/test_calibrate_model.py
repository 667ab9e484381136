"""``facesearch calibrate --model`` and ``facesearch eval --compare`` with a real second ONNX
recognizer (the ``agency_model`` fixture: dlib's ResNet re-exported NHWC as "test-resnet") on
ORL photos of ../shared/faces (skipped where absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facesearch.app.model_compare import choose_model
from facesearch.models.card import parse_card, read_card
from facesearch.models.manifest import load_manifest
from facesearch.models.store import ModelStore
from facesearch.settings import Settings
from facesearch.store.catalog import SqlCatalog
from facesearch.store.recognizers import set_active

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# 15 people x 10 photos: 10 500 impostor pairs, enough for FAR 1e-4
FIFTEEN = ["s1*/*", "s2/*", "s3/*", "s4/*", "s5/*"]
FIVE = ["s1/*", "s2/*", "s3/*", "s4/*", "s5/*"]


def _app():  # type: ignore[no-untyped-def]
    from facesearch.cli.evaluate import make_app

    return make_app()


def _data_dir(tmp_path: Path, agency_model: tuple[Path, Path]) -> Path:
    onnx, card = agency_model
    data_dir = tmp_path / "data"
    ModelStore.of(data_dir).add(onnx, parse_card(read_card(card), load_manifest()))
    return data_dir


def _includes(globs: list[str]) -> list[str]:
    return [arg for g in globs for arg in ("--include", g)]


@pytest.mark.shared_data
def test_calibrate_model_writes_the_store_models_own_bands(shared_faces, agency_model, tmp_path):
    data_dir = _data_dir(tmp_path, agency_model)
    orl = str(shared_faces / "orl_att_faces")
    common = ["calibrate", orl, *_includes(FIFTEEN), "--model", "test-resnet"]
    common += ["--data-dir", str(data_dir), "--workers", "0"]
    refused = CliRunner().invoke(_app(), [*common, "--output", str(tmp_path / "c.json")])
    assert refused.exit_code != 0 and "model store" in refused.output
    result = CliRunner().invoke(_app(), common)
    assert result.exit_code == 0, result.output
    assert "gallery's calibration.json is not touched" in result.output
    assert not (data_dir / "calibration.json").exists()  # the gallery's bands: untouched
    stored = ModelStore.of(data_dir).get("test-resnet", load_manifest())
    assert stored.calibrated
    record = json.loads((stored.folder / "calibration.json").read_text())
    assert record["model_key"] == stored.spec.model_key  # test-resnet@<sha12>, not SFace's
    assert record["model_key"].startswith("test-resnet@")
    match, strong = record["thresholds"]["match"], record["thresholds"]["strong"]
    assert match < strong and stored.spec.thresholds == {"match": match, "strong": strong}
    assert record["n_genuine"] == 15 * 45 and record["n_impostor"] == 150 * 149 // 2 - 675
    assert record["figures"]["far_1e-03"]["tar"] > 0.9
    assert record["far_thresholds"]["far_1e-04"] <= strong  # rounded up, never down
    # eval --model measures it alone, at its own bands
    report_file = tmp_path / "eval.json"
    common = ["eval", orl, *_includes(FIVE), "--model", "test-resnet", "--json", str(report_file)]
    result = CliRunner().invoke(_app(), [*common, "--data-dir", str(data_dir), "--workers", "0"])
    assert result.exit_code == 0, result.output
    d = json.loads(report_file.read_text())
    assert d["model"]["key"] == stored.spec.model_key
    assert d["model"]["thresholds"] == {"match": match, "strong": strong}
    assert d["verification"]["at_thresholds"]["match"]["threshold"] == match


@pytest.mark.shared_data
@pytest.mark.long  # three embeddings of 50 photos; the comparison is tested in evaluate/
def test_compare_prints_models_side_by_side_and_the_current_one_as_plain_eval(
    shared_faces, agency_model, tmp_path
):
    data_dir = _data_dir(tmp_path, agency_model)
    orl = str(shared_faces / "orl_att_faces")
    base = ["eval", orl, *_includes(FIVE), "--data-dir", str(data_dir), "--workers", "0"]
    compared = tmp_path / "compare.json"
    result = CliRunner().invoke(
        _app(),
        [*base, "--compare", "test-resnet", "--json", str(compared), "--out", str(tmp_path / "p")],
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    for text in ("(current)", "(candidate)", "(fusion)", "test-resnet", "10-fold accuracy"):
        assert text in out
    assert "TAR @ FAR 1e-03" in out and "rank-1, gallery" in out and "100.00% [" in out
    assert "Wilson" in out and "optimistic" in out
    assert (tmp_path / "p" / "roc.png").read_bytes()[:8] == PNG_MAGIC
    assert "NaN" not in compared.read_text()  # strict JSON: a missing figure is null
    d = json.loads(compared.read_text())
    rows = {m["role"]: m for m in d["models"]}
    assert [m["role"] for m in d["models"]] == ["current", "candidate", "fusion"]
    assert rows["candidate"]["model_key"].startswith("test-resnet@")
    assert rows["current"]["model_key"] != rows["candidate"]["model_key"]
    for row in d["models"]:
        acc = row["figures"]["accuracy_10fold"]
        assert acc["ci95"][0] <= acc["value"] <= acc["ci95"][1] and acc["n"] > 0
        assert row["counts"]["n_identities"] == 5
    # the candidate has no calibration yet: no figures at bands it does not have
    assert rows["candidate"]["report"]["verification"]["at_thresholds"] == {}
    assert rows["fusion"]["fusion"]["rule"].startswith("weight")
    # one source of truth: the current model's figures are plain eval's
    plain_file = tmp_path / "plain.json"
    plain = CliRunner().invoke(_app(), [*base, "--json", str(plain_file)])
    assert plain.exit_code == 0, plain.output
    alone = json.loads(plain_file.read_text())
    current = rows["current"]["report"]
    assert current["verification"] == alone["verification"]
    assert current["identification"] == alone["identification"]
    assert current["model"] == alone["model"]


def test_without_a_name_the_gallerys_active_recognizer_is_measured(agency_model, tmp_path):
    """No --model: the recognizer the catalog says the gallery searches with (no catalog, or
    no switch: the packaged default, measured exactly as plain eval)."""
    data_dir = _data_dir(tmp_path, agency_model)
    settings = Settings.load(data_dir=data_dir)
    before = choose_model(settings, None)
    assert before.packaged_default and before.name == load_manifest().default_recognizer
    assert not (data_dir / "catalog.db").exists()  # looking did not make a catalog
    catalog = SqlCatalog(settings.catalog_url)
    stored = ModelStore.of(data_dir).get("test-resnet", load_manifest())
    with catalog.session() as session:
        set_active(
            session,
            "test-resnet",
            stored.spec.model_key,
            previous=before.name,
            previous_model_key=before.model_key,
            by="test",
        )
    catalog.close()
    after = choose_model(settings, None)
    assert after.name == "test-resnet" and not after.packaged_default
    assert after.stored is not None and after.thresholds is None  # not calibrated: no bands
    assert not after.pipeline.second_model  # an agency model is scored alone
    assert after.model_key == stored.spec.model_key
