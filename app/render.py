"""Display renderings of cutouts: grayscale PNGs and Lupton-style asinh colour composites.

These are the stretches the README documents and the PNG-trained models (``rgb``, and ``space`` on PNG
input) are trained on; training renders through this module and the service decodes the resulting PNG
through ``app.decode``, so a model sees the same pixels in training and in serving.

Conventions:
- Input images are 2-D float arrays (H, W) in FITS row order (row 0 is the bottom row), in any linear
  flux unit; masked pixels are NaN. Every stretch is defined relative to the image's own sky level
  (median) and noise (1.4826 x median absolute deviation), so the rendering does not depend on the
  absolute flux scale: the same cutout in counts, nanomaggies or BLF units renders to the same PNG.
- Outputs are in display order: row 0 is the top row (the FITS array flipped vertically), as PNG
  viewers and survey cutout services show them.
- Colour composites map i, r, g to R, G, B (Lupton et al. 2004, PASP 116, 133), all three bands in
  the same flux unit, sky-subtracted, with one shared asinh stretch so colours are preserved.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

from app.preprocess import MAD_TO_SIGMA

FloatImage = npt.NDArray[np.floating]


def sky_and_noise(image: FloatImage) -> tuple[float, float]:
    """Sky level (median) and robust noise sigma (1.4826 x MAD) of the finite pixels of ``image``.

    Falls back to the standard deviation, then to 1, when the MAD is zero (flat or nearly empty
    images), so callers can always divide by the sigma.
    """
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return 0.0, 1.0
    sky = float(np.median(finite))
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(finite - sky)))
    if not sigma > 0:
        sigma = float(np.std(finite))
    if not sigma > 0:
        sigma = 1.0
    return sky, sigma


@dataclass(frozen=True, slots=True)
class GrayStretch:
    """Asinh stretch for a grayscale rendering.

    value = asinh((x - black) / (softening * sigma)) / asinh((white - black) / (softening * sigma)),
    clipped to [0, 1], where ``black = sky - black_sigma * sigma`` and ``white`` is the
    ``white_percentile`` of the finite pixels (at least ``black + min_range_sigma * sigma``). Masked
    (NaN) pixels render black.
    """

    softening: float = 3.0
    black_sigma: float = 2.0
    white_percentile: float = 99.9
    min_range_sigma: float = 10.0


@dataclass(frozen=True, slots=True)
class LuptonStretch:
    """Lupton et al. (2004) asinh colour stretch, relative to the r-band noise.

    ``stretch_sigma`` is the linear range in units of the r-band noise sigma (astropy's ``stretch``);
    ``q`` is the asinh softening (astropy's ``Q``); ``band_scales`` multiply the sky-subtracted
    (g, r, i) images before mixing, to balance colours. Defaults give KiDS-like composites.
    """

    stretch_sigma: float = 40.0
    q: float = 8.0
    band_scales: tuple[float, float, float] = (1.0, 1.0, 1.0)


def gray_levels(
    image: FloatImage, stretch: GrayStretch = GrayStretch(), bit_depth: Literal[8, 16] = 8
) -> npt.NDArray[np.uint8] | npt.NDArray[np.uint16]:
    """Stretch a 2-D image (FITS row order) to integer gray levels in display order (row 0 on top)."""
    if image.ndim != 2:
        raise ValueError(f"gray_levels takes a 2-D image, got shape {image.shape}")
    data = np.asarray(image, dtype=np.float64)
    sky, sigma = sky_and_noise(data)
    black = sky - stretch.black_sigma * sigma
    finite = data[np.isfinite(data)]
    white = float(np.percentile(finite, stretch.white_percentile)) if finite.size else black + 1.0
    white = max(white, black + stretch.min_range_sigma * sigma)
    soft = stretch.softening * sigma
    scaled = np.arcsinh((np.nan_to_num(data, nan=black) - black) / soft) / np.arcsinh((white - black) / soft)
    top = 255 if bit_depth == 8 else 65535
    levels: npt.NDArray[np.float64] = np.flipud(np.rint(np.clip(scaled, 0.0, 1.0) * top))
    if bit_depth == 8:
        return levels.astype(np.uint8)
    return levels.astype(np.uint16)


def lupton_rgb(
    g: FloatImage, r: FloatImage, i: FloatImage, stretch: LuptonStretch = LuptonStretch()
) -> npt.NDArray[np.uint8]:
    """Colour composite (H, W, 3) uint8 in display order: R = i, G = r, B = g, Lupton asinh stretch.

    Each band is sky-subtracted by its own median; masked (NaN) pixels are set to the sky (black).
    """
    from astropy.visualization import make_lupton_rgb

    shapes = {g.shape, r.shape, i.shape}
    if len(shapes) != 1 or g.ndim != 2:
        raise ValueError(f"lupton_rgb takes three 2-D images of one shape, got {sorted(shapes)}")
    planes = []
    for band, scale in zip((g, r, i), stretch.band_scales, strict=True):
        sky, _ = sky_and_noise(band)
        planes.append(np.nan_to_num(np.asarray(band, dtype=np.float64) - sky, nan=0.0) * scale)
    _, sigma_r = sky_and_noise(np.asarray(r, dtype=np.float64))
    gs, rs, is_ = planes
    with np.errstate(invalid="ignore", divide="ignore"):  # astropy divides 0/0 where all bands are black
        rgb = make_lupton_rgb(
            is_, rs, gs, stretch=stretch.stretch_sigma * sigma_r * stretch.band_scales[1], Q=stretch.q
        )
    return np.ascontiguousarray(np.flipud(rgb)).astype(np.uint8)


def encode_png(levels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16]) -> bytes:
    """Encode gray (H, W) uint8/uint16 or colour (H, W, 3) uint8 levels as PNG bytes (display order)."""
    if levels.ndim == 2 and levels.dtype == np.uint16:
        # Pillow writes 16-bit grayscale from mode "I;16" (little-endian unsigned).
        img = Image.frombytes("I;16", (levels.shape[1], levels.shape[0]), levels.astype("<u2").tobytes())
    elif levels.ndim == 2 and levels.dtype == np.uint8:
        img = Image.fromarray(levels, mode="L")
    elif levels.ndim == 3 and levels.shape[2] == 3 and levels.dtype == np.uint8:
        img = Image.fromarray(levels, mode="RGB")
    else:
        raise ValueError(f"cannot encode levels of shape {levels.shape} and dtype {levels.dtype} as PNG")
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def gray_png(image: FloatImage, stretch: GrayStretch = GrayStretch(), bit_depth: Literal[8, 16] = 8) -> bytes:
    """A 2-D image (FITS row order) rendered to an 8- or 16-bit grayscale PNG."""
    return encode_png(gray_levels(image, stretch, bit_depth))


def rgb_png(g: FloatImage, r: FloatImage, i: FloatImage, stretch: LuptonStretch = LuptonStretch()) -> bytes:
    """g, r, i images (FITS row order, one flux unit) rendered to an 8-bit RGB PNG colour composite."""
    return encode_png(lupton_rgb(g, r, i, stretch))
