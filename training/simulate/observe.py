"""Observation: PSF convolution and pixelisation, noise, saturation and masks (value 100.0).

Scenes arrive as flux per sub-pixel on the supersampled grid (BLF units, simulator band order). The PSF
(Gaussian for space, Moffat with beta = 3.5 for ground, FWHM per band per cutout) is applied at sub-pixel
resolution, then sub-pixels are summed into 101x101 pixels. Noise: Gaussian with per-pixel variance
sigma^2 * (1 + signal / sky_per_pixel), i.e. background-subtracted sky noise plus the Poisson noise of the
objects at the sky's effective gain. Masks (ground only, as in the BLF release) set pixels to exactly 100.0:
saturated stars with bleed trails, cosmic rays, satellite streaks and bad columns.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.signal import fftconvolve

from training.simulate.config import SIZE, BandConfig, SetConfig, mag_to_flux

F64 = npt.NDArray[np.float64]
MASK_VALUE = np.float32(100.0)
SATURATION_SIGMA = 2.0e4
"""Ground pixels whose noise-free value exceeds this many noise sigmas are saturated (masked)."""


def draw_fwhm(rng: np.random.Generator, cfg: SetConfig) -> F64:
    """PSF FWHM (arcsec) per band for one cutout."""
    return np.array([rng.uniform(*b.fwhm_range_arcsec) for b in cfg.bands], dtype=np.float64)


def psf_kernel(cfg: SetConfig, fwhm: float) -> F64:
    """Normalised PSF kernel on the sub-pixel grid (odd side, centred), FWHM in arcsec."""
    step = cfg.pixel_scale / cfg.supersample
    half = math.ceil((2.0 if cfg.psf == "gaussian" else 3.0) * fwhm / step)
    ax = np.arange(-half, half + 1, dtype=np.float64) * step
    x, y = np.meshgrid(ax, ax)
    r2 = x * x + y * y
    if cfg.psf == "gaussian":
        sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        k = np.exp(-0.5 * r2 / sigma**2)
    else:
        beta = cfg.moffat_beta
        alpha = fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))
        k = (1.0 + r2 / alpha**2) ** (-beta)
    out: F64 = k / k.sum()
    return out


def convolve_and_bin(image: F64, kernel: F64, supersample: int) -> F64:
    """PSF-convolve a sub-pixel image and sum sub-pixels into SIZE x SIZE pixels (flux per pixel)."""
    conv = np.asarray(fftconvolve(image, kernel, mode="same"), dtype=np.float64)
    ss = supersample
    out: F64 = conv.reshape(SIZE, ss, SIZE, ss).sum(axis=(1, 3))
    return out


def sky_per_pixel(band: BandConfig, pixel_scale: float) -> float:
    """Sky flux per pixel (BLF units) from the band's sky surface brightness."""
    return mag_to_flux(band.sky_mag_arcsec2 - 2.5 * math.log10(pixel_scale**2))


def add_noise(rng: np.random.Generator, noiseless: F64, band: BandConfig, pixel_scale: float) -> F64:
    """A noisy realisation of a noise-free band image (BLF units)."""
    var = band.noise_sigma**2 * (1.0 + np.maximum(noiseless, 0.0) / sky_per_pixel(band, pixel_scale))
    out: F64 = noiseless + np.sqrt(var) * rng.standard_normal(noiseless.shape)
    return out


def _line_mask(
    shape: tuple[int, int], x0: float, y0: float, angle: float, length: float, width: float
) -> npt.NDArray[np.bool_]:
    """Pixels within width/2 of the segment centred on (x0, y0) (pixel units) at ``angle``."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    c, s = math.cos(angle), math.sin(angle)
    along = (xx - x0) * c + (yy - y0) * s
    across = -(xx - x0) * s + (yy - y0) * c
    inside: npt.NDArray[np.bool_] = (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)
    return inside


def draw_masks(
    rng: np.random.Generator, cfg: SetConfig, saturated: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Masked pixels (C, SIZE, SIZE) for one cutout: saturated pixels (given, with bleed trails) in every
    case, plus, in a fraction ``cfg.mask_probability`` of cutouts, 1-3 of: a saturated-star blob (all bands),
    a cosmic ray, a satellite streak or a bad column (one band each). Space sets get no masks.
    """
    n_bands = len(cfg.bands)
    mask = np.zeros((n_bands, SIZE, SIZE), dtype=bool)
    if cfg.mask_probability <= 0:
        return mask
    for b in range(n_bands):
        if saturated[b].any():
            # Charge bleeds along columns from saturated cores.
            cols = np.flatnonzero(saturated[b].any(axis=0))
            rows = np.flatnonzero(saturated[b].any(axis=1))
            extra = int(rng.integers(2, 15))
            mask[b, max(rows.min() - extra, 0) : rows.max() + extra + 1, cols] = True
            mask[b] |= saturated[b]
    if rng.uniform() >= cfg.mask_probability:
        return mask
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.choice(["blob", "cosmic", "streak", "column"], p=[0.35, 0.3, 0.15, 0.2])
        b = int(rng.integers(n_bands))
        if kind == "blob":
            x0, y0 = rng.uniform(0, SIZE, size=2)
            radius = rng.uniform(2.0, 9.0)
            yy, xx = np.mgrid[0:SIZE, 0:SIZE]
            for bb in range(n_bands):
                rb = radius * rng.uniform(0.8, 1.2)
                mask[bb] |= (xx - x0) ** 2 + (yy - y0) ** 2 <= rb * rb
        elif kind == "cosmic":
            x0, y0 = rng.uniform(0, SIZE, size=2)
            mask[b] |= _line_mask(
                (SIZE, SIZE), x0, y0, rng.uniform(0, math.pi), rng.uniform(2, 15), rng.uniform(1.0, 2.0)
            )
        elif kind == "streak":
            x0, y0 = rng.uniform(20, SIZE - 20, size=2)
            mask[b] |= _line_mask((SIZE, SIZE), x0, y0, rng.uniform(0, math.pi), 400.0, rng.uniform(1.5, 4.0))
        else:
            col = int(rng.integers(SIZE))
            start = int(rng.integers(0, SIZE // 2)) if rng.uniform() < 0.5 else 0
            mask[b, start:, col : col + int(rng.integers(1, 3))] = True
    return mask
