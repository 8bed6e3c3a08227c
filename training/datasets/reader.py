"""Reading a BLF-layout data set (the challenge release unchanged, or the simulator's output).

Every FITS file goes through the service's decoder (``app.decode.decode_path``), so the pixels training
sees are made by the code that makes the pixels the service scores, masking rule included (NaN,
infinities and the BLF mask value 100 become NaN). Files are read by a process pool with a tqdm progress
bar and the stack is cached (see ``training.datasets.cache``): 20,000 ground cutouts are 80,000 files, and
the second read of an unchanged set is a memmap load.

Catalogue and images are matched by ID. With a catalogue the cutouts follow the catalogue's row order
(so ``ROOT/truth/*.npy``, written in catalogue order, lines up); IDs with images but no catalogue row,
and rows without images, are left out with a warning giving their counts. Without a catalogue (the
challenge test set) cutouts are in ascending ID order and labels are None. A band file missing for an
ID that another band has is an error naming the file.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from app.decode import decode_path
from app.decode.errors import DecodeError
from app.decode.masking import masked_fractions
from training.datasets import cache
from training.datasets.catalogue import Catalogue, read_catalogue
from training.datasets.dataset import BLFDataset, Truth
from training.datasets.layout import NOMINAL_PIXEL_SCALE, Layout, LayoutError, check_complete, scan_layout

CHUNK_FILES = 256  # files per pool task: large enough to amortise pickling, small for a smooth bar
ChunkResult = tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]


class DataWarning(UserWarning):
    """Something about a data set that training should know: unmatched IDs, odd pixel scales."""


def read_files(paths: list[str], shape: tuple[int, int]) -> ChunkResult:
    """Decode one-band FITS cutouts: float32 (n, H, W) pixels and the header pixel scales (NaN = none).

    Runs in pool workers, so it is a top-level function taking plain arguments.
    """
    out = np.empty((len(paths), *shape), dtype=np.float32)
    scales = np.full(len(paths), np.nan)
    for k, path in enumerate(paths):
        try:
            decoded = decode_path(path, channels=1)
        except DecodeError as exc:
            raise LayoutError(f"{path}: cannot decode ({exc.code}): {exc.message}") from exc
        if decoded.pixels.shape[:2] != (1, 1) or decoded.pixels.shape[2:] != shape:
            raise LayoutError(
                f"{path}: decoded to shape {decoded.pixels.shape}; expected one cutout of {shape} like the "
                "first file of the set"
            )
        out[k] = decoded.pixels[0, 0]
        meta = decoded.cutouts[0]
        if meta.pixel_scale_arcsec is not None:
            scales[k] = meta.pixel_scale_arcsec
    return out, scales


def _probe_shape(path: str) -> tuple[int, int]:
    """(H, W) of the set's first file: every other file must match it."""
    try:
        pixels = decode_path(path, channels=1).pixels
    except DecodeError as exc:
        raise LayoutError(f"{path}: cannot decode ({exc.code}): {exc.message}") from exc
    return int(pixels.shape[-2]), int(pixels.shape[-1])


def _chunks(n: int) -> Iterator[slice]:
    for start in range(0, n, CHUNK_FILES):
        yield slice(start, min(start + CHUNK_FILES, n))


def _fill(
    stack: npt.NDArray[np.float32],
    paths: list[list[str]],
    workers: int,
    progress: bool,
) -> npt.NDArray[np.float64]:
    """Decode every band's files into ``stack[:, c]``; per-file header pixel scales (N, C), NaN = none."""
    n, n_bands, h, w = stack.shape
    scales = np.full((n, n_bands), np.nan)
    tasks = [(c, sl) for c in range(n_bands) for sl in _chunks(n)]
    with tqdm(total=n * n_bands, unit="file", desc="reading FITS", disable=not progress) as bar:
        if workers <= 1 or len(tasks) == 1:
            for c, sl in tasks:
                pixels, sc = read_files(paths[c][sl], (h, w))
                stack[sl, c], scales[sl, c] = pixels, sc
                bar.update(len(pixels))
            return scales
        # fork where there is one: workers then need no importable __main__, so reading from a script
        # without a main guard or from a notebook works (spawn/forkserver re-run an unguarded script in
        # every worker); the workers only decode with numpy/astropy, so threads of the parent (torch,
        # tqdm's monitor) copied by fork are never touched. Garbage is collected and the survivors frozen
        # before forking: a child's collector must never free a parent's onnxruntime or torch object,
        # whose thread-pool teardown blocks forever in a forked child (seen with an earlier session).
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        gc.collect()
        gc.freeze()
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
                futures = [pool.submit(read_files, paths[c][sl], (h, w)) for c, sl in tasks]
                for (c, sl), future in zip(tasks, futures, strict=True):
                    pixels, sc = future.result()
                    stack[sl, c], scales[sl, c] = pixels, sc
                    bar.update(len(pixels))
        finally:
            gc.unfreeze()
    return scales


def _masked_fraction(stack: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    out = np.empty(stack.shape[0], dtype=np.float32)
    for sl in _chunks(stack.shape[0]):  # in chunks: the stack may be a multi-GB memmap
        out[sl] = masked_fractions(stack[sl])
    return out


def _pixel_scale(scales: npt.NDArray[np.float64], bands: tuple[str, ...]) -> float:
    """The set's pixel scale: the headers' value when they agree, else the nominal one, with a warning."""
    nominal = {NOMINAL_PIXEL_SCALE[b] for b in bands if b in NOMINAL_PIXEL_SCALE}
    declared = np.unique(np.round(scales[np.isfinite(scales)], 6))
    if declared.size == 1 and np.isfinite(scales).all():
        value = float(declared[0])
        if nominal and min(abs(value - s) for s in nominal) > 1e-3:
            warnings.warn(
                f'headers give {value}"/px; the BLF nominal scale is {sorted(nominal)}',
                DataWarning,
                stacklevel=3,
            )
        return value
    if declared.size > 1:
        warnings.warn(
            f'headers disagree on the pixel scale ({declared[:5].tolist()} "/px)', DataWarning, stacklevel=3
        )
    if len(nominal) == 1:
        return nominal.pop()
    if declared.size:
        return float(np.median(scales[np.isfinite(scales)]))
    raise LayoutError(f"no pixel scale in the headers and no nominal scale for bands {bands}")


Alignment = tuple[npt.NDArray[np.int64], Catalogue | None, npt.NDArray[np.intp] | None, int]


def _align(layout: Layout, image_ids: npt.NDArray[np.int64]) -> Alignment:
    """(cutout IDs in reading order, aligned catalogue, catalogue rows kept, catalogue length)."""
    if layout.catalogue is None:
        return image_ids, None, None, 0
    full = read_catalogue(layout.catalogue)
    cat_ids = full.ids
    rows = np.flatnonzero(np.isin(cat_ids, image_ids))
    no_image = full.n_rows - rows.size
    no_row = int(np.setdiff1d(image_ids, cat_ids).size)
    if no_image or no_row:
        warnings.warn(
            f"{layout.root}: {no_row} cutout(s) have images but no catalogue row and {no_image} catalogue "
            f"row(s) have no images; both are left out ({rows.size} cutouts kept)",
            DataWarning,
            stacklevel=3,
        )
    if rows.size == 0:
        raise LayoutError(f"{layout.catalogue}: no catalogue ID has images in {layout.public}")
    return cat_ids[rows], full.take(rows), rows, full.n_rows


def _truth(
    layout: Layout, rows: npt.NDArray[np.intp] | None, n_rows: int, shape: tuple[int, ...]
) -> Truth | None:
    if layout.truth_dir is None:
        return None
    if rows is None:
        warnings.warn(
            f"{layout.truth_dir}: truth arrays ignored: no catalogue gives their row order",
            DataWarning,
            stacklevel=3,
        )
        return None
    arrays: dict[str, npt.NDArray[np.float16] | None] = {}
    for name in ("noiseless", "source"):
        path = layout.truth_dir / f"{name}.npy"
        if not path.is_file():
            arrays[name] = None
            continue
        arr = np.load(path, mmap_mode="r")
        if arr.shape != (n_rows, *shape):
            raise LayoutError(
                f"{path}: shape {arr.shape}, expected {(n_rows, *shape)} (catalogue rows, C, H, W)"
            )
        # Row i is catalogue row i; only a partial catalogue match needs a (materialised) reordering.
        arrays[name] = arr if rows.size == n_rows else np.asarray(arr[rows])
    if arrays["noiseless"] is None and arrays["source"] is None:
        return None
    return Truth(noiseless=arrays["noiseless"], source=arrays["source"])


def _read_stack(
    paths: list[list[str]],
    ids: npt.NDArray[np.int64],
    bands: tuple[str, ...],
    cdir: Path | None,
    key: str,
    workers: int,
    progress: bool,
) -> cache.CacheEntry:
    """Decode every file (``paths[c][k]``: band c of cutout k) into a stack, cached in ``cdir`` if given.

    The stack is written straight into the cache's memmap, so a 3 GB ground set never sits in memory
    twice; without a writable cache folder it is an in-memory array.
    """
    h, w = _probe_shape(paths[0][0])
    shape = (ids.size, len(bands), h, w)
    tmp: Path | None = None
    stack: npt.NDArray[np.float32] = np.empty((0, 0, 0, 0), dtype=np.float32)
    if cdir is not None:
        try:
            stack, tmp = cache.open_stack(cdir, key, shape)
        except OSError as exc:
            warnings.warn(
                f"cache folder {cdir} not writable ({exc}); reading into memory", DataWarning, stacklevel=3
            )
    if tmp is None:
        stack = np.empty(shape, dtype=np.float32)
    try:
        scales = _fill(stack, paths, workers, progress)
        masked = _masked_fraction(stack)
        scale = _pixel_scale(scales, bands)
        if cdir is None or tmp is None or not isinstance(stack, np.memmap):
            return cache.CacheEntry(stack, ids, masked, bands, scale)
        cache.commit(cdir, key, stack, tmp, ids, masked, bands, scale)
    finally:
        if tmp is not None:
            cache.discard(tmp)
    del stack
    entry = cache.load(cdir, key)  # reopened read-only: the dataset never writes to its cache
    if entry is None:
        raise OSError(f"cache entry {key} in {cdir} unreadable right after writing it")
    return entry


def read_blf(
    root: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    workers: int | None = None,
    progress: bool = True,
) -> BLFDataset:
    """Read the BLF-layout data set at ``root`` (the folder holding ``Public/``, or ``Public/`` itself).

    ``cache_dir`` defaults to ``ROOT/.cache``; when that cannot be written (a read-only release) the set
    is read into memory with a warning; pass a writable ``cache_dir`` then. ``workers`` processes decode
    the files (default: the CPU count, at most 8; 0 or 1 reads in this process). Raises LayoutError for
    a folder that is not a BLF data set, a missing band file, or a file that does not decode.
    """
    layout = scan_layout(root)
    image_ids = check_complete(layout)
    ids, catalogue, rows, n_rows = _align(layout, image_ids)
    positions = [np.searchsorted(b.ids, ids) for b in layout.bands]
    bands = layout.band_names
    key = cache.cache_key(layout, positions)
    cdir = layout.root / ".cache" if cache_dir is None else Path(cache_dir)

    entry = cache.load(cdir, key) if use_cache else None
    if entry is not None and (entry.bands != bands or not np.array_equal(entry.ids, ids)):
        entry = None
    if entry is None:
        paths = [[str(b.paths[k]) for k in p.tolist()] for b, p in zip(layout.bands, positions, strict=True)]
        n_workers = min(os.cpu_count() or 1, 8) if workers is None else workers
        entry = _read_stack(paths, ids, bands, cdir if use_cache else None, key, n_workers, progress)
        if use_cache and cache_dir is None and isinstance(entry.images, np.memmap):
            cache.remove_stale(cdir, key)  # a data-set-local folder: older entries are of this set

    simulation = None
    if layout.simulation_json is not None:
        simulation = json.loads(layout.simulation_json.read_text(encoding="utf-8"))
    kinds = None
    if catalogue is not None and "kind" in catalogue:
        kinds = catalogue["kind"].astype(np.str_)
    return BLFDataset(
        root=layout.root,
        images=entry.images,
        ids=ids,
        labels=None if catalogue is None else catalogue.labels,
        bands=bands,
        pixel_scale_arcsec=entry.pixel_scale_arcsec,
        catalogue=catalogue,
        kinds=kinds,
        masked_fraction=entry.masked_fraction,
        truth=_truth(layout, rows, n_rows, entry.images.shape[1:]),
        simulation=simulation,
    )
