"""Finding a BLF-layout data set on disk: its ``Public/BandK`` folders, bands, IDs and catalogue.

Layout (the challenge release, and what ``training.simulate`` writes):
- space: ``Public/Band1/imageEUC_VIS-<ID>.fits``;
- ground: ``Public/Band1/imageSDSS_R-<ID>.fits``, ``Band2/imageSDSS_I-``, ``Band3/imageSDSS_G-``,
  ``Band4/imageSDSS_U-`` (folder order R, I, G, U).
The band of a file comes from its name prefix (``image<SURVEY>_<BAND>-<ID>.fits``), checked against the
folder for the folders the BLF release defines; bands are returned in wavelength order (u, g, r, i, ...,
so the ground set reads as u, g, r, i whatever the folder order). ``classifications.csv`` may sit in the
data set root or inside ``Public/``; the root may be given as either.

Since issue 5 the file-name and folder rules live in :mod:`app.blf_layout` (the command line walks BLF
folders too); this module adds what only training needs: the catalogue, truth arrays and completeness.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

# The layout itself (file names, band folders, band order) lives in app/, so that the service's command
# line walks BLF folders with the same rules; re-exported here for training code.
from app.blf_layout import (
    BAND_ORDER,
    BLF_FOLDER_BANDS,
    NOMINAL_PIXEL_SCALE,
    BandFiles,
    LayoutError,
    find_public,
    scan_bands,
)
from training.datasets.catalogue import CATALOGUE_NAME

__all__ = [
    "BAND_ORDER",
    "BLF_FOLDER_BANDS",
    "NOMINAL_PIXEL_SCALE",
    "BandFiles",
    "Layout",
    "LayoutError",
    "check_complete",
    "find_public",
    "scan_layout",
]


@dataclass(frozen=True)
class Layout:
    """A located data set: ``root`` holds ``Public/``; ``bands`` in BAND_ORDER; catalogue path or None."""

    root: Path
    public: Path
    bands: tuple[BandFiles, ...]
    catalogue: Path | None
    truth_dir: Path | None
    simulation_json: Path | None

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.band for b in self.bands)


def scan_layout(root: str | os.PathLike[str]) -> Layout:
    """Locate the data set under ``root`` and list every band's files (one ``stat`` per file)."""
    base, public = find_public(root)
    bands = scan_bands(public)
    catalogue = next((p for p in (base / CATALOGUE_NAME, public / CATALOGUE_NAME) if p.is_file()), None)
    truth = base / "truth"
    sim = base / "simulation.json"
    return Layout(
        root=base,
        public=public,
        bands=bands,
        catalogue=catalogue,
        truth_dir=truth if truth.is_dir() else None,
        simulation_json=sim if sim.is_file() else None,
    )


def check_complete(layout: Layout) -> npt.NDArray[np.int64]:
    """The IDs present in every band; a missing band file for any ID is an error naming the file."""
    reference = layout.bands[0].ids
    for b in layout.bands:
        for other in layout.bands:
            missing = np.setdiff1d(other.ids, b.ids, assume_unique=True)
            if missing.size:
                first = b.folder / f"{b.prefix}{missing[0]}.fits"
                raise LayoutError(
                    f"missing band file {first} ({missing.size} ID(s) of band {other.band!r} have no "
                    f"band {b.band!r} file, e.g. {missing[:5].tolist()})"
                )
    return reference
