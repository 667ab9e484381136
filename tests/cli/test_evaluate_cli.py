"""``facesearch eval``: the runner's protocols on synthetic embeddings, and real runs on
small sets of ../shared/faces (skipped where absent)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from facesearch.evaluate.protocols import LabelledImage, VerificationPair
from facesearch.evaluate.runner import (
    NO_FACE,
    Dataset,
    EmbeddingSet,
    ImageResult,
    Thresholds,
    evaluate,
    genuine_pairs,
    impostor_pairs,
    load_dataset,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _app():  # type: ignore[no-untyped-def]
    from facesearch.cli.evaluate import make_app

    return make_app()


def _synthetic(
    n_ids: int, per_id: int, *, noise: float, seed: int = 0, no_face: int = 0
) -> tuple[list[LabelledImage], EmbeddingSet]:
    """Records with group column 'set' and embeddings clustered per identity."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, 32))
    records, results = [], {}
    for i in range(n_ids):
        for j in range(per_id):
            path = Path(f"/synthetic/id{i:03d}/{j:02d}.jpg")
            records.append(LabelledImage(path, f"id{i:03d}", (("set", "A" if i % 2 else "B"),)))
            vec = centres[i] + noise * rng.normal(size=32)
            vec = (vec / np.linalg.norm(vec)).astype(np.float32)
            results[path] = ImageResult(path, vec, 0.5 + 0.5 * rng.random(), (), 1, f"{i}-{j}", "")
    for path in list(results)[:no_face]:
        results[path] = ImageResult(path, None, math.nan, (), 0, f"x{path}", NO_FACE)
    return records, EmbeddingSet(results, "synthetic@0", "single", 32)


def test_pair_enumeration_counts() -> None:
    labels = np.array(["a", "a", "a", "b", "b", "c"], dtype=object)
    ga, gb = genuine_pairs(labels)
    assert sorted(zip(ga.tolist(), gb.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 2), (3, 4)]
    ia, ib = impostor_pairs(labels, None, np.random.default_rng(0))
    assert ia.size == 15 - 4  # all pairs minus genuine ones
    assert all(labels[a] != labels[b] and a < b for a, b in zip(ia, ib, strict=True))
    sa, sb = impostor_pairs(labels, 5, np.random.default_rng(0))
    assert sa.size == 5 and len(set(zip(sa.tolist(), sb.tolist(), strict=True))) == 5
    assert all(labels[a] != labels[b] for a, b in zip(sa, sb, strict=True))


def test_identity_set_report_counts_failures_and_groups() -> None:
    records, emb = _synthetic(50, 10, noise=0.6, no_face=3)
    dataset = Dataset(
        "manifest", Path("/synthetic"), records=tuple(records), group_columns=("set",)
    )
    report = evaluate(dataset, emb, Thresholds(0.5, 0.6), seed=1)
    d = report.to_dict()
    json.dumps(d)  # everything is JSON serialisable
    assert d["enrolment"]["n_no_face"] == 3
    v = d["verification"]
    assert v["n_genuine"] == 50 * 45 and v["n_impostor"] == 500 * 499 // 2 - 2250
    # the three photos without a face stay in: their 45 - 21 genuine pairs are false non-matches
    assert v["n_genuine_without_score"] == 24
    assert 0.9 < v["kfold_accuracy"]["mean"] <= 1.0 and v["kfold_accuracy"]["folds"] == 10
    assert set(v["groups"]["set"]["groups"]) == {"A", "B"}
    assert v["groups"]["set"]["cross_group"]["n_impostor"] > 0
    assert any(b["no_face"] for b in v["quality_bins"])
    closed = d["identification"]["closed_set"]
    assert closed["n_probes"] == 500 and closed["n_probes_without_face"] == 3
    assert closed["rank_1"] <= 497 / 500
    open_set = d["identification"]["open_set"]
    assert open_set["n_nonmated"] == 10 * 10  # all images of the 20% left-out identities
    assert [p["supported"] for p in open_set["points"]] == [True, False]


def test_pair_protocol_uses_its_folds_and_keeps_failures() -> None:
    records, emb = _synthetic(20, 2, noise=0.3)
    pairs = []
    for i in range(20):
        a, b = records[2 * i].path, records[2 * i + 1].path
        c = records[(2 * i + 2) % 40].path
        pairs += [
            VerificationPair(a, b, True, i % 10 + 1),
            VerificationPair(a, c, False, i % 10 + 1),
        ]
    missing = records[0].path
    emb.results[missing] = ImageResult(missing, None, math.nan, (), 0, "", "unreadable")
    report = evaluate(Dataset("cfp-ff", Path("/x"), pairs=tuple(pairs)), emb, Thresholds(0.5, 0.6))
    v = report.to_dict()["verification"]
    assert v["kfold_accuracy"]["folds"] == 10 and v["n_pairs"] == 40
    assert v["n_genuine_without_score"] == 1 and v["n_impostor_without_score"] == 2
    assert report.to_dict()["enrolment"]["n_unreadable"] == 1


def test_load_dataset_guesses_the_input(tmp_path: Path) -> None:
    for person in ("ann", "bob"):
        for k in range(2):
            (tmp_path / "people" / person / "frontal").mkdir(parents=True, exist_ok=True)
            (tmp_path / "people" / person / "frontal" / f"{k}.jpg").write_bytes(b"x")
    ds = load_dataset(tmp_path / "people", include=["ann/*"])
    assert ds.kind == "folders" and [r.identity for r in ds.records] == ["ann", "ann"]
    table = tmp_path / "pairs.tsv"
    table.write_text(
        "img_a\timg_b\tsame_person\npeople/ann/frontal/0.jpg\tpeople/bob/frontal/0.jpg\t0\n"
    )
    assert load_dataset(table).kind == "pairs"
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,identity,sex,source\npeople/ann/frontal/0.jpg,ann,F,web\n")
    ds = load_dataset(manifest)
    assert ds.kind == "manifest" and ds.group_columns == ("sex",)
    assert any("source" in note for note in ds.notes)
    (tmp_path / "cfp" / "Protocol").mkdir(parents=True)
    with pytest.raises(ValueError, match="cfp-ff or cfp-fp"):
        load_dataset(tmp_path / "cfp")


# ------------------------------------------------------------------ real photos


@pytest.mark.shared_data
def test_eval_pair_table_writes_json_png_and_reproducible_scores(shared_faces, tmp_path):
    out = tmp_path / "out"
    report_file = tmp_path / "report.json"
    result = CliRunner().invoke(
        _app(),
        [
            "eval",
            str(shared_faces / "deepface_tests" / "test_verify_pairs.tsv"),
            "--json",
            str(report_file),
            "--out",
            str(out),
            "--workers",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_file.read_text())
    assert report["dataset"]["protocol"] == "pairs"
    assert report["enrolment"]["n_no_face"] == 0
    at_match = report["verification"]["at_thresholds"]["match"]
    assert at_match["accuracy"] == 1.0  # every labelled pair decided correctly
    for name in ("roc.png", "scores.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    # scores.tsv is a pair list for `facesearch compare --pairs`: same scoring, same scores
    from facesearch.search.compare import Verifier, compare_pairs, read_pair_list

    rows = (out / "scores.tsv").read_text().splitlines()[1:]
    recorded = [float(r.split("\t")[3]) for r in rows]
    again = [r["score"] for r in compare_pairs(Verifier.load(), read_pair_list(out / "scores.tsv"))]
    assert again == pytest.approx(recorded, abs=1e-4)


@pytest.mark.shared_data
def test_eval_orl_subset_in_a_sane_range(shared_faces, tmp_path):
    report_file = tmp_path / "orl.json"
    result = CliRunner().invoke(
        _app(),
        [
            "eval",
            str(shared_faces / "orl_att_faces"),
            "--include",
            "s1*/*",  # s1 and s10..s19: 11 people x 10 photos
            "--json",
            str(report_file),
            "--out",
            str(tmp_path / "plots"),
            "--workers",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "closed-set rank-1" in result.output
    d = json.loads(report_file.read_text())
    assert d["enrolment"]["n_images"] == 110 and d["enrolment"]["n_no_face"] == 0
    v = d["verification"]
    assert v["n_genuine"] == 11 * 45 and v["n_impostor"] == 110 * 109 // 2 - 495
    assert 0.95 <= v["kfold_accuracy"]["mean"] <= 1.0
    assert v["eer"]["eer"] < 0.05
    far2 = v["tar_at_far"][0]
    assert far2["supported"] and far2["tar"] > 0.9
    assert d["identification"]["closed_set"]["rank_1"] >= 0.97
    assert d["identification"]["open_set"]["n_nonmated"] == 20  # 2 people x 10 photos
    assert (tmp_path / "plots" / "roc.png").read_bytes()[:8] == PNG_MAGIC


# ------------------------------------------------------------ second-model fusion


def test_score_fusion_standardises_and_reranks() -> None:
    from facesearch.engine.embed import ScoreFusion
    from facesearch.search.scoring import Bands, Scoring

    rng = np.random.default_rng(3)
    imp1, imp2 = rng.normal(0.04, 0.09, 5000), rng.normal(0.83, 0.04, 5000)
    fusion = ScoreFusion.fit(imp1, imp2, weight=0.3)
    assert fusion.primary_mean == pytest.approx(0.04, abs=0.01)
    assert fusion.secondary_std == pytest.approx(0.04, abs=0.005)
    assert ScoreFusion.from_dict(fusion.to_dict()) == fusion
    # weight 0 is the primary score itself; the fused scale is the primary's
    assert ScoreFusion(0.0, 0.04, 0.09, 0.83, 0.04).fuse(np.array([0.5]), np.array([0.0]))[0] == (
        pytest.approx(0.5)
    )
    at_means = fusion.fuse(np.array([fusion.primary_mean]), np.array([fusion.secondary_mean]))
    assert at_means[0] == pytest.approx(fusion.primary_mean)
    # a candidate the second model is sure about moves up; unknown vectors keep their score
    probe = np.eye(4)[0]
    cands = np.stack([np.eye(4)[1], np.eye(4)[0], np.full(4, np.nan)])
    scoring = Scoring(Bands(0.3, 0.4), ScoreFusion(0.5, 0, 0.1, 0, 0.1), Bands(0.3, 0.4))
    scores, fused = scoring.scores(np.array([0.50, 0.48, 0.40]), probe, cands)
    assert np.argsort(-scores, kind="stable").tolist() == [1, 2, 0]
    assert fused.tolist() == [True, True, False] and scores[2] == pytest.approx(0.40)


def test_second_model_files_are_checked_against_the_manifest() -> None:
    import dataclasses

    from facesearch.engine.embed import DLIB_RECOGNIZER_KEY, DlibEmbedder, second_model_spec
    from facesearch.errors import ModelFileError
    from facesearch.models.manifest import load_manifest

    manifest = load_manifest()
    model = DlibEmbedder(second_model_spec(manifest))
    model.load()
    chips = np.zeros((2, 150, 150, 3), np.uint8)
    vectors = model.predict(chips)
    assert vectors.shape == (2, 128)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)
    spec = manifest.models[DLIB_RECOGNIZER_KEY]
    bad = DlibEmbedder(dataclasses.replace(spec, sha256="0" * 64))
    with pytest.raises(ModelFileError, match="does not match its recorded hash"):
        bad.load()
