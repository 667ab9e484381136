"""``facesearch models switch | switch-back | drop`` through the command line (in process):
confirmation (refused without a terminal unless --yes), the JSON report, refusals with exit
2, and the catalog after each. The gallery's faces are rows made by hand (random unit
vectors of SFace's key, and of the test suite's agency model in face_vectors): no models run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from tests.support.cli import init_args, init_input, make_token
from tests.support.switching import AGENCY, add_agency_model
from typer.testing import CliRunner

from facesearch.models.manifest import load_manifest
from facesearch.store.catalog import SqlCatalog
from facesearch.store.recognizers import active_model_key
from facesearch.store.schema import FaceRow, FaceVector, Image

SFACE = load_manifest().recognizer.model_key


def run(data: Path, *args: str, code: int = 0) -> str:
    from facesearch.cli import app

    result = CliRunner().invoke(app, ["-d", str(data), *args])
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.output


def _gallery(data: Path, target: str, n: int = 6) -> SqlCatalog:
    catalog = SqlCatalog(f"sqlite:///{(data / 'catalog.db').resolve()}")
    rng = np.random.default_rng(3)
    with catalog.session() as s:
        image = Image(sha256="d" * 64, bytes=1, width=9, height=9, format="PNG", path="x")
        s.add(image)
        s.flush()
        for i in range(n):
            vecs = rng.normal(size=(2, 128)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            face = FaceRow(image_id=image.id, face_index=i, x=0.0, y=0.0, w=1.0, h=1.0,
                           landmarks=[], detector_score=1.0, quality=1.0, sharpness=1.0,
                           yaw=0.0, model=SFACE, embedding=vecs[0].tobytes())  # fmt: skip
            s.add(face)
            s.flush()
            s.add(FaceVector(face_id=face.id, model=target, embedding=vecs[1].tobytes(),
                             source="photo"))  # fmt: skip
    return catalog


def test_switch_back_and_drop_from_the_command_line(tmp_path: Path, agency_model: Any) -> None:
    data = tmp_path / "data"
    from facesearch.cli import app

    done = CliRunner().invoke(
        app, ["-d", str(data), *init_args("admin")], input=init_input("admin")
    )
    assert done.exit_code == 0, done.output
    target = add_agency_model(data, agency_model, calibrate=True)
    catalog = _gallery(data, target)
    try:
        token = ["--token", make_token(data, "admin")]
        out = run(data, "models", "switch", AGENCY, *token, code=1)  # no terminal, no --yes
        assert "--yes" in out and active_model_key(catalog.engine) is None
        report = json.loads(run(data, "models", "switch", AGENCY, "--yes", "--json", *token))
        assert report["moved"] == 6 and report["target_model_key"] == target
        assert active_model_key(catalog.engine) == target
        refused = run(data, "models", "drop", target, "--yes", *token, code=2)
        assert "searches with" in refused
        out = run(data, "models", "switch-back", "--yes", *token)
        assert "switched back" in out and active_model_key(catalog.engine) == SFACE
        out = run(data, "models", "drop", AGENCY, "--yes", *token)
        assert f"dropped 6 vectors of {target}" in out
        with catalog.session() as s:
            assert s.scalar(select(func.count()).select_from(FaceVector)) == 0
        out = run(data, "models", "switch", AGENCY, "--yes", *token, code=2)
        assert "6 searchable faces" in out and "models migrate" in out
    finally:
        catalog.close()
