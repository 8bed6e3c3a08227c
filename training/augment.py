"""Augmentation that respects the physics of lens cutouts, vectorised over a batch (numpy).

Every function takes a batch ``x`` float32 (B, C, H, W) in FITS row order, any linear flux unit, masked
pixels NaN, and returns a new array (inputs, often read-only memmaps, are never changed). Random ones
take an ``rng: np.random.Generator``, so a seed fixes the output.

- :func:`d4`: the eight flips and right-angle rotations (the dihedral group D4): a lens is a lens in any
  orientation and the sky has no preferred one. Applied to all bands of a cutout alike.
- :func:`subpixel_shift`: a shift of at most half a pixel, the same for all bands (the bands of a cutout
  are registered). Fourier shift by default: a phase ramp is unitary, so it keeps the flux and the white
  noise power (bilinear interpolation would smooth the noise by up to 4x in variance, a tell-tale a
  network could learn). Masks stay put: masked pixels are detector defects, cosmic rays and stars that
  do not move with a sub-pixel re-pointing, and a nearest-pixel shift of at most 0.5 px is zero anyway.
  Masked pixels are filled with their band's median before the transform so NaN does not spread.
- :func:`scale_flux`: multiply each cutout by a random positive factor (log-uniform): the model must not
  depend on the absolute flux scale (DESIGN section 2); training over factors spanning decades checks it.
- :func:`fresh_noise`: a new noise realisation from the simulator's noise-free images and per-band
  sigma: ``noiseless * sigma + N(0, sigma^2)``, masks copied from the original cutout.
  :func:`extra_noise` is the approximation for data without truth (the challenge release): add Gaussian
  noise of ``fraction`` times the robust sigma (1.4826 MAD) of the cutout's border pixels, which raises
  the noise to ``sqrt(1 + fraction^2)`` times its level instead of redrawing it.
- :func:`through_png`: render through ``app.render`` (grayscale asinh PNG, or Lupton colour composite
  of g, r, i) and decode the PNG with ``app.decode.decode_bytes``, as the service will; for the PNG
  models this makes training pixels with the code that makes serving pixels. The renderer and the
  randomised stretches (``Augmenter(png_stretch="random")``) live in :mod:`training.stretches`.

:class:`Augmenter` composes them with one ``strength`` in [0, 1] that scales every probability and range
(0: no augmentation; 1: the configured maxima), for the hyper-parameter search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from app.preprocess import MAD_TO_SIGMA
from training.stretches import random_stretch, render_png

Batch = npt.NDArray[np.float32]
D4_ORDER = 8


def _batch(x: npt.ArrayLike) -> Batch:
    arr = np.array(x, dtype=np.float32)  # a copy: the caller's array (maybe a memmap) stays untouched
    if arr.ndim != 4:
        raise ValueError(f"augmentations take a batch shaped (B, C, H, W), got shape {arr.shape}")
    return arr


def d4(x: npt.ArrayLike, k: int | npt.NDArray[np.integer]) -> Batch:
    """Apply D4 element ``k`` (0..7) to each cutout: a left-right flip when ``k >= 4``, then ``k % 4``
    counter-clockwise quarter turns (``np.rot90`` on the last two axes). ``k`` is one int for the whole
    batch or one per cutout. Cutouts must be square when any quarter turn is odd. Element 0 is the
    identity; 1..3 are rotations; 4..7 are the four reflections (each its own inverse)."""
    arr = _batch(x)
    ks = np.broadcast_to(np.asarray(k, dtype=np.int64), (arr.shape[0],))
    if np.any((ks < 0) | (ks >= D4_ORDER)):
        raise ValueError("D4 elements are 0..7")
    out = np.empty_like(arr)
    for element in np.unique(ks).tolist():  # at most 8 vectorised groups
        sel = ks == element
        part = arr[sel]
        if element >= 4:
            part = part[..., ::-1]
        out[sel] = np.rot90(part, element % 4, axes=(-2, -1))
    return out


def d4_inverse(k: int) -> int:
    """The element undoing ``k``: rotations by the opposite turn; reflections are their own inverse."""
    return (4 - k) % 4 if k < 4 else k


def random_d4(
    x: npt.ArrayLike, rng: np.random.Generator, probability: float = 1.0
) -> tuple[Batch, npt.NDArray[np.int64]]:
    """Each cutout gets a uniformly drawn D4 element with ``probability``, else the identity; returns
    (transformed batch, elements applied)."""
    arr = _batch(x)
    ks = np.asarray(rng.integers(0, D4_ORDER, size=arr.shape[0]), dtype=np.int64)
    ks[rng.random(arr.shape[0]) >= probability] = 0
    return d4(arr, ks), ks


def _band_median(arr: Batch) -> npt.NDArray[np.float32]:
    """(B, C, 1, 1) median of each band's finite pixels; 0 for an all-masked band."""
    flat = arr.reshape(*arr.shape[:2], -1)
    finite = np.isfinite(flat)
    med = np.zeros(arr.shape[:2], dtype=np.float32)
    has = finite.any(axis=-1)
    if has.any():
        med[has] = np.nanmedian(flat[has], axis=-1)
    return med[..., None, None]


def subpixel_shift(
    x: npt.ArrayLike,
    dy: float | npt.NDArray[np.floating],
    dx: float | npt.NDArray[np.floating],
    method: Literal["fourier", "bilinear"] = "fourier",
) -> Batch:
    """Move each cutout's content by (dy, dx) pixels (rows, columns; |shift| <= 0.5), all bands alike.

    ``fourier``: multiply the 2-D FFT by a phase ramp (periodic edges: the half pixel leaving one side
    re-enters at the other); keeps the total flux exactly and the white-noise power. ``bilinear``:
    mask-normalised linear interpolation with edge pixels repeated. Masked pixels stay masked and in
    place; they do not spread NaN (they are filled with their band's median before interpolating).
    """
    arr = _batch(x)
    b, _, h, w = arr.shape
    sy = np.broadcast_to(np.asarray(dy, dtype=np.float64), (b,))
    sx = np.broadcast_to(np.asarray(dx, dtype=np.float64), (b,))
    if np.any(np.abs(sy) > 0.5 + 1e-9) or np.any(np.abs(sx) > 0.5 + 1e-9):
        raise ValueError("sub-pixel shifts are at most 0.5 px; use d4 or a crop for larger moves")
    mask = np.isnan(arr)
    if method == "fourier":
        filled = np.where(mask, _band_median(arr), arr).astype(np.float64)
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.rfftfreq(w)[None, :]
        ramp = np.exp(-2j * np.pi * (sy[:, None, None, None] * fy + sx[:, None, None, None] * fx))
        shifted = np.fft.irfft2(np.fft.rfft2(filled) * ramp, s=(h, w))
    elif method == "bilinear":
        weight = (~mask).astype(np.float64)
        value = np.where(mask, 0.0, arr).astype(np.float64)
        num, den = value, weight
        for axis, s in ((-2, sy), (-1, sx)):
            num, den = _linear_shift(num, s, axis), _linear_shift(den, s, axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            shifted = np.where(den > 0, num / den, np.broadcast_to(_band_median(arr), arr.shape))
    else:
        raise ValueError(f"unknown shift method {method!r}")
    out = shifted.astype(np.float32)
    out[mask] = np.nan
    return out


def _linear_shift(
    a: npt.NDArray[np.float64], s: npt.NDArray[np.float64], axis: int
) -> npt.NDArray[np.float64]:
    """Linear interpolation of ``a`` moved by ``s[b]`` (|s| <= 0.5) along ``axis``, edges repeated."""
    n = a.shape[axis]
    idx = np.arange(n)
    before = np.take(a, np.clip(idx - 1, 0, n - 1), axis=axis)  # a[i - 1]: content arriving from below
    after = np.take(a, np.clip(idx + 1, 0, n - 1), axis=axis)
    frac = np.abs(s)[:, None, None, None]
    neighbour = np.where((s > 0)[:, None, None, None], before, after)
    out: npt.NDArray[np.float64] = (1.0 - frac) * a + frac * neighbour
    return out


def random_shift(
    x: npt.ArrayLike,
    rng: np.random.Generator,
    max_shift: float = 0.5,
    method: Literal["fourier", "bilinear"] = "fourier",
) -> Batch:
    """:func:`subpixel_shift` by (dy, dx) drawn uniformly in [-max_shift, max_shift] per cutout."""
    arr = _batch(x)
    dy, dx = rng.uniform(-max_shift, max_shift, size=(2, arr.shape[0]))
    return subpixel_shift(arr, dy, dx, method)


def scale_flux(
    x: npt.ArrayLike, rng: np.random.Generator, max_factor: float = 10.0
) -> tuple[Batch, npt.NDArray[np.float64]]:
    """Multiply each cutout (all bands alike, so colours are kept) by a factor log-uniform in
    [1 / max_factor, max_factor]; returns (scaled batch, factors)."""
    if max_factor < 1.0:
        raise ValueError("max_factor must be >= 1")
    arr = _batch(x)
    log_f = np.log(max_factor)
    factors = np.exp(rng.uniform(-log_f, log_f, size=arr.shape[0]))
    return (arr * factors[:, None, None, None]).astype(np.float32), factors


def fresh_noise(
    x: npt.ArrayLike,
    noiseless: npt.ArrayLike,
    noise_sigma: npt.ArrayLike,
    rng: np.random.Generator,
) -> Batch:
    """A new noise realisation: ``noiseless * sigma + N(0, sigma^2)``, NaN where ``x`` is masked.

    ``noiseless``: (B, C, H, W) in units of each band's noise sigma (the simulator's truth, float16 is
    fine); ``noise_sigma``: (B, C) in the flux unit of ``x``; ``x``: the observed cutouts, for the masks.
    """
    arr = _batch(x)
    model = np.asarray(noiseless, dtype=np.float32)
    sigma = np.asarray(noise_sigma, dtype=np.float32)
    if model.shape != arr.shape or sigma.shape != arr.shape[:2]:
        raise ValueError(
            f"noiseless {model.shape} / noise_sigma {sigma.shape} do not match the batch {arr.shape}"
        )
    s = sigma[:, :, None, None]
    out = (model * s + rng.standard_normal(arr.shape, dtype=np.float32) * s).astype(np.float32)
    out[np.isnan(arr)] = np.nan
    return out


def robust_sigma(x: npt.ArrayLike, border: int = 10) -> npt.NDArray[np.float32]:
    """(B, C) noise sigma per band: 1.4826 x MAD of the finite pixels within ``border`` px of the edge
    (mostly sky: the lens sits in the centre); 0 where a band's border is all masked."""
    arr = _batch(x)
    h, w = arr.shape[-2:]
    frame = np.ones((h, w), dtype=bool)
    frame[border : h - border, border : w - border] = False
    pixels = arr[..., frame]  # (B, C, n_border)
    sigma = np.zeros(arr.shape[:2], dtype=np.float32)
    has = np.isfinite(pixels).any(axis=-1)
    if has.any():
        sub = pixels[has]
        med = np.nanmedian(sub, axis=-1, keepdims=True)
        sigma[has] = MAD_TO_SIGMA * np.nanmedian(np.abs(sub - med), axis=-1)
    return sigma


def extra_noise(
    x: npt.ArrayLike, rng: np.random.Generator, fraction: float | npt.NDArray[np.floating] = 0.3
) -> Batch:
    """Add Gaussian noise of ``fraction`` (per batch or per cutout) times each band's :func:`robust_sigma`.

    An approximation to a fresh realisation for data without noise-free truth: the total noise grows to
    ``sqrt(1 + fraction^2)`` of its level rather than being redrawn at the same level.
    """
    arr = _batch(x)
    frac = np.broadcast_to(np.asarray(fraction, dtype=np.float32), (arr.shape[0],))
    scale = (robust_sigma(arr) * frac[:, None])[:, :, None, None]
    return (arr + rng.standard_normal(arr.shape, dtype=np.float32) * scale).astype(np.float32)


def through_png(
    x: npt.ArrayLike,
    mode: Literal["gray", "rgb"],
    bands: tuple[str, ...] = (),
    bit_depth: Literal[8, 16] = 8,
) -> Batch:
    """Render each cutout to PNG with ``app.render``'s default stretch and decode it back with
    ``app.decode.decode_bytes``: :func:`training.stretches.render_png` with the ``default`` stretch.

    ``gray``: one-band cutouts to a grayscale PNG (8- or 16-bit) -> (B, 1, H, W) gray levels.
    ``rgb``: the g, r, i planes (found by name in ``bands``) to a Lupton colour composite -> (B, 3, H, W)
    with planes R, G, B = i, r, g, 0..255. Orientation is kept: the renderer flips to display order and
    the decoder flips back, so row 0 is the bottom row as in FITS.
    """
    return render_png(_batch(x), mode, bands, "default", bit_depth)


@dataclass(frozen=True)
class Augmenter:
    """The composed augmentation, scaled by one ``strength`` in [0, 1].

    At strength s each cutout gets, in this order: a fresh noise realisation with probability
    ``s * fresh_noise_probability`` when truth is passed, else extra noise of a fraction uniform in
    [0, s * extra_noise_fraction] of its robust sigma; a random D4 element with probability s (when
    ``use_d4``); a sub-pixel shift uniform in +-(s * max_shift_px); a flux factor log-uniform in
    [F^-s, F^s] with F = ``max_flux_factor``; then, when ``png`` is set, the PNG round trip (not scaled
    by strength: a PNG model always sees PNG pixels; with ``png_probability`` < 1, grayscale only, a
    random share of the cutouts). The PNG stretch is ``app.render``'s default (``png_stretch="default"``)
    or, with ``"random"``, a :func:`training.stretches.random_stretch` draw at strength s per cutout (so
    s = 0 renders with the default stretch). s = 0 is the identity (apart from ``png``).
    """

    strength: float = 1.0
    use_d4: bool = True
    max_shift_px: float = 0.5
    max_flux_factor: float = 10.0
    fresh_noise_probability: float = 1.0
    extra_noise_fraction: float = 0.3
    shift_method: Literal["fourier", "bilinear"] = "fourier"
    png: Literal["gray", "rgb"] | None = None
    png_probability: float = 1.0
    png_stretch: Literal["default", "random"] = "default"
    bands: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {self.strength}")
        if not 0.0 <= self.max_shift_px <= 0.5:
            raise ValueError("max_shift_px must be in [0, 0.5]")
        if not 0.0 <= self.png_probability <= 1.0:
            raise ValueError(f"png_probability must be in [0, 1], got {self.png_probability}")
        if self.png_stretch not in ("default", "random"):
            raise ValueError(f"png_stretch must be 'default' or 'random', got {self.png_stretch!r}")
        if self.png == "rgb" and self.png_probability < 1.0:
            raise ValueError(
                "a colour composite changes the planes (g,r,i -> R,G,B): png_probability must be 1.0"
            )

    def __call__(
        self,
        x: npt.ArrayLike,
        rng: np.random.Generator,
        noiseless: npt.ArrayLike | None = None,
        noise_sigma: npt.ArrayLike | None = None,
    ) -> Batch:
        s = self.strength
        out = _batch(x)
        b = out.shape[0]
        if s > 0:
            if noiseless is not None and noise_sigma is not None:
                redraw = np.asarray(rng.random(b) < s * self.fresh_noise_probability)
                if redraw.any():
                    noisy = fresh_noise(
                        out[redraw], np.asarray(noiseless)[redraw], np.asarray(noise_sigma)[redraw], rng
                    )
                    out[redraw] = noisy
            elif self.extra_noise_fraction > 0:
                out = extra_noise(out, rng, rng.uniform(0.0, s * self.extra_noise_fraction, size=b))
            if self.use_d4:
                out, _ = random_d4(out, rng, probability=s)
            if self.max_shift_px > 0:
                out = random_shift(out, rng, s * self.max_shift_px, self.shift_method)
            if self.max_flux_factor > 1:
                out, _ = scale_flux(out, rng, float(self.max_flux_factor**s))
        if self.png is not None and self.png_probability >= 1.0:
            out = self._render(out, rng)
        elif self.png is not None:
            # A FITS model that must also score PNG renderings (space, DESIGN section 3) sees a share of
            # its training cutouts as gray levels; the normalisation makes both scale-free inputs.
            chosen = np.asarray(rng.random(b) < self.png_probability)
            if chosen.any():
                out[chosen] = self._render(out[chosen], rng)
        return out

    def _render(self, x: Batch, rng: np.random.Generator) -> Batch:
        """The PNG round trip of ``x``, under the default stretch or one random stretch per cutout."""
        assert self.png is not None
        if self.png_stretch == "default":
            return render_png(x, self.png, self.bands)
        stretches = [random_stretch(rng, self.strength) for _ in range(x.shape[0])]
        return render_png(x, self.png, self.bands, stretches)
