"""What decoding hands to the rest of the system: cutout pixels plus per-cutout metadata.

Conventions (every module that touches pixels relies on these):
- Pixels are ``float32`` arrays shaped ``(N, C, H, W)``: N cutouts, C bands (planes), H rows, W columns,
  rows in FITS order (row 0 is the bottom row as FITS stores it; PNG rows are flipped to match, so a
  FITS file and its PNG rendering give the same orientation).
- Flux units are whatever the file holds (BLF units, counts, nanomaggies, or 0..255 / 0..65535 for PNG):
  nothing downstream may depend on the absolute scale.
- Masked pixels are NaN. The masking rule (app/decode/masking.py) is the one rule for training and
  serving: non-finite values, FITS BLANK values and the BLF mask value 100.0 in floating-point data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from app.decode.errors import ErrorCode

InputFormat = Literal["fits", "png-gray", "png-rgb"]
# A file's bytes: ``bytes``, or a memoryview of bytes (a part of an uploaded body, not copied out of it)
FileBytes = bytes | memoryview


@dataclass(frozen=True, slots=True)
class DecodeWarning:
    """Something about a cutout that a user should know but that does not stop scoring."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class CutoutError:
    """A per-cutout failure inside an otherwise readable file (for example ``all_nan``)."""

    code: ErrorCode
    message: str


@dataclass(frozen=True, slots=True)
class CutoutMeta:
    """Metadata of one cutout.

    ``index`` is the 0-based position of the cutout in its file. ``ra``/``dec`` are ICRS degrees (from
    RA/DEC keywords or the WCS at the image centre). ``pixel_scale_arcsec`` is arcsec per pixel from the
    header (CDELT, CD or PIXSCALE), None when the file does not say. ``bands`` are lower-case band names
    per plane as the file declares them (BANDS, FILTERn, FILTER/BAND per HDU), None when it does not.
    ``masked_fraction`` is the fraction of the cutout's pixels (all planes) that the masking rule set
    to NaN.
    """

    file: str
    index: int
    format: InputFormat
    id: str | None = None
    ra: float | None = None
    dec: float | None = None
    pixel_scale_arcsec: float | None = None
    bands: tuple[str, ...] | None = None
    masked_fraction: float = 0.0
    warnings: tuple[DecodeWarning, ...] = ()
    error: CutoutError | None = None


@dataclass(frozen=True, slots=True)
class DecodedFile:
    """All cutouts of one file: ``pixels[i]`` belongs to ``cutouts[i]``."""

    file: str
    format: InputFormat
    pixels: npt.NDArray[np.float32]  # (N, C, H, W)
    cutouts: tuple[CutoutMeta, ...] = field(default_factory=tuple)
