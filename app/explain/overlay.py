"""Saliency maps as a PNG: each cutout rendered as a gallery shows it, beside the same with the map over it.

For each explained cutout, two panels side by side: the cutout and the cutout with its saliency map
laid over it, positive values (evidence for a lens) in red, negative in blue, opacity proportional
to |saliency| / max |saliency| of that cutout (at most :data:`MAX_ALPHA`). Panels are enlarged
``scale`` times (nearest neighbour) and the cutouts of a file follow each other left to right, a gap
of :data:`GAP` pixels between pairs. Display order: north up (the FITS rows are flipped, as
``app.render`` does).

The cutout is rendered with ``app.render``: a grayscale asinh stretch for one band, the Lupton colour
composite of g, r, i for a multi-band FITS cutout that has them, the PNG's own levels for PNG input,
and otherwise the mean of the normalised bands in gray.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from app.preprocess import normalise
from app.render import encode_png, gray_levels, lupton_rgb

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

POSITIVE: Final = np.array([255.0, 48.0, 0.0])
NEGATIVE: Final = np.array([0.0, 120.0, 255.0])
MAX_ALPHA: Final = 0.75
GAP: Final = 6


def _gray_rgb(levels: npt.NDArray[np.generic]) -> U8:
    """Display-order gray levels (H, W) 0..255 -> (H, W, 3)."""
    return np.repeat(np.asarray(levels, dtype=np.uint8)[:, :, None], 3, axis=2)


def render_cutout(pixels: F32, fmt: str, bands: Sequence[str]) -> U8:
    """The cutout (C, H, W), FITS row order, as display-order RGB (H, W, 3) uint8 (module docstring)."""
    c = pixels.shape[0]
    if fmt.startswith("png"):
        finite = pixels[np.isfinite(pixels)]
        top = 65535.0 if finite.size and float(finite.max()) > 255.0 else 255.0
        levels = np.clip(np.nan_to_num(pixels, nan=0.0) * (255.0 / top), 0, 255).astype(np.uint8)
        planes = np.flip(levels, axis=1)
        return _gray_rgb(planes[0]) if c == 1 else np.ascontiguousarray(np.moveaxis(planes[:3], 0, -1))
    if c == 1:
        return _gray_rgb(gray_levels(pixels[0]))
    if all(band in bands for band in ("g", "r", "i")):
        g, r, i = (pixels[list(bands).index(band)] for band in ("g", "r", "i"))
        return lupton_rgb(g, r, i)
    mean = normalise(pixels[None])[0].mean(axis=0)
    return _gray_rgb(gray_levels(mean))


def overlay(base: U8, saliency: F32) -> U8:
    """``base`` (H, W, 3) display order with ``saliency`` (H, W), FITS row order, laid over it."""
    s = np.flipud(np.nan_to_num(np.asarray(saliency, dtype=np.float64), nan=0.0))
    peak = float(np.abs(s).max())
    if peak <= 0.0:
        return base.copy()
    alpha = (MAX_ALPHA * np.abs(s) / peak)[:, :, None]
    colour = np.where((s >= 0)[:, :, None], POSITIVE, NEGATIVE)
    mixed = base.astype(np.float64) * (1.0 - alpha) + colour * alpha
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def overlay_png(
    cutouts: Sequence[tuple[F32, F32]], fmt: str, bands: Sequence[str], *, scale: int = 3
) -> bytes:
    """PNG bytes of (pixels (C, H, W), saliency (H, W)) pairs: cutout | overlay, pair after pair."""
    if not cutouts:
        raise ValueError("overlay_png needs at least one cutout")
    panels: list[U8] = []
    for k, (pixels, saliency) in enumerate(cutouts):
        base = render_cutout(pixels, fmt, bands)
        pair = np.concatenate(
            [base, np.full((base.shape[0], 2, 3), 255, np.uint8), overlay(base, saliency)], 1
        )
        pair = np.repeat(np.repeat(pair, scale, axis=0), scale, axis=1)
        if k:
            panels.append(np.full((pair.shape[0], GAP, 3), 255, np.uint8))
        panels.append(pair)
    return encode_png(np.ascontiguousarray(np.concatenate(panels, axis=1)))
