"""PNG display stretches for training and evaluation: one definition, one renderer.

A :class:`PngStretch` is the ``app.render`` stretch parameters (``GrayStretch`` for grayscale PNGs,
``LuptonStretch`` for colour composites) plus an output gamma on the 0..1 display levels
(``level ** gamma``; below 1 brightens faint structure, as some viewers do). :func:`render_png` is the
one function that renders a batch through ``app.render`` and decodes the PNG bytes with
``app.decode.decode_bytes``, as the service will; ``training.augment.through_png`` (the training path)
and ``training.evaluate`` (the test path) both call it.

Real composites come from survey viewers with their own stretches (issue 3, section 5), so the ``rgb``
model is trained on randomised stretches (:func:`random_stretch`) and evaluated on the named ones of
:data:`STRETCHES`, which the training distribution does not reach (see :data:`UNSEEN`).

Conventions: cutouts are float (B, C, H, W) in FITS row order (row 0 at the bottom), any linear flux
unit, NaN masked; the decoded PNG comes back in the same orientation, as gray levels 0..255 (0..65535
for 16-bit gray) in (B, 1, H, W), or (B, 3, H, W) planes R, G, B = i, r, g for colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from app.render import GrayStretch, LuptonStretch, encode_png, gray_levels, lupton_rgb

F32 = npt.NDArray[np.float32]
PngMode = Literal["gray", "rgb"]


@dataclass(frozen=True)
class PngStretch:
    """A display stretch: the ``app.render`` stretch parameters, then ``level ** gamma`` on the 0..1
    levels. ``gray`` is None when the stretch only varies colour (not applicable to grayscale)."""

    description: str
    gray: GrayStretch | None = field(default_factory=GrayStretch)
    lupton: LuptonStretch = field(default_factory=LuptonStretch)
    gamma: float = 1.0


STRETCHES: dict[str, PngStretch] = {
    "default": PngStretch("the documented stretch (app.render defaults)"),
    "soft": PngStretch(
        "near-linear: 3x softer asinh, higher white point",
        GrayStretch(softening=10.0, white_percentile=99.99),
        LuptonStretch(100.0, 3.0),
    ),
    "hard": PngStretch(
        "high contrast: sharper asinh, saturated cores",
        GrayStretch(softening=1.0, white_percentile=99.0),
        LuptonStretch(15.0, 15.0),
    ),
    "gamma": PngStretch("default stretch then gamma 0.6", gamma=0.6),
    "dark": PngStretch("default stretch then gamma 1.6", gamma=1.6),
    "tinted": PngStretch(
        "colour balance g x1.4, i x0.7 (per-band scaling)", None, LuptonStretch(band_scales=(1.4, 1.0, 0.7))
    ),
}

# The training distribution of random_stretch at strength 1 (the widest): each parameter is drawn
# around its app.render default. Multiplicative parameters are log-uniform in [default / F, default * F]
# with F = factor ** strength; additive ones uniform in default +- strength * half-width.
RANDOM_RANGES: dict[str, float] = {
    "lupton_q": 1.8,  # Lupton Q (asinh softening): 8 -> [4.4, 14.4]
    "lupton_stretch_sigma": 2.0,  # linear range in r-band sigmas: 40 -> [20, 80]
    "band_scale": 1.25,  # g and i scales (colour balance, r is the reference): 1 -> [0.8, 1.25]
    "gamma": 1.35,  # output gamma: 1 -> [0.74, 1.35]
    "gray_softening": 2.5,  # gray asinh softening in sigmas: 3 -> [1.2, 7.5]
    "gray_white_tail": 3.0,  # share of pixels above the white point: 0.1% -> [0.033%, 0.3%]
    "gray_black_sigma": 1.0,  # black point below the sky, in sigmas: 2 +- 1 -> [1, 3]
}

# Named evaluation stretches that random_stretch never draws, at any strength: each lies outside the
# strength-1 ranges above in at least one parameter, so their AUC measures generalisation to an unseen
# viewer. soft (q 3 < 4.4, stretch 100 > 80; gray softening 10 > 7.5, white tail 0.01% < 0.033%), hard
# (q 15 > 14.4, stretch 15 < 20; softening 1 < 1.2, tail 1% > 0.3%), gamma (0.6 < 0.74), dark
# (1.6 > 1.35), tinted (g x1.4 > 1.25, i x0.7 < 0.8). Only ``default`` is inside (the centre).
UNSEEN: tuple[str, ...] = ("soft", "hard", "gamma", "dark", "tinted")


def random_stretch(rng: np.random.Generator, strength: float = 1.0) -> PngStretch:
    """A training stretch drawn around the default with the ranges of :data:`RANDOM_RANGES` scaled by
    ``strength`` in [0, 1] (0: exactly the default stretch). Always takes the same number of draws
    from ``rng`` (nine), so a seed gives the same stream whatever the strength."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    u = rng.uniform(-1.0, 1.0, size=9)
    if strength == 0.0:
        return STRETCHES["default"]
    r = RANDOM_RANGES

    def logu(default: float, factor: float, k: int) -> float:
        return default * math.exp(strength * math.log(factor) * float(u[k]))

    lupton0, gray0 = LuptonStretch(), GrayStretch()
    lupton = LuptonStretch(
        stretch_sigma=logu(lupton0.stretch_sigma, r["lupton_stretch_sigma"], 0),
        q=logu(lupton0.q, r["lupton_q"], 1),
        band_scales=(
            logu(lupton0.band_scales[0], r["band_scale"], 2),
            lupton0.band_scales[1],
            logu(lupton0.band_scales[2], r["band_scale"], 3),
        ),
    )
    gray = GrayStretch(
        softening=logu(gray0.softening, r["gray_softening"], 4),
        black_sigma=gray0.black_sigma + strength * r["gray_black_sigma"] * float(u[5]),
        white_percentile=100.0 - logu(100.0 - gray0.white_percentile, r["gray_white_tail"], 6),
        min_range_sigma=gray0.min_range_sigma,
    )
    gamma = logu(1.0, r["gamma"], 7)  # u[8] is spare, so the stream length stays fixed if a key is added
    return PngStretch(f"random (strength {strength:g})", gray, lupton, gamma)


def _resolve(stretch: str | PngStretch) -> PngStretch:
    if isinstance(stretch, PngStretch):
        return stretch
    if stretch not in STRETCHES:
        raise ValueError(f"unknown stretch {stretch!r}; choose from {sorted(STRETCHES)}")
    return STRETCHES[stretch]


def apply_gamma(
    levels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16], gamma: float
) -> npt.NDArray[np.uint8] | npt.NDArray[np.uint16]:
    """``top * (levels / top) ** gamma`` rounded, top = 255 (uint8) or 65535 (uint16); same dtype."""
    if gamma == 1.0:
        return levels
    top = 255.0 if levels.dtype == np.uint8 else 65535.0
    out = np.rint(top * (levels.astype(np.float64) / top) ** gamma)
    return out.astype(levels.dtype)


def render_png(
    x: npt.ArrayLike,
    mode: PngMode,
    bands: tuple[str, ...] = (),
    stretch: str | PngStretch | Sequence[PngStretch] = "default",
    bit_depth: Literal[8, 16] = 8,
) -> F32:
    """Cutouts (B, C, H, W) rendered to PNG with ``app.render`` and decoded with ``app.decode``.

    ``gray``: one-band cutouts to a grayscale PNG (8- or 16-bit) -> (B, 1, H, W) gray levels.
    ``rgb``: the g, r, i planes (found by name in ``bands``) to an 8-bit Lupton colour composite ->
    (B, 3, H, W), planes R, G, B = i, r, g. ``stretch``: a name of :data:`STRETCHES`, one
    :class:`PngStretch` for the batch, or a sequence of B (one per cutout, as the training draws).
    Orientation is kept: the renderer flips to display order and the decoder flips back.
    """
    from app.decode import decode_bytes  # lazy: only the PNG models need the render/decode round trip

    arr = np.array(x, dtype=np.float32)
    if arr.ndim != 4:
        raise ValueError(f"render_png takes a batch shaped (B, C, H, W), got shape {arr.shape}")
    if isinstance(stretch, str | PngStretch):
        specs = [_resolve(stretch)] * arr.shape[0]
        label = stretch if isinstance(stretch, str) else stretch.description
    else:
        label = "per-cutout"
        specs = [_resolve(s) for s in stretch]
        if len(specs) != arr.shape[0]:
            raise ValueError(f"{len(specs)} stretches for a batch of {arr.shape[0]} cutouts")
    levels: list[npt.NDArray[np.uint8] | npt.NDArray[np.uint16]] = []
    if mode == "gray":
        if arr.shape[1] != 1:
            raise ValueError(f"grayscale PNG takes one-band cutouts, got {arr.shape[1]} bands")
        for cut, spec in zip(arr, specs, strict=True):
            if spec.gray is None:
                raise ValueError(f"stretch {label!r} only changes colours; it does not apply to grayscale")
            levels.append(apply_gamma(gray_levels(cut[0], spec.gray, bit_depth), spec.gamma))
    elif mode == "rgb":
        try:
            g, r, i = (bands.index(name) for name in ("g", "r", "i"))
        except ValueError:
            raise ValueError(f"colour composites need bands g, r and i; got {bands}") from None
        for cut, spec in zip(arr, specs, strict=True):
            levels.append(apply_gamma(lupton_rgb(cut[g], cut[r], cut[i], spec.lupton), spec.gamma))
    else:
        raise ValueError(f"unknown PNG mode {mode!r}")
    decoded = [decode_bytes(encode_png(lv), f"render-{k}.png").pixels for k, lv in enumerate(levels)]
    if not decoded:
        return np.zeros((0, 1 if mode == "gray" else 3, *arr.shape[2:]), dtype=np.float32)
    return np.concatenate(decoded, axis=0).astype(np.float32)
