"""FITS bytes -> cutouts, through astropy, with every size checked before data are touched.

Reading order: a walk over the raw headers (prescan.py), so that astropy never parses a header whose
structural values would make it spin; then astropy's headers, one HDU at a time (``lazy_load_hdus``),
each declared shape checked against DecodeLimits and against the bytes present; then the layout
(app/decode/layout.py) is chosen from shapes and band names; only then are the chosen HDUs' data
read, scaled by BSCALE/BZERO to float32 (native byte order) and masked (app/decode/masking.py).

HDUs used: primary and IMAGE extensions with data, and tile-compressed images (read with
``disable_image_compression`` so their binary-table headers can be checked first; see compressed.py).
Tables, random groups and HDUs with a zero-length axis are skipped. A file of image HDUs only (a
primary image, or a primary HDU and IMAGE extensions) is read from its bytes and the headers prescan
parsed, without astropy's HDU list; astropy is imported only when a file needs it (a header that is
not of the plain card forms of app/decode/cards.py, a table, a tile-compressed image): a
command-line run over such files never pays its import (a fifth of a second).

astropy reports non-standard headers through the warnings module; they are caught here and become
one ``fits_nonstandard`` DecodeWarning per distinct message (at most three). ``warnings.catch_warnings``
is process-wide on Python 3.11, so when several threads decode at once a message may be attributed
to a neighbouring file or dropped: they are advisory only.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from app.decode.cards import HeaderValues
from app.decode.compressed import check_compressed_hdu, is_compressed_image
from app.decode.errors import DecodeError
from app.decode.header import HeaderInfo, band_names, read_header_info
from app.decode.layout import ImageInfo, Layout, plan_layout
from app.decode.limits import DecodeLimits
from app.decode.masking import apply_masking_rule, masked_fractions
from app.decode.prescan import HduSpan, prescan
from app.decode.types import CutoutError, CutoutMeta, DecodedFile, DecodeWarning, FileBytes

_BITPIX = (8, 16, 32, 64, -32, -64)
_MAX_FITS_WARNINGS = 3


def _label(index: int, header: Any) -> str:
    name = header.get("EXTNAME")
    return (
        f"HDU {index} ({str(name).strip()})"
        if name
        else f"HDU {index}" + (" (primary)" if index == 0 else "")
    )


def _declared_shape(header: Any, label: str) -> tuple[int, ...]:
    naxis = header.get("NAXIS")
    if isinstance(naxis, bool) or not isinstance(naxis, int) or not 0 <= naxis <= 999:
        raise DecodeError("bad_fits", f"{label}: NAXIS = {naxis!r} is not valid")
    axes = []
    for k in range(1, naxis + 1):
        value = header.get(f"NAXIS{k}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DecodeError("bad_fits", f"{label}: NAXIS{k} = {value!r} is not a non-negative integer")
        axes.append(value)
    return tuple(reversed(axes))


class _Source:
    """One image HDU chosen for reading: how to get its stored array, and its image header's values."""

    def __init__(self, read: Callable[[], npt.NDArray[Any]], header: HeaderValues, bitpix: int) -> None:
        self.raw, self.header, self.bitpix = read, header, bitpix


def _hdu_reader(hdu: Any) -> Callable[[], npt.NDArray[Any]]:
    return lambda: np.asarray(hdu.data)


def _buffer_reader(
    data: FileBytes, start: int, shape: tuple[int, ...], bitpix: int
) -> Callable[[], npt.NDArray[Any]]:
    # FITS stores big-endian integers and IEEE floats; BITPIX 8 is unsigned (the standard, section 5.2)
    dtype = np.dtype("u1") if bitpix == 8 else np.dtype(f">{'f' if bitpix < 0 else 'i'}{abs(bitpix) // 8}")
    return lambda: np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=start).reshape(shape)


def _image(
    index: int, header: Any, data_start: int, data: FileBytes, limits: DecodeLimits
) -> tuple[tuple[int, ...], int] | None:
    """An uncompressed image HDU's declared shape and BITPIX, checked against the limits and against
    the bytes present; None when it holds no pixels (NAXIS = 0 or a zero-length axis)."""
    label = _label(index, header)
    shape = _declared_shape(header, label)
    bitpix = header.get("BITPIX")
    if bitpix not in _BITPIX:
        raise DecodeError("unsupported_data", f"{label}: BITPIX = {bitpix!r} is not a FITS data type")
    pixels = math.prod(shape)
    if pixels > limits.max_pixels:
        raise DecodeError(
            "too_large",
            f"{label} declares a {'x'.join(map(str, shape))} array = {pixels} pixels; "
            f"the limit is {limits.max_pixels} pixels per image",
        )
    if not shape or pixels == 0:
        return None
    end = data_start + pixels * abs(int(bitpix)) // 8
    if end > len(data):
        raise DecodeError(
            "bad_fits",
            f"{label} declares {end} bytes up to the end of its data but the file "
            f"has only {len(data)}: it is truncated",
        )
    return shape, int(bitpix)


def _plain_images(
    spans: list[HduSpan], data: FileBytes, limits: DecodeLimits
) -> tuple[list[ImageInfo], dict[int, _Source]] | None:
    """The images of a file that is a primary HDU followed by nothing but IMAGE extensions (a survey's
    single cutout, a cube, one HDU per band or per cutout), read from the headers prescan parsed and
    the bytes after them; None for any other file (tables, tile-compressed images, random groups,
    bytes after the last HDU), which goes through astropy's HDU list.

    Why: astropy's HDU list parses every header a second time and builds an HDU object for each:
    about as much again as the rest of decoding a one-cutout file, and ten times the rest for a file
    of one HDU per band, which a client sending thousands of files pays per file.
    """
    if not spans or spans[-1].end != len(data):
        return None
    primary = spans[0].values
    if primary.get("SIMPLE") is not True or primary.get("GROUPS") is True or "XTENSION" in primary:
        return None
    for span in spans[1:]:
        header = span.values
        kind = header.get("XTENSION")
        if not isinstance(kind, str) or kind.rstrip() != "IMAGE":
            return None
        if header.get("PCOUNT", 0) != 0 or header.get("GCOUNT", 1) != 1:
            return None  # not a valid IMAGE extension: astropy says what it makes of it
    images: list[ImageInfo] = []
    sources: dict[int, _Source] = {}
    for index, span in enumerate(spans):
        image = _image(index, span.values, span.data_start, data, limits)
        if image is None:
            continue
        shape, bitpix = image
        sources[index] = _Source(_buffer_reader(data, span.data_start, shape, bitpix), span.values, bitpix)
        images.append(ImageInfo(index, _label(index, span.values), shape, band_names(span.values)))
    return images, sources


def _scan(hdul: Any, data: bytes, limits: DecodeLimits) -> tuple[list[ImageInfo], dict[int, _Source]]:
    from astropy.io import fits

    images: list[ImageInfo] = []
    sources: dict[int, _Source] = {}
    index = 0
    while True:
        try:
            hdu = hdul[index]
        except IndexError:
            break
        if index >= limits.max_hdus:
            raise DecodeError("too_large", f"the file holds more than {limits.max_hdus} HDUs, the limit")
        label = _label(index, hdu.header)
        if is_compressed_image(hdu):
            declared = check_compressed_hdu(hdu, data, label, limits)
            shape = declared.shape
            if shape and 0 not in shape:
                # one image HDU for both its header and its data: building it (astropy converts the
                # table's header card by card) costs about as much as inflating a small cutout
                image_hdu = fits.CompImageHDU(bintable=hdu, do_not_scale_image_data=True)
                values = HeaderValues(image_hdu.header)
                sources[index] = _Source(_hdu_reader(image_hdu), values, declared.bitpix)
        elif isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU) and not isinstance(hdu, fits.GroupsHDU):
            image = _image(index, hdu.header, int(hdu.fileinfo()["datLoc"]), data, limits)
            if image is not None:
                shape, bitpix = image
                values = HeaderValues(hdu.header)
                sources[index] = _Source(_hdu_reader(hdu), values, bitpix)
        if index in sources:
            header = sources[index].header
            images.append(ImageInfo(index, label, shape, band_names(header)))
        index += 1
    return images, sources


def _number(header: Any, key: str, default: float, label: str) -> float:
    value = header.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DecodeError("bad_fits", f"{label}: {key} = {value!r} is not a finite number")
    return float(value)


def _physical(source: _Source, image: ImageInfo) -> npt.NDArray[np.float32]:
    """The image's values after BSCALE/BZERO, float32 in native byte order, masked."""
    raw = source.raw()
    if raw.shape != image.shape:
        raise DecodeError(
            "bad_fits", f"{image.label}: data read as {raw.shape}, header declares {image.shape}"
        )
    header, label = source.header, image.label
    bscale, bzero = _number(header, "BSCALE", 1.0, label), _number(header, "BZERO", 0.0, label)
    floating = source.bitpix < 0
    with np.errstate(all="ignore"):  # overflow to inf is masked below, as the rule says
        if bscale == 1.0 and bzero == 0.0:
            physical = raw.astype(np.float32)
        elif raw.dtype.itemsize <= 2 or raw.dtype == np.float32:
            physical = raw.astype(np.float32)
            physical *= np.float32(bscale)
            physical += np.float32(bzero)
        else:  # 32/64-bit integers and doubles keep their precision until the final cast
            physical = (raw.astype(np.float64) * bscale + bzero).astype(np.float32)
    blank = header.get("BLANK")
    usable_blank = blank if isinstance(blank, int) and not isinstance(blank, bool) and not floating else None
    return apply_masking_rule(physical, floating_point=floating, raw=raw, blank=usable_blank)


def _assemble(layout: Layout, sources: dict[int, _Source]) -> npt.NDArray[np.float32]:
    if layout.kind == "one_image":
        image = layout.images[0]
        return _physical(sources[image.hdu], image).reshape(layout.shape)
    pixels = np.empty(layout.shape, dtype=np.float32)
    for k, image in enumerate(layout.images):
        plane = _physical(sources[image.hdu], image)
        if layout.kind == "band_per_hdu":
            pixels[0, k] = plane
        else:
            pixels[k, 0] = plane
    return pixels


def _infos(layout: Layout, sources: dict[int, _Source], primary: HeaderValues) -> list[HeaderInfo]:
    n, _, h, w = layout.shape
    if layout.kind == "cutout_per_hdu":  # each cutout has a header of its own
        return [
            read_header_info(sources[im.hdu].header, primary if im.hdu else None, h, w)
            for im in layout.images
        ]
    first = layout.images[0]
    return [read_header_info(sources[first.hdu].header, primary if first.hdu else None, h, w)] * n


def _fits_warnings(caught: list[warnings.WarningMessage]) -> tuple[DecodeWarning, ...]:
    if not caught:
        return ()
    from astropy.utils.exceptions import AstropyWarning  # here: a plain file never imports astropy
    from astropy.wcs import FITSFixedWarning  # (astropy.wcs: a third of a second; app/decode/header.py)

    seen: dict[str, None] = {}
    for item in caught:
        if issubclass(item.category, AstropyWarning) and not issubclass(item.category, FITSFixedWarning):
            text = " ".join(str(item.message).split())[:300]
            seen.setdefault(text, None)
    return tuple(DecodeWarning("fits_nonstandard", text) for text in list(seen)[:_MAX_FITS_WARNINGS])


def _plan(images: list[ImageInfo], channels: int | None, limits: DecodeLimits) -> Layout:
    layout = plan_layout(images, channels, limits.max_cutouts)
    total = sum(math.prod(im.shape) for im in layout.images)
    if total > limits.max_total_pixels:
        raise DecodeError(
            "too_large",
            f"the file's images hold {total} pixels together; the limit is "
            f"{limits.max_total_pixels} per file",
        )
    return layout


def _read(
    data: FileBytes, filename: str, channels: int | None, limits: DecodeLimits, count_up_to: int
) -> DecodedFile | tuple[int, int]:
    spans = prescan(data, limits)
    plain = _plain_images(spans, data, limits)
    if plain is not None:
        layout = _plan(plain[0], channels, limits)
        n, c = layout.shape[:2]
        if len(spans) == 1 and 1 < n <= count_up_to:
            return n, c
        pixels = _assemble(layout, plain[1])
        infos = _infos(layout, plain[1], spans[0].values)
    else:
        from astropy.io import fits  # here: a file of plain image HDUs never needs it

        data = bytes(data)  # astropy's HDU list reads from a file object over bytes
        hdul = fits.open(
            io.BytesIO(data),
            mode="readonly",
            memmap=False,
            lazy_load_hdus=True,
            disable_image_compression=True,
            do_not_scale_image_data=True,
        )
        try:
            images, sources = _scan(hdul, data, limits)
            layout = _plan(images, channels, limits)
            pixels = _assemble(layout, sources)
            infos = _infos(layout, sources, HeaderValues(hdul[0].header))
        finally:
            hdul.close()
    fractions = masked_fractions(pixels)
    cutouts = []
    for i, (info, fraction) in enumerate(zip(infos, fractions, strict=True)):
        error = None
        if fraction >= 1.0:
            error = CutoutError("all_nan", f"cutout {i} of {filename} has no finite, unmasked pixel")
        cutouts.append(
            CutoutMeta(
                file=filename,
                index=i,
                format="fits",
                id=info.id,
                ra=info.ra,
                dec=info.dec,
                pixel_scale_arcsec=info.pixel_scale_arcsec,
                bands=layout.bands,
                masked_fraction=float(fraction),
                warnings=info.warnings,
                error=error,
            )
        )
    if all(c.error is not None for c in cutouts):
        raise DecodeError(
            "all_nan", f"every pixel of {filename} is NaN, infinite or masked (BLANK or the value 100)"
        )
    return DecodedFile(file=filename, format="fits", pixels=pixels, cutouts=tuple(cutouts))


def decode_fits(data: FileBytes, filename: str, channels: int | None, limits: DecodeLimits) -> DecodedFile:
    """Decode plain (already inflated) FITS bytes; every failure is a DecodeError."""
    decoded = _decode(data, filename, channels, limits, count_up_to=0)
    assert isinstance(decoded, DecodedFile)  # nothing is only counted with count_up_to 0
    return decoded


def count_or_decode_fits(
    data: bytes, filename: str, channels: int | None, limits: DecodeLimits, count_up_to: int
) -> DecodedFile | tuple[int, int]:
    """(cutouts, planes per cutout) of plain FITS bytes that are one primary image holding 2 to
    ``count_up_to`` cutouts as decoding would read them for a model of ``channels`` bands, from the
    header alone (no pixel is read); any other file decoded as :func:`decode_fits` does, after the
    same one pass over its header. Every failure is a DecodeError."""
    return _decode(data, filename, channels, limits, count_up_to)


def _decode(
    data: FileBytes, filename: str, channels: int | None, limits: DecodeLimits, count_up_to: int
) -> DecodedFile | tuple[int, int]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            decoded = _read(data, filename, channels, limits, count_up_to)
        except DecodeError:
            raise
        except MemoryError:
            raise DecodeError(
                "too_large", f"{filename} needs more memory than this process has; send a smaller file"
            ) from None
        except Exception as exc:  # astropy raises OSError, ValueError, KeyError, ... for bad files
            text = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise DecodeError("bad_fits", f"{filename} is not a readable FITS file: {text}") from None
    if isinstance(decoded, tuple):
        return decoded  # counted, not decoded: the service reads the warnings from the same header
    extra = _fits_warnings(caught)
    if not extra:
        return decoded
    cutouts = tuple(replace(c, warnings=c.warnings + extra) for c in decoded.cutouts)
    return replace(decoded, cutouts=cutouts)
