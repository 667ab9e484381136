"""The N-recognizer leave-one-dataset-out (evaluate/lodo_multi.py) on seeded synthetic scores.

With two members and lodo's candidates it must make lodo's choice (one procedure, generalised);
with three it is checked against the selection rule recomputed by brute force, and for never
training on the held-out set.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facesearch.evaluate import lodo
from facesearch.evaluate import lodo_multi as lm


def _pair_set(
    name: str, rng: np.random.Generator, n: int, help2: float, group: str = ""
) -> lodo.ScoredSet:
    labels = np.arange(n) % 2 == 0
    signal = labels.astype(float)
    s1 = 0.1 + 0.35 * signal + rng.normal(0, 0.12, n)
    s2 = 0.83 + 0.05 * help2 * signal + rng.normal(0, 0.04, n)
    s1[rng.choice(n, 3, replace=False)] = np.nan  # a side without a face
    folds = (rng.permutation(n) % 10 + 1).astype(np.int64)
    return lodo.ScoredSet(name, s1, s2, labels, folds, np.full(n, np.nan), group=group)


def _multi_set(
    name: str, rng: np.random.Generator, n: int, helps: list[float]
) -> lm.MultiScoredSet:
    labels = np.arange(n) % 2 == 0
    signal = labels.astype(float)
    cols = [0.1 + 0.3 * signal + rng.normal(0, 0.12, n)]
    for h in helps:
        cols.append(0.5 + 0.06 * h * signal + rng.normal(0, 0.05, n))
    folds = (rng.permutation(n) % 10 + 1).astype(np.int64)
    return lm.MultiScoredSet(name, np.column_stack(cols), labels, folds)


@pytest.fixture(scope="module")
def pair_sets() -> list[lodo.ScoredSet]:
    rng = np.random.default_rng(2016)
    return [
        _pair_set("a", rng, 400, 2.0, group="a+b"),
        _pair_set("b", rng, 300, 1.0, group="a+b"),
        _pair_set("c", rng, 200, 0.0),
        _pair_set("d", rng, 240, 1.5),
    ]


@pytest.mark.parametrize("by_group", [False, True])
def test_two_members_reproduce_lodo(pair_sets: list[lodo.ScoredSet], by_group: bool) -> None:
    candidates = lodo.candidate_grid(weights=(0.1, 0.25, 0.4, 0.55, 0.7, 0.85))
    expected = lodo.leave_one_out(pair_sets, candidates, by_group=by_group)
    multi = [lm.MultiScoredSet.from_pair_set(s) for s in pair_sets]
    got = lm.leave_one_out(
        multi, lm.from_lodo_candidates(candidates), ("sface", "dlib"), by_group=by_group
    )
    assert [h.name for h in got] == [h.name for h in expected]
    for e, g in zip(expected, got, strict=True):
        assert g.selection.candidate.normalisation == e.selection.candidate.normalisation
        assert g.selection.candidate.weights[1] == e.selection.candidate.weight
        assert g.selection.trained_on == e.selection.trained_on
        ef, gf = e.selection.fusion, g.selection.fusion
        assert [(m.mean, m.std) for m in gf.members] == [
            (ef.primary_mean, ef.primary_std),
            (ef.secondary_mean, ef.secondary_std),
        ]
        assert g.fused == e.fused
        assert g.no_worse == e.no_worse
        held = next(s for s in pair_sets if s.name == e.name)
        np.testing.assert_array_equal(
            lm.fused_scores(gf, lm.MultiScoredSet.from_pair_set(held)),
            lodo.fused_scores(ef, held),
        )
    assert lm.accept(got) == lodo.accept(expected)


def _oracle(train: list[lm.MultiScoredSet], cands: list[lm.MultiCandidate], models) -> int:
    stats = lm.impostor_statistics(train)
    best = {
        s.name: max(lodo.score_set(s.scores[:, j], s).accuracy for j in range(len(models)))
        for s in train
    }
    rows = []
    for i, c in enumerate(cands):
        f = c.fusion(models, stats)
        accs = [lodo.score_set(lm.fused_scores(f, s), s).accuracy for s in train]
        eers = [lodo.score_set(lm.fused_scores(f, s), s).eer for s in train]
        no_worse = sum(a >= best[s.name] - lodo.EPS for a, s in zip(accs, train, strict=True))
        rows.append((no_worse, float(np.mean(accs)), float(np.mean(eers)), i))
    most = max(r[0] for r in rows)
    top = max(r[1] for r in rows if r[0] == most)
    tied = [r for r in rows if r[0] == most and r[1] >= top - lodo.EPS]
    low = min(r[2] for r in tied)
    return min(r[3] for r in tied if r[2] <= low + lodo.EPS)


def test_three_members_select_by_the_rule_and_hold_out_honestly() -> None:
    rng = np.random.default_rng(25)
    models = ("primary", "second", "third")
    sets = [
        _multi_set("p", rng, 300, [1.5, 0.0]),
        _multi_set("q", rng, 260, [1.0, 2.0]),
        _multi_set("r", rng, 240, [0.0, 1.5]),
    ]
    cands, step = lm.simplex_grid(3, max_candidates=60)
    assert step == pytest.approx(0.2)  # 0.1 makes 126 candidates, 0.125 makes 66
    sel = lm.select(sets[:2], cands, models)
    assert sel.candidate == cands[_oracle(sets[:2], cands, models)]
    assert [(m.mean, m.std) for m in sel.fusion.members] == lm.impostor_statistics(sets[:2])
    held = lm.leave_one_out(sets, cands, models)
    for h in held:
        assert h.name not in h.selection.trained_on
        assert set(h.singles) == set(models)
    decision = lm.accept(held)
    assert decision.failures == [h.name for h in held if not h.no_worse]


def test_the_grid_is_on_the_simplex_simplest_first_and_capped() -> None:
    cands, step = lm.simplex_grid(2)
    assert step == pytest.approx(0.1)
    assert [c.weights for c in cands[:3]] == [(0.9, 0.1), (0.8, 0.2), (0.7, 0.3)]
    assert len(cands) == 2 * 9
    cands, step = lm.simplex_grid(3)
    assert step == pytest.approx(0.1) and len(cands) == 2 * (66 - 3)
    assert all(abs(sum(c.weights) - 1) < 1e-9 for c in cands)
    assert sum(1 for w in cands[0].weights if w) == 2  # two members before three
    cands, step = lm.simplex_grid(4, max_candidates=400)
    assert len(cands) <= 400 and step == pytest.approx(0.125)


def test_one_set_is_k_fold_within_it_and_said_so() -> None:
    s = _multi_set("only", np.random.default_rng(4), 400, [1.5])
    parts = lm.kfold_parts(s, 5)
    assert len(parts) == 5 and sum(len(p.labels) for p in parts) == 400
    assert all(np.unique(p.folds).size == 2 for p in parts)
    out = lm.choose([s], ("a", "b"))
    assert out.method == "k-fold within one set"
    assert "not leave-one-dataset-out" in out.note
    assert len(out.held_out) == 5
    record = out.to_dict()
    assert record["chosen_on_all"]["fusion"]["members"][0]["model"] == "a"
    assert record["weight_step"] == pytest.approx(0.1)


def test_sets_of_one_group_are_held_out_one_by_one_and_said_so() -> None:
    rng = np.random.default_rng(8)
    a = _multi_set("a", rng, 200, [1.0])
    b = _multi_set("b", rng, 200, [1.0])
    same = [dataclasses.replace(s, group="a+b") for s in (a, b)]
    out = lm.choose(same, ("x", "y"), candidates=lm.simplex_grid(2)[0][:4])
    assert out.method == "leave-one-set-out (one group)" and "flatters" in out.note
    assert [h.selection.trained_on for h in out.held_out] == [("b",), ("a",)]
    assert out.step is None and out.to_dict()["weight_step"] is None
    out = lm.choose([a, b], ("x", "y"))
    assert out.method == "leave-one-dataset-out"
