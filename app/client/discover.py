"""From command-line paths to sources: files, globs and folders, with the BLF layout recognised.

Rules, applied to each argument in order (duplicates, by key, are kept once):
- a glob pattern (``*``, ``?``, ``[``; ``**`` descends folders): each match, as below;
- a file: one :class:`~app.client.sources.FileSource`, whatever its name (the format comes from its bytes);
- a folder: walked in sorted order. A folder holding ``Band<k>/`` folders of BLF-named files
  (``image<SURVEY>_<BAND>-<ID>.fits``, :mod:`app.blf_layout`) is a BLF data set: with one band (the space
  set) each file is a source; with several (the ground set, ``Band1..4`` = r, i, g, u) the files of one
  ID are one :class:`~app.client.sources.BandGroup`, in ID order, bands in u, g, r, i order. Elsewhere
  every file named like a cutout (:data:`CUTOUT_SUFFIXES`, case-insensitive) is a source; hidden files
  and folders are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from app.blf_layout import is_band_folder, scan_bands
from app.client.sources import BandGroup, FileSource, Source, glob_matches, group_key

CUTOUT_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fz", ".png")
_GLOB_CHARS = frozenset("*?[")


def is_cutout_name(name: str) -> bool:
    return name.lower().endswith(CUTOUT_SUFFIXES) and not name.startswith(".")


def discover(paths: Iterable[str | os.PathLike[str]]) -> list[Source]:
    """Every source under ``paths`` (module docstring); FileNotFoundError names an argument that
    matches nothing."""
    seen: set[str] = set()
    found: list[Source] = []
    for raw in paths:
        text = os.fspath(raw)
        if _GLOB_CHARS & set(text):
            matches = glob_matches(text)
            if not matches:
                raise FileNotFoundError(f"{text}: no file matches this pattern")
            items = [source for match in matches for source in _expand(match)]
        elif os.path.exists(text):
            items = list(_expand(text))
        else:
            raise FileNotFoundError(f"{text}: no such file or folder")
        for source in items:
            if source.key not in seen:
                seen.add(source.key)
                found.append(source)
    return found


def _expand(path: str) -> Iterator[Source]:
    if os.path.isdir(path):
        yield from _walk(path)
    elif os.path.isfile(path):
        yield FileSource(path)


def _is_blf_public(folder: Path) -> bool:
    try:
        return any(is_band_folder(child) for child in folder.iterdir())
    except OSError:
        return False


def _walk(root: str) -> Iterator[Source]:
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(folder)
        if _is_blf_public(here):
            yield from blf_sources(here)
            dirnames[:] = [d for d in dirnames if not is_band_folder(here / d)]
        for name in sorted(filenames):
            if is_cutout_name(name):
                yield FileSource(os.path.join(folder, name))


def blf_sources(public: Path) -> list[Source]:
    """The sources of a BLF ``Public/`` folder: files (one band) or band groups by ID (several)."""
    bands = scan_bands(public)
    if len(bands) == 1:
        return [FileSource(str(path)) for path in bands[0].paths]
    names = tuple(b.band for b in bands)
    by_id: dict[int, list[tuple[str, str]]] = {}
    for band in bands:
        for cutout_id, path in zip(band.ids.tolist(), band.paths, strict=True):
            by_id.setdefault(cutout_id, []).append((band.band, str(path)))
    survey = bands[0].prefix.removeprefix("image").split("_", 1)[0]
    gz = str(bands[0].paths[0]).endswith(".gz")
    return [
        BandGroup(group_key(public, survey, cutout_id, gz), cutout_id, tuple(files), names)
        for cutout_id, files in sorted(by_id.items())
    ]
