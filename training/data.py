"""Reading BLF-layout data sets for training, and ``python -m training.data ROOT`` to summarise one.

The implementation lives in the ``training.datasets`` package (catalogue, layout, cache, reader, splits);
this module is the entry point training code imports:

>>> from training.data import read_blf, split_indices
>>> ds = read_blf("data/ground-train")             # doctest: +SKIP
>>> train, val = split_indices(ds.labels, ds.kinds)  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import numpy as np

from training import datasets
from training.datasets import *  # noqa: F403  (this module is the package's front door)
from training.datasets import BLFDataset, read_blf

__all__ = [*datasets.__all__, "main"]


def summary(ds: BLFDataset) -> str:
    """Counts, lens fraction, bands, kinds, masked fraction and theta_E quantiles, as text lines."""
    n = len(ds)
    lines = [
        f"root          {ds.root}",
        f"cutouts       {n}  ({ds.images.shape[1]} x {ds.images.shape[2]} x {ds.images.shape[3]}, "
        f'{ds.pixel_scale_arcsec:g}"/px)',
        f"bands         {', '.join(ds.bands)}",
    ]
    if ds.labels is None:
        lines.append("labels        none (no classifications.csv)")
    else:
        n_lens = int(ds.labels.sum())
        lines.append(f"lenses        {n_lens}  (fraction {n_lens / max(n, 1):.3f}); non-lenses {n - n_lens}")
    if ds.kinds is not None:
        counts = Counter(ds.kinds.tolist())
        lines.append("kinds         " + ", ".join(f"{k} {c}" for k, c in sorted(counts.items())))
    masked = ds.masked_fraction if n else np.zeros(1, dtype=np.float32)
    lines.append(
        f"masked        {float(np.mean(masked > 0)):.3f} of cutouts have masked pixels; "
        f"mean masked fraction {float(masked.mean()):.3g}, max {float(masked.max()):.3g}"
    )
    theta = ds.theta_e_arcsec
    if theta is not None and ds.labels is not None and np.any(ds.labels == 1):
        q = np.nanquantile(theta[ds.labels == 1], [0.05, 0.25, 0.5, 0.75, 0.95])
        lines.append(
            'theta_E (")   lenses: q05 {:.2f}  q25 {:.2f}  median {:.2f}  q75 {:.2f}  q95 {:.2f}'.format(*q)
        )
    lines.append(f"truth         {'noiseless/source arrays present' if ds.truth is not None else 'none'}")
    if ds.simulation is not None:
        lines.append(f"simulation    {', '.join(sorted(ds.simulation))[:100]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.data", description="Read a BLF-layout data set and summarise it."
    )
    parser.add_argument("root", help="data set folder (holding Public/) or its Public/ folder")
    parser.add_argument("--cache-dir", default=None, help="cache folder (default ROOT/.cache)")
    parser.add_argument("--no-cache", action="store_true", help="read every file, write no cache")
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: CPUs, max 8)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    ds = read_blf(args.root, cache_dir=args.cache_dir, use_cache=not args.no_cache, workers=args.workers)
    print(summary(ds))
    print(f"read in       {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
