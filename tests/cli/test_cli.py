"""The CLI is a thin layer: check its formats and its errors."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.cli import init_args, init_input, make_token
from typer.testing import CliRunner

from facesearch.cli import app

runner = CliRunner()


def _photos(tmp_path, astronaut, other_faces):
    folder = tmp_path / "photos"
    write_image(folder / "astronaut.jpg", astronaut)
    write_image(folder / "hopper.jpg", other_faces[0])
    group = np.concatenate([astronaut, np.resize(other_faces[0], (512, 512, 3))], axis=1)
    write_image(folder / "group.png", group)
    return folder


def _run(*args: str, user: str | None = None, ok: bool = True, stdin: str | None = None):
    """Run the CLI; as ``user`` with a token of theirs (made for the data directory of -d)."""
    env: dict[str, str | None] = {"FACESEARCH_USER": None, "FACESEARCH_TOKEN": None}
    if user:
        env["FACESEARCH_TOKEN"] = make_token(args[args.index("-d") + 1], user)
    res = runner.invoke(app, list(args), env=env, input=stdin)
    if ok:
        assert res.exit_code == 0, res.output
    return res


@pytest.fixture
def workspace_dir(tmp_path):
    """A data directory with an administrator, a supervisor, two investigators and an open,
    approved case CASE-1 (opened by inv1, who is thereby assigned to it)."""
    data = str(tmp_path / "data")
    _run("-d", data, *init_args("admin", "admin2"), stdin=init_input("admin", "admin2"))
    for name, role in (("sup", "supervisor"), ("inv1", "investigator"), ("inv2", "investigator")):
        _run("-d", data, "user", "add", name, "--role", role, "--no-password", user="admin")
    _run("-d", data, "change", "approve", "1", user="admin2")  # a supervisor needs two admins
    _run(
        "-d",
        data,
        "case",
        "open",
        "CASE-1",
        "--purpose",
        "cse-victim-id",
        "--authority",
        "Warrant 2026-0042",
        "--justification",
        "identify the child",
        user="inv1",
    )
    _run("-d", data, "case", "approve", "CASE-1", user="sup")
    return data


def test_ingest_search_json_and_csv(tmp_path, astronaut, other_faces, workspace_dir):
    folder = _photos(tmp_path, astronaut, other_faces)
    data = workspace_dir
    res = _run(
        "ingest", str(folder), "-c", "demo", "--workers", "0", "--json", "-d", data, user="admin"
    )
    summary = json.loads(res.output)
    assert summary["images_new"] == 3 and summary["failures"] == []

    res = _run(
        "search",
        str(folder / "astronaut.jpg"),
        "--case",
        "CASE-1",
        "-k",
        "2",
        "--json",
        "-d",
        data,
        user="inv1",
    )
    out = json.loads(res.output)
    assert out["candidates"][0]["image_path"].endswith("astronaut.jpg")
    assert out["candidates"][0]["band"] == "strong"
    assert "investigative leads" in out["statement"]
    assert len(out["probe_sha256"]) == 64
    assert out["case"] == "CASE-1" and out["user"] == "inv1"

    res = _run(
        "search",
        str(folder / "astronaut.jpg"),
        "--case",
        "CASE-1",
        "-k",
        "2",
        "--csv",
        "-d",
        data,
        user="inv1",
    )
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert rows[0]["rank"] == "1" and rows[0]["collection"] == "demo"
    assert rows[0]["case"] == "CASE-1"

    res = _run(
        "search",
        str(folder / "group.png"),
        "--case",
        "CASE-1",
        "--face",
        "1",
        "--json",
        "-d",
        data,
        user="inv1",
    )
    out = json.loads(res.output)
    assert out["face"] == 1 and len(out["probe_faces"]) >= 2

    res = _run(
        "search",
        str(folder / "group.png"),
        "--case",
        "CASE-1",
        "--face",
        "9",
        "-d",
        data,
        user="inv1",
        ok=False,
    )
    assert res.exit_code == 1 and "face 9 requested" in res.output


def test_search_is_refused_outside_an_approved_case(
    tmp_path, astronaut, other_faces, workspace_dir
):
    folder = _photos(tmp_path, astronaut, other_faces)
    data = workspace_dir
    _run("ingest", str(folder), "--workers", "0", "-d", data, user="admin")
    probe = str(folder / "astronaut.jpg")
    res = _run("search", probe, "-d", data, user="inv1", ok=False)
    assert res.exit_code == 2 and "--case" in res.output
    res = _run("search", probe, "--case", "CASE-1", "-d", data, user="inv2", ok=False)
    assert res.exit_code == 2 and "refused" in res.output  # not assigned to the case
    res = _run("search", probe, "--case", "NO-SUCH", "-d", data, user="inv1", ok=False)
    assert res.exit_code == 2
    res = _run("ingest", str(folder), "-d", data, user="inv1", ok=False)
    assert res.exit_code == 2 and "administrator" in res.output
    # every refusal is in the audit log, and the chain verifies
    from facesearch.app.service import Service
    from facesearch.govern import audit
    from facesearch.settings import Settings

    service = Service.for_cli(Settings.load(data_dir=data))
    with service, service.governance.session() as session:
        refused = [
            (e.actor, e.action) for e in audit.entries(session) if e.action.endswith(".refused")
        ]
    assert ("inv2", "search.refused") in refused
    assert ("inv1", "ingest.refused") in refused
    assert sum(1 for _, action in refused if action == "search.refused") == 3
    verify = _run("-d", data, "audit", "verify", user="admin")
    assert "intact" in verify.output.lower() or " ok" in verify.output.lower()


def test_full_flow_review_and_report(tmp_path, astronaut, other_faces, workspace_dir):
    folder = _photos(tmp_path, astronaut, other_faces)
    data = workspace_dir
    _run("ingest", str(folder), "--workers", "0", "-d", data, user="admin")
    out = json.loads(
        _run(
            "search",
            str(folder / "astronaut.jpg"),
            "--case",
            "CASE-1",
            "--json",
            "-d",
            data,
            user="inv1",
        ).output
    )
    top = out["candidates"][0]
    _run(
        "-d",
        data,
        "review",
        "mark",
        str(out["search_id"]),
        str(top["face_id"]),
        "possible_match",
        "--note",
        "same scar",
        user="inv1",
    )
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    _run("-d", data, "case", "report", "CASE-1", "--html", str(html), "--pdf", str(pdf), user="sup")
    text = html.read_text()
    assert "CASE-1" in text and out["probe_sha256"] in text and "possible" in text
    assert pdf.read_bytes().startswith(b"%PDF")


def test_search_without_a_face_says_so(tmp_path, workspace_dir):
    noise = np.random.default_rng(3).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    probe = write_image(tmp_path / "noise.png", noise)
    res = _run("search", str(probe), "--case", "CASE-1", "-d", workspace_dir, user="inv1", ok=False)
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


def test_stats_and_runs(tmp_path, astronaut, other_faces, workspace_dir):
    folder = _photos(tmp_path, astronaut, other_faces)
    data = workspace_dir
    res = _run("ingest", str(folder), "--workers", "0", "-d", data, user="admin")
    info = json.loads(_run("stats", "--json", "-d", data).output)
    # default: both vectors made at ingest, nothing left for the pass (the pass row is shown
    # only when the pass had work)
    assert f"{info['faces']} made at ingest" in res.output
    assert "second vectors made" not in res.output
    assert info["images"] == 3 and info["indexed_faces"] == info["searchable_faces"]
    second = info["second_vectors"]
    assert second["with"] == second["from_photo"] == info["faces"] and second["pending"] == 0
    # --second-vectors pass: chips queued, and the pass that ingest runs describes them
    more = tmp_path / "more"
    write_image(more / "other.jpg", other_faces[1])
    res = _run(
        "ingest", str(more), "--workers", "0", "--second-vectors", "pass", "--json", "-d", data,
        user="admin",
    )  # fmt: skip
    out = json.loads(res.output)
    assert out["second_vectors"] == "pass" and out["second_vectors_at_ingest"] == 0
    assert out["second_vectors_queued"] == out["second_pass"]["second_vectors_made"] >= 1
    info = json.loads(_run("stats", "--json", "-d", data).output)
    assert info["second_vectors"]["with"] == info["faces"] and info["images"] == 4
    bad = _run("ingest", str(more), "--second-vectors", "later", "-d", data, user="admin", ok=False)
    assert bad.exit_code == 2 and "auto" in bad.output
    assert "faces with a second vector" in _run("stats", "-d", data).output
    again = json.loads(_run("second-pass", "--json", "-d", data, user="admin").output)
    assert again["second_vectors_made"] == 0 and again["second_vectors_remaining"] == 0
    assert _run("second-pass", "-d", data, user="inv1", ok=False).exit_code == 2
    assert "completed" in _run("runs", "-d", data).output
    res = _run("reindex", "-d", data, user="admin")
    assert f"{info['searchable_faces']} faces" in res.output
    assert _run("reindex", "-d", data, user="inv1", ok=False).exit_code == 2


def test_search_grid_picture(tmp_path, astronaut, other_faces, workspace_dir):
    from PIL import Image

    folder = _photos(tmp_path, astronaut, other_faces)
    data = workspace_dir
    _run("ingest", str(folder), "--workers", "0", "-d", data, user="admin")
    grid = tmp_path / "grid.png"
    _run(
        "search",
        str(folder / "astronaut.jpg"),
        "--case",
        "CASE-1",
        "-k",
        "3",
        "--grid",
        str(grid),
        "-d",
        data,
        user="inv1",
    )
    img = Image.open(grid)
    assert img.format == "PNG" and img.width > 600
    pixels = np.asarray(img.convert("RGB"))
    # the first candidate (the astronaut itself, 'strong') is framed in green
    strong_green = (pixels[:, :, 1] > 120) & (pixels[:, :, 0] < 60) & (pixels[:, :, 2] < 60)
    assert strong_green.sum() > 500


def test_the_cli_makes_its_files_private_and_stats_warns_when_they_are_not(tmp_path):
    """The CLI sets the umask to 0o077 at start (whatever it creates is private), init leaves
    a data directory of 0700 folders and 0600 files, and ``stats`` warns (text and JSON) once
    the data directory or its catalog file is opened to other accounts."""
    import os
    import stat

    before = os.umask(0o022)
    try:
        data = tmp_path / "data"
        _run("-d", str(data), *init_args("admin"), stdin=init_input("admin"))
        assert os.umask(0o022) == 0o077
    finally:
        os.umask(before)
    for path in [data, *data.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert json.loads(_run("stats", "--json", "-d", str(data)).stdout)["warnings"] == []
    data.chmod(0o755)
    (data / "catalog.db").chmod(0o640)
    res = _run("stats", "--json", "-d", str(data))
    warnings = json.loads(res.stdout)["warnings"]
    assert len(warnings) == 2 and "0o755" in warnings[0] and "0o640" in warnings[1]
    assert "warning:" in res.stderr and "open to other local accounts" in res.stderr
    text = _run("stats", "-d", str(data))
    assert "warning:" in text.stderr and "warnings" not in text.stdout


def test_names_with_terminal_escapes_are_printed_escaped(tmp_path, workspace_dir):
    """A file named with an ESC sequence (clear the screen, recolour) is printed with its
    control characters escaped by ingest and by ``facesearch runs RUN_ID``, never raw."""
    data = workspace_dir
    folder = tmp_path / "evil"
    folder.mkdir()
    name = "x\x1b[2J\x1b[31mred\x07[bold]b[blink].jpg"
    (folder / name).write_bytes(b"not an image at all")
    res = _run("ingest", str(folder), "--workers", "0", "-d", data, user="admin")
    assert "\x1b" not in res.output and "\x07" not in res.output
    assert "x\\x1b[2J\\x1b[31mred\\x07[bold]b[blink].jpg" in res.output.replace("\n", "")
    run_id = json.loads(
        _run("ingest", str(folder), "--workers", "0", "--json", "-d", data, user="admin").output
    )["run_id"]
    out = _run("runs", str(run_id), "-d", data).output
    assert "\x1b" not in out and "\x07" not in out
    assert f"{folder}/x\\x1b[2J\\x1b[31mred\\x07[bold]b[blink].jpg" in out.replace("\n", "")
    listed = _run("runs", "-d", data).output
    assert "\x1b" not in listed and "\x07" not in listed


def test_shown_escapes_control_characters_and_markup():
    from facesearch.cli.common import shown

    assert shown("a\x1b[1mb\nc\x9b\u202ed\x7f") == "a\\x1b[1mb\\x0ac\\x9b\\u202ed\\x7f"
    assert shown("[red]x[/red]") == "\\[red]x\\[/red]"
    assert shown("[red]x\x1b", markup=False) == "[red]x\\x1b"
    assert shown("café/照片.jpg") == "café/照片.jpg"  # printable text is left alone
