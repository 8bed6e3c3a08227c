"""Per-file decode cost of every FITS and PNG layout against the model's per-cutout inference cost.

    python -m bench.decode_cost [--repeats 7] [--provider cpu|cuda] [--seconds 3]
        [--json bench/results/decode_cost-cpu.json]

DESIGN section 8: what reading an upload costs next to scoring it. Each file is made in code from
lens-like cutouts (``bench.explain_latency.lens``: BLF-like flux units, noise 1e-12, 101 x 101 px,
a few pixels set to the BLF mask value 100) with a header naming the object and its position, in
every layout the service reads (DESIGN section 6): a 2-D image, gzip, a RICE tile-compressed image,
scaled 16-bit integers with BLANK, a band cube, one HDU per band, stacks of 256, and 8-bit, 16-bit and
colour PNG renderings (``app.render``, the documented stretches). Two costs are timed on one thread,
the best of ``--repeats`` (each repeat long enough to time, ``timeit``'s ``autorange``):

- decode: ``app.decode.decode_bytes``, bytes to float32 (N, C, H, W) pixels, masks and header values;
- request path: ``app.scoring.prepare.prepare``, what the service's decoding thread does for one
  upload: decode, conform to the model, out-of-distribution statistics and warnings.

The process keeps freed memory for reuse as the service does (``app.memory.keep_freed_memory``, its
default ``LENSFINDER_MALLOC_KEEP_MIB``), so that large temporaries are reused rather than faulted in
afresh. They are set against the model's inference in one
onnxruntime session of one intra-op thread (one core, as decoding is) at batch 1 and 64, per cutout;
with ``--provider cuda`` a GPU's time per cutout instead. Prints a table and writes a JSON file.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import platform
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from astropy.io import fits

from app.card import ModelCard
from app.decode import DecodeLimits, decode_bytes
from app.decode.masking import MASK_VALUE
from app.memory import keep_freed_memory
from app.render import gray_png, rgb_png
from app.scoring.prepare import Upload, prepare
from bench.explain_latency import ROOT, lens
from bench.onnx_throughput import PROVIDERS, cutouts, make_session, measure
from bench.report import write_json

STACK = 256
BATCHES = (1, 64)
GROUND_BANDS = ("u", "g", "r", "i")


@dataclass(frozen=True)
class Case:
    """One upload: its layout's name, the model that scores it, its bytes and how many cutouts."""

    name: str
    model: str
    data: bytes
    cutouts: int


def _masked(cutout: np.ndarray) -> np.ndarray:
    """``cutout`` with a small BLF-style mask (value 100) in a corner, as the BLF files have."""
    out = cutout.copy()
    out[..., 2:4, 2:5] = MASK_VALUE
    return out


def _header(k: int) -> fits.Header:
    return fits.Header([("OBJECT", f"bench-{k}"), ("RA", 150.1 + 1e-3 * k), ("DEC", 2.2)])


def _fits(hdus: list[Any]) -> bytes:
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()


def _image(data: np.ndarray, header: fits.Header, **cards: str) -> bytes:
    hdu = fits.PrimaryHDU(data, header=header)
    hdu.header.update(cards)
    return _fits([hdu])


def _int16(plane: np.ndarray, header: fits.Header) -> bytes:
    """Scaled 16-bit integers (BSCALE/BZERO) with the masked pixels at BLANK, as survey archives store
    them."""
    masked = plane == MASK_VALUE
    low, high = float(plane[~masked].min()), float(plane[~masked].max())
    scale = (high - low) / 60000.0
    stored = np.round((np.where(masked, low, plane) - low) / scale - 30000.0).astype(np.int16)
    stored[masked] = -32768
    hdu = fits.PrimaryHDU(stored, header=header)
    hdu.header.update({"BSCALE": scale, "BZERO": low + 30000.0 * scale, "BLANK": -32768})
    return _fits([hdu])


def cases() -> list[Case]:
    """Every layout, made in code (module docstring)."""
    one = _masked(lens(1, seed=0))[0]
    four = _masked(lens(len(GROUND_BANDS), seed=1))
    stack1 = np.stack([_masked(lens(1, seed=k))[0] for k in range(STACK)])
    stack4 = np.stack([_masked(lens(len(GROUND_BANDS), seed=k)) for k in range(STACK)])
    bands = ",".join(GROUND_BANDS)
    single = _image(one, _header(0))
    rice = fits.CompImageHDU(one, header=_header(0), compression_type="RICE_1", quantize_level=16.0)
    mef = [fits.PrimaryHDU(header=_header(1))] + [
        fits.ImageHDU(plane, header=fits.Header([("FILTER", band.upper())]))
        for plane, band in zip(four, GROUND_BANDS, strict=True)
    ]
    clean = lens(3, seed=2).astype(np.float64)  # g, r, i for the colour composite
    return [
        Case("FITS 2-D image", "space", single, 1),
        Case("FITS 2-D image, gzip", "space", gzip.compress(single, compresslevel=6, mtime=0), 1),
        Case("FITS RICE tile-compressed", "space", _fits([fits.PrimaryHDU(), rice]), 1),
        Case("FITS 16-bit scaled, BLANK", "space", _int16(one, _header(0)), 1),
        Case(f"FITS stack ({STACK}, H, W)", "space", _image(stack1, _header(0)), STACK),
        Case("PNG gray 8-bit", "space", gray_png(one.astype(np.float64)), 1),
        Case("PNG gray 16-bit", "space", gray_png(one.astype(np.float64), bit_depth=16), 1),
        Case("FITS cube (4, H, W), BANDS", "ground", _image(four, _header(1), BANDS=bands), 1),
        Case("FITS one HDU per band", "ground", _fits(mef), 1),
        Case(f"FITS stack ({STACK}, 4, H, W)", "ground", _image(stack4, _header(1), BANDS=bands), STACK),
        Case("PNG RGB (Lupton)", "rgb", rgb_png(clean[0], clean[1], clean[2]), 1),
    ]


def best_seconds(call: Callable[[], object], repeats: int) -> float:
    """The best time of one ``call``, over ``repeats`` timings of enough calls to time (>= 0.2 s)."""
    timer = timeit.Timer(call)
    loops, _ = timer.autorange()
    return min(timer.repeat(repeat=repeats, number=loops)) / loops


def inference_ms(folder: Path, provider: str, seconds: float) -> dict[int, float]:
    """Milliseconds per cutout of the model in one session (one intra-op thread on the CPU), by batch."""
    session = make_session(folder / "model.onnx", provider, 1 if provider == "cpu" else None)
    shape = tuple(int(d) for d in session.get_inputs()[0].shape[1:])
    return {
        b: 1e3 / measure(session, cutouts(b, shape), seconds)["cutouts_per_s"]  # type: ignore[arg-type]
        for b in BATCHES
    }


def measure_case(case: Case, cards: dict[str, ModelCard], repeats: int) -> dict[str, Any]:
    """Decode and request-path milliseconds of one case, per file and per cutout; raises if the file
    does not decode to ``case.cutouts`` scoreable cutouts (a benchmark of an error path would mislead)."""
    limits = DecodeLimits()
    upload = [Upload(case.name, case.data)]

    def path() -> object:
        return prepare(upload, cards, named=case.model, limits=limits, max_cutouts=10_000)

    decoded = decode_bytes(case.data, case.name, limits=limits)
    ready = prepare(upload, cards, named=case.model, limits=limits, max_cutouts=10_000)
    if len(decoded.cutouts) != case.cutouts or len(ready.pixels) != case.cutouts:
        raise SystemExit(f"{case.name}: decoded {len(ready.pixels)} scoreable cutouts, not {case.cutouts}")
    decode_ms = 1e3 * best_seconds(lambda: decode_bytes(case.data, case.name, limits=limits), repeats)
    path_ms = 1e3 * best_seconds(path, repeats)
    warned = sum(bool(meta.warnings) for file in ready.files if file.decoded for meta in file.decoded.cutouts)
    return {
        "layout": case.name,
        "model": case.model,
        "bytes": len(case.data),
        "cutouts": case.cutouts,
        "decode_ms_per_file": decode_ms,
        "request_path_ms_per_file": path_ms,
        "decode_ms_per_cutout": decode_ms / case.cutouts,
        "request_path_ms_per_cutout": path_ms / case.cutouts,
        "cutouts_with_warnings": warned,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="the models folder")
    parser.add_argument("--provider", choices=sorted(PROVIDERS), default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=3.0, help="inference timing per batch size")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    keep_freed_memory()
    made = cases()
    names = sorted({case.model for case in made})
    cards = {name: ModelCard.load(args.models / name / "model.json") for name in names}
    inference = {name: inference_ms(args.models / name, args.provider, args.seconds) for name in names}
    rows = []
    for case in made:
        row = measure_case(case, cards, args.repeats)
        per_cutout = inference[case.model][max(BATCHES)]
        rows.append(row | {"request_path_over_inference": row["request_path_ms_per_cutout"] / per_cutout})
    per_batch = {name: {str(b): ms for b, ms in by.items()} for name, by in inference.items()}
    result: dict[str, Any] = {
        "provider": PROVIDERS[args.provider],
        "inference_threads": 1 if args.provider == "cpu" else None,
        "inference_ms_per_cutout": per_batch,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "machine": platform.platform(),
        "onnxruntime": ort.__version__,
        "rows": rows,
    }
    print_table(result)
    write_json(args.json, result)
    return 0


def print_table(result: dict[str, Any]) -> None:
    where = "one CPU thread" if result["provider"] == "CPUExecutionProvider" else result["provider"]
    print(f"inference per cutout ({where}):")
    for name, by in result["inference_ms_per_cutout"].items():
        print(f"  {name:<7} " + ", ".join(f"batch {b}: {ms:.3f} ms" for b, ms in by.items()))
    head = ("layout", "model", "KB", "cutouts", "decode ms", "path ms", "path/cutout", "/ inference")
    print("{:<30} {:>6} {:>8} {:>7} {:>10} {:>9} {:>12} {:>12}".format(*head))
    for row in result["rows"]:
        cells = (
            row["layout"], row["model"], row["bytes"] / 1e3, row["cutouts"], row["decode_ms_per_file"],
            row["request_path_ms_per_file"], row["request_path_ms_per_cutout"],
            row["request_path_over_inference"],
        )  # fmt: skip
        print("{:<30} {:>6} {:>8.1f} {:>7} {:>10.3f} {:>9.3f} {:>12.3f} {:>12.2f}".format(*cells))


if __name__ == "__main__":
    raise SystemExit(main())
