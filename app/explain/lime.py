"""LIME-style superpixel explanations (Ribeiro, Singh & Guestrin 2016), written on the batched scorer.

1. Segment the cutout into superpixels (:mod:`app.explain.superpixels`, a numpy SLIC).
2. Draw ``samples`` random on/off vectors z over the K superpixels (each on with probability
   ``keep``; the first is all on: the cutout itself) and make one copy per vector with the "off"
   superpixels masked (NaN in every band, which the in-graph normalisation puts at the sky level):
   the copies are scored as one batch.
3. Fit a weighted ridge regression (with intercept, penalty ``ridge``) of the copies' log-odds
   (``app.explain.plan``) on z, weights = sqrt(exp(-d^2 / kernel_width^2)) with d the cosine distance
   of z to the all-on vector: the ``lime`` package's image defaults (kernel width 0.25, ridge 1).
4. Each superpixel's coefficient is the log-odds it adds to the score; the saliency map paints it on
   every pixel of the superpixel (as LIME shows its top segments), so the map reads like occlusion's:
   what the model loses when the region around a pixel is hidden.

Why not the ``lime`` package: its image explainer takes RGB images (it would need our 1- and 4-band
cutouts reshaped into colour pictures), segments with scikit-image and fits with scikit-learn, which
would all join the service's dependencies; the method itself is the 30 lines below and the weighted
ridge fit is one small linear solve in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.explain.plan import F32, Plan, log_odds
from app.explain.superpixels import superpixels


@dataclass(frozen=True, slots=True)
class LimeParams:
    """``segments``: superpixels wanted; ``samples``: copies scored (the cutout itself included);
    ``keep``: probability a superpixel is on in a sample; ``kernel_width``, ``ridge``: the fit (module
    docstring); ``compactness``: of the superpixels; ``seed``: of the random vectors."""

    segments: int = 64
    samples: int = 512
    keep: float = 0.5
    kernel_width: float = 0.25
    ridge: float = 1.0
    compactness: float = 0.5
    seed: int = 0


def weighted_ridge(
    design: npt.NDArray[np.float64],
    target: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    alpha: float,
) -> npt.NDArray[np.float64]:
    """Coefficients of ridge regression with an (unpenalised) intercept and sample ``weights``: the
    weighted means are taken out of ``design`` (S, K) and ``target`` (S,), then (X' W X + alpha I) b =
    X' W y is solved (as scikit-learn's Ridge(alpha).fit(X, y, sample_weight=w).coef_)."""
    total = weights.sum()
    x = design - (weights @ design) / total
    y = target - (weights @ target) / total
    gram = x.T @ (weights[:, None] * x) + alpha * np.eye(design.shape[1])
    coef: npt.NDArray[np.float64] = np.linalg.solve(gram, x.T @ (weights * y))
    return coef


def lime_plan(cutout: F32, params: LimeParams = LimeParams()) -> Plan:
    """The copies of ``cutout`` (C, H, W) with random superpixels masked, and how to fit their scores."""
    if params.samples < 2 or not 0.0 < params.keep < 1.0:
        raise ValueError(f"need samples >= 2 and 0 < keep < 1, got {params}")
    cutout = np.asarray(cutout, dtype=np.float32)
    labels = superpixels(cutout, params.segments, compactness=params.compactness)
    k = int(labels.max()) + 1
    rng = np.random.default_rng(params.seed)
    on = rng.random((params.samples, k)) < params.keep
    on[0] = True
    hidden = ~on[:, labels]  # (S, H, W)
    copies = np.where(hidden[:, None, :, :], np.float32(np.nan), cutout[None])

    design = on.astype(np.float64)
    kept = design.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        distance = np.where(kept > 0, 1.0 - kept / (np.sqrt(kept) * np.sqrt(k)), 1.0)
    weights = np.sqrt(np.exp(-(distance**2) / params.kernel_width**2))

    def combine(scores: F32) -> F32:
        coef = weighted_ridge(design, log_odds(scores), weights, params.ridge)
        return coef[labels].astype(np.float32)

    return Plan(copies.astype(np.float32), combine, labels)
