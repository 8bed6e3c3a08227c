"""What the reader hands to training: a BLF data set's cutouts, labels, catalogue and truth arrays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from training.datasets.catalogue import Catalogue


@dataclass(frozen=True)
class Truth:
    """The simulator's noise-free images, aligned with the data set's cutouts (row i = cutout i).

    float16 (N, C, H, W) in units of each band's noise sigma (multiply by ``BLFDataset.noise_sigma`` to
    get the images' flux unit); ``noiseless`` is the whole scene, ``source`` the lensed source alone.
    Read-only memmaps of ``ROOT/truth/*.npy``; either may be None when the simulator did not write it.
    """

    noiseless: npt.NDArray[np.float16] | None
    source: npt.NDArray[np.float16] | None


@dataclass(frozen=True)
class BLFDataset:
    """A BLF-layout data set read for training.

    - ``images``: float32 (N, C, H, W), rows in FITS order, raw flux units of the files (BLF units for the
      challenge release), masked pixels NaN (the decoder's masking rule). A read-only memmap when it
      came from the cache: copy a batch before changing it.
    - ``ids``: int64 (N,), the ``<ID>`` of the file names. ``labels``: int8 (N,) 1 = lens, or None when
      the set has no catalogue (the challenge test set).
    - ``bands``: ('vis',) or ('u', 'g', 'r', 'i'): plane order of ``images``, whatever the folder order.
    - ``pixel_scale_arcsec``: from the FITS headers, else the set's nominal scale (0.1 VIS, 0.2 ground).
    - ``catalogue``: every column of ``classifications.csv`` (simulator extras kept), rows aligned with
      ``images``; None without a catalogue. ``kinds``: the ``kind`` column (str), None when absent.
    - ``masked_fraction``: float32 (N,), fraction of each cutout's pixels (all bands) that are NaN.
    - ``truth``: see :class:`Truth`; ``simulation``: the parsed ``simulation.json``; None when absent.
    """

    root: Path
    images: npt.NDArray[np.float32]
    ids: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int8] | None
    bands: tuple[str, ...]
    pixel_scale_arcsec: float
    catalogue: Catalogue | None
    kinds: npt.NDArray[np.str_] | None
    masked_fraction: npt.NDArray[np.float32]
    truth: Truth | None = None
    simulation: dict[str, Any] | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def noise_sigma(self) -> npt.NDArray[np.float32] | None:
        """float32 (N, C) per-cutout noise sigma per band, in the images' flux unit, from the catalogue's
        ``noise_sigma_<band>`` columns (any case); None unless every band has one."""
        if self.catalogue is None:
            return None
        by_lower = {name.lower(): name for name in self.catalogue}
        names = [by_lower.get(f"noise_sigma_{band.lower()}") for band in self.bands]
        if any(name is None for name in names):
            return None
        return np.stack([self.catalogue[n].astype(np.float32) for n in names if n is not None], axis=1)

    @property
    def theta_e_arcsec(self) -> npt.NDArray[np.float64] | None:
        """Einstein radius (arcsec) per cutout, 0 for non-lenses; None without the catalogue columns."""
        return None if self.catalogue is None else self.catalogue.theta_e_arcsec()
