"""Model cards (models/card.py): a good card in TOML and JSON, known alignments scaled to the
card's input, and each kind of wrong field refused with a message saying what to write."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.agency_model import CARD

from facesearch.models.card import CardError, parse_card, read_card
from facesearch.models.manifest import STORE, load_manifest

MANIFEST = load_manifest()
ARCFACE = {
    "name": "agency-arcface",
    "version": "2025.1",
    "licence": "Licensed to the Agency under contract 2025-17",
    "input_size": [112, 112],
    "colour": "rgb",
    "layout": "nchw",
    "mean": [127.5, 127.5, 127.5],
    "scale": 0.0078125,
    "alignment": "arcface-112",
    "embedding_size": 512,
    "normalise": "l2",
    "flip": True,
    "runtime": "openvino",
}


def card(**changes: Any) -> dict[str, Any]:
    raw = dict(ARCFACE)
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def test_a_good_card_in_toml_and_json_reads_the_same(tmp_path: Path) -> None:
    toml_path = tmp_path / "card.toml"
    toml_path.write_text(CARD, encoding="utf-8")
    json_path = tmp_path / "card.json"
    json_path.write_text(json.dumps(tomllib.loads(CARD)), encoding="utf-8")
    from_toml = parse_card(read_card(toml_path), MANIFEST)
    from_json = parse_card(read_card(json_path), MANIFEST)
    assert from_toml == from_json
    assert from_toml.name == "test-resnet"
    assert from_toml.input_size == (150, 150)
    assert from_toml.embedding_size == 128
    assert from_toml.preprocess.layout == "nhwc"
    assert from_toml.preprocess.scale == (0.0078125,) * 3  # one number: every channel
    # the stored form reads back to the same card (as the model store does on every load)
    assert parse_card(from_toml.to_dict(), MANIFEST) == from_toml


def test_the_spec_is_a_store_model_with_its_preprocessing(tmp_path: Path) -> None:
    parsed = parse_card(card(), MANIFEST)
    spec = parsed.to_spec(tmp_path / "model.onnx", "ab" * 32)
    assert spec.source == STORE
    assert spec.key == "agency-arcface"
    assert spec.model_key == "agency-arcface-flip@" + "ab" * 6  # flip vectors: a key of their own
    assert spec.runtime == "openvino-fp32"
    assert spec.preprocess is not None and spec.preprocess.flip
    assert spec.embedding_size == 512


def test_known_alignments_are_scaled_to_the_input() -> None:
    sface = np.asarray(MANIFEST.models["sface-2021dec-int8bq"].alignment_template)
    at_112 = parse_card(card(), MANIFEST)
    assert at_112.alignment == "arcface-112"
    assert np.allclose(at_112.template, sface)
    at_224 = parse_card(card(input_size=[224, 224]), MANIFEST)
    assert np.allclose(at_224.template, sface * 2)
    wide = parse_card(card(input_size=[224, 112]), MANIFEST)
    assert np.allclose(np.asarray(wide.template), sface * [2, 1])
    own = [[30, 40], [80, 40], [55, 65], [35, 90], [75, 90]]
    custom = parse_card(card(alignment=None, template=own), MANIFEST)
    assert custom.alignment == "custom"
    assert custom.template == tuple((float(x), float(y)) for x, y in own)
    assert parse_card(custom.to_dict(), MANIFEST) == custom


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"embedding_size": None}, "lacks embedding_size"),
        ({"name": "Agency ArcFace!"}, "name must be lower-case"),
        ({"name": "sface-2021dec-int8bq"}, "ships with facesearch"),
        ({"input_size": [112]}, "input_size must be [width, height]"),
        ({"input_size": [8, 8]}, "input_size must be [width, height]"),
        ({"embedding_size": "512"}, "embedding_size must be a whole number"),
        ({"embedding_size": 1}, "embedding_size must be a whole number"),
        ({"alignment": "mtcnn"}, "alignment must be one of arcface-112, dlib-150"),
        ({"alignment": None}, "needs alignment"),
        ({"alignment": None, "template": [[1, 2]] * 4}, "template must be five [x, y] points"),
        ({"alignment": None, "template": [[1, 2]] * 4 + [[200, 2]]}, "inside the 112x112"),
        ({"template": [[1, 2]] * 5}, "not both"),
        ({"colour": "yuv"}, "colour must be one of rgb, bgr"),
        ({"layout": "chw"}, "layout must be one of nchw, nhwc"),
        ({"mean": [1, 2]}, "mean must be one number or a list of 3 numbers"),
        ({"scale": 0}, "scale must not be 0"),
        ({"scale": "1/128"}, "scale must be one number"),
        ({"normalise": "l1"}, "normalise must be one of l2, none"),
        ({"flip": "yes"}, "flip must be true or false"),
        ({"runtime": "tensorrt"}, "runtime must be one of onnxruntime, openvino"),
        ({"licence": "  "}, "licence must not be empty"),
    ],
)
def test_a_wrong_field_is_said_with_how_to_write_it(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(CardError) as caught:
        parse_card(card(**changes), MANIFEST)
    assert message in str(caught.value)


def test_a_file_that_is_not_a_card_is_said(tmp_path: Path) -> None:
    broken = tmp_path / "card.toml"
    broken.write_text('name = "x\n', encoding="utf-8")
    with pytest.raises(CardError, match="not valid TOML or JSON"):
        read_card(broken)
    listed = tmp_path / "card.json"
    listed.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(CardError, match="must be a table of fields"):
        read_card(listed)
    with pytest.raises(CardError, match="cannot read the model card"):
        read_card(tmp_path / "missing.toml")
