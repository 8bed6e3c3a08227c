"""app.explain: occlusion and LIME find what a known model looks at; the pieces they are made of."""

from __future__ import annotations

import numpy as np
import pytest

from app.explain.lime import LimeParams, lime_plan, weighted_ridge
from app.explain.occlusion import OcclusionParams, count_copies, occlusion_plan, starts
from app.explain.plan import EPSILON, log_odds
from app.explain.superpixels import superpixels

SIZE = 101
REGION = (slice(60, 80), slice(20, 40))  # rows, columns the toy model looks at


def toy_scores(copies: np.ndarray) -> np.ndarray:
    """A model whose logit is the mean of REGION (masked pixels 0) minus 1: only REGION matters."""
    x = np.nan_to_num(copies[:, :, REGION[0], REGION[1]], nan=0.0)
    logit = 4.0 * x.mean(axis=(1, 2, 3)) - 1.0
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def cutout(channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 0.1, (channels, SIZE, SIZE)).astype(np.float32)
    x[:, REGION[0], REGION[1]] += 1.0
    x[:, 10:30, 70:90] += 1.0  # just as bright, but the toy model ignores it
    return x


def test_log_odds_is_clipped_where_float32_saturates() -> None:
    assert log_odds(0.5) == 0.0
    assert log_odds(1.0) == pytest.approx(np.log((1 - EPSILON) / EPSILON))
    assert np.all(np.isfinite(log_odds([0.0, 1.0])))


def test_patch_offsets_cover_the_edge() -> None:
    assert starts(101, 10, 5) == [*range(0, 91, 5), 91]
    assert starts(101, 101, 5) == [0] and starts(5, 10, 5) == [0]
    assert count_copies(SIZE, SIZE, OcclusionParams()) == 1 + 20 * 20


def test_occlusion_masks_one_patch_per_copy_in_every_band() -> None:
    x = cutout(channels=4)
    plan = occlusion_plan(x, OcclusionParams(patch=10, stride=5))
    assert plan.copies.shape == (401, 4, SIZE, SIZE) and plan.segments is None
    np.testing.assert_array_equal(plan.copies[0], x)
    hidden = np.isnan(plan.copies[1:]).sum(axis=(2, 3))
    assert np.all(hidden == 100)
    assert np.isnan(plan.copies[1, :, :10, :10]).all()


def test_occlusion_finds_the_region_the_model_uses() -> None:
    plan = occlusion_plan(cutout())
    probability, saliency = plan.explain(toy_scores(plan.copies))
    assert probability == pytest.approx(float(toy_scores(cutout()[None])[0]))
    assert saliency.shape == (SIZE, SIZE) and saliency.dtype == np.float32
    inside = saliency[REGION].mean()
    assert inside > 0.05
    assert np.abs(saliency[10:30, 70:90]).max() < 1e-6  # the ignored blob: no drop at all
    assert np.unravel_index(np.argmax(saliency), saliency.shape)[0] in range(55, 85)


def test_occlusion_refuses_gaps() -> None:
    with pytest.raises(ValueError, match="stride"):
        occlusion_plan(cutout(), OcclusionParams(patch=4, stride=5))


def test_superpixels_follow_the_light() -> None:
    labels = superpixels(cutout(), 64)
    assert labels.shape == (SIZE, SIZE) and labels.dtype == np.int32
    k = int(labels.max()) + 1
    assert 30 <= k <= 64 and set(np.unique(labels)) == set(range(k))
    # segments do not straddle the bright square's edge: each is (nearly) all in or all out
    inside = np.zeros((SIZE, SIZE), bool)
    inside[REGION] = True
    shares = [inside[labels == s].mean() for s in range(k)]
    assert sum(0.1 < share < 0.9 for share in shares) <= 2


def test_weighted_ridge_matches_scikit_learn() -> None:
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    design = (rng.random((200, 12)) < 0.5).astype(np.float64)
    target = design @ rng.normal(size=12) + rng.normal(0, 0.1, 200)
    weights = rng.random(200)
    expected = sklearn.Ridge(alpha=1.0).fit(design, target, sample_weight=weights).coef_
    np.testing.assert_allclose(weighted_ridge(design, target, weights, 1.0), expected, rtol=1e-8, atol=1e-10)


def test_lime_finds_the_region_the_model_uses() -> None:
    plan = lime_plan(cutout(), LimeParams(samples=400, seed=3))
    assert plan.copies.shape == (400, 1, SIZE, SIZE) and plan.segments is not None
    np.testing.assert_array_equal(plan.copies[0], cutout())
    _, saliency = plan.explain(toy_scores(plan.copies))
    assert saliency[REGION].mean() > 10 * max(np.abs(saliency[10:30, 70:90]).mean(), 1e-9)
    segment = plan.segments[np.unravel_index(np.argmax(saliency), saliency.shape)]
    assert (plan.segments == segment)[REGION].any()


def test_lime_is_reproducible_with_its_seed() -> None:
    a, b = (
        lime_plan(cutout(), LimeParams(samples=32, seed=5)),
        lime_plan(cutout(), LimeParams(samples=32, seed=5)),
    )
    np.testing.assert_array_equal(a.copies, b.copies)
    assert not np.array_equal(a.copies, lime_plan(cutout(), LimeParams(samples=32, seed=6)).copies)
