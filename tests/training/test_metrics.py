"""DESIGN section 5's metrics: hand-checked cases with ties, and properties over random score sets."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.metrics import (
    HARD_NEGATIVE_KINDS,
    accuracy,
    allowed_false_positives,
    at_threshold,
    auc,
    fpr_by_kind,
    fpr_key,
    hard_negative_fpr,
    lens_metrics,
    threshold_at_fpr,
    tpr_allowing,
    tpr_at_fpr,
)

# Four lenses, three non-lenses; one lens (score 3) is tied with the highest non-lens.
LABELS = np.array([1, 1, 1, 1, 0, 0, 0])
SCORES = np.array([5.0, 4.0, 3.0, 3.0, 3.0, 2.0, 1.0])


def test_tpr0_counts_a_tie_with_a_nonlens_as_crossing_it() -> None:
    assert tpr_allowing(LABELS, SCORES, 0) == 0.5  # 5 and 4 above 3; the lenses at 3 are not
    assert tpr_allowing(LABELS, SCORES, 1) == 1.0  # above the second non-lens (2)
    assert lens_metrics(LABELS, SCORES)["tpr0"] == 0.5


def test_auc_counts_ties_one_half() -> None:
    # 12 lens/non-lens pairs: lenses 5 and 4 win 3 each, each lens at 3 wins 2 and ties 1 -> 11/12.
    assert auc(LABELS, SCORES) == pytest.approx(11 / 12)


def test_threshold_at_fpr_is_the_midpoint_above_the_cut_and_agrees_with_the_tpr() -> None:
    assert threshold_at_fpr(LABELS, SCORES, 0.0) == 3.5  # between non-lens 3 and the next score, 4
    rates = at_threshold(LABELS, SCORES, 3.5)
    assert (rates["tpr"], rates["fpr"]) == (0.5, 0.0)
    assert rates["accuracy"] == pytest.approx(5 / 7)
    assert accuracy(LABELS, SCORES, 3.5) == pytest.approx(5 / 7)
    # FPR 1/3 of 3 non-lenses allows one: the cut is the second non-lens (2), threshold halfway to 3.
    assert threshold_at_fpr(LABELS, SCORES, 1 / 3) == 2.5
    assert tpr_at_fpr(LABELS, SCORES, 1 / 3) == 1.0
    assert at_threshold(LABELS, SCORES, 2.5)["fpr"] == pytest.approx(1 / 3)


def test_threshold_edge_cases() -> None:
    assert threshold_at_fpr([0, 1], [2.0, 1.0], 0.0) == 4.0  # nothing above the top non-lens: s + |s|
    assert threshold_at_fpr([0, 1], [2.0, 1.0], 1.0) == -math.inf  # every cutout may be flagged
    with pytest.raises(ValueError, match="non-lens"):
        threshold_at_fpr([1, 1], [2.0, 1.0], 0.01)


def test_tpr10_is_above_the_tenth_nonlens_and_needs_ten() -> None:
    labels = np.r_[np.ones(4, int), np.zeros(10, int)]
    scores = np.r_[[10.5, 10.0, 5.0, 0.5], np.arange(1.0, 11.0)]
    m = lens_metrics(labels, scores)
    assert m["tpr10"] == 0.75  # 10.5, 10 and 5 are above the 10th highest non-lens (1); 0.5 is not
    assert m["tpr0"] == 0.25  # 10 ties the top non-lens
    assert (m["n_lenses"], m["n_nonlenses"]) == (4, 10)
    assert math.isnan(lens_metrics(labels[:-1], scores[:-1])["tpr10"])


def test_allowed_false_positives_floors_without_binary_rounding_surprises() -> None:
    assert allowed_false_positives(0.01, 1000) == 10
    assert allowed_false_positives(0.001, 1000) == 1
    assert allowed_false_positives(0.01, 999) == 9
    assert allowed_false_positives(0.29, 100) == 29  # 0.29 * 100 = 28.999999999999996 in binary
    assert fpr_key(1e-2) == "tpr_at_fpr_1e-2" and fpr_key(1e-3) == "tpr_at_fpr_1e-3"


def test_lens_metrics_keys_and_undefined_cases() -> None:
    m = lens_metrics(LABELS, SCORES)
    assert set(m) == {"auc", "tpr0", "tpr10", "n_nonlenses", "n_lenses", "tpr_at_fpr_1e-2", "tpr_at_fpr_1e-3"}
    assert m["tpr_at_fpr_1e-2"] == m["tpr0"]  # 3 non-lenses: FPR 1e-2 allows none
    assert math.isnan(auc([1, 1], [0.3, 0.4]))
    with pytest.raises(ValueError, match="finite"):
        lens_metrics([1, 0], [np.nan, 0.0])
    with pytest.raises(ValueError, match=r"0 \(non-lens\) or 1"):
        lens_metrics([2, 0], [1.0, 0.0])


def test_fpr_by_kind_and_hard_negatives() -> None:
    labels = [1, 0, 0, 0, 0, 0]
    kinds = ["lens", "ring", "ring", "spiral", "galaxy", "galaxy"]
    scores = [0.9, 0.8, 0.1, 0.7, 0.6, 0.2]
    by_kind = fpr_by_kind(labels, kinds, scores, 0.65)
    assert by_kind == {
        "galaxy": {"n": 2, "fpr": 0.0},
        "ring": {"n": 2, "fpr": 0.5},
        "spiral": {"n": 1, "fpr": 1.0},
    }
    hard = hard_negative_fpr(labels, kinds, scores, 0.65)
    assert (hard["n"], hard["fpr"]) == (3, pytest.approx(2 / 3))
    assert fpr_by_kind(labels, kinds, scores, 0.6)["galaxy"]["fpr"] == 0.5  # at the threshold counts


def test_hard_negative_kinds_are_the_simulators() -> None:
    from training.simulate.cutout import HARD_KINDS

    assert HARD_NEGATIVE_KINDS == HARD_KINDS


def _brute_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (pos.size * neg.size)


small_sets = st.lists(st.tuples(st.integers(0, 1), st.integers(-6, 6)), min_size=2, max_size=40)


@given(small_sets)
@settings(max_examples=60, deadline=None)
def test_metrics_are_invariant_under_increasing_transforms(pairs: list[tuple[int, int]]) -> None:
    labels = np.array([p[0] for p in pairs])
    scores = np.array([p[1] for p in pairs], dtype=np.float64)
    warped = scores**3 + 2.0 * scores  # strictly increasing and exact on small integers: ties kept
    a, b = lens_metrics(labels, scores), lens_metrics(labels, warped)
    for key, value in a.items():
        assert (math.isnan(value) and math.isnan(b[key])) or value == pytest.approx(b[key]), key
    if 0 < labels.sum() < labels.size:
        assert a["auc"] == pytest.approx(_brute_auc(labels, scores))


@given(st.integers(0, 2**32 - 1), st.integers(900, 2500), st.integers(1, 60), st.sampled_from([1, 4, 50]))
@settings(max_examples=25, deadline=None)
def test_tpr_ladder_and_threshold_agree(seed: int, n_neg: int, n_pos: int, levels: int) -> None:
    rng = np.random.default_rng(seed)
    # Scores rounded onto a coarse grid make many ties between and within the classes.
    scores = np.round(np.r_[rng.normal(1.5, 1.0, n_pos), rng.normal(0.0, 1.0, n_neg)] * levels) / levels
    labels = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    m = lens_metrics(labels, scores)
    assert m["tpr0"] <= m["tpr_at_fpr_1e-3"] <= m["tpr_at_fpr_1e-2"]
    assert m["tpr0"] <= m["tpr10"] <= m["tpr_at_fpr_1e-2"]  # N >= 900: FPR 1e-2 allows >= 9
    for fpr in (1e-3, 1e-2, 0.1):
        rates = at_threshold(labels, scores, threshold_at_fpr(labels, scores, fpr))
        assert rates["fpr"] <= fpr
        assert rates["tpr"] == tpr_at_fpr(labels, scores, fpr)
