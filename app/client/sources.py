"""What a client scores: a file, a BLF ground cutout (one file per band), or an array in memory.

A *source* is one input item; it holds one cutout (a 2-D FITS file, a PNG, a BLF band group, an
array) or several (a FITS stack or cube file). Every row of a results table names its source by
``key`` (the ``file`` column) and the cutout's 0-based ``index`` in it, so a table can be resumed
(sources already in it are skipped) and a gallery can find the pixels again (:func:`source_from_key`).

Keys:
- a file: its path as given (relative paths stay relative);
- a BLF ground cutout: a glob pattern that matches exactly its band files,
  ``<Public>/Band*/image<SURVEY>_*-<ID>.fits`` (the ``.fits.gz`` variant where the files are gzipped);
- an array: ``array[<k>]``, its position in the caller's list.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.blf_layout import band_rank, parse_name

_GROUP_KEY = re.compile(r"(?:^|/)Band\*/image(?P<survey>[A-Za-z0-9]+)_\*-(?P<id>\d+)\.fits(?:\.gz)?$")


@dataclass(frozen=True, slots=True)
class FileSource:
    """One file of one or more cutouts (FITS, gzip FITS or PNG), read from ``path``."""

    path: str
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.path)


@dataclass(frozen=True, slots=True)
class BandGroup:
    """One multi-band cutout spread over one-band files (the BLF ground layout), by ``id``.

    ``files`` are (band, path) pairs in model band order (u, g, r, i); ``bands`` are the bands the data
    set has, so a group lacking one of them is reported (``missing_band_file``) rather than scored.
    """

    key: str
    id: int
    files: tuple[tuple[str, str], ...]
    bands: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ArraySource:
    """One cutout in memory: ``pixels`` (H, W) or (C, H, W) in any linear flux unit, NaN = masked.

    ``bands`` name the planes (in plane order) when known; ``id``/``ra``/``dec`` (ICRS degrees) are
    carried to the result row as given.
    """

    key: str
    pixels: npt.NDArray[np.floating] = field(repr=False)
    bands: tuple[str, ...] | None = None
    id: str | None = None
    ra: float | None = None
    dec: float | None = None


Source = FileSource | BandGroup | ArraySource


def group_key(public: str | os.PathLike[str], survey: str, cutout_id: int, gz: bool = False) -> str:
    """The key of a BLF band group: a glob pattern matching its band files under ``public``."""
    return f"{os.fspath(public)}/Band*/image{survey}_*-{cutout_id}.fits{'.gz' if gz else ''}"


def group_from_files(key: str, paths: list[str], bands: tuple[str, ...] | None = None) -> BandGroup:
    """A band group from its files (BLF names say each file's band and the ID)."""
    named: list[tuple[str, str]] = []
    ids: set[int] = set()
    for path in paths:
        parsed = parse_name(os.path.basename(path))
        if parsed is None:
            raise ValueError(f"{path} is not a BLF cutout file name (image<SURVEY>_<BAND>-<ID>.fits)")
        named.append((parsed.band, path))
        ids.add(parsed.id)
    if len(ids) != 1:
        raise ValueError(f"{key}: the files name several IDs {sorted(ids)}")
    named.sort(key=lambda item: band_rank(item[0]))
    have = tuple(band for band, _ in named)
    return BandGroup(key=key, id=ids.pop(), files=tuple(named), bands=bands or have)


def source_from_key(key: str) -> Source:
    """The source a results table names by ``key`` (a file path or a band group's pattern)."""
    if _GROUP_KEY.search(key):
        paths = sorted(glob.glob(key))
        if not paths:
            raise FileNotFoundError(f"no file matches {key}")
        return group_from_files(key, paths)
    return FileSource(key)


def with_absolute_paths(source: Source) -> Source:
    """The same source (same key) reading absolute paths: for workers whose folder is not ours."""
    if isinstance(source, FileSource):
        return FileSource(str(Path(source.path).resolve()), source.key)
    if isinstance(source, BandGroup):
        files = tuple((band, str(Path(path).resolve())) for band, path in source.files)
        return BandGroup(source.key, source.id, files, source.bands)
    return source


def array_sources(arrays: list[npt.NDArray[np.floating]], start: int = 0) -> list[ArraySource]:
    """Each array one cutout keyed ``array[k]``; a 4-D array (N, C, H, W) is N cutouts."""
    out: list[ArraySource] = []
    for array in arrays:
        if array.ndim == 4:
            for plane in array:
                out.append(ArraySource(f"array[{start + len(out)}]", plane))
        else:
            out.append(ArraySource(f"array[{start + len(out)}]", array))
    return out


def glob_matches(pattern: str) -> list[str]:
    """Sorted matches of a glob pattern (``**`` descends folders)."""
    return sorted(glob.glob(pattern, recursive=True))
