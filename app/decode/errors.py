"""The one error type that decoding and conforming raise, with stable codes.

Codes are part of the HTTP API (DESIGN section 6): clients and tests match on them, so a code is never
renamed once shipped. Messages are for people: they say what was wrong and what to do about it.
"""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "not_fits_or_png",  # the bytes are neither FITS (plain or gzip) nor PNG
    "bad_fits",  # FITS signature present but the file is truncated or its headers are corrupt
    "bad_png",  # PNG signature present but the stream cannot be decoded
    "no_image_data",  # a valid FITS file without any image HDU holding data
    "bad_shape",  # an array whose dimensions cannot be read as cutouts (1-D, 5-D, zero-sized, ...)
    "band_mismatch",  # band count or band names do not match what the model takes
    "too_large",  # declared pixels, inflated bytes or cutouts per file over the configured limit
    "compressed_hdu_too_large",  # a tile-compressed HDU that would inflate past the pixel limit
    "all_nan",  # every pixel of a cutout is NaN, infinite or masked
    "unsupported_data",  # a data type or PNG mode that cannot be read as intensities
]

ERROR_CODES: tuple[ErrorCode, ...] = ErrorCode.__args__  # type: ignore[attr-defined]


class DecodeError(Exception):
    """A cutout file that cannot be read or used; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: ErrorCode = code
        self.message = message
