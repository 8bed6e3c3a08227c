"""Fit decoded cutouts to a model's input: its bands, in its order, at its size. Never a resize.

``conform`` returns pixels shaped exactly (N, len(spec.bands), spec.height, spec.width):
- Format: a file whose format is not in ``spec.accepts`` -> DecodeError ``band_mismatch`` (the
  model does not take that kind of picture: a PNG is a display rendering, not band fluxes).
- Bands: when the file names its bands (FITS), planes are reordered to the model's order by name
  (a cube with BANDS='g,r,i,u' for a u,g,r,i model is reordered silently); names the model does not
  have, missing or repeated names, or a wrong count -> ``band_mismatch`` naming both lists. When the
  file names no bands and the count matches, model order is assumed with a ``bands_assumed`` warning
  (FITS only; a PNG's planes are defined by its format, gray or R,G,B).
- Size: each axis larger than the model's is centre-cropped, smaller is padded with NaN (masked),
  start offset (larger - smaller) // 2 on both, so pad-then-crop gives the original back; a
  ``cropped`` / ``padded`` warning names both shapes.
- Pixel scale: a header scale differing from ``spec.pixel_scale_arcsec`` by more than 5% gives a
  ``pixel_scale_mismatch`` warning (the cutout is still scored: a user may know better).
``masked_fraction`` is recomputed on the conformed pixels (padding counts as masked); a cutout left
with no finite pixel gets a CutoutError ``all_nan``, and a file left with none at all raises it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from app.decode.errors import DecodeError
from app.decode.masking import masked_fractions
from app.decode.types import CutoutError, CutoutMeta, DecodedFile, DecodeWarning, InputFormat

PIXEL_SCALE_TOLERANCE = 0.05


@dataclass(frozen=True, slots=True)
class InputSpec:
    """What a model takes: ``bands`` lower-case in model (plane) order, cutout ``height`` x ``width``
    pixels, ``pixel_scale_arcsec`` (arcsec/px, None when any), and the input formats it ``accepts``."""

    bands: tuple[str, ...]
    height: int
    width: int
    pixel_scale_arcsec: float | None
    accepts: tuple[InputFormat, ...]

    def __post_init__(self) -> None:
        if not self.bands or any(b != b.strip().lower() or not b for b in self.bands):
            raise ValueError(f"InputSpec.bands must be non-empty lower-case names, got {self.bands!r}")
        if len(set(self.bands)) != len(self.bands):
            raise ValueError(f"InputSpec.bands has a repeated name: {self.bands!r}")
        if self.height < 1 or self.width < 1:
            raise ValueError(f"InputSpec size must be positive, got {self.height}x{self.width}")


def _permutation(
    file_bands: tuple[str, ...] | None, planes: int, spec: InputSpec, fmt: InputFormat, name: str
) -> tuple[list[int] | None, DecodeWarning | None]:
    """Plane order taking the file's planes to the model's (None: already in order), and a warning."""
    want = spec.bands
    if file_bands is None:
        if planes != len(want):
            raise DecodeError(
                "band_mismatch",
                f"{name} has {planes} band(s) per cutout; the model takes {len(want)} {list(want)}",
            )
        if fmt != "fits" or planes == 1:
            return None, None
        return None, DecodeWarning(
            "bands_assumed",
            f"the file names no bands; its {planes} planes are taken as {list(want)} in that order",
        )
    if len(file_bands) != planes or sorted(file_bands) != sorted(want):
        raise DecodeError(
            "band_mismatch",
            f"{name} has bands {list(file_bands)} ({planes} planes); the model takes {list(want)}",
        )
    order = [file_bands.index(b) for b in want]
    return (None if order == list(range(planes)) else order), None


def _window(have: int, want: int) -> tuple[slice, slice]:
    """(source slice, destination slice) centring ``have`` pixels in ``want`` (crop or pad)."""
    if have >= want:
        start = (have - want) // 2
        return slice(start, start + want), slice(0, want)
    start = (want - have) // 2
    return slice(0, have), slice(start, start + have)


def _resize_warnings(h: int, w: int, spec: InputSpec) -> tuple[DecodeWarning, ...]:
    shapes = f"{h}x{w} to the model's {spec.height}x{spec.width}"
    found = []
    if h > spec.height or w > spec.width:
        found.append(DecodeWarning("cropped", f"cutout centre-cropped from {shapes}"))
    if h < spec.height or w < spec.width:
        found.append(DecodeWarning("padded", f"cutout padded with masked (NaN) pixels from {shapes}"))
    return tuple(found)


def _scale_warning(scale: float | None, spec: InputSpec) -> DecodeWarning | None:
    want = spec.pixel_scale_arcsec
    if scale is None or want is None or abs(scale / want - 1.0) <= PIXEL_SCALE_TOLERANCE:
        return None
    return DecodeWarning(
        "pixel_scale_mismatch",
        f"the header says {scale:.4g} arcsec/px; the model was trained at {want:.4g} arcsec/px",
    )


def conform(decoded: DecodedFile, spec: InputSpec) -> DecodedFile:
    """Return ``decoded`` with pixels exactly (N, len(spec.bands), spec.height, spec.width); see module."""
    name = decoded.file
    if decoded.format not in spec.accepts:
        raise DecodeError(
            "band_mismatch",
            f"{name} is {decoded.format}; the model takes {', '.join(spec.accepts)} "
            f"with bands {list(spec.bands)}",
        )
    pixels = decoded.pixels
    n, planes, h, w = pixels.shape
    c = len(spec.bands)

    # Cutouts of one file normally share their band names; group them so one fancy index does each group.
    groups: dict[tuple[str, ...] | None, list[int]] = {}
    for position, meta in enumerate(decoded.cutouts):
        groups.setdefault(meta.bands, []).append(position)
    rows, cols = _window(h, spec.height), _window(w, spec.width)
    band_warning: dict[int, DecodeWarning] = {}
    plans = []
    for bands, members in groups.items():
        order, warning = _permutation(bands, planes, spec, decoded.format, name)
        plans.append((members, order))
        if warning is not None:
            band_warning.update(dict.fromkeys(members, warning))
    if (h, w) == (spec.height, spec.width) and len(plans) == 1 and plans[0][1] is None:
        out = pixels  # already the model's shape and plane order (a survey's own cutouts): no copy
    else:
        out = np.full((n, c, spec.height, spec.width), np.nan, dtype=np.float32)
        for members, order in plans:
            index = np.asarray(members) if len(members) != n else slice(None)
            source = pixels[index] if order is None else pixels[index][:, order]
            out[index, :, rows[1], cols[1]] = source[:, :, rows[0], cols[0]]

    resize = _resize_warnings(h, w, spec)
    fractions = masked_fractions(out)
    cutouts = []
    for position, (meta, fraction) in enumerate(zip(decoded.cutouts, fractions, strict=True)):
        extra = list(resize)
        if position in band_warning:
            extra.insert(0, band_warning[position])
        scale = _scale_warning(meta.pixel_scale_arcsec, spec)
        if scale is not None:
            extra.append(scale)
        error = meta.error
        if error is None and fraction >= 1.0:
            error = CutoutError(
                "all_nan", f"cutout {meta.index} of {name} has no finite pixel in the model's window"
            )
        cutouts.append(_updated(meta, extra, float(fraction), error))
    if cutouts and all(m.error is not None and m.error.code == "all_nan" for m in cutouts):
        raise DecodeError(
            "all_nan", f"no cutout of {name} has a finite, unmasked pixel in the model's window"
        )
    return replace(decoded, pixels=out, cutouts=tuple(cutouts))


def _updated(
    meta: CutoutMeta, extra: list[DecodeWarning], fraction: float, error: CutoutError | None
) -> CutoutMeta:
    if not extra and fraction == meta.masked_fraction and error is meta.error:
        return meta  # nothing new: dataclasses.replace costs microseconds a cutout, a stack has thousands
    return replace(meta, warnings=meta.warnings + tuple(extra), masked_fraction=fraction, error=error)


def centre_window(array: npt.NDArray[np.float32], height: int, width: int) -> npt.NDArray[np.float32]:
    """Centre-crop / NaN-pad the last two axes of ``array`` to ``height`` x ``width`` (conform's rule)."""
    *lead, h, w = array.shape
    out = np.full((*lead, height, width), np.nan, dtype=np.float32)
    rows, cols = _window(h, height), _window(w, width)
    out[..., rows[1], cols[1]] = array[..., rows[0], cols[0]]
    return out
