"""The BLF folder layout: file names, band folders, and listing one band's files.

The Bologna Lens Factory challenge release, and what ``training.simulate`` writes (DESIGN section 2):
- space: ``Public/Band1/imageEUC_VIS-<ID>.fits``;
- ground: ``Public/Band1/imageSDSS_R-<ID>.fits``, ``Band2/imageSDSS_I-``, ``Band3/imageSDSS_G-``,
  ``Band4/imageSDSS_U-`` (folder order R, I, G, U): one one-band file per band per cutout.

The band of a file comes from its name (``image<SURVEY>_<BAND>-<ID>.fits``, optionally ``.gz``), checked
against the folder for the folders the release defines. Bands sort in wavelength order
(:data:`BAND_ORDER`), so a ground cutout reads as u, g, r, i whatever the folder order.

This is the one place that knows the layout: the training reader (``training.datasets``) and the
command line's folder walker (``app.client.discover``) both import it from here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

#: Bands in the order models take them (wavelength order; Euclid VIS, 550-900 nm, after i).
BAND_ORDER = ("u", "g", "r", "i", "z", "vis", "y", "j", "h")
#: The bands the BLF release puts in each folder; a file of another band there is an error.
BLF_FOLDER_BANDS: dict[str, frozenset[str]] = {
    "Band1": frozenset({"r", "vis"}),
    "Band2": frozenset({"i"}),
    "Band3": frozenset({"g"}),
    "Band4": frozenset({"u"}),
}
#: Nominal pixel scales (arcsec/px) of the BLF sets, used when the FITS headers do not say.
NOMINAL_PIXEL_SCALE = {"vis": 0.1, "u": 0.2, "g": 0.2, "r": 0.2, "i": 0.2}

FILE_RE = re.compile(r"^image(?P<survey>[A-Za-z0-9]+)_(?P<band>[A-Za-z]+)-(?P<id>\d+)\.fits(?:\.gz)?$")
FOLDER_RE = re.compile(r"^Band\d+$")


class LayoutError(ValueError):
    """A folder that is not a readable BLF-layout data set; the message names the offending path."""


@dataclass(frozen=True, slots=True)
class BLFName:
    """What a BLF file name says: ``image<survey>_<band>-<id>.fits``; ``band`` lower-cased."""

    survey: str
    band_raw: str
    id: int

    @property
    def band(self) -> str:
        return self.band_raw.lower()

    @property
    def prefix(self) -> str:
        return f"image{self.survey}_{self.band_raw}-"


def parse_name(name: str) -> BLFName | None:
    """The parts of a BLF cutout file name, None when ``name`` is not one."""
    match = FILE_RE.match(name)
    if match is None:
        return None
    return BLFName(match["survey"], match["band"], int(match["id"]))


def band_rank(band: str) -> tuple[int, str]:
    """Sort key putting bands in :data:`BAND_ORDER` (unknown bands last, by name)."""
    return (BAND_ORDER.index(band) if band in BAND_ORDER else len(BAND_ORDER), band)


def is_band_folder(path: Path) -> bool:
    return FOLDER_RE.match(path.name) is not None and path.is_dir()


def find_public(root: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(data set root, Public folder) for ``root`` being either the folder holding ``Public/`` or it."""
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise LayoutError(f"{path}: not a folder")
    if (path / "Public").is_dir():
        return path, path / "Public"
    if any(is_band_folder(p) for p in path.iterdir()):
        return path.parent, path
    raise LayoutError(f"{path}: no Public/ folder and no Band<k>/ folders: not a BLF-layout data set")


@dataclass(frozen=True)
class BandFiles:
    """The files of one band: ``paths[k]`` holds cutout ``ids[k]``; ``ids`` ascending."""

    band: str
    folder: Path
    prefix: str  # e.g. "imageSDSS_R-"
    ids: npt.NDArray[np.int64]
    paths: tuple[Path, ...]
    sizes: npt.NDArray[np.int64]
    mtimes_ns: npt.NDArray[np.int64]
    ignored: int  # files in the folder that are not cutouts (hidden files excluded)


def scan_band(folder: Path) -> BandFiles:
    """List the cutout files of one ``Band<k>`` folder (one ``stat`` per file); raises LayoutError."""
    found: list[tuple[int, Path, int, int]] = []
    names: set[tuple[str, str]] = set()
    ignored = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            parsed = parse_name(entry.name)
            if parsed is None or not entry.is_file():
                ignored += 1
                continue
            names.add((parsed.survey, parsed.band_raw))
            st = entry.stat()
            found.append((parsed.id, Path(entry.path), st.st_size, st.st_mtime_ns))
    if not found:
        raise LayoutError(f"{folder}: no image<SURVEY>_<BAND>-<ID>.fits files")
    if len(names) > 1:
        listed = sorted(f"image{s}_{b}-" for s, b in names)
        raise LayoutError(f"{folder}: files of more than one band ({', '.join(listed)}); one band per folder")
    survey, band_raw = names.pop()
    band = band_raw.lower()
    allowed = BLF_FOLDER_BANDS.get(folder.name)
    if allowed is not None and band not in allowed:
        raise LayoutError(
            f"{folder}: holds image{survey}_{band_raw}- files (band {band!r}), but the BLF layout puts "
            f"band(s) {sorted(allowed)} in {folder.name}: folder and file names disagree"
        )
    found.sort()
    ids = np.array([f[0] for f in found], dtype=np.int64)
    if np.any(np.diff(ids) == 0):
        dup = ids[1:][np.diff(ids) == 0][:5].tolist()
        raise LayoutError(f"{folder}: more than one file for ID(s) {dup} (e.g. .fits and .fits.gz)")
    return BandFiles(
        band=band,
        folder=folder,
        prefix=f"image{survey}_{band_raw}-",
        ids=ids,
        paths=tuple(f[1] for f in found),
        sizes=np.array([f[2] for f in found], dtype=np.int64),
        mtimes_ns=np.array([f[3] for f in found], dtype=np.int64),
        ignored=ignored,
    )


def scan_bands(public: Path) -> tuple[BandFiles, ...]:
    """Every ``Band<k>`` folder of ``public``, in :data:`BAND_ORDER`; a band in two folders is an error."""
    folders = sorted(p for p in public.iterdir() if is_band_folder(p))
    if not folders:
        raise LayoutError(f"{public}: no Band<k>/ folders")
    bands = [scan_band(folder) for folder in folders]
    seen: dict[str, Path] = {}
    for b in bands:
        if b.band in seen:
            raise LayoutError(f"band {b.band!r} is in two folders: {seen[b.band]} and {b.folder}")
        seen[b.band] = b.folder
    bands.sort(key=lambda b: band_rank(b.band))
    return tuple(bands)
