"""Superpixels for LIME: a small SLIC (Achanta et al. 2012) in numpy, for cutouts of ~100x100 pixels.

SLIC is k-means on (features, position) with each centre searching only its neighbourhood. Features
are the cutout after the model's own normalisation (``app.preprocess.normalise``: per band,
asinh of the sky-subtracted flux in units of 3 sigma; masked pixels 0), box-blurred over 3x3 pixels
so that noise does not shred the segments; all bands count. Distance
``|f - f_k|^2 / compactness^2 + |xy - xy_k|^2 / S^2`` with S the grid step: a larger ``compactness``
gives squarer segments, a smaller one segments that follow the light (arcs, the lens galaxy).
Centres start on a regular grid of about ``n_segments`` cells and take ``iterations`` k-means steps;
a pixel only considers centres within 2 S on both axes. Segments are not forced to be connected (a
few stray pixels may join a neighbour's segment). Labels are renumbered 0..K-1.

scikit-image's ``slic`` does the same with connectivity post-processing, but it would bring
scikit-image (and scipy) into the service for 101x101 images; this costs a few milliseconds.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from app.preprocess import normalise

F32 = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int32]

ITERATIONS: Final = 8


def _blur(features: F32) -> F32:
    """3x3 box mean of each plane (C, H, W), edges replicated."""
    padded = np.pad(features, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = features.shape[1:]
    total = sum(padded[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))
    return np.asarray(total, dtype=np.float32) / np.float32(9.0)


def superpixels(
    cutout: F32, n_segments: int = 64, *, compactness: float = 0.5, iterations: int = ITERATIONS
) -> Labels:
    """Superpixel labels (H, W) int32, 0..K-1 with K <= about ``n_segments``, of ``cutout`` (C, H, W)."""
    if n_segments < 1:
        raise ValueError(f"n_segments must be positive, got {n_segments}")
    c, h, w = cutout.shape
    features = _blur(normalise(np.asarray(cutout, dtype=np.float32)[None])[0])
    step = math.sqrt(h * w / n_segments)
    ny, nx = max(1, round(h / step)), max(1, round(w / step))
    cy = (np.arange(ny) + 0.5) * h / ny
    cx = (np.arange(nx) + 0.5) * w / nx
    centre_yx = np.stack(np.meshgrid(cy, cx, indexing="ij"), axis=-1).reshape(-1, 2)
    yy, xx = np.mgrid[0:h, 0:w]
    pixel_yx = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float64)
    pixel_f = features.reshape(c, -1).T.astype(np.float64)  # (P, C)
    rounded = np.clip(np.round(centre_yx).astype(int), 0, [h - 1, w - 1])
    centre_f = features[:, rounded[:, 0], rounded[:, 1]].T.astype(np.float64)  # (K, C)
    spatial = 1.0 / step**2
    colour = 1.0 / compactness**2
    labels = np.zeros(h * w, dtype=np.int64)
    for _ in range(iterations):
        dyx = pixel_yx[:, None, :] - centre_yx[None, :, :]  # (P, K, 2)
        dist = spatial * (dyx**2).sum(axis=2)
        dist += colour * ((pixel_f[:, None, :] - centre_f[None, :, :]) ** 2).sum(axis=2)
        dist[(np.abs(dyx) > 2.0 * step).any(axis=2)] = np.inf
        labels = np.argmin(dist, axis=1)
        counts = np.bincount(labels, minlength=len(centre_yx)).astype(np.float64)
        used = counts > 0
        for d in range(2):
            sums = np.bincount(labels, weights=pixel_yx[:, d], minlength=len(centre_yx))
            centre_yx[used, d] = sums[used] / counts[used]
        for d in range(c):
            sums = np.bincount(labels, weights=pixel_f[:, d], minlength=len(centre_yx))
            centre_f[used, d] = sums[used] / counts[used]
    _, renumbered = np.unique(labels, return_inverse=True)
    return renumbered.reshape(h, w).astype(np.int32)
