"""GET /collections gives each collection's face count (issue 23, finding 9: the web app
showed "undefined" faces because the API sent none)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import write_image
from tests.support.api import api_env


def test_collections_carry_distinct_image_and_face_counts(
    tmp_path: Path, pipeline: Any, astronaut: Any, other_faces: Any
) -> None:
    both = tmp_path / "both"
    write_image(both / "astronaut.jpg", astronaut)
    write_image(both / "hopper.jpg", other_faces[0])
    one = tmp_path / "one"
    write_image(one / "astronaut.jpg", astronaut)  # the same image again: new provenance only
    (tmp_path / "env").mkdir()
    with api_env(tmp_path / "env", passwords=(), pipeline=pipeline) as env:
        env.ingest([both], collection="both", workers=0)
        env.ingest([one], collection="one", workers=0)
        client = env.client()
        token = env.service.governance.create_token("inv", "inv", "test")[0]
        client.headers["Authorization"] = f"Bearer {token}"
        r = client.get("/api/v1/collections")
        assert r.status_code == 200, r.text
        rows = {c["name"]: c for c in r.json()["items"]}
        stats = client.get("/api/v1/stats").json()
    assert rows["both"]["images"] == 2 and rows["one"]["images"] == 1
    assert rows["both"]["faces"] == stats["faces"] >= 2
    assert 1 <= rows["one"]["faces"] < rows["both"]["faces"]
