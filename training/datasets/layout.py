"""Finding a BLF-layout data set on disk: its ``Public/BandK`` folders, bands, IDs and catalogue.

Layout (the challenge release, and what ``training.simulate`` writes):
- space: ``Public/Band1/imageEUC_VIS-<ID>.fits``;
- ground: ``Public/Band1/imageSDSS_R-<ID>.fits``, ``Band2/imageSDSS_I-``, ``Band3/imageSDSS_G-``,
  ``Band4/imageSDSS_U-`` (folder order R, I, G, U).
The band of a file comes from its name prefix (``image<SURVEY>_<BAND>-<ID>.fits``), checked against the
folder for the folders the BLF release defines; bands are returned in wavelength order (u, g, r, i, ...,
so the ground set reads as u, g, r, i whatever the folder order). ``classifications.csv`` may sit in the
data set root or inside ``Public/``; the root may be given as either.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from training.datasets.catalogue import CATALOGUE_NAME

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

_FILE_RE = re.compile(r"^image(?P<survey>[A-Za-z0-9]+)_(?P<band>[A-Za-z]+)-(?P<id>\d+)\.fits(?:\.gz)?$")
_FOLDER_RE = re.compile(r"^Band\d+$")


class LayoutError(ValueError):
    """A folder that is not a readable BLF-layout data set; the message names the offending path."""


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


def find_public(root: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(data set root, Public folder) for ``root`` being either the folder holding ``Public/`` or it."""
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise LayoutError(f"{path}: not a folder")
    if (path / "Public").is_dir():
        return path, path / "Public"
    if any(_FOLDER_RE.match(p.name) and p.is_dir() for p in path.iterdir()):
        return path.parent, path
    raise LayoutError(f"{path}: no Public/ folder and no Band<k>/ folders: not a BLF-layout data set")


def _scan_band(folder: Path) -> BandFiles:
    found: list[tuple[int, Path, int, int]] = []
    prefixes: set[tuple[str, str]] = set()
    ignored = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            match = _FILE_RE.match(entry.name)
            if match is None or not entry.is_file():
                ignored += 1
                continue
            prefixes.add((match["survey"], match["band"]))
            st = entry.stat()
            found.append((int(match["id"]), Path(entry.path), st.st_size, st.st_mtime_ns))
    if not found:
        raise LayoutError(f"{folder}: no image<SURVEY>_<BAND>-<ID>.fits files")
    if len(prefixes) > 1:
        names = sorted(f"image{s}_{b}-" for s, b in prefixes)
        raise LayoutError(f"{folder}: files of more than one band ({', '.join(names)}); one band per folder")
    survey, band_raw = prefixes.pop()
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


def _band_rank(band: str) -> tuple[int, str]:
    return (BAND_ORDER.index(band) if band in BAND_ORDER else len(BAND_ORDER), band)


def scan_layout(root: str | os.PathLike[str]) -> Layout:
    """Locate the data set under ``root`` and list every band's files (one ``stat`` per file)."""
    base, public = find_public(root)
    folders = sorted(p for p in public.iterdir() if p.is_dir() and _FOLDER_RE.match(p.name))
    if not folders:
        raise LayoutError(f"{public}: no Band<k>/ folders")
    bands = [_scan_band(folder) for folder in folders]
    seen: dict[str, Path] = {}
    for b in bands:
        if b.band in seen:
            raise LayoutError(f"band {b.band!r} is in two folders: {seen[b.band]} and {b.folder}")
        seen[b.band] = b.folder
    bands.sort(key=lambda b: _band_rank(b.band))
    catalogue = next((p for p in (base / CATALOGUE_NAME, public / CATALOGUE_NAME) if p.is_file()), None)
    truth = base / "truth"
    sim = base / "simulation.json"
    return Layout(
        root=base,
        public=public,
        bands=tuple(bands),
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
