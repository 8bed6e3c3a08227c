"""The BLF catalogue ``classifications.csv``: one row per cutout, columns kept as numpy arrays.

The challenge release has ``ID,is_lens,Einstein_area,numb_pix_lensed_image,flux_lensed_image_in_sigma``
(the space file quotes its headers, the ground file has CRLF line ends and no final newline); our
simulator appends extra columns (``kind``, ``n_images``, ``magnification``, ``theta_E_arcsec``,
``noise_sigma_<band>``, ...). Every column is kept, in file order, typed as int64 when every value is an
integer, else float64 when every value is a number (empty cells in a numeric column become NaN), else str.

Units: ``Einstein_area`` in steradians (theta_E = sqrt(A / pi) radians); ``numb_pix_lensed_image`` in
pixels above 1 sigma of the noise in the noise-free lensed-source image; ``noise_sigma_<band>`` in the
images' flux unit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

CATALOGUE_NAME = "classifications.csv"
REQUIRED_COLUMNS = ("ID", "is_lens")
RAD_TO_ARCSEC = 180.0 / np.pi * 3600.0


class CatalogueError(ValueError):
    """A catalogue that cannot be used: missing columns, bad IDs or labels, ragged rows."""


@dataclass(frozen=True)
class Catalogue(Mapping[str, npt.NDArray[np.generic]]):
    """Columns of a catalogue, all of one length, in file order; a read-only mapping name -> array."""

    columns: dict[str, npt.NDArray[np.generic]]

    def __getitem__(self, name: str) -> npt.NDArray[np.generic]:
        return self.columns[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def ids(self) -> npt.NDArray[np.int64]:
        return self.columns["ID"].astype(np.int64)

    @property
    def labels(self) -> npt.NDArray[np.int8]:
        return self.columns["is_lens"].astype(np.int8)

    def take(self, rows: npt.NDArray[np.intp]) -> Catalogue:
        """The catalogue restricted to (and reordered as) ``rows``."""
        return Catalogue({name: values[rows] for name, values in self.columns.items()})

    def theta_e_arcsec(self) -> npt.NDArray[np.float64] | None:
        """Einstein radius in arcsec: the simulator's ``theta_E_arcsec``, else sqrt(Einstein_area / pi).

        Non-lenses (area 0) give 0. None when the catalogue has neither column.
        """
        if "theta_E_arcsec" in self.columns:
            return self.columns["theta_E_arcsec"].astype(np.float64)
        if "Einstein_area" in self.columns:
            area = self.columns["Einstein_area"].astype(np.float64)
            return np.sqrt(np.clip(area, 0.0, None) / np.pi) * RAD_TO_ARCSEC
        return None


def _typed(cells: list[str]) -> npt.NDArray[np.generic]:
    """The narrowest of int64, float64, str that holds every cell of a column."""
    stripped = [c.strip() for c in cells]
    try:
        return np.array([int(c) for c in stripped], dtype=np.int64)
    except ValueError:
        pass
    try:
        return np.array([float(c) if c else np.nan for c in stripped], dtype=np.float64)
    except ValueError:
        return np.array(stripped, dtype=np.str_)


def parse_catalogue(text: str, source: str = CATALOGUE_NAME) -> Catalogue:
    """Parse catalogue text (quoted or bare headers, LF or CRLF, with or without a final newline or BOM).

    Raises CatalogueError naming ``source`` when ``ID`` or ``is_lens`` is missing, a row has the wrong
    number of cells, an ID is not an integer or repeats, or a label is not 0 or 1.
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    rows = [row for row in reader if row and any(cell.strip() for cell in row)]
    if not rows:
        raise CatalogueError(f"{source}: empty catalogue (no header row)")
    header = [name.strip() for name in rows[0]]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise CatalogueError(f"{source}: missing column(s) {missing}; header is {header}")
    if len(set(header)) != len(header):
        raise CatalogueError(f"{source}: repeated column names in header {header}")
    body = rows[1:]
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise CatalogueError(f"{source}: row {line} has {len(row)} cells, the header has {len(header)}")
    columns = {name: _typed([row[j] for row in body]) for j, name in enumerate(header)}
    if not body:
        columns = {name: np.zeros(0, dtype=np.int64) for name in header}
    if columns["ID"].dtype != np.int64:
        raise CatalogueError(f"{source}: column ID must hold integers")
    ids = columns["ID"]
    unique, counts = np.unique(ids, return_counts=True)
    if np.any(counts > 1):
        raise CatalogueError(f"{source}: repeated IDs, for example {unique[counts > 1][:5].tolist()}")
    labels = columns["is_lens"]
    if labels.dtype != np.int64 or not np.all((labels == 0) | (labels == 1)):
        raise CatalogueError(f"{source}: column is_lens must hold 0 or 1")
    return Catalogue(columns)


def read_catalogue(path: str | Path) -> Catalogue:
    """Read and parse a ``classifications.csv`` file (see :func:`parse_catalogue`)."""
    path = Path(path)
    return parse_catalogue(path.read_text(encoding="utf-8-sig"), source=str(path))
