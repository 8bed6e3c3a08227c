"""Service throughput and latency against raw onnxruntime, measured in one run (DESIGN section 8).

    python -m bench.service_throughput [--model models/space] [--device cpu|cuda] [--clients 32]
        [--seconds 10] [--max-batch 64] [--streams S] [--threads T] [--repeats R]
        [--json bench/results/service_throughput-space-cpu.json]

What it does, all in one run on the same machine:
1. Raw ceiling: the model in onnxruntime in this process, at batch ``--max-batch`` (the service's
   largest batch) and at batch 1, on the same provider, in two arrangements, the better of which is the
   ceiling: one session with all the threads, and the service's own inference streams (S sessions of T
   threads run side by side, ``app.inference.pool.plan_streams`` from ``--streams``/``--threads``).
   Measured again (batch ``--max-batch``) just before and just after each load while the service is
   idle, and each style's fraction is taken against the mean of the two (a shared machine's speed
   drifts).
2. Starts the service (``uvicorn app.main:app`` in a subprocess, only this model in its models folder,
   batching on) and, with ``--clients`` concurrent keep-alive clients sending prebuilt requests back to
   back (``bench/http_load.py``), measures cutouts/s for three upload styles: one 101x101 FITS cutout
   per request (``single``), 32 single-cutout FITS files per request (``files32``), one FITS stack of
   256 cutouts per request (``stack256``). Reports each as a fraction of the raw ceiling, with the CPU
   used by the client and by the service (cores, from /proc), and the service's CPU per request by
   thread role (inference, decoding, event loop, other; the names its threads give the system).
3. Latency: single-cutout requests at a fixed rate of half the measured single-cutout capacity; p50,
   p99 and max.
4. Batching off: restarts the service with ``LENSFINDER_MAX_BATCH=1`` and measures ``single`` again;
   batching on / batching off is what batching buys.

``--repeats R`` measures every style (and batching off) R times, in rounds over the styles, each against
its own raw measurements around it; the table and the JSON give the median round's row and every
round's fraction (a shared machine's speed drifts by a few per cent from minute to minute: one round can
land on either side of a target).

The targets of the service issue (CPU here): stack uploads >= 0.9 of raw, 32 files per request >= 0.7,
batching on >= 2x batching off for single-cutout requests. Prints a table and writes JSON. With
``--device cuda`` the raw session and the service both run onnxruntime's CUDA provider (the run stops
if either is not really on CUDA).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from app.inference.pool import plan_streams
from bench.http_load import LoadResult, closed_loop, multipart_request, open_loop
from bench.onnx_throughput import PROVIDERS, cutouts, make_session, measure_parallel
from bench.report import median_run, write_json

HOST = "127.0.0.1"


def fits_bytes(data: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    fits.PrimaryHDU(data.astype(np.float32)).writeto(buffer)
    return buffer.getvalue()


def requests_by_style(port: int, shape: tuple[int, int, int], model: str) -> dict[str, tuple[bytes, int]]:
    """Prebuilt request bytes and cutouts per request for each upload style (raw pixels, a bright
    centre on noise, a few NaN holes; one band: 2-D files and a 3-D stack)."""
    pool = cutouts(256, shape, seed=1)
    one = pool[0] if shape[0] > 1 else pool[0, 0]
    path = f"/classify?model={model}"
    singles = [
        (f"c{k}.fits", fits_bytes(pool[k] if shape[0] > 1 else pool[k, 0]), "application/fits")
        for k in range(32)
    ]
    stack = pool if shape[0] > 1 else pool[:, 0]
    return {
        "single": (multipart_request(HOST, port, path, [("c.fits", fits_bytes(one), "application/fits")]), 1),
        "files32": (multipart_request(HOST, port, path, singles), 32),
        "stack256": (
            multipart_request(HOST, port, path, [("stack.fits", fits_bytes(stack), "application/fits")]),
            256,
        ),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _stat_cpu(stat: Path) -> float:
    """User + system CPU seconds in a /proc ``stat`` file (a process's or one of its threads')."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc)."""
    return _stat_cpu(Path(f"/proc/{pid}/stat"))


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the service's threads by role, from the names they give the operating system
    (``app.cores.name_os_thread``): ``inference`` (infer-*), ``decoding`` (decode_*), ``event loop`` (the
    main thread) and ``other`` (onnxruntime's own threads, the BLAS pool, ...)."""
    roles = {"inference": 0.0, "decoding": 0.0, "event loop": 0.0, "other": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            seconds = _stat_cpu(task / "stat")
        except OSError:  # a thread that ended meanwhile
            continue
        role = ("event loop" if task.name == str(pid) else "inference" if name.startswith("infer-")
                else "decoding" if name.startswith("decode") else "other")  # fmt: skip
        roles[role] += seconds
    return roles


class Service:
    """The service in a subprocess on ``port`` serving only ``model_dir``'s model."""

    def __init__(self, model_dir: Path, port: int, env: dict[str, str], log: Path) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="lensfinder-bench-"))
        (self.tmp / model_dir.name).symlink_to(model_dir.resolve())
        self.port = port
        full_env = os.environ | env | {"LENSFINDER_MODELS_DIR": str(self.tmp)}
        self.log = log.open("ab")
        cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", HOST, "--port", str(port),
               "--log-level", "warning", "--no-access-log"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=full_env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the service exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/readyz", timeout=2) as resp:
                    ready: dict[str, Any] = json.loads(resp.read())
                    return ready
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        raise SystemExit(f"the service was not ready within {timeout:.0f} s; see {self.log.name}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def load(service: Service, request: bytes, per_request: int, clients: int, seconds: float) -> dict[str, Any]:
    """Closed-loop load after a short warm-up: cutouts/s and the CPU cores used by client and service."""
    asyncio.run(closed_loop(HOST, service.port, request, per_request, clients, min(2.0, seconds / 4)))
    pid = service.proc.pid
    client0, server0, threads0, t0 = os.times(), cpu_seconds(pid), thread_cpu(pid), time.perf_counter()
    result = asyncio.run(closed_loop(HOST, service.port, request, per_request, clients, seconds))
    client1, server1, threads1 = os.times(), cpu_seconds(pid), thread_cpu(pid)
    wall = time.perf_counter() - t0
    requests = max(result.requests, 1)
    return summary(result) | {
        "client_cores": (client1.user + client1.system - client0.user - client0.system) / wall,
        "service_cores": (server1 - server0) / wall,
        "service_cpu_ms_per_request": {
            role: 1e3 * (threads1[role] - threads0[role]) / requests for role in threads1
        },
    }


def median_round(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The round of the median fraction of raw, with every round's fraction and cutouts/s."""
    return median_run(rows, "fraction_of_raw", ("fraction_of_raw", "cutouts_per_s"), under="rounds")


def summary(result: LoadResult) -> dict[str, Any]:
    lat = np.asarray(result.latencies) * 1e3
    return {
        "requests": result.requests,
        "cutouts": result.cutouts,
        "seconds": result.seconds,
        "cutouts_per_s": result.cutouts / result.seconds,
        "non_200": result.errors,
        "latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else None,
        "latency_ms_p99": float(np.percentile(lat, 99)) if lat.size else None,
        "latency_ms_max": float(lat.max()) if lat.size else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/space"), help="a models/<name> folder")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per load")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--streams", type=int, default=0, help="LENSFINDER_STREAMS (default 0: automatic)")
    parser.add_argument(
        "--threads", type=int, default=0, help="LENSFINDER_THREADS, per stream (default 0: automatic)"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="rounds of every load; the median round is reported"
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--log", type=Path, default=Path("bench/results/service.log"))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    args.log.parent.mkdir(parents=True, exist_ok=True)
    onnx_path = args.model / "model.onnx"
    plan = plan_streams(PROVIDERS[args.device], args.streams, args.threads)
    arrangements = {"1 session, all threads": [make_session(onnx_path, args.device, None)]}
    arrangements[f"{plan.streams} x {plan.threads or 'default'} threads (the service's)"] = [
        make_session(onnx_path, args.device, plan.threads or None) for _ in range(plan.streams)
    ]
    first = next(iter(arrangements.values()))[0]
    shape = tuple(int(d) for d in first.get_inputs()[0].shape[1:])
    batch_max = cutouts(args.max_batch, shape)  # type: ignore[arg-type]

    def best_raw(batch: np.ndarray, seconds: float) -> tuple[float, dict[str, float]]:
        each = {
            name: measure_parallel(s, batch, seconds)["cutouts_per_s"] for name, s in arrangements.items()
        }
        return max(each.values()), each

    def measured(service: Service, request: bytes, per_request: int) -> dict[str, Any]:
        # the ceiling again just before and just after each load (the service idle), their mean the
        # load's ceiling: a shared machine's speed drifts by a few per cent within a minute
        before = best_raw(batch_max, min(3.0, args.seconds / 2))[0]
        row = load(service, request, per_request, args.clients, args.seconds)
        after = best_raw(batch_max, min(3.0, args.seconds / 2))[0]
        raw_now = (before + after) / 2
        return row | {
            "raw_cutouts_per_s": raw_now,
            "raw_before_after": [before, after],
            "fraction_of_raw": row["cutouts_per_s"] / raw_now,
        }

    raw: dict[int, Any] = {}
    for b in (1, args.max_batch):
        best, each = best_raw(cutouts(b, shape), args.seconds / 2)  # type: ignore[arg-type]
        raw[b] = {"cutouts_per_s": best, "by_arrangement": each}
    ceiling = raw[args.max_batch]["cutouts_per_s"]
    env = {"LENSFINDER_DEVICE": args.device, "LENSFINDER_MAX_BATCH": str(args.max_batch),
           "LENSFINDER_QUEUE_LIMIT": str(max(8192, 256 * args.clients * 2)),
           "LENSFINDER_STREAMS": str(args.streams), "LENSFINDER_THREADS": str(args.threads)}  # fmt: skip
    result: dict[str, Any] = {
        "model": str(args.model), "device": args.device, "clients": args.clients, "max_batch": args.max_batch,
        "streams": plan.streams, "threads": plan.threads, "cpu_count": os.cpu_count(),
        "repeats": args.repeats, "machine": platform.platform(), "raw_onnxruntime": raw, "styles": {},
    }  # fmt: skip

    port = free_port()
    service = Service(args.model, port, env, args.log)
    try:
        result["readyz"] = service.wait_ready()
        styles = requests_by_style(port, shape, args.model.name)  # type: ignore[arg-type]
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in styles}
        for _ in range(args.repeats):
            for name, (request, per_request) in styles.items():
                rounds[name].append(measured(service, request, per_request))
        result["styles"] = {name: median_round(rows) for name, rows in rounds.items()}
        rate = result["styles"]["single"]["cutouts_per_s"] / 2
        lat = asyncio.run(open_loop(HOST, port, styles["single"][0], 1, rate, args.seconds))
        result["latency_at_half_capacity"] = summary(lat) | {"offered_per_s": rate}
    finally:
        service.stop()

    port = free_port()
    service = Service(args.model, port, env | {"LENSFINDER_MAX_BATCH": "1"}, args.log)
    try:
        service.wait_ready()
        request, _ = requests_by_style(port, shape, args.model.name)["single"]  # type: ignore[arg-type]
        off = median_round([measured(service, request, 1) for _ in range(args.repeats)])
        result["batching_off_single"] = off
    finally:
        service.stop()
    result["batching_gain_single"] = result["styles"]["single"]["cutouts_per_s"] / off["cutouts_per_s"]
    print_table(result, ceiling)
    write_json(args.json, result)
    return 0


def print_table(result: dict[str, Any], ceiling: float) -> None:
    raw1 = result["raw_onnxruntime"][1]["cutouts_per_s"]
    batch = result["max_batch"]
    print(f"{result['model']} on {result['device']}, {result['clients']} clients, max batch {batch}")
    print(f"raw onnxruntime: {ceiling:,.0f} cutouts/s at batch {batch}, {raw1:,.0f} at batch 1 (best of:)")
    for b in (1, batch):
        each = ", ".join(f"{k} {v:,.0f}" for k, v in result["raw_onnxruntime"][b]["by_arrangement"].items())
        print(f"  batch {b}: {each}")
    print(f"service: {result['streams']} stream(s) of {result['threads'] or 'default'} thread(s)")
    head = ("upload style", "cutouts/s", "raw now", "of raw", "p50 ms", "p99 ms", "client", "service")
    print("{:<22} {:>10} {:>8} {:>7} {:>8} {:>8} {:>7} {:>8}".format(*head))
    rows = dict(result["styles"]) | {"single, batching off": result["batching_off_single"]}
    for name, row in rows.items():
        keys = ("cutouts_per_s", "raw_cutouts_per_s", "fraction_of_raw", "latency_ms_p50", "latency_ms_p99",
                "client_cores", "service_cores")  # fmt: skip
        cells = (name, *(row[k] for k in keys))
        print("{:<22} {:>10,.0f} {:>8,.0f} {:>7.2f} {:>8.1f} {:>8.1f} {:>6.2f}c {:>7.2f}c".format(*cells))
    print("service CPU per request, ms (" + ", ".join(rows["single"]["service_cpu_ms_per_request"]) + "):")
    for name, row in rows.items():
        print(f"  {name:<22} " + ", ".join(f"{v:.2f}" for v in row["service_cpu_ms_per_request"].values()))
    if result.get("repeats", 1) > 1:
        print(f"median of {result['repeats']} rounds; every round's fraction of raw:")
        for name, row in rows.items():
            print(f"  {name:<22} " + ", ".join(f"{r['fraction_of_raw']:.3f}" for r in row["rounds"]))
    lat = result["latency_at_half_capacity"]
    print(f"batching gain (single-cutout requests): {result['batching_gain_single']:.2f}x")
    print(
        f"latency at {lat['offered_per_s']:.0f} req/s (half capacity): p50 {lat['latency_ms_p50']:.1f} ms, "
        f"p99 {lat['latency_ms_p99']:.1f} ms, max {lat['latency_ms_max']:.1f} ms; non-200: {lat['non_200']}"
    )


if __name__ == "__main__":
    sys.exit(main())
