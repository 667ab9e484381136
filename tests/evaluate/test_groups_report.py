"""Accuracy by group and age: the report's counts against a direct computation from the same
scores (real photos of ../shared/faces with made-up labels, and synthetic vectors), the
disparity flag at the policy's factor, Wilson intervals, and clear errors for a bad CSV."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.group_faces import make_group_set

from facesearch.app import group_eval
from facesearch.engine.pipeline import PipelineSettings
from facesearch.evaluate.group_labels import GroupLabelsError, read_group_labels
from facesearch.evaluate.groups_report import (
    ScoredPairs,
    group_report,
    scored_pairs,
    wilson_interval,
)
from facesearch.evaluate.identification import prepare_records
from facesearch.evaluate.protocols import LabelledImage
from facesearch.evaluate.runner import (
    EmbeddingSet,
    ImageResult,
    Thresholds,
    genuine_pairs,
    impostor_pairs,
    load_dataset,
    run_evaluation,
)
from facesearch.govern.errors import PolicyError
from facesearch.govern.policy import default_policy, parse_policy

THRESHOLD = 0.3645


def _direct_counts(
    records: list[LabelledImage],
    vectors: dict[Path, np.ndarray | None],
    label: dict[Path, str],
    threshold: float,
) -> dict[str, dict[str, int]]:
    """Per group: genuine pairs and false non-matches, impostor pairs within / across and
    false matches, and rank-1 hits of the whole set, counted pair by pair."""
    out: dict[str, dict[str, int]] = {}

    def score(a: Path, b: Path) -> float:
        va, vb = vectors[a], vectors[b]
        return -math.inf if va is None or vb is None else float(np.dot(va, vb))

    def row(g: str) -> dict[str, int]:
        keys = ("gen", "fnm", "within", "fm_within", "across", "fm_across", "probes", "hits")
        return out.setdefault(g, dict.fromkeys(keys, 0))

    for a, b in itertools.combinations(records, 2):
        ga, gb = label.get(a.path, ""), label.get(b.path, "")
        if not ga or not gb:
            continue
        s = score(a.path, b.path)
        if a.identity == b.identity:
            if ga == gb:
                row(ga)["gen"] += 1
                row(ga)["fnm"] += s < threshold
        elif ga == gb:
            row(ga)["within"] += 1
            row(ga)["fm_within"] += s >= threshold
        else:
            for g in (ga, gb):
                row(g)["across"] += 1
                row(g)["fm_across"] += s >= threshold
    for probe in records:
        mates = [r for r in records if r.identity == probe.identity and r is not probe]
        g = label.get(probe.path, "")
        if not mates or not g:
            continue
        others = [r for r in records if r.identity != probe.identity]
        best = max(score(probe.path, m.path) for m in mates)
        top = max((score(probe.path, o.path) for o in others), default=-math.inf)
        row(g)["probes"] += 1
        row(g)["hits"] += vectors[probe.path] is not None and best > top
    return out


def _report_counts(column: dict[str, Any], all_size: str) -> dict[str, dict[str, int]]:
    return {
        g["value"]: {
            "gen": g["fnmr"]["n"],
            "fnm": g["fnmr"]["count"],
            "within": g["fmr_within"]["n"],
            "fm_within": g["fmr_within"]["count"],
            "across": g["fmr_across"]["n"],
            "fm_across": g["fmr_across"]["count"],
            "probes": g["rank1"][all_size]["n"],
            "hits": g["rank1"][all_size]["count"],
        }
        for g in column["groups"]
    }


@pytest.mark.shared_data
def test_group_counts_on_real_photos_match_a_direct_computation(shared_faces, tmp_path):
    photos, labels_csv = make_group_set(shared_faces, tmp_path)
    dataset = load_dataset(photos)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    text = default_policy().text.replace("disparity_factor = 1.5", "disparity_factor = 6")
    (data_dir / "policy.toml").write_text(text, encoding="utf-8")
    given = group_eval.prepare(dataset, labels_csv, data_dir)
    assert given.factor == 6.0 and "policy.toml" in given.factor_source
    report = run_evaluation(
        dataset,
        thresholds=Thresholds(THRESHOLD, 0.5),
        settings=PipelineSettings(second_model=False),
        workers=0,
    )
    run = group_eval.run_groups(report, dataset, given, seed=2016, max_impostors=None, out=None)
    d = run.report.to_dict()
    assert d["n_images"] == 24 and d["n_genuine"] == 36 and d["n_impostor"] == 240
    vectors = {p: report.embeddings[p].embedding for p in dataset.paths}
    assert sum(v is None for v in vectors.values()) == 7  # the blank pictures: no face
    records = sorted(dataset.records, key=lambda r: (r.identity, str(r.path)))
    all_size = d["gallery_sizes"][-1]
    assert all_size == "all (23)" and d["gallery_sizes"][0] == "10"
    columns = {c["column"]: c for c in d["columns"]}
    for column in ("cohort", "sex"):
        label = {r.path: given.labels.value(r.path, column) for r in records}
        expected = _direct_counts(records, vectors, label, THRESHOLD)
        assert _report_counts(columns[column], all_size) == expected, column
    cohort = {g["value"]: g for g in columns["cohort"]["groups"]}
    assert cohort["worse"]["fnmr"]["count"] >= 15 and cohort["better"]["fnmr"]["count"] >= 3
    assert cohort["worse"]["n_identities"] == 3 and cohort["worse"]["n_images"] == 12
    # the worse group's FNMR is about 5x the better one's: not over the policy's factor of 6
    assert "FNMR" not in cohort["worse"]["flags"]
    # ... and over 1.5 (the default): flagged
    again = group_report(
        scored_pairs(dataset, report, seed=2016, max_impostors=None),
        given.labels,
        threshold=THRESHOLD,
        dataset="x",
        model_key="m",
        created_at="now",
        disparity_factor=1.5,
    )
    worse = next(g for g in again.columns[0].groups if g.value == "worse")
    assert again.columns[0].column == "cohort" and worse.flags[:1] == ["FNMR"]
    # age: photos 1-4 are 10, 11, 15 and 25 years old (bands 0-12, 0-12, 13-17, 18-30)
    age = d["age"]
    gen_fail = {}
    for a, b in itertools.combinations(records, 2):
        if a.identity == b.identity:
            s = (
                -math.inf
                if vectors[a.path] is None or vectors[b.path] is None
                else float(np.dot(vectors[a.path], vectors[b.path]))
            )
            gap = abs(given.labels.age(a.path) - given.labels.age(b.path))
            key = "0-2" if gap < 3 else "3-5" if gap < 6 else "6-10" if gap < 11 else "11+"
            n, f = gen_fail.get(key, (0, 0))
            gen_fail[key] = (n + 1, f + (s < THRESHOLD))
    got = {k: (v["n"], v["count"]) for k, v in age["fnmr_by_age_gap"].items()}
    assert got == gen_fail and sum(n for n, _ in got.values()) == 36
    assert age["fnmr_by_band"]["0-12"]["n"] == 6  # photos 1 and 2 of six people
    assert age["fnmr_across_bands"]["n"] == 30 and age["fnmr_by_band"]["51+"]["n"] == 0


def _synthetic(tmp_path: Path) -> tuple[list[LabelledImage], EmbeddingSet]:
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(8, 16))
    records, results = [], {}
    for i in range(8):
        for j in range(3):
            path = tmp_path / f"id{i}" / f"{j}.jpg"
            records.append(LabelledImage(path, f"id{i}"))
            noise = 1.5 if i >= 6 else 0.4  # ids 6 and 7: blurry, more misses
            vec = centres[i] + noise * rng.normal(size=16)
            vec = (vec / np.linalg.norm(vec)).astype(np.float32)
            results[path] = ImageResult(path, vec, 0.9, (), 1, f"{i}-{j}", "")
    return records, EmbeddingSet(results, "synthetic@0", "single", 16)


def test_synthetic_counts_flags_and_unlabelled_images(tmp_path: Path) -> None:
    records, emb = _synthetic(tmp_path)
    labels_csv = tmp_path / "labels.csv"
    lines = ["identity,band"] + [
        f"id{i},{'a' if i < 3 else 'b' if i < 6 else 'c'}" for i in range(7)
    ]
    labels_csv.write_text("\n".join(lines) + "\n", encoding="utf-8")  # id7: unlabelled
    labels = read_group_labels(labels_csv, records, tmp_path)
    prepared = prepare_records(records, emb)
    ga, gb = genuine_pairs(prepared.labels)
    ia, ib = impostor_pairs(prepared.labels, None, np.random.default_rng(0))
    pairs = ScoredPairs(
        prepared, (ga, gb), prepared.pair_scores(ga, gb), (ia, ib), prepared.pair_scores(ia, ib)
    )
    t = 0.5
    report = group_report(
        pairs, labels, threshold=t, dataset="syn", model_key="m", created_at="now", sizes=(5,)
    )
    col = report.columns[0]
    assert col.n_unlabelled_images == 3 and [g.value for g in col.groups] == ["a", "b", "c"]
    vectors = {r.path: emb[r.path].embedding for r in records}
    label = {r.path: labels.value(r.path, "band") for r in records}
    direct = _direct_counts(records, vectors, label, t)
    got = _report_counts(col.to_dict(), report.gallery_sizes[-1])
    assert got == direct
    assert report.gallery_sizes == ["5", "all (23)"]
    c = col.groups[2]
    assert c.n_identities == 1 and c.fmr_within.n == 0  # one person: no impostor pair within
    fnmrs = {g.value: g.fnmr.rate for g in col.groups}
    best = min(r for r in fnmrs.values() if r is not None)
    for g in col.groups:
        assert ("FNMR" in g.flags) == (g.fnmr.rate is not None and g.fnmr.rate > 1.5 * best)
    assert col.best["FNMR"] == min(fnmrs, key=lambda k: (fnmrs[k], k))
    assert any(g.flags for g in col.groups)  # the noisy people's group misses more
    summary = report.summary()
    assert summary["columns"] == ["band"] and summary["model_key"] == "m"


def test_wilson_interval_known_values() -> None:
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(0, 10)  # type: ignore[misc]
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)  # type: ignore[misc]
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert wilson_interval(10, 10)[1] == 1.0  # type: ignore[index]


def test_bad_label_files_say_which_lines(tmp_path: Path) -> None:
    records = [LabelledImage(tmp_path / "p1" / f"{j}.jpg", "p1") for j in range(2)]
    records.append(LabelledImage(tmp_path / "p2" / "0.jpg", "p2"))
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "path,identity,sex,age\n"
        "p1/0.jpg,,F,30\n"  # line 2: fine
        "p9/0.jpg,,F,30\n"  # line 3: not in the data set
        "p1/0.jpg,,F,31\n"  # line 4: the same image again
        ",p7,M,\n"  # line 5: no such identity
        "p1/1.jpg,,F,old\n"  # line 6: not an age
        ",p2,M,40\n"  # line 7: an age for a person
        ",,M,\n"  # line 8: names nothing
        "p2/0.jpg,p1,M,\n"  # line 9: image of another person
        "p2/0.jpg,F\n",  # line 10: too few fields
        encoding="utf-8",
    )
    with pytest.raises(GroupLabelsError) as err:
        read_group_labels(bad, records, tmp_path)
    lines = [line for line, _ in err.value.problems]
    assert lines == [3, 4, 5, 6, 7, 8, 9, 10]
    text = str(err.value)
    assert "line 3: image 'p9/0.jpg' is not in the data set" in text
    assert "line 4: image 'p1/0.jpg' is given again (first on line 2)" in text
    assert "line 5: identity 'p7' is not in the data set" in text
    assert "line 6: age must be a number of years" in text and "nothing was evaluated" in text
    no_key = tmp_path / "nokey.csv"
    no_key.write_text("name,sex\nx,F\n", encoding="utf-8")
    with pytest.raises(GroupLabelsError, match="no column naming the image"):
        read_group_labels(no_key, records, tmp_path)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("identity,sex\np1,F\np2,\xe9\n".encode("latin-1"))
    with pytest.raises(GroupLabelsError, match="line 3: not UTF-8"):
        read_group_labels(latin, records, tmp_path)
    good = tmp_path / "good.csv"
    absolute = tmp_path / "p1" / "1.jpg"
    good.write_text(f"identity,path,sex\np1,,F\n,{absolute},M\n", encoding="utf-8")
    labels = read_group_labels(good, records, tmp_path)
    assert labels.value(records[0].path, "sex") == "F"  # from the identity row
    assert labels.value(absolute, "sex") == "M"  # the image row wins
    assert labels.value(records[2].path, "sex") == ""  # unlabelled, not guessed
    # photos of DATA that --include leaves out: their rows are skipped and counted
    left_out = [LabelledImage(tmp_path / "p3" / "0.jpg", "p3")]
    good.write_text("identity,path,sex\np1,,F\n,p3/0.jpg,M\np3,,M\n", encoding="utf-8")
    labels = read_group_labels(good, records, tmp_path, outside=left_out)
    assert labels.n_rows_outside == 2 and labels.value(records[0].path, "sex") == "F"
    with pytest.raises(GroupLabelsError, match=r"line 3: image 'p3/0\.jpg' is not in the data"):
        read_group_labels(good, records, tmp_path)


def test_policy_accuracy_section() -> None:
    assert default_policy().accuracy.disparity_factor == 1.5
    without = default_policy().text.replace("[accuracy]", "").replace("disparity_factor = 1.5", "")
    assert parse_policy(without).accuracy.disparity_factor == 1.5
    text = default_policy().text
    three = parse_policy(text.replace("disparity_factor = 1.5", "disparity_factor = 3"))
    assert three.accuracy.disparity_factor == 3.0 and "more than 3x" in three.describe()
    with pytest.raises(PolicyError, match=r"accuracy\.disparity_factor"):
        parse_policy(
            default_policy().text.replace("disparity_factor = 1.5", "disparity_factor = 0.9")
        )
    with pytest.raises(PolicyError, match=r"accuracy\.factor"):
        parse_policy(default_policy().text.replace("disparity_factor = 1.5", "factor = 2"))
