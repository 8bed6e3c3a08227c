"""On-disk cache of a data set's stacked cutouts, so a second read is an ``np.load(mmap_mode="r")``.

An entry is two files in the cache folder: ``lensfinder-<key>.npy`` (the float32 (N, C, H, W) stack,
masked pixels NaN) and ``lensfinder-<key>.npz`` (ids, per-cutout masked fraction, bands, pixel scale).
The key hashes the reader version, the band names and, for every file read in stack order, its path
relative to ``Public/``, size and modification time: any change to the files (or to the reader) misses
the cache and the set is read again. Entries are written under temporary names and renamed into place,
so an interrupted read never leaves a half-written entry that a later read would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from training.datasets.layout import Layout

#: Bump when the stacked pixels would change for the same files (decoding, masking, ordering).
READER_VERSION = "1"
PREFIX = "lensfinder-"


@dataclass(frozen=True)
class CacheEntry:
    images: npt.NDArray[np.float32]  # read-only memmap (N, C, H, W)
    ids: npt.NDArray[np.int64]
    masked_fraction: npt.NDArray[np.float32]
    bands: tuple[str, ...]
    pixel_scale_arcsec: float


def cache_key(layout: Layout, positions: list[npt.NDArray[np.intp]]) -> str:
    """Hash of the reader version and, per band, the files at ``positions`` (stack order) with their stats."""
    digest = hashlib.sha256(f"lensfinder-blf-reader:{READER_VERSION}".encode())
    for band, pos in zip(layout.bands, positions, strict=True):
        digest.update(f"|{band.band}|{band.folder.name}|{band.prefix}|".encode())
        digest.update("\n".join(band.paths[k].name for k in pos.tolist()).encode())
        digest.update(np.ascontiguousarray(band.sizes[pos]).tobytes())
        digest.update(np.ascontiguousarray(band.mtimes_ns[pos]).tobytes())
    return digest.hexdigest()[:24]


def entry_paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    return cache_dir / f"{PREFIX}{key}.npy", cache_dir / f"{PREFIX}{key}.npz"


def load(cache_dir: Path, key: str) -> CacheEntry | None:
    """The cached entry for ``key``, or None when absent or unreadable (then the set is read again)."""
    npy, npz = entry_paths(cache_dir, key)
    if not (npy.is_file() and npz.is_file()):
        return None
    try:
        images = np.load(npy, mmap_mode="r")
        with np.load(npz, allow_pickle=False) as meta:
            entry = CacheEntry(
                images=images,
                ids=meta["ids"].astype(np.int64),
                masked_fraction=meta["masked_fraction"].astype(np.float32),
                bands=tuple(str(b) for b in meta["bands"]),
                pixel_scale_arcsec=float(meta["pixel_scale_arcsec"]),
            )
    except (OSError, ValueError, KeyError):
        return None
    if images.dtype != np.float32 or images.ndim != 4 or images.shape[0] != entry.ids.shape[0]:
        return None
    return entry


def open_stack(cache_dir: Path, key: str, shape: tuple[int, int, int, int]) -> tuple[np.memmap, Path]:
    """A writable float32 ``.npy`` memmap under a temporary name, to be filled then :func:`commit`-ted."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{PREFIX}{key}.{os.getpid()}.tmp.npy"
    stack = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
    return stack, tmp


def commit(
    cache_dir: Path,
    key: str,
    stack: np.memmap,
    tmp: Path,
    ids: npt.NDArray[np.int64],
    masked_fraction: npt.NDArray[np.float32],
    bands: tuple[str, ...],
    pixel_scale_arcsec: float,
) -> None:
    """Flush the stack and move it and its metadata into place (metadata last: it marks completeness)."""
    npy, npz = entry_paths(cache_dir, key)
    stack.flush()
    os.replace(tmp, npy)
    tmp_meta = cache_dir / f".{PREFIX}{key}.{os.getpid()}.tmp.npz"
    with open(tmp_meta, "wb") as fh:
        np.savez(
            fh,
            ids=ids,
            masked_fraction=masked_fraction,
            bands=np.array(bands, dtype=np.str_),
            pixel_scale_arcsec=np.float64(pixel_scale_arcsec),
        )
    os.replace(tmp_meta, npz)


def discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but is not ours
        return True
    return True


def remove_stale(cache_dir: Path, keep: str) -> int:
    """Delete this reader's other entries in ``cache_dir`` (a data-set-local cache), and temporary files
    left by readers that died mid-write; returns the count removed."""
    removed = 0
    for path in cache_dir.glob(f"{PREFIX}*.np[yz]"):
        if not path.name.startswith(f"{PREFIX}{keep}."):
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    for path in cache_dir.glob(f".{PREFIX}*.tmp.np[yz]"):
        pid = path.name.split(".")[-3]  # .lensfinder-<key>.<pid>.tmp.npy
        if pid.isdigit() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed
