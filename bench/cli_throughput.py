"""``lensfinder classify`` end to end against the service's own stack-upload throughput, in one run.

    python -m bench.cli_throughput [--n 10000] [--model models/space] [--device cpu|cuda]
        [--concurrency 4] [--workers N] [--seconds 10] [--layouts files,stacks] [--repeats R]
        [--json bench/results/cli_throughput-space-cpu.json]

What it does, all on the same machine and in one run (the machines are shared and noisy, so only
ratios within a run mean much, DESIGN section 8):
1. Simulates ``--n`` one-band 101x101 cutouts (noise plus a Gaussian blob, OBJECT/RA/DEC in each
   header) in two layouts: ``files``, one FITS file per cutout as a survey's cutout service or the BLF
   release gives them; ``stacks``, the same cutouts in FITS stacks of 256.
2. Starts the service (``uvicorn app.main:app``, only this model, batching on) and measures its own
   stack-upload throughput: ``--concurrency`` keep-alive clients sending prebuilt 256-cutout stack
   requests back to back (``bench/http_load.py``, the ``stack256`` style of
   ``bench/service_throughput.py``), before and after each command-line run.
3. Runs ``lensfinder classify DIR --url ... --out results.csv`` as a subprocess on each layout and
   reports cutouts/s end to end (process start, imports, discovery, reading, requests, table writing:
   the wall time of the command) and in the steady state (the command's own "this run" line, from
   discovery to the last row), each as a fraction of the service's stack-upload throughput (the mean of
   the measurements before and after that run), with the CPU used by the command and by the service.

``--repeats R`` runs the command R times on each layout (each run against the measurements just before
and after it) and reports the run of the median end-to-end fraction, with every run's fractions.

The target of issue 5: ``lensfinder classify`` >= 0.8 of the service's stack-upload throughput.
Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from app.cli.run import reading_workers
from bench.http_load import multipart_request
from bench.report import median_run, write_json
from bench.service_throughput import HOST, Service, cpu_seconds, free_port, load

STACK = 256


def simulate(n: int, seed: int = 0) -> np.ndarray:
    """``n`` cutouts (n, 101, 101) float32: unit noise and a Gaussian blob of random width and height."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:101, :101] - 50.0
    r2 = xx**2 + yy**2
    out = rng.normal(0.0, 1.0, size=(n, 101, 101)).astype(np.float32)
    widths = rng.uniform(2.0, 8.0, n)
    heights = rng.uniform(3.0, 30.0, n)
    for k in range(n):
        out[k] += (heights[k] * np.exp(-r2 / (2 * widths[k] ** 2))).astype(np.float32)
    return out


def fits_file(data: np.ndarray, cards: dict[str, Any]) -> bytes:
    """FITS bytes of one image with header cards (written directly: 10,000 files take seconds)."""
    header = fits.Header()
    header["SIMPLE"], header["BITPIX"], header["NAXIS"] = True, -32, data.ndim
    for axis, size in enumerate(reversed(data.shape), start=1):
        header[f"NAXIS{axis}"] = size
    for key, value in cards.items():
        header[key] = value
    raw = header.tostring().encode("ascii") + np.ascontiguousarray(data, dtype=">f4").tobytes()
    return raw + b"\0" * (-len(raw) % 2880)


def write_layouts(root: Path, cutouts: np.ndarray) -> dict[str, Path]:
    files, stacks = root / "files", root / "stacks"
    files.mkdir()
    stacks.mkdir()
    for k, image in enumerate(cutouts):
        cards = {"OBJECT": str(100000 + k), "RA": 150.0 + k * 1e-4, "DEC": 2.0, "PIXSCALE": 0.1}
        (files / f"imageEUC_VIS-{100000 + k}.fits").write_bytes(fits_file(image, cards))
    for s in range(0, len(cutouts), STACK):
        (stacks / f"stack{s // STACK:05d}.fits").write_bytes(
            fits_file(cutouts[s : s + STACK], {"PIXSCALE": 0.1})
        )
    return {"files": files, "stacks": stacks}


def service_stack_rate(
    service: Service, cutouts: np.ndarray, model: str, clients: int, seconds: float
) -> dict[str, Any]:
    stack = fits_file(cutouts[:STACK], {"PIXSCALE": 0.1})
    request = multipart_request(
        HOST, service.port, f"/classify?model={model}", [("s.fits", stack, "application/fits")]
    )
    return load(service, request, STACK, clients, seconds)


def run_cli(folder: Path, url: str, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, "-m", "app.cli", "classify", str(folder), "--url", url, "--out", str(out),
               "--model", args.model.name, "--no-progress", "--overwrite",
               *([] if args.workers is None else ["--workers", str(args.workers)]),
               "--concurrency", str(args.concurrency), "--request-cutouts", str(STACK)]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"lensfinder classify failed ({done.returncode}): {done.stderr[-2000:]}")
    match = re.search(r"this run: ([\d,]+) cutouts in ([\d.]+) s", done.stdout)
    rows = int(match.group(1).replace(",", "")) if match else 0
    steady_s = float(match.group(2)) if match else float("nan")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "command": " ".join(command[1:]),
        "rows": rows,
        "wall_s": wall,
        "cutouts_per_s_end_to_end": rows / wall,
        "steady_s": steady_s,
        "cutouts_per_s_steady": rows / steady_s,
        "client_cores": cpu / wall,
        "summary": done.stdout.strip().splitlines(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="cutouts to simulate (default 10,000)")
    parser.add_argument(
        "--model", type=Path, default=Path("models/space"), help="a one-band models/<name> folder"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="requests in flight, CLI and stack clients"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="the CLI's --workers (default: the CLI's own default)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time of each stack load")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--layouts", default="files,stacks", help="comma-separated: files, stacks")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of the command per layout; the median run is reported"
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--log", type=Path, default=Path("bench/results/service.log"))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    args.log.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="lensfinder-cli-bench-"))
    t0 = time.perf_counter()
    cutouts = simulate(args.n)
    layouts = write_layouts(tmp, cutouts)
    simulate_s = time.perf_counter() - t0
    env = {"LENSFINDER_DEVICE": args.device, "LENSFINDER_MAX_BATCH": str(args.max_batch),
           "LENSFINDER_QUEUE_LIMIT": str(max(8192, STACK * args.concurrency * 4))}  # fmt: skip
    result: dict[str, Any] = {
        "n": args.n, "model": str(args.model), "device": args.device, "concurrency": args.concurrency,
        "workers": reading_workers() if args.workers is None else args.workers,
        "max_batch": args.max_batch, "cpu_count": os.cpu_count(), "repeats": args.repeats,
        "machine": platform.platform(), "load_average": os.getloadavg(), "simulate_s": simulate_s,
        "layouts": {},
    }  # fmt: skip
    port = free_port()
    service = Service(args.model, port, env, args.log)
    url = f"http://{HOST}:{port}"
    try:
        result["readyz"] = service.wait_ready()
        rate = lambda: service_stack_rate(service, cutouts, args.model.name, args.concurrency, args.seconds)  # noqa: E731
        previous = rate()
        for name in [n.strip() for n in args.layouts.split(",") if n.strip()]:
            runs = []
            for _ in range(args.repeats):
                server0 = cpu_seconds(service.proc.pid)
                row = run_cli(layouts[name], url, tmp / f"{name}.csv", args)
                row["service_cores"] = (cpu_seconds(service.proc.pid) - server0) / row["wall_s"]
                following = rate()
                reference = (previous["cutouts_per_s"] + following["cutouts_per_s"]) / 2
                row["service_stack_before"], row["service_stack_after"] = previous, following
                row["service_stack_cutouts_per_s"] = reference
                row["fraction_end_to_end"] = row["cutouts_per_s_end_to_end"] / reference
                row["fraction_steady"] = row["cutouts_per_s_steady"] / reference
                runs.append(row)
                previous = following
            kept = ("fraction_end_to_end", "fraction_steady", "cutouts_per_s_end_to_end", "client_cores")
            result["layouts"][name] = median_run(runs, "fraction_end_to_end", kept)
    finally:
        service.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # 10,000 files: about 0.9 GB
    print_table(result)
    write_json(args.json, result)
    return 0


def print_table(result: dict[str, Any]) -> None:
    print(
        f"{result['n']:,} cutouts, {result['model']} on {result['device']}, concurrency "
        f"{result['concurrency']}, CLI --workers {result['workers']} (0: a reading thread), load average "
        f"{result['load_average'][0]:.1f}"
    )
    head = (
        "layout",
        "service stack/s",
        "CLI e2e/s",
        "of stack",
        "CLI steady/s",
        "of stack",
        "CLI cores",
        "svc cores",
    )
    print("{:<8} {:>15} {:>10} {:>8} {:>13} {:>8} {:>9} {:>9}".format(*head))
    keys = ("service_stack_cutouts_per_s", "cutouts_per_s_end_to_end", "fraction_end_to_end",
            "cutouts_per_s_steady", "fraction_steady", "client_cores", "service_cores")  # fmt: skip
    for name, row in result["layouts"].items():
        cells = (name, *(row[key] for key in keys))
        print("{:<8} {:>15,.0f} {:>10,.0f} {:>8.2f} {:>13,.0f} {:>8.2f} {:>8.2f}c {:>8.2f}c".format(*cells))
    if result.get("repeats", 1) > 1:
        print(f"median of {result['repeats']} runs; every run's fraction end to end (steady):")
        for name, row in result["layouts"].items():
            runs = [f"{r['fraction_end_to_end']:.3f} ({r['fraction_steady']:.3f})" for r in row["runs"]]
            print(f"  {name:<8} " + ", ".join(runs))


if __name__ == "__main__":
    sys.exit(main())
