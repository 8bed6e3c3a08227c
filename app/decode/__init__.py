"""Bytes -> cutouts: the one decoder of FITS and PNG files, for training and serving alike.

``decode_bytes`` recognises the format by its bytes (FITS, gzip-compressed FITS, PNG), checks every
declared size against DecodeLimits before allocating, and returns a DecodedFile: float32 pixels
(N, C, H, W) with masked pixels NaN, plus per-cutout metadata. Every failure is a DecodeError with a
stable code (app/decode/errors.py); no other exception escapes (MemoryError becomes ``too_large``).
The FITS shape rules are in app/decode/layout.py, the masking rule in app/decode/masking.py.
"""

from __future__ import annotations

import os

from app.decode.errors import DecodeError
from app.decode.fits import decode_fits
from app.decode.gunzip import gunzip_capped
from app.decode.limits import DEFAULT_LIMITS, DecodeLimits
from app.decode.png import decode_png
from app.decode.sniff import sniff
from app.decode.types import DecodedFile, FileBytes

__all__ = ["DecodeError", "DecodeLimits", "DecodedFile", "decode_bytes", "decode_path", "import_astropy"]


def import_astropy() -> None:
    """Import the astropy modules that decoding imports where a file needs them (FITS headers astropy
    must parse, HDU lists, units, WCS): about half a second, which a long-running service pays at
    start-up rather than in its first requests. (A command-line run over files of image HDUs with
    plain headers never needs them: app/decode/fits.py.)"""
    import astropy.io.fits
    import astropy.units
    import astropy.wcs  # noqa: F401


def _too_big(filename: str, size: int, limit: int) -> DecodeError:
    return DecodeError("too_large", f"{filename} is {size} bytes; the limit is {limit} bytes per file")


def decode_bytes(
    data: FileBytes, filename: str, *, channels: int | None = None, limits: DecodeLimits | None = None
) -> DecodedFile:
    """Decode one file's bytes into cutouts (``bytes``, or a memoryview of bytes, which FITS decoding
    reads without copying: a 10 MB stack uploaded in a request body is not copied out of it).

    ``filename`` is only recorded in metadata and messages (the format comes from the bytes).
    ``channels`` is the band count of the model the caller means to use, None when not yet chosen: it
    decides how a 3-D FITS array without band names is read (app/decode/layout.py). Raises DecodeError.
    """
    limits = limits or DEFAULT_LIMITS
    if channels is not None and (isinstance(channels, bool) or channels < 1):
        raise ValueError(f"channels must be a positive integer or None, got {channels!r}")
    try:
        data = memoryview(data).cast("B") if isinstance(data, memoryview) else bytes(data)
        if len(data) > limits.max_file_bytes:
            raise _too_big(filename, len(data), limits.max_file_bytes)
        kind = sniff(bytes(data[:16]))
        if kind == "png":
            return decode_png(bytes(data), filename, limits)
        if kind == "gzip":
            data = gunzip_capped(bytes(data), limits.max_file_bytes, what=f"{filename} (gzip)")
            if sniff(data) != "fits":
                raise DecodeError(
                    "not_fits_or_png", f"{filename} is gzip-compressed but does not hold a FITS file"
                )
            kind = "fits"
        if kind == "fits":
            return decode_fits(data, filename, channels, limits)
        raise DecodeError(
            "not_fits_or_png",
            f"{filename} is neither FITS (plain or gzip-compressed) nor PNG, judging by its first bytes",
        )
    except MemoryError:
        raise DecodeError("too_large", f"{filename} needs more memory than this process has") from None


def decode_path(
    path: str | os.PathLike[str], *, channels: int | None = None, limits: DecodeLimits | None = None
) -> DecodedFile:
    """Decode the file at ``path`` (recorded as its ``file``); see decode_bytes.

    The size is checked before the file is read. OSError from the file system (missing file, no
    permission) propagates: it says nothing about the file's content.
    """
    limits = limits or DEFAULT_LIMITS
    name = os.fspath(path)
    size = os.path.getsize(name)
    if size > limits.max_file_bytes:
        raise _too_big(name, size, limits.max_file_bytes)
    with open(name, "rb") as handle:
        data = handle.read()
    return decode_bytes(data, name, channels=channels, limits=limits)
