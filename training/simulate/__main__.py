"""Command line: ``python -m training.simulate --set ground --n 20000 --seed 1 --out DIR [--workers 2]``."""

from __future__ import annotations

import argparse
import shlex
import sys

from training.simulate.run import simulate_set


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.simulate", description="Simulate a BLF-style lens-finding data set."
    )
    parser.add_argument("--set", dest="set_name", choices=["space", "ground"], required=True)
    parser.add_argument("--n", type=int, required=True, help="number of cutouts")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, help="output directory (BLF layout)")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (output does not depend on it)"
    )
    parser.add_argument(
        "--lens-fraction",
        type=float,
        default=None,
        help="fraction of lens targets (default 0.7 space, 0.4 ground)",
    )
    parser.add_argument("--no-truth", action="store_true", help="skip OUT/truth/*.npy")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    command = "python -m training.simulate " + shlex.join(sys.argv[1:] if argv is None else argv)
    out = simulate_set(
        args.set_name,
        args.n,
        args.seed,
        args.out,
        workers=args.workers,
        lens_fraction=args.lens_fraction,
        truth=not args.no_truth,
        progress=not args.no_progress,
        command=command,
    )
    print(f"wrote {args.n} cutouts to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
