"""Reading sources on the client, with the service's own decoder (:mod:`app.decode`).

The client decodes every file itself, so that it can send thousands of cutouts as a few FITS stacks
(DESIGN section 6) and still report each cutout's ``id``, ``ra`` and ``dec``: a stack has one header,
so these per-file header values are read here, by the same header code the service uses, and carried
to the result rows. Decode warnings (``bad_wcs``, ``precision_reduced``, ...) are carried too, and a
file that does not decode becomes an error row with the decoder's own code, without a request.
A file is read as the service will read it: with the band count of the model the request names
(``channels``; app/decode/layout.py), or none when the service chooses the model.

Files that can travel as they are keep their bytes (``Loaded.raw``):
- PNG: a display rendering, which the ``rgb`` model only takes as PNG (``raw_required``);
- FITS whose decoded pixels hold the value exactly 100.0: that is the BLF mask value in floating-point
  data, so an integer file's unmarked 100 would become masked once restacked as float32
  (``raw_required``);
- FITS files holding several cutouts (stacks, cubes, one cutout per HDU): already the service's fast
  path, so sending their bytes unchanged saves re-encoding them; :mod:`app.client.pack` restacks them
  only when one would not fit in a request. One that surely fits (``whole``) is not even decoded:
  the service reads its cutouts' ids, positions and warnings from the same header.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from app.client.sources import ArraySource, BandGroup, FileSource, Source
from app.decode import DecodeError, DecodeLimits, decode_bytes
from app.decode.fits import count_or_decode_fits
from app.decode.masking import MASK_VALUE
from app.decode.sniff import sniff
from app.decode.types import DecodedFile, InputFormat

MISSING_BAND = "missing_band_file"
UNREADABLE = "unreadable_file"


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a cutout or file was not scored: a stable ``code`` and a ``message`` for people."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Cutout:
    """One cutout as the client holds it: what its row will say, and its pixels (C, H, W) to stack.

    ``index`` is its 0-based position in its source (None for a whole-source failure); ``warnings``
    are decode warning codes; ``raw`` is set when the cutout travels inside its file's original bytes
    (see the module docstring), which then holds ``raw_count`` cutouts.
    """

    key: str
    index: int | None
    id: str | None = None
    ra: float | None = None
    dec: float | None = None
    warnings: tuple[str, ...] = ()
    error: Failure | None = None
    pixels: npt.NDArray[np.float32] | None = field(default=None, repr=False)
    bands: tuple[str, ...] | None = None
    pixel_scale: float | None = None
    format: InputFormat = "fits"


@dataclass(frozen=True, slots=True)
class Loaded:
    """A source's cutouts in order; ``raw`` holds the file's bytes when it may be sent as it is, and
    ``raw_required`` says it must be (it cannot be restacked without changing it)."""

    key: str
    cutouts: tuple[Cutout, ...]
    raw: bytes | None = field(default=None, repr=False)
    raw_name: str = ""
    raw_required: bool = False
    planes: int | None = None  # planes per cutout, where the cutouts were counted but not decoded


def _failed(key: str, code: str, message: str) -> Loaded:
    return Loaded(key, (Cutout(key, None, error=Failure(code, message)),))


def _read(path: str, limits: DecodeLimits) -> bytes:
    # os-level calls: a client reads thousands of small files, and open() builds a buffered reader
    # around each for one read
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size > limits.max_file_bytes:
            raise DecodeError(
                "too_large", f"{path} is {size} bytes; the limit is {limits.max_file_bytes} per file"
            )
        data = os.read(fd, size)
        while len(data) < size and (more := os.read(fd, size - len(data))):
            data += more  # a short read (a network file system; a file growing is read as it was)
        return data
    finally:
        os.close(fd)


def _cutouts(key: str, decoded: DecodedFile) -> tuple[Cutout, ...]:
    out = []
    for meta, pixels in zip(decoded.cutouts, decoded.pixels, strict=True):
        error = None if meta.error is None else Failure(meta.error.code, meta.error.message)
        out.append(
            Cutout(
                key=key,
                index=meta.index,
                id=meta.id,
                ra=meta.ra,
                dec=meta.dec,
                warnings=tuple(w.code for w in meta.warnings),
                error=error,
                pixels=None if error else pixels,
                bands=meta.bands,
                pixel_scale=meta.pixel_scale_arcsec,
                format=decoded.format,
            )
        )
    return tuple(out)


def load_file(
    source: FileSource,
    limits: DecodeLimits,
    channels: int | None = None,
    whole: tuple[int, int] | None = None,
) -> Loaded:
    """Decode one file as a model of ``channels`` bands would take it (None: as the service reads a
    file when it chooses the model); a decode failure is one error cutout with the decoder's code.

    ``whole`` (cutouts, bytes): a plain FITS file of one image holding several cutouts, no more than
    these, is not decoded at all: its header says how many cutouts it holds, it travels as it is, and
    the service's answer gives each cutout's id, position and warnings (read from that same header)."""
    try:
        data = _read(source.path, limits)
        if whole is not None and sniff(data) == "fits" and len(data) <= whole[1]:
            # one pass over the header either way: a single cutout is decoded from it
            result = count_or_decode_fits(data, source.key, channels, limits, count_up_to=whole[0])
            if isinstance(result, tuple):
                cutouts = tuple(Cutout(source.key, i) for i in range(result[0]))
                name = os.path.basename(source.path)
                return Loaded(
                    source.key, cutouts, raw=data, raw_name=name, raw_required=True, planes=result[1]
                )
            decoded = result
        else:
            decoded = decode_bytes(data, source.key, channels=channels, limits=limits)
    except DecodeError as error:
        return _failed(source.key, error.code, error.message)
    except OSError as error:
        return _failed(source.key, UNREADABLE, f"{source.path}: {error.strerror or error}")
    cutouts = _cutouts(source.key, decoded)
    required = decoded.format != "fits" or bool(np.any(decoded.pixels == np.float32(MASK_VALUE)))
    if required or len(cutouts) > 1:
        name = os.path.basename(source.path)
        return Loaded(source.key, cutouts, raw=data, raw_name=name, raw_required=required)
    return Loaded(source.key, cutouts)


def load_group(source: BandGroup, limits: DecodeLimits) -> Loaded:
    """Decode a BLF band group into one multi-band cutout (bands from the file names, u, g, r, i)."""
    present = {band for band, _ in source.files}
    missing = [band for band in source.bands if band not in present]
    if missing:
        return _failed(
            source.key,
            MISSING_BAND,
            f"cutout {source.id} has no file for band(s) {missing} (it has {sorted(present)})",
        )
    planes: list[npt.NDArray[np.float32]] = []
    first: Cutout | None = None
    warnings: list[str] = []
    scales: set[float] = set()
    for band, path in source.files:
        loaded = load_file(FileSource(path, source.key), limits)
        cutout = loaded.cutouts[0]
        if cutout.error is not None:
            return _failed(source.key, cutout.error.code, f"band {band} ({path}): {cutout.error.message}")
        if len(loaded.cutouts) != 1 or cutout.pixels is None or cutout.pixels.shape[0] != 1:
            return _failed(source.key, "bad_shape", f"band {band} ({path}) is not one one-band image")
        if planes and cutout.pixels.shape != planes[0].shape:
            shapes = f"{cutout.pixels.shape[1:]} against {planes[0].shape[1:]}"
            return _failed(source.key, "bad_shape", f"band {band} ({path}) is {shapes} of the other bands")
        planes.append(cutout.pixels)
        first = first or cutout
        warnings += [w for w in cutout.warnings if w not in warnings]
        if cutout.pixel_scale is not None:
            scales.add(round(cutout.pixel_scale, 6))
    assert first is not None
    cube = Cutout(
        key=source.key,
        index=0,
        id=first.id if first.id is not None else str(source.id),
        ra=first.ra,
        dec=first.dec,
        warnings=tuple(warnings),
        pixels=np.concatenate(planes),
        bands=tuple(band for band, _ in source.files),
        pixel_scale=scales.pop() if len(scales) == 1 else None,
    )
    return Loaded(source.key, (cube,))


def load_array(source: ArraySource) -> Loaded:
    """An array as one cutout (C, H, W) float32; a shape other than 2-D or 3-D is ``bad_shape``."""
    pixels = np.asarray(source.pixels, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[None]
    if pixels.ndim != 3 or min(pixels.shape) < 1:
        return _failed(
            source.key, "bad_shape", f"{source.key} is {source.pixels.shape}; give (H, W) or (C, H, W)"
        )
    if source.bands is not None and len(source.bands) != pixels.shape[0]:
        return _failed(
            source.key, "band_mismatch", f"{source.key} has {pixels.shape[0]} planes but names {source.bands}"
        )
    pixels = np.where(np.isfinite(pixels), pixels, np.float32(np.nan)).astype(np.float32)
    cutout = Cutout(
        key=source.key, index=0, id=source.id, ra=source.ra, dec=source.dec, pixels=pixels, bands=source.bands
    )
    return Loaded(source.key, (cutout,))


def load(
    source: Source, limits: DecodeLimits, channels: int | None = None, whole: tuple[int, int] | None = None
) -> Loaded:
    """Read one source (blocking: astropy and file I/O); ``channels`` and ``whole`` as for
    :func:`load_file` (a BLF band group's files are one band each whatever the model)."""
    if isinstance(source, FileSource):
        return load_file(source, limits, channels, whole)
    if isinstance(source, BandGroup):
        return load_group(source, limits)
    return load_array(source)
