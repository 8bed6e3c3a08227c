"""How the image arrays of a FITS file become cutouts (N, C, H, W): the shape rules of DESIGN section 6.

Array shapes are in numpy order, (NAXISn, ..., NAXIS2, NAXIS1), so a 2-D image is (H, W). ``channels``
is the band count of the model the caller means to use, or None when it has not chosen one.

One image HDU with data (primary or extension, wherever it is):
- (H, W): one one-band cutout. Band name from FILTER/BAND.
- (A, H, W): with band names (BANDS or FILTER1..n) whose count equals A > 1 and ``channels`` None or
  A, one cube of A bands. Otherwise, with ``channels`` None or 1, a stack of A one-band cutouts (a
  single FILTER/BAND name applies to each). With ``channels`` = C > 1, one C-band cube, which needs
  A == C. Band names whose count matches neither reading -> ``band_mismatch``.
- (N, A, H, W): N cutouts of A bands; band names, when present, must count A.
- any other number of dimensions -> ``bad_shape``.
Several image HDUs with data: each must be 2-D, all the same shape (else ``bad_shape``):
- every HDU names its band (FILTER or BAND): one cutout of that many bands, planes in HDU order;
- no HDU names a band: one cutout of C bands when ``channels`` = C > 1 equals the HDU count (bands
  then unnamed, assumed in model order by conform), else a stack of one-band cutouts, one per HDU;
- some name a band and some do not -> ``band_mismatch``.
Whenever ``channels`` is given and the file's band count differs from it -> ``band_mismatch``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.decode.errors import DecodeError


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """One image HDU with data, as its header declares it (before any data are read)."""

    hdu: int  # position of the HDU in the file, 0 = primary
    label: str  # how messages name it, e.g. "HDU 1 (SCI)"
    shape: tuple[int, ...]  # numpy order
    bands: tuple[str, ...] | None  # from header.band_names


@dataclass(frozen=True, slots=True)
class Layout:
    """The reading chosen for a file: which images, and the (N, C, H, W) they make."""

    kind: Literal["one_image", "band_per_hdu", "cutout_per_hdu"]
    images: tuple[ImageInfo, ...]
    shape: tuple[int, int, int, int]  # (N, C, H, W)
    bands: tuple[str, ...] | None  # per plane, the same for every cutout


def _fmt(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def _check_channels(c: int, channels: int | None, what: str) -> None:
    if channels is not None and c != channels:
        raise DecodeError(
            "band_mismatch", f"{what} holds {c} band(s) per cutout but the model takes {channels}"
        )


def _one_image(image: ImageInfo, channels: int | None) -> Layout:
    shape, bands, label = image.shape, image.bands, image.label
    if len(shape) == 2:
        h, w = shape
        if bands is not None and len(bands) != 1:
            raise DecodeError(
                "band_mismatch",
                f"{label} is one 2-D image ({_fmt(shape)}) but its header names "
                f"{len(bands)} bands {list(bands)}",
            )
        _check_channels(1, channels, f"{label} ({_fmt(shape)})")
        return Layout("one_image", (image,), (1, 1, h, w), bands)
    if len(shape) == 3:
        a, h, w = shape
        named_cube = bands is not None and len(bands) == a and a > 1
        if channels is not None and channels > 1:
            if a != channels:
                raise DecodeError(
                    "band_mismatch",
                    f"{label} is a {_fmt(shape)} array: {a} planes, but the model "
                    f"takes {channels} bands per cutout (a cube must be {channels}xHxW)",
                )
            if bands is not None and len(bands) != a:
                raise DecodeError(
                    "band_mismatch",
                    f"{label} has {a} planes but its header names {len(bands)} bands {list(bands)}",
                )
            return Layout("one_image", (image,), (1, a, h, w), bands)
        if named_cube:
            _check_channels(a, channels, f"{label} (a cube of bands {list(bands or ())})")
            return Layout("one_image", (image,), (1, a, h, w), bands)
        if bands is not None and len(bands) != 1:
            raise DecodeError(
                "band_mismatch",
                f"{label} has {a} planes but its header names {len(bands)} bands "
                f"{list(bands)}; name one band per plane (BANDS='u,g,r,i') or one band for a stack",
            )
        return Layout("one_image", (image,), (a, 1, h, w), bands)
    if len(shape) == 4:
        n, a, h, w = shape
        if bands is not None and len(bands) != a:
            raise DecodeError(
                "band_mismatch",
                f"{label} is {n} cutouts of {a} planes but its header names {len(bands)} bands {list(bands)}",
            )
        _check_channels(a, channels, f"{label} ({_fmt(shape)})")
        return Layout("one_image", (image,), (n, a, h, w), bands)
    raise DecodeError(
        "bad_shape",
        f"{label} holds a {len(shape)}-D array ({_fmt(shape)}); cutouts are 2-D (HxW), "
        "3-D (CxHxW or a stack NxHxW) or 4-D (NxCxHxW)",
    )


def _several_images(images: Sequence[ImageInfo], channels: int | None) -> Layout:
    listing = ", ".join(f"{im.label}: {_fmt(im.shape)}" for im in images)
    if any(len(im.shape) != 2 for im in images) or len({im.shape for im in images}) != 1:
        raise DecodeError(
            "bad_shape",
            f"a file with several image HDUs must hold one 2-D image of the same size per "
            f"HDU (one band each); this one has {listing}",
        )
    h, w = images[0].shape
    count = len(images)
    names = [im.bands[0] if im.bands is not None and len(im.bands) == 1 else None for im in images]
    if all(name is not None for name in names):
        bands = tuple(name for name in names if name is not None)
        _check_channels(count, channels, f"the file ({count} image HDUs, bands {list(bands)})")
        return Layout("band_per_hdu", tuple(images), (1, count, h, w), bands)
    if any(name is not None for name in names):
        unnamed = ", ".join(im.label for im, name in zip(images, names, strict=True) if name is None)
        raise DecodeError(
            "band_mismatch",
            f"some image HDUs name their band (FILTER or BAND) and some do not ({unnamed}); "
            "name the band of every HDU",
        )
    if channels is not None and channels > 1:
        _check_channels(count, channels, f"the file ({count} image HDUs without band names)")
        return Layout("band_per_hdu", tuple(images), (1, count, h, w), None)
    return Layout("cutout_per_hdu", tuple(images), (count, 1, h, w), None)


def plan_layout(images: Sequence[ImageInfo], channels: int | None, max_cutouts: int) -> Layout:
    """Choose the reading of a file's image HDUs (module docstring) and check the cutout count."""
    if not images:
        raise DecodeError("no_image_data", "the FITS file holds no image HDU with data")
    if channels is not None and channels < 1:
        raise ValueError(f"channels must be positive or None, got {channels}")
    layout = _one_image(images[0], channels) if len(images) == 1 else _several_images(images, channels)
    n = layout.shape[0]
    if n > max_cutouts:
        raise DecodeError(
            "too_large", f"the file holds {n} cutouts; the limit is {max_cutouts} per file: split the stack"
        )
    return layout
