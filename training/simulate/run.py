"""The parallel driver: simulate a set of N cutouts into a directory in the BLF layout.

Workers simulate and write each cutout's FITS files; the parent collects the catalogue rows and the
truth arrays (``OUT/truth/noiseless.npy``, ``OUT/truth/source.npy``: (N, C, 101, 101) float16 in units
of each band's noise sigma, band order u,g,r,i or vis). Output is byte-identical for a given seed
whatever the number of workers, since cutout i depends only on (seed, i).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from training.simulate.config import SIZE, SetConfig, get_set
from training.simulate.cutout import DEFAULT_MIX, simulate_cutout
from training.simulate.write import make_dirs, open_truth, to_truth, write_catalogue, write_cutout_fits

SIMULATOR_VERSION = "1.0"


@dataclass(frozen=True)
class _Job:
    set_name: str
    seed: int
    out: str
    lens_fraction: float
    truth: bool


_JOB: _Job | None = None


def _init(job: _Job) -> None:
    global _JOB
    _JOB = job


def _one(
    index: int,
) -> tuple[int, dict[str, Any], npt.NDArray[np.float16] | None, npt.NDArray[np.float16] | None]:
    assert _JOB is not None
    cfg = get_set(_JOB.set_name)
    cut = simulate_cutout(cfg, _JOB.seed, index, _JOB.lens_fraction)
    write_cutout_fits(Path(_JOB.out), cfg, cut.row["ID"], cut.image, cut.row["ra"], cut.row["dec"])
    if not _JOB.truth:
        return index, cut.row, None, None
    sigmas = np.array([b.noise_sigma for b in cfg.bands])
    return index, cut.row, to_truth(cut.noiseless, sigmas), to_truth(cut.source, sigmas)


def _results(
    job: _Job, n: int, workers: int
) -> Iterator[tuple[int, dict[str, Any], npt.NDArray[np.float16] | None, npt.NDArray[np.float16] | None]]:
    if workers <= 1:
        _init(job)
        for i in range(n):
            yield _one(i)
        return
    # Compile lenstronomy's numba lens model once in the parent so forked workers inherit it.
    _init(job)
    simulate_cutout(get_set(job.set_name), job.seed, 0, 1.0)
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=_init, initargs=(job,)) as pool:
        yield from pool.imap_unordered(_one, range(n), chunksize=16)


def simulate_set(
    set_name: str,
    n: int,
    seed: int,
    out: str | Path,
    *,
    workers: int = 1,
    lens_fraction: float | None = None,
    truth: bool = True,
    progress: bool = True,
    command: str | None = None,
) -> Path:
    """Simulate ``n`` cutouts of ``set_name`` ("space" or "ground") with ``seed`` into ``out``.

    ``lens_fraction``: fraction of lens targets (default the BLF's: 0.7 space, 0.4 ground); the realised
    fraction of ``is_lens`` can be slightly lower (lens targets whose every source draw fails the rule).
    Returns the output directory.
    """
    cfg: SetConfig = get_set(set_name)
    if n < 1:
        raise ValueError("n must be at least 1")
    frac = cfg.lens_fraction if lens_fraction is None else lens_fraction
    if not 0.0 <= frac <= 1.0:
        raise ValueError("lens_fraction must be in [0, 1]")
    out_dir = Path(out)
    make_dirs(out_dir, cfg)
    shape = (n, len(cfg.bands), SIZE, SIZE)
    noiseless = open_truth(out_dir, "noiseless", shape) if truth else None
    source = open_truth(out_dir, "source", shape) if truth else None
    job = _Job(set_name, seed, str(out_dir), frac, truth)
    rows: list[dict[str, Any] | None] = [None] * n
    start = time.perf_counter()
    bar = tqdm(total=n, desc=f"simulate {set_name}", unit="cutout", disable=not progress, file=sys.stderr)
    for index, row, nl, src in _results(job, n, workers):
        rows[index] = row
        if noiseless is not None and nl is not None and source is not None and src is not None:
            noiseless[index] = nl
            source[index] = src
        bar.update(1)
    bar.close()
    if noiseless is not None and source is not None:
        noiseless.flush()
        source.flush()
    done = [r for r in rows if r is not None]
    write_catalogue(out_dir / "classifications.csv", done)
    wall = time.perf_counter() - start
    kinds = Counter(r["kind"] for r in done)
    meta = {
        "simulator_version": SIMULATOR_VERSION,
        "set": set_name,
        "seed": seed,
        "n": n,
        "lens_fraction_target": frac,
        "lens_fraction": sum(r["is_lens"] for r in done) / n,
        "nonlens_mix": DEFAULT_MIX,
        "kinds": dict(sorted(kinds.items())),
        "bands": list(cfg.band_names),
        "pixel_scale_arcsec": cfg.pixel_scale,
        "noise_sigma": {b.name: b.noise_sigma for b in cfg.bands},
        "truth": truth,
        "command": command if command is not None else " ".join(sys.argv),
        "wall_time_s": round(wall, 2),
        "workers": workers,
        "host": {
            "name": socket.gethostname(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
    }
    (out_dir / "simulation.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir
