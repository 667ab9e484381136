"""``GET /models`` and ``GET /models/{name}``: the shipped recognizers and one an agency added
(the suite's real ``test-resnet``, put in the model store), for administrators and auditors
only; an unknown name is 404."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.support.api import ApiEnv, api_env

from facesearch.models.card import parse_card, read_card
from facesearch.models.manifest import load_manifest
from facesearch.models.store import ModelStore

ROLES = ("admin", "inv", "sup", "aud")


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, agency_model: tuple[Path, Path], pipeline: Any
) -> Iterator[tuple[ApiEnv, dict[str, str], str]]:
    tmp = tmp_path_factory.mktemp("models-api")
    with api_env(tmp, passwords=(), pipeline=pipeline) as env:
        onnx, card = agency_model
        stored = ModelStore.of(env.settings.data_dir).add(
            onnx, parse_card(read_card(card), load_manifest()), added_by="admin",
            smoke={"passed": True, "margin": 0.11, "ms_per_face": 20.0},
        )  # fmt: skip
        gov = env.service.governance
        tokens = {n: gov.create_token(n, n, "models")[0] for n in ROLES}
        yield env, tokens, stored.sha256


def client(world: tuple[ApiEnv, dict[str, str], str], role: str) -> TestClient:
    env, tokens, _ = world
    c = env.client()
    c.headers["Authorization"] = f"Bearer {tokens[role]}"
    return c


def test_models_are_listed_and_shown_to_administrators_and_auditors(world: Any) -> None:
    sha = world[2]
    for role in ("admin", "aud"):
        r = client(world, role).get("/api/v1/models")
        assert r.status_code == 200, r.text
        found = {m["name"]: m for m in r.json()}
        assert found["sface-2021dec-int8bq"]["active"] is True
        assert found["sface-2021dec-int8bq"]["source"] == "package"
        ours = found["test-resnet"]
        assert ours["source"] == "store" and ours["active"] is False
        assert ours["key"] == f"test-resnet@{sha[:12]}" and ours["calibrated"] is False
        assert ours["smoke_summary"] == "passed, margin +0.110, 20.0 ms/face"
    r = client(world, "aud").get("/api/v1/models/test-resnet")
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["sha256"] == sha and detail["card"]["embedding_size"] == 128
    assert detail["smoke"]["margin"] == 0.11 and detail["thresholds"] == {}
    r = client(world, "admin").get("/api/v1/models/nope")
    assert r.status_code == 404 and "no model 'nope'" in r.json()["detail"]
    damaged = world[0].settings.data_dir / "models" / "damaged"
    damaged.mkdir()
    (damaged / "card.json").write_text("{ not json")
    try:  # a damaged folder is listed, saying why, and hides no other model
        found = {m["name"]: m for m in client(world, "aud").get("/api/v1/models").json()}
        assert "cannot read" in found["damaged"]["problem"] and "test-resnet" in found
        assert found["damaged"]["smoke_summary"].startswith("UNREADABLE")
    finally:
        (damaged / "card.json").unlink()
        damaged.rmdir()
    for role in ("inv", "sup"):
        assert client(world, role).get("/api/v1/models").status_code == 403
        assert client(world, role).get("/api/v1/models/test-resnet").status_code == 403
