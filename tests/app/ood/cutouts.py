"""Synthetic cutouts for the out-of-distribution tests: a galaxy the shipped models' training data would
hold (a round Gaussian core on white noise), and the same broken in each way a warning is for.

Arrays are float32 (C, H, W) in BLF-like units (noise sigma 1e-12 unless said otherwise)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from app.render import gray_levels

SIZE = 101
SIGMA = 1e-12
F32 = npt.NDArray[np.float32]


def galaxy(
    peaks: Sequence[float] = (100.0,), *, width_px: float = 2.5, seed: int = 0, size: int = SIZE
) -> F32:
    """One plane per peak: a Gaussian core of ``peaks[c]`` noise sigmas at the centre, white noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] - size // 2
    core = np.exp(-(yy**2 + xx**2) / (2.0 * width_px**2))
    planes = [peak * core + rng.normal(0.0, 1.0, (size, size)) for peak in peaks]
    return (np.stack(planes) * SIGMA).astype(np.float32)


def box_blur(image: F32, radius: int = 1) -> F32:
    """Each plane averaged over (2 radius + 1)^2 pixels: correlated noise, as after resampling."""
    k = 2 * radius + 1
    padded = np.pad(image, ((0, 0), (radius, radius), (radius, radius)), mode="edge")
    h, w = image.shape[1:]
    total = sum(padded[:, dy : dy + h, dx : dx + w] for dy in range(k) for dx in range(k))
    return (np.asarray(total) / k**2).astype(np.float32)


def gray_png_levels(image: F32) -> F32:
    """The documented grayscale rendering of a one-band cutout, as decoded levels (1, H, W), FITS order."""
    return np.flipud(gray_levels(image[0])).astype(np.float32)[None]


def linear_png_levels(image: F32) -> F32:
    """A min-max linear 8-bit rendering (another viewer's stretch), as decoded levels (1, H, W)."""
    x = image[0].astype(np.float64)
    levels = np.rint(255.0 * (x - x.min()) / (x.max() - x.min()))
    return levels.astype(np.float32)[None]
