"""Configurable guards that decoding checks before any large allocation.

Every limit is checked against what a file *declares* (header NAXISn/ZNAXISn, PNG width x height,
number of HDUs) or against bytes already in hand, before pixel data are inflated or converted, so a
small hostile file cannot make the process allocate gigabytes. Defaults suit a scoring service on a
machine with a few GiB per worker; training reads its own files and may raise them.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Limits of one decode call; all counts are inclusive maxima.

    - ``max_file_bytes``: bytes of one file, after gzip inflation (a gzip file is inflated in chunks
      and refused as soon as it passes this, so a gzip bomb never reaches astropy).
    - ``max_pixels``: pixels one image may declare: one FITS image HDU (NAXIS1*NAXIS2*...), one
      tile-compressed HDU (ZNAXIS1*ZNAXIS2*...), or one PNG (width*height; planes not counted).
    - ``max_total_pixels``: pixels of all selected image HDUs of one file together (a multi-extension
      file of many HDUs, each under ``max_pixels``, is still bounded).
    - ``max_cutouts``: cutouts one file may hold (the N of a stack).
    - ``max_hdus``: HDUs one FITS file may hold (headers are read one by one and reading stops here).
    """

    max_file_bytes: int = 256 * MIB
    max_pixels: int = 64 * MIB
    max_total_pixels: int = 64 * MIB
    max_cutouts: int = 10_000
    max_hdus: int = 64

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "max_pixels", "max_total_pixels", "max_cutouts", "max_hdus"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"DecodeLimits.{name} must be a positive integer, got {value!r}")


DEFAULT_LIMITS = DecodeLimits()
