"""The one normalisation of cutout pixels before the network: numpy reference implementation.

For every cutout and every plane (band) separately, with statistics taken on the finite pixels of the
plane's stride-2 grid (rows and columns 0, 2, 4, ...: 2,601 of a 101x101 plane's 10,201 pixels, which
spans the whole cutout and costs a quarter of the sorting inside the ONNX graph):
1. subtract the median;
2. divide by a robust noise sigma: 1.4826 * MAD (median absolute deviation from the median, which
   equals sigma for Gaussian noise); if that is 0 (more than half the pixels equal), the standard
   deviation; if that is 0 too (a grid of equal values), the largest absolute finite deviation from the
   median over the whole plane; if that is 0 too (a constant plane), 1. A plane whose grid holds no
   finite pixel (but others) is left uncentred and divided by its largest absolute finite value. Each
   fallback scales with the data, so the recipe stays flux-scale free;
3. compress the dynamic range: z -> asinh(z / SOFTENING) with SOFTENING = 3, linear within about
   3 sigma of the background (noise keeps its shape) and logarithmic for bright cores and stars;
4. NaN (masked or padded pixels; infinities count as masked) -> 0, the background level after step 1.

Every step is invariant under multiplying a plane by a positive constant, so the same cutout in BLF
units, counts or nanomaggies gives the same network input (DESIGN section 2). The medians are exact
(mean of the two middle values for an even count), by partition (see _row_medians).

The training issue may move this into the ONNX graph with identical maths, so that any ONNX runtime
gives the same scores; this function then stays as the reference the graph is tested against.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import numpy as np
import numpy.typing as npt

SOFTENING: Final = 3.0
STAT_STRIDE: Final = 2  # statistics on every other row and column (see the module docstring)
MAD_TO_SIGMA: Final = 1.4826
# Planes normalised per step: bounds temporaries to a few x 50 MB for 101x101 planes.
_CHUNK_PLANES: Final = 1024
_MAX_WORKERS: Final = 4


def _middle(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Median of each row of ``rows`` (R, P) holding no NaN: one partition, at the upper middle.

    (np.median partitions at two more positions, one of them only to look for NaN: 2.4x slower.)
    """
    width = rows.shape[1]
    mid = width // 2
    part = np.partition(rows, mid, axis=1)
    upper = part[:, mid]
    if width % 2:
        return upper
    lower = part[:, :mid].max(axis=1)  # the partition leaves the lower half unordered, all <= upper
    mean: npt.NDArray[np.float32] = (lower + upper) * np.float32(0.5)
    return mean


def _row_medians(
    x: npt.NDArray[np.float32],
    nan: npt.NDArray[np.bool_],
    low: npt.NDArray[np.bool_],
    counts: npt.NDArray[np.intp],
) -> npt.NDArray[np.float32]:
    """Median of the non-NaN values of each row of ``x`` (R, P); NaN for a row without any.

    Rows with NaN use partition too: half of their NaN (``low``) are read as -inf and the rest as
    +inf, which leaves the middle of the row where the middle of its finite values is; a row with an
    odd NaN count gets one extra +inf so that the halves balance.
    """
    rows, width = x.shape
    medians = np.full(rows, np.nan, dtype=np.float32)
    full = counts == width
    if full.any():
        medians[full] = _middle(x[full])
    for odd in (False, True):
        chosen = ~full & (counts > 0) & (((width - counts) % 2 == 1) == odd)
        if not chosen.any():
            continue
        part = x[chosen]
        part[nan[chosen]] = np.inf
        part[low[chosen]] = -np.inf
        if odd:
            part = np.concatenate([part, np.full((part.shape[0], 1), np.inf, dtype=np.float32)], axis=1)
        medians[chosen] = _middle(part)
    return medians


def _centre_and_sigma(g: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Median and robust sigma of the finite values of each row of ``g`` (R, P), a copy the function
    may overwrite. Rows without finite values get centre 0; sigma is 0 where neither the MAD nor the
    standard deviation is positive (the caller falls back on the whole plane)."""
    nan = ~np.isfinite(g)
    g[nan] = np.nan
    missing = np.count_nonzero(nan, axis=1)
    counts = g.shape[1] - missing
    low = np.zeros_like(nan)
    holed = missing > 0
    if holed.any():  # only rows with NaN need the -inf half (see _row_medians)
        low[holed] = nan[holed] & (np.cumsum(nan[holed], axis=1) <= ((missing[holed] + 1) // 2)[:, None])
    centre = _row_medians(g, nan, low, counts)
    g -= centre[:, None]
    sigma = _row_medians(np.abs(g), nan, low, counts) * np.float32(MAD_TO_SIGMA)
    fallback = ~(sigma > 0) & (counts > 0)  # MAD 0; rows without finite pixels stay NaN -> 1 below
    if fallback.any():
        sigma[fallback] = np.nanstd(g[fallback], axis=1)
    sigma[~(sigma > 0)] = 0.0
    centre[counts == 0] = 0.0
    return centre, sigma


def _normalise_planes(planes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Normalise each plane of ``planes`` (R, H, W), a copy the function may overwrite -> (R, H * W)."""
    centre, sigma = _centre_and_sigma(planes[:, ::STAT_STRIDE, ::STAT_STRIDE].reshape(len(planes), -1))
    x = planes.reshape(len(planes), -1)
    nan = ~np.isfinite(x)
    flat = ~(sigma > 0)
    if flat.any():
        peak = np.max(np.where(nan[flat], 0.0, np.abs(x[flat] - centre[flat, None])), axis=1)
        sigma[flat] = np.where(peak > 0, peak, 1.0)
    x -= centre[:, None]
    x /= sigma[:, None] * np.float32(SOFTENING)
    np.arcsinh(x, out=x)
    x[nan] = 0.0  # masked pixels sit at the background level
    return x


def normalise(pixels: npt.NDArray[np.float32], *, workers: int | None = None) -> npt.NDArray[np.float32]:
    """Normalise cutouts (N, C, H, W) float32 with NaN for masked pixels -> float32 (N, C, H, W), no NaN.

    See the module docstring for the recipe. The input is not modified. Blocks of planes run on
    ``workers`` threads (numpy releases the GIL in partition and arithmetic; default: the CPU count,
    at most 4); the result does not depend on the number of threads.
    """
    if pixels.ndim != 4:
        raise ValueError(f"normalise takes (N, C, H, W) pixels, got shape {pixels.shape}")
    n, c, h, w = pixels.shape
    planes_in = pixels.reshape(n * c, h, w)
    out = np.empty((n * c, h * w), dtype=np.float32)

    def block(start: int) -> None:
        stop = min(start + _CHUNK_PLANES, n * c)
        out[start:stop] = _normalise_planes(np.array(planes_in[start:stop], dtype=np.float32, copy=True))

    starts = range(0, n * c, _CHUNK_PLANES)
    threads = min(workers or os.cpu_count() or 1, _MAX_WORKERS, len(starts))
    if threads <= 1:
        for start in starts:
            block(start)
    else:
        with ThreadPoolExecutor(threads, thread_name_prefix="normalise") as pool:
            list(pool.map(block, starts))
    return out.reshape(n, c, h, w)
