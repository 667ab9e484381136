"""Which face is compared: every face reported, the user's choice, the rules, ambiguity.

Real models on photos made from installed packages (skimage's astronaut, matplotlib's Grace
Hopper): two faces side by side of similar size (ambiguous), of very different size (not),
and a large face at the edge with a smaller one at the centre (``largest`` and ``central``
choose different people).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.cli import CliUsers, init_args, init_input
from typer.testing import CliRunner

from facesearch.cli import app
from facesearch.engine.quality import TOO_SMALL
from facesearch.errors import NoFaceError
from facesearch.evaluate.protocols import face_convention
from facesearch.search.compare import (
    CENTRAL,
    GIVEN,
    LARGEST,
    PairEntry,
    PairError,
    Verifier,
    central_face,
    compare_pairs,
    read_pair_list,
)
from facesearch.search.scoring import SIMILAR_SIZE_RATIO, ProbeFace, Scoring, ambiguous_faces

runner = CliRunner()


def _face(index: int, x: float, y: float, w: float, h: float, *flags: str) -> ProbeFace:
    return ProbeFace(index=index, bbox=(x, y, w, h), quality=0.9, flags=tuple(flags))


def _scaled(rgb: np.ndarray, factor: float) -> np.ndarray:
    size = (round(rgb.shape[1] * factor), round(rgb.shape[0] * factor))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _beside(astronaut: np.ndarray, hopper: np.ndarray, factor: float) -> np.ndarray:
    """The astronaut (face about 90x114 px) with Hopper scaled by ``factor`` to her right."""
    right = np.full((512, 512, 3), 128, np.uint8)
    small = _scaled(hopper, factor)[:512, :512]
    right[: small.shape[0], : small.shape[1]] = small
    return np.concatenate([astronaut, right], axis=1)


def _off_centre(astronaut: np.ndarray, hopper: np.ndarray) -> np.ndarray:
    """The astronaut's face at the centre of a 1200x700 photo, Hopper's larger one at its edge."""
    canvas = np.full((700, 1200, 3), 128, np.uint8)
    canvas[230:700, 377:889] = astronaut[:470]
    big = _scaled(hopper, 0.8)[:700]
    canvas[: big.shape[0], : big.shape[1]] = big
    return canvas


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut, other_faces) -> dict[str, Path]:
    hopper = other_faces[0]
    folder = tmp_path_factory.mktemp("faces")
    return {
        "similar": write_image(folder / "similar.png", _beside(astronaut, hopper, 0.53)),
        "unequal": write_image(folder / "unequal.png", _beside(astronaut, hopper, 0.3)),
        "off_centre": write_image(folder / "off_centre.png", _off_centre(astronaut, hopper)),
        "astronaut": write_image(folder / "astronaut.jpg", astronaut[:, ::-1].copy()),
        "hopper": write_image(folder / "hopper.jpg", hopper),
    }


@pytest.fixture(scope="module")
def verifier(pipeline) -> Verifier:
    return Verifier(
        pipeline, Scoring.from_manifest(pipeline.manifest, fusion=pipeline.second is not None)
    )


# ------------------------------------------------------------------------ the pure rules


def test_ambiguity_on_either_side_of_the_size_ratio() -> None:
    big = _face(0, 0, 0, 100, 100)
    assert SIMILAR_SIZE_RATIO == 0.7
    assert ambiguous_faces([big, _face(1, 200, 0, 70, 100)])  # area ratio 0.70
    assert not ambiguous_faces([big, _face(1, 200, 0, 69, 100)])  # 0.69
    assert not ambiguous_faces([big])
    # a face flagged too small does not count, even of similar size
    assert not ambiguous_faces([_face(0, 0, 0, 45, 45), _face(1, 90, 0, 39, 45, TOO_SMALL)])
    # a third, smaller face does not make a photo ambiguous; two similar ones behind it do not
    # either, when the largest stands out
    assert not ambiguous_faces([big, _face(1, 200, 0, 60, 60), _face(2, 300, 0, 58, 58)])


def test_central_face_is_the_box_centre_nearest_the_image_centre() -> None:
    faces = [_face(0, 0, 0, 120, 120), _face(1, 80, 80, 40, 40)]  # centres (60,60), (100,100)
    assert central_face(faces, 200, 200) == 1
    assert central_face(faces, 120, 120) == 0
    tie = [_face(0, 0, 90, 20, 20), _face(1, 180, 90, 20, 20)]  # equally far: the larger (0)
    assert central_face(tie, 200, 200) == 0


# ------------------------------------------------------------------ real faces, engine API


def test_faces_side_by_side_of_similar_size_are_ambiguous(verifier, photos) -> None:
    _, faces, similar = verifier.choose(photos["similar"])
    assert len(faces) == 2 and similar.ambiguous and similar.decided_by_rule
    assert similar.chosen_by == LARGEST and similar.used == 0
    _, faces, unequal = verifier.choose(photos["unequal"])
    assert len(faces) == 2 and not unequal.ambiguous  # Hopper's face is about 0.4 of hers
    _, _, given = verifier.choose(photos["similar"], 1)
    assert given.ambiguous and given.chosen_by == GIVEN and not given.decided_by_rule


def test_central_and_largest_choose_different_people(verifier, photos) -> None:
    largest = verifier.compare(photos["off_centre"], photos["astronaut"])
    assert largest.face_a.index == 0 and largest.chosen_a == LARGEST
    assert not largest.same  # Hopper's face against the astronaut
    central = verifier.compare(photos["off_centre"], photos["astronaut"], rule=CENTRAL)
    assert central.face_a.index == 1 and central.chosen_a == CENTRAL
    assert central.same and central.score > largest.score + 0.3
    given = verifier.compare(photos["off_centre"], photos["astronaut"], face_a=1)
    assert given.chosen_a == GIVEN and given.score == central.score
    assert [f.index for f in given.faces_a] == [0, 1] and len(given.faces_b) == 1
    assert not given.ambiguous_a and not given.ambiguous_b


def test_a_face_number_the_photo_lacks_is_a_clear_error(verifier, photos) -> None:
    with pytest.raises(NoFaceError, match=r"face 2 requested, but B \(.*astronaut.jpg\) has 1"):
        verifier.compare(photos["off_centre"], photos["astronaut"], face_b=2)


# ------------------------------------------------------------------------------ pair files


def test_pair_file_face_columns(verifier, photos, tmp_path) -> None:
    pairs = tmp_path / "pairs.tsv"
    off, astro, similar = photos["off_centre"], photos["astronaut"], photos["similar"]
    pairs.write_text(
        f"# faces are numbered largest first\n{off}\t{astro}\n{off}\t{astro}\t1\t\n"
        f"{similar}\t{astro}\t-\t0\n{off}\t{astro}\t5\t0\n"
    )
    entries = read_pair_list(pairs)
    assert [(e.face_a, e.face_b, e.line) for e in entries] == [
        (None, None, 2),
        (1, None, 3),
        (None, 0, 4),
        (5, 0, 5),
    ]
    rows = list(compare_pairs(verifier, entries))
    assert rows[0]["face_a"]["index"] == 0 and rows[0]["same"] is False
    assert rows[1]["face_a"]["index"] == 1 and rows[1]["chosen_a"] == GIVEN and rows[1]["same"]
    assert rows[1]["chosen_b"] == LARGEST and rows[1]["ambiguous_a"] is False
    assert rows[2]["ambiguous_a"] is True and rows[2]["chosen_a"] == LARGEST
    assert len(rows[2]["faces_a"]) == 2 and rows[2]["chosen_b"] == GIVEN
    assert rows[3]["score"] is None and rows[3]["error"].startswith("line 5: face 5 requested")
    assert len(rows[3]["faces_a"]) == 2  # the faces it does have are still listed
    central = list(compare_pairs(verifier, [PairEntry(off, astro)], rule=CENTRAL))
    assert central[0]["face_a"]["index"] == 1 and central[0]["same"]


def test_pair_file_faces_by_header_and_bad_values(tmp_path) -> None:
    named = tmp_path / "named.tsv"
    named.write_text("img_a\timg_b\tsame_person\tface_b\tface_a\na.jpg\tb.jpg\t1\t2\t\n")
    [entry] = read_pair_list(named)
    assert (entry.face_a, entry.face_b) == (None, 2)  # the columns named face_a / face_b
    scores = tmp_path / "scores.tsv"  # face columns third and fourth, then more columns
    scores.write_text("img_a\timg_b\tface_a\tface_b\tscore\na.jpg\tb.jpg\t1\t0\t0.5\n")
    assert [(e.face_a, e.face_b) for e in read_pair_list(scores)] == [(1, 0)]
    labelled = tmp_path / "labelled.tsv"
    labelled.write_text("img_a\timg_b\tsame_person\na.jpg\tb.jpg\t1\n")
    assert read_pair_list(labelled)[0].face_a is None  # other columns ignored under a header
    bad = tmp_path / "bad.tsv"
    bad.write_text("a.jpg\tb.jpg\n a.jpg\tb.jpg\tleft\t0\n")
    with pytest.raises(PairError, match=r"bad.tsv:2: face_a must be a face number"):
        read_pair_list(bad)
    three = tmp_path / "three.tsv"
    three.write_text("a.jpg\tb.jpg\t1\n")
    with pytest.raises(PairError, match=r"three.tsv:1: expected 2 fields .* or 4"):
        read_pair_list(three)


# ------------------------------------------------------------------------------------ CLI


def test_compare_cli_reports_the_faces_and_warns_on_an_ambiguous_photo(photos, tmp_path) -> None:
    data = str(tmp_path / "data")
    similar, astro = str(photos["similar"]), str(photos["astronaut"])
    res = runner.invoke(app, ["compare", similar, astro, "--json", "-d", data])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["ambiguous_a"] is True and out["ambiguous_b"] is False
    assert out["chosen_a"] == LARGEST and len(out["faces_a"]) == 2
    assert "warning:" in res.stderr and "--face-a N" in " ".join(res.stderr.split())

    res = runner.invoke(app, ["compare", similar, astro, "--face-a", "1", "-d", data])
    assert res.exit_code == 0, res.output
    shown = " ".join(res.stdout.split())  # rich wraps long lines
    assert "2 faces; compared face 1 (given), ambiguous" in shown and "* face 1: box" in shown
    assert "warning" not in res.stderr  # the user chose: nothing decided silently

    res = runner.invoke(app, ["compare", similar, astro, "--face-b", "3", "-d", data])
    assert res.exit_code == 1 and "face 3 requested, but B" in res.output

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(f"{similar}\t{astro}\n{similar}\t{astro}\t0\t0\n")
    res = runner.invoke(app, ["compare", "--pairs", str(pairs), "-d", data])
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "line 1:" in warnings[0]  # line 2 chose its faces
    assert "faces 0/2 0/1" in " ".join(res.stdout.split())
    res = runner.invoke(app, ["compare", "--pairs", str(pairs), "--face-a", "0", "-d", data])
    assert res.exit_code == 1 and "face columns" in res.output
    res = runner.invoke(app, ["compare", similar, astro, "--face-rule", "middle", "-d", data])
    # a usage error (exit 2) that lists the choices
    assert res.exit_code == 2 and "'middle'" in res.output and "central" in res.output


# ----------------------------------------------------------------------------------- eval


def _lfw(tmp_path: Path, photos: dict[str, Path]) -> Path:
    """A two-fold LFW layout: the astronaut's first photo has a larger bystander at its edge."""
    from PIL import Image

    root = tmp_path / "lfw"
    for name, number, key in (
        ("Eileen_Collins", 1, "off_centre"),
        ("Eileen_Collins", 2, "astronaut"),
        ("Grace_Hopper", 1, "hopper"),
    ):
        target = root / name / f"{name}_{number:04d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.open(photos[key]).convert("RGB").save(target)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(
        "2 1\nEileen_Collins 1 2\nEileen_Collins 1 Grace_Hopper 1\n"
        "Eileen_Collins 2 1\nGrace_Hopper 1 Eileen_Collins 2\n"
    )
    return pairs


def test_eval_scores_each_protocols_face_convention(pipeline, verifier, photos, tmp_path) -> None:
    from facesearch.evaluate.runner import (
        iter_summary_rows,
        load_dataset,
        pair_scores,
        run_evaluation,
        write_scores,
    )

    assert face_convention("lfw").rule == CENTRAL
    assert {face_convention(p).rule for p in ("cfp-ff", "cfp-fp", "folders", "pairs")} == {LARGEST}
    dataset = load_dataset(_lfw(tmp_path, photos), "lfw")
    report = run_evaluation(dataset, pipeline=pipeline, workers=0)
    summary = report.to_dict()
    assert summary["dataset"]["face_rule"] == CENTRAL
    assert "centred on the labelled person" in summary["dataset"]["face_rule_reason"]
    assert summary["enrolment"]["n_scored_face_not_largest"] == 1
    assert any(name == "face scored" and "central" in v for name, v in iter_summary_rows(report))
    threshold = report.thresholds.match
    scores = pair_scores(report.embeddings, list(dataset.pairs))
    same, diff = scores[0], scores[1]
    assert same > threshold > diff  # the labelled astronaut, not the bystander
    assert summary["verification"]["kfold_accuracy"]["mean"] == 1.0

    largest = run_evaluation(dataset, pipeline=pipeline, workers=0, face_rule=LARGEST)
    same_l, diff_l = pair_scores(largest.embeddings, list(dataset.pairs))[:2]
    assert same_l < threshold < diff_l  # the bystander scored: both pairs decided wrongly
    assert largest.to_dict()["dataset"]["face_rule_reason"].startswith("largest, set for")

    # scores.tsv names the faces scored, so compare --pairs reproduces eval's scores
    table = write_scores(report, tmp_path / "scores.tsv")
    again = [r["score"] for r in compare_pairs(verifier, read_pair_list(table))]
    assert again == pytest.approx(list(scores), abs=1e-4)


# --------------------------------------------------------------------------------- search


def test_search_json_flags_an_ambiguous_probe(photos, tmp_path) -> None:
    data = str(tmp_path / "data")

    users = CliUsers(data)  # each user's token, made on first use

    def run(*args: str, user: str) -> str:
        res = runner.invoke(app, ["-d", data, *args], env=users.env(user))
        assert res.exit_code == 0, res.output
        return res.stdout

    res = runner.invoke(
        app, ["-d", data, *init_args("admin", "admin2")], input=init_input("admin", "admin2")
    )
    assert res.exit_code == 0, res.output
    for name, role in (("sup", "supervisor"), ("inv", "investigator")):
        run("user", "add", name, "--role", role, "--no-password", user="admin")
    run("change", "approve", "1", user="admin2")  # a supervisor needs two administrators
    run(
        "case", "open", "C-1", "--purpose", "cse-victim-id", "--authority", "Warrant 1",
        "--justification", "identify the child", user="inv",
    )  # fmt: skip
    run("case", "approve", "C-1", user="sup")
    run("ingest", str(photos["astronaut"]), "--workers", "0", "--json", user="admin")
    for probe, expected in (("similar", True), ("unequal", False)):
        out = json.loads(run("search", str(photos[probe]), "--case", "C-1", "--json", user="inv"))
        assert out["probe_ambiguous"] is expected and len(out["probe_faces"]) == 2
