"""Recognise a file by its first bytes, never by its name."""

from __future__ import annotations

from typing import Literal

Kind = Literal["fits", "gzip", "png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GZIP_MAGIC = b"\x1f\x8b"
# FITS 4.0 section 4.4.1.1: the first card is SIMPLE with '=' in column 9. The value (T, or F for
# files that only claim to be FITS-like) is left to astropy, which says what is wrong with it.
FITS_SIGNATURE = b"SIMPLE  ="


def sniff(data: bytes) -> Kind | None:
    """Return the kind of ``data`` from its leading bytes, or None when it is none of FITS, gzip, PNG."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(GZIP_MAGIC):
        return "gzip"
    if data.startswith(FITS_SIGNATURE):
        return "fits"
    return None
