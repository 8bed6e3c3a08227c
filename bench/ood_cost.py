"""Cost of the out-of-distribution checks per cutout against the model's inference cost, in one run.

    python -m bench.ood_cost [--model space] [--batch 64] [--repeats 5] [--threads 2] [--json FILE]

The checks (``app.ood.check.ood_warnings``: every statistic of ``app.ood.stats`` on every plane, then
the comparison with the card's training statistics) run on the request path for every scored cutout,
after decoding; inference runs in the model's onnxruntime session. Both are timed here on the same
batches of lens-like cutouts (``bench.explain_latency.lens``, 2% of the pixels masked in multi-band
cutouts, as in the ground set), best of ``--repeats``, per cutout. Prints a table and writes a JSON
file (DESIGN section 8).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.card import ModelCard
from app.ood.check import ood_warnings
from bench.explain_latency import ROOT, lens
from bench.report import write_json


def batch_of(card: ModelCard, n: int) -> np.ndarray:
    x = np.stack([lens(len(card.input.bands), card.input.height, seed=k) for k in range(n)])
    if x.shape[1] > 1:
        rng = np.random.default_rng(0)
        x[rng.random(x.shape) < 0.02] = np.nan
    return x


def best(call: object, repeats: int) -> float:
    assert callable(call)
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="space")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    folder = args.models / args.model
    card = ModelCard.load(folder / "model.json")
    statistics = None if card.input_statistics is None else card.input_statistics.by_input.get("fits")
    x = batch_of(card, args.batch)
    options = ort.SessionOptions()
    if args.threads:
        options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
    infer = best(lambda: session.run(["probability"], {"cutouts": x}), args.repeats) / len(x)
    check = best(lambda: ood_warnings(x, "fits", card.input.bands, statistics), args.repeats) / len(x)
    single = best(lambda: ood_warnings(x[:1], "fits", card.input.bands, statistics), args.repeats)
    result = {
        "model": args.model,
        "batch": args.batch,
        "bands": len(card.input.bands),
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "inference_ms_per_cutout": 1e3 * infer,
        "ood_ms_per_cutout": 1e3 * check,
        "ood_ms_single_cutout": 1e3 * single,
        "ood_over_inference": check / infer,
        "card_has_statistics": statistics is not None,
    }
    print(f"{args.model}: batches of {args.batch}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"inference      {1e3 * infer:7.3f} ms/cutout")
    print(f"ood checks     {1e3 * check:7.3f} ms/cutout  ({check / infer:.1%} of inference)")
    print(f"ood, 1 cutout  {1e3 * single:7.3f} ms")
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
