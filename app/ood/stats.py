"""Cheap per-plane statistics of conformed cutouts: what the out-of-distribution checks compare.

One function, :func:`plane_statistics`, computes every statistic for every plane (band) of a batch of
cutouts; ``training.input_stats`` runs it on a model's training inputs (the card's
``input_statistics``) and :mod:`app.ood.check` runs it on each scored cutout, so both sides measure the
same thing with the same code. It runs on the request path, so it is built for speed: about ten
vectorised passes and four partitions of 700 to 900 values per plane.

Conventions: pixels are float32 (N, C, H, W) as the model takes them (raw flux in any linear unit for
FITS, display levels 0..255 or 0..65535 for PNG), masked pixels NaN. ``sky`` and ``sigma`` are the
median and 1.4826 x MAD of the finite pixels of the plane's stride-4 grid (the in-graph normalisation
uses the same estimators on the stride-2 grid; the coarser grid costs a quarter as much and moves them
by a few per cent), and "normalised" means ``asinh((x - sky) / (3 sigma))`` as in ``app.preprocess``.
Medians are nearest-rank (within one rank of the exact median). Every statistic is unchanged when a
plane is multiplied by a positive constant (flux-unit free), except the ``png_*`` level statistics,
which are only computed for PNG levels.

Statistics (per plane; NaN where undefined, e.g. a plane without a finite pixel or with sigma 0):
- ``log_noise_to_signal``: log10(sigma / (peak - sky)), the noise relative to the signal, with
  ``peak`` the brightest mean of 3x3 pixel blocks (robust to a single hot pixel). Pure noise gives
  about 0; the simulated sets' galaxies give -4 to -1.
- ``noise_correlation``: the spread (MAD) of differences of horizontal neighbours over that of pixels
  two apart, on every 12th row: 1 for white noise, below 1 when the image was smoothed, resampled or
  lossily compressed (neighbours correlated), above 1 when it was sharpened.
- ``norm_max`` / ``norm_min``: the largest / smallest pixel after normalisation (the dynamic range
  the network sees).
- ``top_fraction``: the fraction of finite pixels equal to the plane's maximum (a saturated plateau).
- ``peak_fwhm_px``: the FWHM (pixels) of the brightest pixel's peak, 2 sqrt(A / pi) with A the
  number of pixels of the 21x21 box around it at or above half its height over the sky, for a peak
  at least :data:`FWHM_MIN_SNR` sigma above the sky (NaN otherwise): a PSF-convolved core, so an
  upper bound of the PSF size (a cosmic ray gives about 1, an up-sampled image a wider core).
- ``png_black_fraction``, ``png_white_fraction``, ``png_sky_level``, ``png_sky_width`` (PNG levels
  only): the fractions of pixels at level 0 and at the top level (255, or 65535 when any level
  exceeds 255), the sky level and sigma as fractions of the top level: where a stretch puts the black
  point, the white point and the sky, and how wide it makes the noise.
The fraction of NaN pixels per cutout (all planes) is :func:`app.decode.masking.masked_fractions`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from app.decode.masking import count_per_row
from app.preprocess import MAD_TO_SIGMA, SOFTENING

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

COMMON: Final = (
    "log_noise_to_signal",
    "noise_correlation",
    "norm_max",
    "norm_min",
    "top_fraction",
    "peak_fwhm_px",
)
PNG_ONLY: Final = ("png_black_fraction", "png_white_fraction", "png_sky_level", "png_sky_width")
GRID_STRIDE: Final = 4  # sky and sigma from every 4th row and column (676 of 10,201 pixels)
ROW_STRIDE: Final = 12  # noise_correlation from every 12th row
BLOCK: Final = 3  # peak: the brightest mean of BLOCK x BLOCK pixels
PEAK_BOX: Final = 10  # half-size of the box around the brightest pixel for peak_fwhm_px (21x21)
FWHM_MIN_SNR: Final = 10.0
CHUNK: Final = 64  # planes per pass: keeps the temporaries in cache


def statistic_names(png: bool) -> tuple[str, ...]:
    """The statistics computed for an input kind (PNG levels get the level statistics too)."""
    return COMMON + PNG_ONLY if png else COMMON


def _median_rows(values: F32) -> F32:
    """Nearest-rank median of the finite values of each row of ``values`` (R, P), a copy the
    function may overwrite; NaN for a row without any.

    One partition for all rows: in a row with m NaN, floor(m / 2) of them become -inf and the rest
    +inf, which leaves the middle of the row within one rank of the middle of its finite values.
    """
    rows, width = values.shape
    if width == 0:
        return np.full(rows, np.nan, dtype=np.float32)
    nan = np.isnan(values)
    if nan.any():
        # the 1st, 3rd, 5th... NaN of a row become +inf, the others -inf (whole-array passes: indexing
        # only the holed rows costs more than it saves)
        odd = (np.cumsum(nan, axis=1, dtype=np.int32) & 1).astype(bool)
        np.copyto(values, np.where(odd, np.float32(np.inf), np.float32(-np.inf)), where=nan)
    out = np.partition(values, width // 2, axis=1)[:, width // 2]
    out[nan.all(axis=1)] = np.nan
    return out.astype(np.float32, copy=False)


def plane_statistics(pixels: F32, *, png: bool) -> dict[str, F64]:
    """Every statistic of :func:`statistic_names` for each plane: name -> float64 (N, C)."""
    if pixels.ndim != 4:
        raise ValueError(f"plane_statistics takes (N, C, H, W) pixels, got shape {pixels.shape}")
    n, c, h, w = pixels.shape
    planes = pixels.reshape(n * c, h, w)
    parts = [_chunk(planes[start : start + CHUNK], png) for start in range(0, n * c, CHUNK)]
    names = statistic_names(png)
    if not parts:
        return {name: np.zeros((n, c), dtype=np.float64) for name in names}
    return {name: np.concatenate([part[name] for part in parts]).reshape(n, c) for name in names}


def _chunk(planes: F32, png: bool) -> dict[str, F64]:
    """The statistics of a block of planes (R, H, W) -> name -> (R,)."""
    planes = np.asarray(planes, dtype=np.float32)
    r, h, w = planes.shape
    flat = planes.reshape(r, h * w)
    nan = np.isnan(flat)
    count = h * w - count_per_row(nan)
    holed = bool((count < h * w).any())

    grid = planes[:, ::GRID_STRIDE, ::GRID_STRIDE].reshape(r, -1)
    sky = _median_rows(grid.copy())
    sigma = _median_rows(np.abs(grid - sky[:, None])) * np.float32(MAD_TO_SIGMA)

    # fmax/fmin leave NaN (masked) out without a filled copy; the block means take the sky for them
    high = np.fmax.reduce(flat, axis=1)
    low = np.fmin.reduce(flat, axis=1)
    at_max = flat == high[:, None]  # never true for NaN
    # one pass over the block: fancy-indexing only the holed planes costs ten times as much
    sky_filled = np.where(nan.reshape(r, h, w), sky[:, None, None], planes) if holed else planes
    bh, bw = h // BLOCK * BLOCK, w // BLOCK * BLOCK
    cols = sky_filled[:, :bh, 0:bw:BLOCK].copy()
    for k in range(1, BLOCK):
        cols += sky_filled[:, :bh, k:bw:BLOCK]
    sums = cols[:, 0:bh:BLOCK, :].copy()
    for k in range(1, BLOCK):
        sums += cols[:, k:bh:BLOCK, :]
    peak = sums.reshape(r, -1).max(axis=1) / np.float32(BLOCK**2)

    rows = planes[:, ::ROW_STRIDE, :]
    lag1 = _median_rows(np.abs(rows[:, :, 1:] - rows[:, :, :-1]).reshape(r, -1))
    lag2 = _median_rows(np.abs(rows[:, :, 2:] - rows[:, :, :-2]).reshape(r, -1))

    s = sigma.astype(np.float64)
    ok = s > 0
    safe = np.where(ok, s, 1.0)
    signal = (peak - sky).astype(np.float64)
    top = count_per_row(at_max) / np.maximum(count, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        stats: dict[str, F64] = {
            "log_noise_to_signal": np.where(ok & (signal > 0), np.log10(safe / np.abs(signal)), np.nan),
            "noise_correlation": np.where(lag2 > 0, lag1 / lag2, np.nan).astype(np.float64),
            "norm_max": np.where(ok, np.arcsinh((high - sky) / (safe * SOFTENING)), np.nan),
            "norm_min": np.where(ok, np.arcsinh((low - sky) / (safe * SOFTENING)), np.nan),
            "top_fraction": np.asarray(top, dtype=np.float64),
            "peak_fwhm_px": _peak_fwhm(planes, np.argmax(at_max, axis=1), sky, sigma, high),
        }
    if png:
        stats.update(_png_levels(flat, nan, count, sky, sigma, high))
    empty = count == 0
    for name, values in stats.items():
        values = np.asarray(values, dtype=np.float64)
        values[empty] = np.nan
        stats[name] = values
    return stats


def _peak_fwhm(planes: F32, at: npt.NDArray[np.intp], sky: F32, sigma: F32, high: F32) -> F64:
    """FWHM (pixels) of the brightest pixel's peak from its half-maximum area (module docstring);
    ``planes`` (R, H, W) hold NaN for masked pixels (never counted), ``at`` the flat index of each
    plane's brightest pixel."""
    r, h, w = planes.shape
    y, x = np.divmod(at, w)
    offsets = np.arange(-PEAK_BOX, PEAK_BOX + 1)
    ys, xs = y[:, None] + offsets, x[:, None] + offsets
    inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
    box = planes[
        np.arange(r)[:, None, None], np.clip(ys, 0, h - 1)[:, :, None], np.clip(xs, 0, w - 1)[:, None, :]
    ]
    half = sky + (high - sky) * np.float32(0.5)
    area = np.count_nonzero(inside & (box >= half[:, None, None]), axis=(1, 2))
    fwhm = 2.0 * np.sqrt(area / np.pi)
    significant = (sigma > 0) & (high - sky >= FWHM_MIN_SNR * sigma)
    return np.where(significant, fwhm, np.nan)


def _png_levels(
    flat: F32, nan: Bools, count: npt.NDArray[np.intp], sky: F32, sigma: F32, high: F32
) -> dict[str, F64]:
    top = np.where(high > 255.0, 65535.0, 255.0)
    counts = np.maximum(count, 1)
    black = count_per_row(~nan & (flat <= 0.0)) / counts
    white = count_per_row(flat >= top[:, None].astype(np.float32)) / counts
    return {
        "png_black_fraction": np.asarray(black, dtype=np.float64),
        "png_white_fraction": np.asarray(white, dtype=np.float64),
        "png_sky_level": sky.astype(np.float64) / top,
        "png_sky_width": sigma.astype(np.float64) / top,
    }
