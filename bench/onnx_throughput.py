"""Raw onnxruntime throughput of a shipped model: cutouts/s and per-batch latency at fixed batch sizes.

    python -m bench.onnx_throughput --model models/space [--batch 1 64 256] [--provider cpu|cuda]
        [--threads 2] [--seconds 5] [--json bench/results/onnx_throughput-space-cpu.json]

Inputs are random raw cutouts of the model's shape (normal noise with a bright centre, a few NaN
holes); the graph includes the normalisation, so this is the whole per-cutout inference cost. Prints a
table and writes a JSON file. This is the ceiling the service's throughput is measured against
(DESIGN section 8).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from app.config import Settings
from app.inference.providers import cuda_options
from bench.report import write_json

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def make_session(model: Path, provider: str, threads: int | None) -> ort.InferenceSession:
    """A session as the service makes one: CUDA with the service's provider options (heuristic
    convolution search, a bounded arena), so the raw ceiling is the same inference."""
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    chosen: list[Any] = [PROVIDERS[provider]]
    if provider == "cuda":
        chosen = [(PROVIDERS[provider], cuda_options(Settings().gpu_mem_limit_mib))]
    session = ort.InferenceSession(str(model), options, providers=chosen)
    active = session.get_providers()[0]
    if active != PROVIDERS[provider]:
        raise SystemExit(f"asked for {PROVIDERS[provider]} but onnxruntime runs {active}")
    return session


def cutouts(n: int, shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1e-12, (n, *shape)).astype(np.float32)
    h, w = shape[1:]
    x[:, :, h // 2 - 5 : h // 2 + 5, w // 2 - 5 : w // 2 + 5] += 2e-11
    x[:, :, :3, :3] = np.nan
    return x


def measure(session: ort.InferenceSession, batch: np.ndarray, seconds: float) -> dict[str, float]:
    name = session.get_inputs()[0].name
    for _ in range(3):  # warm-up: first runs allocate and pick kernels
        session.run(None, {name: batch})
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        t0 = time.perf_counter()
        session.run(None, {name: batch})
        times.append(time.perf_counter() - t0)
    per_batch = np.asarray(times)
    return {
        "batch": len(batch),
        "runs": len(times),
        "cutouts_per_s": len(batch) * len(times) / float(per_batch.sum()),
        "batch_ms_p50": 1e3 * float(np.percentile(per_batch, 50)),
        "batch_ms_p99": 1e3 * float(np.percentile(per_batch, 99)),
    }


def measure_parallel(
    sessions: list[ort.InferenceSession], batch: np.ndarray, seconds: float
) -> dict[str, float]:
    """Cutouts/s of ``sessions`` each run back to back by a thread of its own, side by side (the
    service's inference streams, app/inference/pool.py); one session is :func:`measure`."""
    if len(sessions) == 1:
        return measure(sessions[0], batch, seconds)
    name = sessions[0].get_inputs()[0].name
    for session in sessions:
        for _ in range(3):
            session.run(None, {name: batch})
    counts = [0] * len(sessions)
    stop = time.perf_counter() + seconds

    def work(k: int) -> None:
        while time.perf_counter() < stop:
            sessions[k].run(None, {name: batch})
            counts[k] += 1

    start = time.perf_counter()
    with ThreadPoolExecutor(len(sessions)) as pool:
        list(pool.map(work, range(len(sessions))))
    elapsed = time.perf_counter() - start
    return {"batch": len(batch), "runs": sum(counts), "cutouts_per_s": len(batch) * sum(counts) / elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a models/<name> folder or a .onnx file")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--provider", choices=sorted(PROVIDERS), default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: all cores)")
    parser.add_argument("--seconds", type=float, default=5.0, help="time per batch size")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    onnx_path = args.model / "model.onnx" if args.model.is_dir() else args.model
    session = make_session(onnx_path, args.provider, args.threads)
    c, h, w = (int(d) for d in session.get_inputs()[0].shape[1:])
    rows = [measure(session, cutouts(b, (c, h, w)), args.seconds) for b in args.batch]
    result: dict[str, Any] = {
        "model": str(onnx_path),
        "provider": session.get_providers()[0],
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "onnxruntime": ort.__version__,
        "rows": rows,
    }
    print(f"{onnx_path} on {result['provider']} ({os.cpu_count()} CPUs)")
    print(f"{'batch':>6} {'cutouts/s':>10} {'batch p50 ms':>13} {'batch p99 ms':>13}")
    for row in rows:
        cells = (row["batch"], row["cutouts_per_s"], row["batch_ms_p50"], row["batch_ms_p99"])
        print("{:>6} {:>10.0f} {:>13.2f} {:>13.2f}".format(*cells))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
