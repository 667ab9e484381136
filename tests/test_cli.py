"""The CLI is a thin layer: check its formats and its errors."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
from tests.conftest import write_image
from typer.testing import CliRunner

from facesearch.cli import app

runner = CliRunner()


def _photos(tmp_path, astronaut, other_faces):
    folder = tmp_path / "photos"
    write_image(folder / "astronaut.jpg", astronaut)
    write_image(folder / "hopper.jpg", other_faces[0])
    write_image(
        folder / "group.png",
        np.concatenate([astronaut, np.resize(other_faces[0], (512, 512, 3))], axis=1),
    )
    return folder


def test_ingest_search_json_and_csv(tmp_path, astronaut, other_faces):
    folder = _photos(tmp_path, astronaut, other_faces)
    data = str(tmp_path / "data")
    res = runner.invoke(
        app, ["ingest", str(folder), "-c", "demo", "--workers", "0", "--json", "-d", data]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["images_new"] == 3 and summary["failures"] == []

    res = runner.invoke(
        app, ["search", str(folder / "astronaut.jpg"), "-k", "2", "--json", "-d", data]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["candidates"][0]["image_path"].endswith("astronaut.jpg")
    assert out["candidates"][0]["band"] == "strong"
    assert "investigative leads" in out["notice"]
    assert len(out["probe_sha256"]) == 64

    res = runner.invoke(
        app, ["search", str(folder / "astronaut.jpg"), "-k", "2", "--csv", "-d", data]
    )
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert rows[0]["rank"] == "1" and rows[0]["collection"] == "demo"

    res = runner.invoke(
        app, ["search", str(folder / "group.png"), "--face", "1", "--json", "-d", data]
    )
    assert res.exit_code == 0
    out = json.loads(res.output)
    assert out["face"] == 1 and len(out["probe_faces"]) >= 2

    res = runner.invoke(app, ["search", str(folder / "group.png"), "--face", "9", "-d", data])
    assert res.exit_code == 1 and "face 9 requested" in res.output


def test_search_without_a_face_says_so(tmp_path):
    noise = np.random.default_rng(3).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    probe = write_image(tmp_path / "noise.png", noise)
    res = runner.invoke(app, ["search", str(probe), "-d", str(tmp_path / "data")])
    assert res.exit_code == 1
    assert "no face found" in res.output


def test_embed_json_lines(tmp_path, astronaut):
    photo = write_image(tmp_path / "a.png", astronaut)
    noise = write_image(tmp_path / "n.png", np.zeros((100, 100, 3), np.uint8))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff garbage")
    res = runner.invoke(app, ["embed", str(photo), str(noise), str(broken), "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.output.splitlines()]
    face = lines[0]
    assert face["file"] == str(photo) and face["face"] == 0
    x, _, w, _ = face["bbox"]
    assert 150 < x < 210 and 70 < w < 120
    assert len(face["landmarks"]) == 5 and len(face["embedding"]) == 128
    assert abs(np.linalg.norm(face["embedding"]) - 1) < 1e-4
    assert face["model"].startswith("sface")
    assert lines[1]["embedding"] is None and lines[1]["reason"] == "no face found"
    assert lines[2]["embedding"] is None and "error" in lines[2]


def test_compare_and_pairs(tmp_path, astronaut, other_faces):
    a = write_image(tmp_path / "a.png", astronaut)
    a2 = write_image(tmp_path / "a2.jpg", astronaut[:, ::-1])
    write_image(tmp_path / "h.jpg", other_faces[0])
    res = runner.invoke(app, ["compare", str(a), str(a2), "--json"])
    out = json.loads(res.output)
    assert out["same"] is True and out["score"] > out["threshold"]
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("a.png\ta2.jpg\na.png\th.jpg\n")
    res = runner.invoke(app, ["compare", "--pairs", str(pairs), "--json"])
    rows = [json.loads(x) for x in res.output.splitlines()]
    assert [r["same"] for r in rows] == [True, False]
    assert set(rows[0]) >= {"a", "b", "score", "same"}


def test_stats_and_runs(tmp_path, astronaut, other_faces):
    folder = _photos(tmp_path, astronaut, other_faces)
    data = str(tmp_path / "data")
    runner.invoke(app, ["ingest", str(folder), "--workers", "0", "-d", data])
    res = runner.invoke(app, ["stats", "--json", "-d", data])
    info = json.loads(res.output)
    assert info["images"] == 3 and info["indexed_faces"] == info["searchable_faces"]
    res = runner.invoke(app, ["runs", "-d", data])
    assert res.exit_code == 0 and "completed" in res.output
    res = runner.invoke(app, ["reindex", "-d", data])
    assert res.exit_code == 0 and f"{info['searchable_faces']} faces" in res.output


def test_search_grid_picture(tmp_path, astronaut, other_faces):
    from PIL import Image

    folder = _photos(tmp_path, astronaut, other_faces)
    data = str(tmp_path / "data")
    runner.invoke(app, ["ingest", str(folder), "--workers", "0", "-d", data])
    grid = tmp_path / "grid.png"
    res = runner.invoke(
        app, ["search", str(folder / "astronaut.jpg"), "-k", "3", "--grid", str(grid), "-d", data]
    )
    assert res.exit_code == 0, res.output
    img = Image.open(grid)
    assert img.format == "PNG" and img.width > 600
    pixels = np.asarray(img.convert("RGB"))
    # the first candidate (the astronaut itself, 'strong') is framed in green
    strong_green = (pixels[:, :, 1] > 120) & (pixels[:, :, 0] < 60) & (pixels[:, :, 2] < 60)
    assert strong_green.sum() > 500
