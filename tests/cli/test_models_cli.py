"""``facesearch models add|list|show|remove`` with a real second recognizer (the suite's
``test-resnet``, tests/support/agency_model.py): added through its card and smoke-tested on
real photos of two people, listed and shown, audited; models that cannot tell people apart
(a graph that outputs constants, a card with the wrong embedding size) fail the smoke test and
leave nothing in the store; removal refused while a migration or kept vectors use the model."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import Session
from tests.support.cli import PASSWORD, CliUsers, init_args, init_input
from tests.support.govern import add_face
from typer.testing import CliRunner

from facesearch.govern.schema import AuditEntry
from facesearch.models.digest import sha256_file
from facesearch.store.schema import FaceVector, ModelMigration

# two people of the shared face data (face_recognition's test photos), a few photos each
PEOPLE = {
    "barack_obama": ("obama.jpg", "obama2.jpg", "obama3.jpg"),
    "joe_biden": ("biden.jpg", "biden2.jpg"),
}


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import SHARED_FACES

    source = SHARED_FACES / "face_recognition_ageitgey"
    if not source.is_dir():
        pytest.skip(f"shared face data not found at {source} (set FACESEARCH_SHARED_FACES)")
    root = tmp_path_factory.mktemp("smoke-photos")
    for person, names in PEOPLE.items():
        (root / person).mkdir()
        for name in names:
            shutil.copyfile(source / person / name, root / person / name)
    return root


class Cli:
    def __init__(self, data: Path) -> None:
        from facesearch.cli import app

        self.app, self.data, self.users = app, data, CliUsers(data)

    def __call__(self, *args: str, user: str | None = "admin", code: int = 0) -> str:
        result = CliRunner().invoke(
            self.app, ["-d", str(self.data), *args], env=self.users.env(user)
        )
        assert result.exit_code == code, (args, result.exit_code, result.output, result.exception)
        return result.output

    def audit(self, action: str) -> list[dict[str, Any]]:
        engine = create_engine(f"sqlite:///{self.data / 'catalog.db'}")
        try:
            with Session(engine) as s:
                rows = s.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()
                return [json.loads(r.details) for r in rows]
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    data = tmp_path_factory.mktemp("models-cli") / "data"
    run = Cli(data)
    result = CliRunner().invoke(run.app, ["-d", str(data), *init_args()], input=init_input())
    assert result.exit_code == 0, result.output
    run("user", "add", "aud", "-r", "auditor", "--no-password")
    run("user", "add", "ivy", "-r", "investigator", "--no-password")
    assert PASSWORD  # the administrator's password, given to init on standard input
    yield run


def store_names(cli: Cli) -> list[str]:
    root = cli.data / "models"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_add_list_show_remove(cli: Cli, agency_model: tuple[Path, Path], photos: Path) -> None:
    onnx_path, card = agency_model
    cli("models", "add", str(onnx_path), "--card", str(card), code=2, user="ivy")  # admins only
    out = cli("models", "add", str(onnx_path), "--card", str(card), "--photos", str(photos))
    sha = sha256_file(onnx_path)
    assert f"added test-resnet 1 as test-resnet@{sha[:12]}" in out
    assert "smoke test passed: 3 faces of barack_obama, 2 faces of joe_biden" in out
    stored = json.loads((cli.data / "models" / "test-resnet" / "card.json").read_text())
    smoke = stored["smoke"]
    assert smoke["passed"] and smoke["dim"] == 128 and smoke["same_pairs"] == 4
    assert smoke["lowest_same"] > smoke["highest_different"]
    assert smoke["ms_per_face"] > 0 and smoke["different_pairs"] == 6
    entry = cli.audit("models.add")[-1]
    assert entry["outcome"] == "added" and entry["sha256"] == sha and entry["version"] == "1"
    assert entry["licence"].startswith("CC0-1.0")

    listed = cli("models", "list", user="aud")
    lines = {line.split()[0]: line for line in listed.splitlines() if line.strip()}
    assert "ACTIVE" in lines["sface-2021dec-int8bq"]
    assert f"test-resnet@{sha[:12]}" in lines["test-resnet"]
    assert "uncalibrated" in lines["test-resnet"] and "smoke: passed" in lines["test-resnet"]
    assert "ACTIVE" not in lines["test-resnet"]
    cli("models", "list", code=2, user="ivy")
    shown = json.loads(cli("models", "show", "test-resnet", "--json", user="aud"))
    assert shown["sha256"] == sha and shown["active"] is False and not shown["calibrated"]
    assert shown["card"]["layout"] == "nhwc" and shown["smoke"]["margin"] > 0
    text = cli("models", "show", "test-resnet")
    assert "not calibrated" in text and f"SHA-256:     {sha}" in text and "not active" in text

    again = cli("models", "add", str(onnx_path), "--card", str(card), "--photos", str(photos),
                code=1)  # fmt: skip
    assert "already in the store" in again and 'name = "test-resnet-2"' in again
    assert "no model 'nope'" in cli("models", "show", "nope", code=1)

    assert f"removed test-resnet 1 (test-resnet@{sha[:12]})" in cli(
        "models", "remove", "test-resnet"
    )
    assert store_names(cli) == []
    removed = cli.audit("models.remove")[-1]
    assert removed["sha256"] == sha and removed["name"] == "test-resnet"


def constant_model(folder: Path) -> Path:
    """A valid ONNX recognizer whose every vector is the same (it ignores its input)."""
    x = helper.make_tensor_value_info("faces", TensorProto.FLOAT, ["N", 3, 112, 112])
    y = helper.make_tensor_value_info("vec", TensorProto.FLOAT, ["N", 128])
    nodes = [
        helper.make_node("Flatten", ["faces"], ["flat"]),
        helper.make_node("ReduceMean", ["flat"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "constant"], ["vec"]),
    ]
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.zeros((1, 1), np.float32), "zero"),
        numpy_helper.from_array(rng.normal(size=(1, 128)).astype(np.float32), "constant"),
    ]
    graph = helper.make_graph(nodes, "constant", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = folder / "constant.onnx"
    onnx.save_model(model, str(path))
    return path


def test_models_that_cannot_tell_people_apart_are_not_added(
    cli: Cli, agency_model: tuple[Path, Path], photos: Path, tmp_path: Path
) -> None:
    constant = constant_model(tmp_path)
    card = tmp_path / "constant.json"
    card.write_text(json.dumps({
        "name": "constant", "version": "0", "licence": "test", "input_size": [112, 112],
        "alignment": "arcface-112", "embedding_size": 128, "mean": 127.5, "scale": 0.0078125,
    }))  # fmt: skip
    out = cli("models", "add", str(constant), "--card", str(card), "--photos", str(photos), code=1)
    assert "constant failed its smoke test and was not added" in out
    assert "do not separate the two people" in out and "scores 1.000" in out
    assert store_names(cli) == []
    failed = cli.audit("models.add")[-1]
    assert failed["outcome"] == "failed smoke test" and failed["name"] == "constant"

    onnx_path, good_card = agency_model
    wrong = tmp_path / "wrong-size.toml"
    wrong.write_text(
        good_card.read_text()
        .replace('name = "test-resnet"', 'name = "wrong-size"')
        .replace("embedding_size = 128", "embedding_size = 512")
    )
    out = cli(
        "models", "add", str(onnx_path), "--card", str(wrong), "--photos", str(photos), code=1
    )
    assert "wrong-size failed its smoke test" in out
    assert "128-dimensional vectors, its card says embedding_size = 512" in out
    assert store_names(cli) == []

    bad_card = tmp_path / "bad.toml"
    bad_card.write_text(good_card.read_text().replace('layout = "nhwc"', 'layout = "hwc"'))
    out = cli("models", "add", str(onnx_path), "--card", str(bad_card), code=1)
    assert "layout must be one of nchw, nhwc, got 'hwc'" in out
    assert store_names(cli) == []


def test_removal_is_refused_while_a_migration_or_kept_vectors_use_it(
    cli: Cli, agency_model: tuple[Path, Path], photos: Path
) -> None:
    onnx_path, card = agency_model
    cli("models", "add", str(onnx_path), "--card", str(card), "--photos", str(photos))
    key = f"test-resnet@{sha256_file(onnx_path)[:12]}"
    engine = create_engine(f"sqlite:///{cli.data / 'catalog.db'}")
    try:
        with Session(engine) as s:
            s.add(ModelMigration(target="test-resnet", target_model_key=key,
                                 source_model_key="sface-2021dec-int8bq@fb143eea0783",
                                 state="running", started_by="admin"))  # fmt: skip
            s.commit()
        out = cli("models", "remove", "test-resnet", code=2)
        assert "is in use: model migration #" in out and "unfinished" in out
        assert store_names(cli) == ["test-resnet"]
        assert cli.audit("models.remove.refused")
        with Session(engine) as s:
            for row in s.scalars(select(ModelMigration)):
                row.state = "cancelled"
            face = add_face(s, 1, 0)  # a face whose test-resnet vector is kept
            s.add(FaceVector(face_id=face, model=key, embedding=b"\0" * 512, source="photo"))
            s.commit()
        out = cli("models", "remove", "test-resnet", code=2)
        assert "1 of its vectors are kept for switching back; drop them first " in out
        assert f"'facesearch models drop {key}'" in out and "migration" not in out
        with Session(engine) as s:
            s.execute(delete(FaceVector))
            s.commit()
    finally:
        engine.dispose()
    cli("models", "remove", "test-resnet", code=2, user="aud")  # administrators only
    cli("models", "remove", "test-resnet")
    assert store_names(cli) == []
