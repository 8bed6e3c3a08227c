"""Writers of the BLF layout: one FITS file per band per cutout, the catalogue, the truth arrays.

Layout (DESIGN section 2): ``OUT/Public/Band1/imageEUC_VIS-<ID>.fits`` (space);
``OUT/Public/Band1/imageSDSS_R-<ID>.fits``, ``Band2/..._I``, ``Band3/..._G``, ``Band4/..._U`` (ground).
Each file: a primary HDU, BITPIX -32, 101x101, TAN WCS with CRPIX 51 and CDELT = pixel scale in degrees
(RA increasing to the left), plus OBJECT (the ID), FILTER and PIXSCALE (arcsec/px). No date keywords, so
a file's bytes depend only on its content. ``classifications.csv`` has the BLF columns first.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from training.simulate.config import SIZE, ZERO_POINT, SetConfig, get_set

BLF_COLUMNS = ("ID", "is_lens", "Einstein_area", "numb_pix_lensed_image", "flux_lensed_image_in_sigma")
TRUTH_DTYPE = np.float16
F16_MAX = float(np.finfo(np.float16).max)


def band_path(out: Path, cfg: SetConfig, band: int, cutout_id: int) -> Path:
    """Path of the FITS file of band ``band`` (simulator order) of cutout ``cutout_id``."""
    b = cfg.bands[band]
    return out / "Public" / b.blf_folder / f"{b.blf_prefix}-{cutout_id}.fits"


def make_dirs(out: Path, cfg: SetConfig) -> None:
    for b in cfg.bands:
        (out / "Public" / b.blf_folder).mkdir(parents=True, exist_ok=True)


def fits_header(cfg: SetConfig, band: int, cutout_id: int, ra: float, dec: float) -> fits.Header:
    scale_deg = cfg.pixel_scale / 3600.0
    centre = (SIZE + 1) / 2  # 51, FITS 1-based centre pixel
    cards: list[tuple[str, Any, str]] = [
        ("CTYPE1", "RA---TAN", ""),
        ("CTYPE2", "DEC--TAN", ""),
        ("CRPIX1", centre, ""),
        ("CRPIX2", centre, ""),
        ("CRVAL1", ra, "[deg]"),
        ("CRVAL2", dec, "[deg]"),
        ("CDELT1", -scale_deg, "[deg/px]"),
        ("CDELT2", scale_deg, "[deg/px]"),
        ("CUNIT1", "deg", ""),
        ("CUNIT2", "deg", ""),
        ("RADESYS", "ICRS", ""),
        ("EQUINOX", 2000.0, ""),
        ("OBJECT", str(cutout_id), "cutout ID"),
        ("FILTER", cfg.bands[band].filter_name, "band"),
        ("PIXSCALE", cfg.pixel_scale, "[arcsec/px]"),
        ("MAGZERO", ZERO_POINT, "mag of total flux 1 (BLF units)"),
        ("ORIGIN", "lensfinder simulator", "simulated, not observed"),
    ]
    header = fits.Header()
    for key, value, comment in cards:
        header[key] = (value, comment)
    return header


@lru_cache(maxsize=16)
def _header_cards(set_name: str, band: int) -> tuple[str, ...]:
    """The 80-character header cards astropy writes for a band's files, with placeholder ID and centre."""
    cfg = get_set(set_name)
    hdu = fits.PrimaryHDU(
        data=np.zeros((SIZE, SIZE), dtype=">f4"), header=fits_header(cfg, band, 0, 0.0, 0.0)
    )
    return tuple(card.image for card in hdu.header.cards)


def fits_bytes(
    cfg: SetConfig, band: int, cutout_id: int, image: npt.NDArray[np.float32], ra: float, dec: float
) -> bytes:
    """The bytes of one band's FITS file: astropy's header cards (cached per band, with this cutout's
    OBJECT and CRVAL cards) and the big-endian data, each padded to 2880-byte blocks.

    Formatting the cards once per band instead of building a Header per file halves the writing time.
    """
    own = {
        "OBJECT": fits.Card("OBJECT", str(cutout_id), "cutout ID").image,
        "CRVAL1": fits.Card("CRVAL1", ra, "[deg]").image,
        "CRVAL2": fits.Card("CRVAL2", dec, "[deg]").image,
    }
    cards = [own.get(card[:8].rstrip(), card) for card in _header_cards(cfg.name, band)]
    header = "".join(cards) + "END".ljust(80)
    header += " " * (-len(header) % 2880)
    data = np.ascontiguousarray(image, dtype=">f4").tobytes()
    return header.encode("ascii") + data + b"\0" * (-len(data) % 2880)


def write_cutout_fits(
    out: Path, cfg: SetConfig, cutout_id: int, image: npt.NDArray[np.float32], ra: float, dec: float
) -> None:
    """Write one cutout's bands (``image`` (C, 101, 101) float32, FITS row order) as BLF files."""
    for b in range(len(cfg.bands)):
        band_path(out, cfg, b, cutout_id).write_bytes(fits_bytes(cfg, b, cutout_id, image[b], ra, dec))


def write_catalogue(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """``classifications.csv``: the BLF columns first, then the simulator's columns, one row per cutout."""
    extra = [k for k in rows[0] if k not in BLF_COLUMNS] if rows else []
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*BLF_COLUMNS, *extra], lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "Einstein_area": f"{row['Einstein_area']:.6e}"})


def open_truth(out: Path, name: str, shape: tuple[int, ...]) -> np.memmap[Any, np.dtype[np.float16]]:
    """A float16 ``.npy`` memmap under ``OUT/truth/`` (values in units of each band's noise sigma)."""
    (out / "truth").mkdir(parents=True, exist_ok=True)
    return np.lib.format.open_memmap(out / "truth" / f"{name}.npy", mode="w+", dtype=TRUTH_DTYPE, shape=shape)


def to_truth(values: npt.NDArray[np.float32], sigmas: npt.NDArray[np.float64]) -> npt.NDArray[np.float16]:
    """(C, H, W) BLF units -> float16 in units of each band's noise sigma, clipped to float16's range."""
    scaled = values / sigmas[:, None, None]
    return np.clip(scaled, -F16_MAX, F16_MAX).astype(TRUTH_DTYPE)
