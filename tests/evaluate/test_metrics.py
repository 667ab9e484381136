"""Evaluation metrics against score lists small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facesearch.evaluate.group_metrics import accuracy_by_quality_bin, per_group_error_rates
from facesearch.evaluate.metric_inputs import fte_counts, scores_with_failures
from facesearch.evaluate.metrics import (
    best_accuracy_threshold,
    eer,
    kfold_verification_accuracy,
    roc_curve,
    tar_at_far,
    threshold_for_far,
)
from facesearch.evaluate.rank_metrics import fnir_at_fpir, rank_k_accuracy

# ------------------------------------------------------------------------------ ROC


def test_roc_by_hand_with_tied_genuine_and_impostor_scores():
    # 0.8 is both a genuine and an impostor score: they must move together.
    curve = roc_curve([0.9, 0.8, 0.8, 0.3], [0.8, 0.5, 0.1])
    assert curve.thresholds.tolist() == [math.inf, 0.9, 0.8, 0.5, 0.3, 0.1]
    np.testing.assert_allclose(curve.tar, [0, 1 / 4, 3 / 4, 3 / 4, 1, 1])
    np.testing.assert_allclose(curve.far, [0, 0, 1 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_allclose(curve.fnmr, 1 - curve.tar)
    assert (curve.n_genuine, curve.n_impostor) == (4, 3)


def test_roc_arrays_are_read_only():
    curve = roc_curve([0.9], [0.1])
    with pytest.raises(ValueError):
        curve.far[0] = 0.5


def test_empty_class_is_a_clear_error():
    with pytest.raises(ValueError, match="genuine is empty"):
        roc_curve([], [0.1, 0.2])
    with pytest.raises(ValueError, match="impostor is empty"):
        eer([0.5], [])
    with pytest.raises(ValueError, match="impostor is empty"):
        tar_at_far([0.5], [], 0.1)


def test_nan_scores_are_refused_with_a_pointer_to_failure_handling():
    with pytest.raises(ValueError, match="scores_with_failures"):
        roc_curve([0.9, float("nan")], [0.1])
    with pytest.raises(ValueError, match="scores_with_failures"):
        kfold_verification_accuracy([0.9, None, 0.1, 0.2], [1, 1, 0, 0], 2)


def test_labels_must_be_boolean_or_zero_one():
    with pytest.raises(ValueError, match="0/1"):
        kfold_verification_accuracy([0.9, 0.8, 0.1, 0.2], [1, 2, 0, 0], 2)


# ------------------------------------------------------------------ FAR operating point


def test_threshold_for_far_is_just_above_the_k_plus_first_impostor():
    impostor = np.arange(1, 11) / 10  # 0.1 .. 1.0
    t = threshold_for_far(impostor, 0.1)  # one false accept allowed: only 1.0
    assert t is not None
    assert t > 0.9 and np.nextafter(t, -np.inf) == 0.9
    assert np.mean(impostor >= t) == pytest.approx(0.1)


def test_threshold_for_far_unsupported_rate_returns_none():
    impostor = np.linspace(0, 1, 10)
    assert threshold_for_far(impostor, 0.05) is None  # 10 * 0.05 < 1
    assert threshold_for_far(impostor, 0.1) is not None  # 10 * 0.1 == 1


def test_threshold_for_far_counts_without_float_truncation():
    impostor = np.arange(100, dtype=float)
    t = threshold_for_far(impostor, 0.29)  # 0.29 * 100 = 28.999999999999996 in floats
    assert t is not None
    assert int((impostor >= t).sum()) == 29


def test_threshold_for_far_with_ties_never_exceeds_the_rate():
    impostor = [0.5, 0.5, 0.5, 0.1]
    t = threshold_for_far(impostor, 0.5)  # 2 allowed, but 3 tie at 0.5: accept none
    assert t is not None and t > 0.5
    assert np.mean(np.asarray(impostor) >= t) == 0.0


def test_far_must_be_a_proper_rate():
    with pytest.raises(ValueError, match="between 0 and 1"):
        threshold_for_far([0.1, 0.2], 0.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        tar_at_far([0.9], [0.1, 0.2], 1.5)


def test_tar_at_far_by_hand():
    genuine = [0.95, 0.85, 0.6, 0.4]
    impostor = np.arange(10) / 10  # 0.0 .. 0.9
    p = tar_at_far(genuine, impostor, 0.1)  # accept only impostor 0.9 -> t just above 0.8
    assert p is not None
    assert (p.tar, p.far) == (0.5, 0.1)
    assert 0.8 < p.threshold < 0.85
    p = tar_at_far(genuine, impostor, 0.5)  # t just above 0.4: genuine 0.4 is rejected
    assert p is not None
    assert (p.tar, p.far) == (0.75, 0.5)
    assert tar_at_far(genuine, impostor, 0.01) is None


def test_tar_at_far_equals_best_roc_point_on_random_scores():
    rng = np.random.default_rng(7)
    genuine = np.round(rng.normal(0.6, 0.15, 200), 2)  # rounding makes many ties
    impostor = np.round(rng.normal(0.2, 0.15, 500), 2)
    curve = roc_curve(genuine, impostor)
    for far in (0.002, 0.01, 0.05, 0.2):
        p = tar_at_far(genuine, impostor, far)
        assert p is not None
        assert p.far <= far
        assert p.tar == pytest.approx(curve.tar[curve.far <= far].max())


# ------------------------------------------------------------------------------ EER


def test_eer_exact_crossing_at_a_score():
    result = eer([0.6, 0.7, 0.8, 0.9], [0.1, 0.2, 0.3, 0.65])
    assert result.eer == pytest.approx(0.25)
    assert result.threshold == pytest.approx(0.65)


def test_eer_interpolated_between_points():
    # At 0.6: FAR 1/3, FNMR 1/2; at 0.4: FAR 1/3, FNMR 0 -> cross a third of the way.
    result = eer([0.8, 0.4], [0.6, 0.2, 0.1])
    assert result.eer == pytest.approx(1 / 3)
    assert result.threshold == pytest.approx(0.6 + (0.4 - 0.6) / 3)


def test_eer_of_identical_scores_is_one_half():
    result = eer([1.0], [1.0])
    assert result.eer == pytest.approx(0.5)
    assert result.threshold == 1.0


def test_eer_with_failures_and_when_undefined():
    fs = scores_with_failures([None, None, 0.9])
    result = eer(fs.scores, [0.1])
    # FNMR never falls below 2/3 (two genuine failures); FAR jumps 0 -> 1 at 0.1.
    assert result.eer == pytest.approx(2 / 3)
    never = eer(scores_with_failures([None, None]).scores, scores_with_failures([None]).scores)
    assert math.isnan(never.eer) and math.isnan(never.threshold)


# -------------------------------------------------------------------------- k-fold


def _ten_fold_scores() -> tuple[np.ndarray, np.ndarray]:
    # Ten contiguous folds of (genuine, impostor). Fold 1 is (0.3, 0.2), others (0.9, 0.1).
    scores = np.array([0.3, 0.2] + [0.9, 0.1] * 9)
    labels = np.array([True, False] * 10)
    return scores, labels


def test_kfold_by_hand_never_scores_a_threshold_on_its_own_fold():
    scores, labels = _ten_fold_scores()
    result = kfold_verification_accuracy(scores, labels, 10)
    # Fold 1: the other folds separate perfectly on (0.1, 0.9] -> midpoint 0.5, which
    # rejects fold 1's genuine 0.3. Had fold 1 been in training, (0.2, 0.3] would win.
    assert result.thresholds[0] == pytest.approx(0.5)
    assert result.accuracies[0] == pytest.approx(0.5)
    # Other folds: training includes fold 1 -> best interval (0.2, 0.3] -> 0.25.
    np.testing.assert_allclose(result.thresholds[1:], 0.25)
    np.testing.assert_allclose(result.accuracies[1:], 1.0)
    np.testing.assert_allclose(result.train_accuracies, 1.0)
    assert result.folds.tolist() == list(range(1, 11))
    assert result.fold_sizes.tolist() == [2] * 10
    assert result.mean == pytest.approx(0.95)
    assert result.std == pytest.approx(0.15)  # population std over folds
    assert result.standard_error == pytest.approx(0.05)  # sample std / sqrt(10)


def test_kfold_with_explicit_fold_ids_matches_contiguous_split():
    scores, labels = _ten_fold_scores()
    fold_ids = np.repeat(np.arange(1, 11), 2)
    order = np.random.default_rng(3).permutation(scores.size)
    shuffled = kfold_verification_accuracy(scores[order], labels[order], fold_ids[order])
    contiguous = kfold_verification_accuracy(scores, labels, 10)
    np.testing.assert_allclose(shuffled.accuracies, contiguous.accuracies)
    np.testing.assert_allclose(shuffled.thresholds, contiguous.thresholds)


def test_kfold_rejects_a_single_fold():
    scores, labels = _ten_fold_scores()
    with pytest.raises(ValueError, match="two distinct fold"):
        kfold_verification_accuracy(scores, labels, np.ones(20, dtype=int))
    with pytest.raises(ValueError, match="between 2"):
        kfold_verification_accuracy(scores, labels, 1)


def test_best_threshold_takes_midpoint_of_widest_tied_interval():
    # Accuracy 3/4 on (0.2, 0.4] and on (0.6, 0.9]; the wider one wins, midpoint 0.75.
    threshold, accuracy = best_accuracy_threshold([0.9, 0.4, 0.6, 0.2], [1, 1, 0, 0])
    assert threshold == pytest.approx(0.75)
    assert accuracy == pytest.approx(0.75)


def test_best_threshold_when_rejecting_everything_is_best():
    threshold, accuracy = best_accuracy_threshold([0.1, 0.2], [0, 0])
    assert threshold > 0.2 and np.nextafter(threshold, -np.inf) == 0.2
    assert accuracy == 1.0


# ------------------------------------------------------------------- failure to enrol


def test_failures_are_counted_and_rejected_not_dropped():
    raw = [0.9, None, 0.2, float("nan"), 0.8, 0.1]
    labels = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    counts = fte_counts(raw, labels)
    assert (counts.n_pairs, counts.n_genuine, counts.n_impostor) == (6, 3, 3)
    assert (counts.n_failed, counts.n_genuine_failed, counts.n_impostor_failed) == (2, 1, 1)
    assert counts.fte_rate == pytest.approx(2 / 6)

    fs = scores_with_failures(raw)
    assert fs.n_failures == 2
    assert fs.failed.tolist() == [False, True, False, True, False, False]
    assert np.isneginf(fs.scores[[1, 3]]).all()

    curve = roc_curve(fs.scores[labels], fs.scores[~labels])
    # The genuine pair with no face is a false non-match at every threshold...
    assert curve.tar.max() == pytest.approx(2 / 3)
    # ...and the impostor pair with no face a correct non-match at every threshold.
    assert curve.far.max() == pytest.approx(2 / 3)

    result = kfold_verification_accuracy(fs.scores, labels, 3)
    # Folds (0.9 gen, fail gen), (0.2 imp, fail imp), (0.8 gen, 0.1 imp).
    np.testing.assert_allclose(result.accuracies, [0.5, 1.0, 1.0])


# --------------------------------------------------------------------- identification


GALLERY = ["a", "b", "c", "a"]
SIM = np.array(
    [
        [0.5, 0.9, 0.1, 0.7],  # a: best mate 0.7, beaten by b's 0.9 -> rank 2
        [0.2, 0.8, 0.3, 0.1],  # b: rank 1
        [0.6, 0.6, 0.6, 0.2],  # c: ties with two non-mates -> pessimistic rank 3
        [np.nan] * 4,  # a: no face on the probe -> miss at every rank
    ]
)


def test_rank_k_accuracy_by_hand():
    result = rank_k_accuracy(SIM, ["a", "b", "c", "a"], GALLERY, ks=(1, 2, 3, 4))
    assert result.ranks.tolist() == [2.0, 1.0, 3.0, math.inf]
    assert result.accuracy == {1: 0.25, 2: 0.5, 3: 0.75, 4: 0.75}
    np.testing.assert_allclose(result.cmc(4), [0.25, 0.5, 0.75, 0.75])
    assert (result.n_probes, result.n_failed) == (4, 1)


def test_rank_k_accuracy_needs_every_probe_enrolled():
    with pytest.raises(ValueError, match="no mate in the gallery"):
        rank_k_accuracy(SIM[:1], ["z"], GALLERY)
    with pytest.raises(ValueError, match="gallery columns"):
        rank_k_accuracy(SIM, ["a", "b", "c", "a"], GALLERY[:3])


OPEN_GALLERY = ["a", "b", "c"]
MATED = np.array(
    [
        [0.9, 0.2, 0.1],  # a: rank 1, 0.9
        [0.3, 0.5, 0.1],  # b: rank 1, 0.5
        [0.7, 0.1, 0.6],  # c: rank 2, 0.6
        [np.nan, np.nan, np.nan],  # a: no face -> always a miss
    ]
)
MATED_LABELS = ["a", "b", "c", "a"]
NONMATED_TOP = np.array([0.8, 0.6, 0.55, 0.4, 0.3, 0.2, 0.2, 0.1, 0.1, 0.0])
NONMATED = np.column_stack([NONMATED_TOP, NONMATED_TOP - 0.05, np.full(10, -1.0)])


def test_fnir_at_fpir_by_hand():
    # FPIR 0.1 of 10 non-mated: one may pass (0.8) -> T just above 0.6.
    p = fnir_at_fpir(MATED, MATED_LABELS, NONMATED, OPEN_GALLERY, 0.1)
    assert p is not None
    assert 0.6 < p.threshold < 0.8
    assert p.fpir == pytest.approx(0.1)
    assert p.fnir == pytest.approx(0.75)  # only probe 0 is at rank 1 above T
    assert (p.n_mated, p.n_nonmated, p.rank) == (4, 10, 1)

    # FPIR 0.2 -> T just above 0.55: probe 2 (0.6) passes T but is at rank 2.
    p1 = fnir_at_fpir(MATED, MATED_LABELS, NONMATED, OPEN_GALLERY, 0.2)
    p2 = fnir_at_fpir(MATED, MATED_LABELS, NONMATED, OPEN_GALLERY, 0.2, rank=2)
    assert p1 is not None and p2 is not None
    assert p1.fnir == pytest.approx(0.75)
    assert p2.fnir == pytest.approx(0.5)


def test_fnir_at_fpir_too_few_nonmated_probes():
    assert fnir_at_fpir(MATED, MATED_LABELS, NONMATED, OPEN_GALLERY, 0.05) is None
    empty = np.empty((0, 3))
    assert fnir_at_fpir(MATED, MATED_LABELS, empty, OPEN_GALLERY, 0.5) is None


def test_fnir_at_fpir_checks_nonmated_labels():
    labels = ["x"] * 9 + ["b"]
    with pytest.raises(ValueError, match="have a mate in the gallery"):
        fnir_at_fpir(MATED, MATED_LABELS, NONMATED, OPEN_GALLERY, 0.1, nonmated_probe_labels=labels)


# ----------------------------------------------------------------- per-group figures


def test_per_group_error_rates_by_hand():
    result = per_group_error_rates(
        genuine_scores=[0.9, 0.4, 0.8, 0.7, 0.3],
        genuine_groups=["F", "F", "M", "M", "M"],
        impostor_scores=[0.6, 0.2, 0.7, 0.1, 0.65],
        impostor_groups=["F", ("F", "M"), ("M", "M"), "M", ("M", "F")],
        threshold=0.5,
    )
    f, m = result.groups["F"], result.groups["M"]
    assert (f.n_genuine, f.n_false_non_match, f.n_impostor, f.n_false_match) == (2, 1, 1, 1)
    assert (f.fnmr, f.fmr) == (0.5, 1.0)
    assert (m.n_genuine, m.n_false_non_match, m.n_impostor, m.n_false_match) == (3, 1, 2, 1)
    assert m.fnmr == pytest.approx(1 / 3) and m.fmr == 0.5
    # Impostor pairs across groups are reported apart, never dropped.
    assert (result.cross_group.n_impostor, result.cross_group.n_false_match) == (2, 1)
    assert result.fmr_ratio() == pytest.approx(2.0)
    assert result.fnmr_ratio() == pytest.approx(1.5)


def test_per_group_rate_is_nan_without_pairs():
    result = per_group_error_rates([0.9], ["F"], [0.1], [("M", "M")], threshold=0.5)
    assert math.isnan(result.groups["F"].fmr)
    assert math.isnan(result.groups["M"].fnmr)


# ---------------------------------------------------------------------- quality bins


def test_accuracy_by_quality_bin_by_hand():
    scores = [0.9, 0.3, 0.2, 0.7, 0.1, 0.6, 0.8]
    labels = [1, 1, 1, 0, 0, 0, 1]
    quality = np.array(
        [[0.8, 0.9], [0.2, 0.7], [0.4, 0.4], [0.1, 0.5], [0.9, 0.95], [0.6, 0.6], [np.nan, 0.5]]
    )  # pair quality = min of the two sides
    low, high, missing = accuracy_by_quality_bin(scores, labels, quality, 0.5, [0.0, 0.5, 1.0])
    assert (low.lower, low.upper, high.lower, high.upper) == (0.0, 0.5, 0.5, 1.0)
    assert (low.n_genuine, low.n_false_non_match, low.n_impostor, low.n_false_match) == (
        2,
        2,
        1,
        1,
    )
    assert (high.n_genuine, high.n_false_non_match, high.n_impostor, high.n_false_match) == (
        1,
        0,
        2,
        1,
    )
    assert (low.fnmr, low.fmr, high.fnmr, high.fmr) == (1.0, 1.0, 0.0, 0.5)
    assert missing.missing and (missing.n_genuine, missing.n_impostor) == (1, 0)


def test_quantile_quality_bins_keep_every_pair():
    rng = np.random.default_rng(1)
    scores = rng.random(50)
    labels = rng.random(50) > 0.5
    bins = accuracy_by_quality_bin(scores, labels, rng.random(50), 0.5, bins=4)
    assert len(bins) == 4
    assert sum(b.n_genuine + b.n_impostor for b in bins) == 50


def test_quality_outside_explicit_edges_is_an_error():
    with pytest.raises(ValueError, match="bin edges"):
        accuracy_by_quality_bin([0.9], [1], [1.5], 0.5, [0.0, 1.0])
