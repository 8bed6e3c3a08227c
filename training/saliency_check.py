"""``python -m training.saliency_check``: are the explanations about the lens?

On simulated lenses of a test set (the simulator's ``truth/`` knows every cutout's lensed source and
its noise-free scene), explain each cutout with both methods of ``app.explain`` (the code the service
runs; scored here with onnxruntime directly, in batches) and measure where the positive saliency
falls::

    python -m training.saliency_check --model models/space --data data/space-test [--n 100]
        [--methods occlusion,lime] [--json docs/explain.json] [--examples docs/explain-space.png]

Regions of each cutout (masks over the cutout's pixels, from truth in units of each band's noise
sigma, a pixel counted when any band passes):
- ``source``: the lensed source above :data:`THRESHOLD_SIGMA` (the catalogue's own rule for "pixels
  of the lensed image");
- ``lens``: the lens galaxy: the connected region above the same threshold of the noise-free scene
  minus the source that holds the centre (or is nearest to it), less the source pixels;
- ``other``: the rest of the noise-free scene above the threshold (field galaxies, stars);
- ``sky``: everything else.
For each lens and method: the fraction of the map's positive mass (sum of max(saliency, 0)) on each
region, against the region's share of the pixels (what a map without information would get); the
share of the map's top 5% pixels on each region (insensitive to the low-level positive noise that
LIME's fit spreads over the sky); and whether the map's maximum falls on the source or the lens
galaxy ("pointing game"). Means over the
lenses are reported for all sampled lenses and for those the model finds (probability >= its
threshold). ``--json`` merges the results under the model's name into that file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from app.card import CARD_FILE, ModelCard
from app.explain.lime import LimeParams, lime_plan
from app.explain.occlusion import OcclusionParams, occlusion_plan
from app.explain.overlay import overlay_png
from app.explain.plan import Plan
from training.datasets import BLFDataset
from training.evaluate import open_session
from training.input_stats import kind_inputs

THRESHOLD_SIGMA = 1.0
REGIONS = ("source", "lens", "other", "sky")
BATCH = 256
TOP = 0.05  # the top 5% of a map's pixels (510 of 10,201)


def regions(source: npt.ArrayLike, noiseless: npt.ArrayLike) -> dict[str, npt.NDArray[np.bool_]]:
    """The four region masks (H, W) of one cutout from its truth (C, H, W) in noise sigma units."""
    src = np.asarray(source, dtype=np.float32).max(axis=0) > THRESHOLD_SIGMA
    light = (np.asarray(noiseless, dtype=np.float32) - np.asarray(source, dtype=np.float32)).max(axis=0)
    bright = light > THRESHOLD_SIGMA
    labels, count = ndimage.label(bright)
    h, w = bright.shape
    galaxy = np.zeros_like(bright)
    if count:
        centre = labels[h // 2, w // 2]
        if centre == 0:  # the nearest bright pixel's region
            ys, xs = np.nonzero(bright)
            nearest = np.argmin((ys - h // 2) ** 2 + (xs - w // 2) ** 2)
            centre = labels[ys[nearest], xs[nearest]]
        galaxy = labels == centre
    lens = galaxy & ~src
    other = bright & ~galaxy & ~src
    return {"source": src, "lens": lens, "other": other, "sky": ~(src | lens | other)}


def saliency_shares(
    saliency: npt.NDArray[np.float32], masks: dict[str, npt.NDArray[np.bool_]]
) -> dict[str, Any]:
    """Per region: the fraction of the positive mass, of the top :data:`TOP` pixels and of the area;
    and which region holds the map's maximum."""
    values = np.asarray(saliency, dtype=np.float64)
    positive = np.maximum(values, 0.0)
    total = positive.sum()
    top = values >= np.quantile(values, 1.0 - TOP)
    peak = np.unravel_index(int(np.argmax(values)), values.shape)
    return {
        "mass": {name: float(positive[m].sum() / total) if total > 0 else 0.0 for name, m in masks.items()},
        "top": {name: float((top & m).sum() / top.sum()) for name, m in masks.items()},
        "area": {name: float(m.mean()) for name, m in masks.items()},
        "peak": next(name for name, m in masks.items() if m[peak]),
    }


def _score(session: Any, copies: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    parts = [
        session.run(["probability"], {"cutouts": copies[k : k + BATCH]})[0]
        for k in range(0, len(copies), BATCH)
    ]
    return np.concatenate(parts).astype(np.float32)


def _plan(method: str, cutout: npt.NDArray[np.float32]) -> Plan:
    return (
        occlusion_plan(cutout, OcclusionParams())
        if method == "occlusion"
        else lime_plan(cutout, LimeParams())
    )


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over lenses: mass and area fractions per region, their ratio (lift), pointing-game rates."""
    if not rows:
        return {"n": 0}
    mass = {r: float(np.mean([row["mass"][r] for row in rows])) for r in REGIONS}
    area = {r: float(np.mean([row["area"][r] for row in rows])) for r in REGIONS}
    return {
        "n": len(rows),
        "mass": mass,
        "top": {r: float(np.mean([row["top"][r] for row in rows])) for r in REGIONS},
        "area": area,
        "lift": {r: mass[r] / area[r] if area[r] > 0 else None for r in REGIONS},
        "peak": {r: float(np.mean([row["peak"] == r for row in rows])) for r in REGIONS},
    }


def check(
    ds: BLFDataset, card: ModelCard, model_dir: Path, *, n: int, methods: list[str], seed: int
) -> tuple[dict[str, Any], list[tuple[npt.NDArray[np.float32], dict[str, npt.NDArray[np.float32]]]]]:
    """The summary per method (all lenses, found lenses), and the pixels and maps of each lens."""
    if ds.labels is None or ds.truth is None or ds.truth.source is None or ds.truth.noiseless is None:
        raise SystemExit(f"{ds.root}: needs labels and truth/source.npy, truth/noiseless.npy")
    lenses = np.flatnonzero(ds.labels == 1)
    chosen = np.sort(np.random.default_rng(seed).choice(lenses, min(n, len(lenses)), replace=False))
    kind = "fits" if "fits" in card.input.accepts else card.input.accepts[0]
    inputs = kind_inputs(np.array(ds.images[chosen], dtype=np.float32), ds.bands, card, kind)
    session = open_session(model_dir)
    threshold = card.output.threshold
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    seconds = dict.fromkeys(methods, 0.0)
    shown = []
    for k, row in enumerate(chosen):
        masks = regions(ds.truth.source[row], ds.truth.noiseless[row])
        maps = {}
        for method in methods:
            start = time.perf_counter()
            plan = _plan(method, inputs[k])
            probability, saliency = plan.explain(_score(session, plan.copies))
            seconds[method] += time.perf_counter() - start
            rows[method].append({**saliency_shares(saliency, masks), "found": probability >= threshold})
            maps[method] = saliency
        shown.append((inputs[k], maps))
    summary = {
        method: {
            "all": summarise(rows[method]),
            "found": summarise([r for r in rows[method] if r["found"]]),
            "seconds_per_cutout": seconds[method] / max(len(chosen), 1),
        }
        for method in methods
    }
    meta = {
        "model": card.name,
        "version": card.identity.version,
        "data": str(ds.root),
        "input": kind,
        "lenses": len(chosen),
        "seed": seed,
        "threshold_sigma": THRESHOLD_SIGMA,
        "parameters": {"occlusion": asdict(OcclusionParams()), "lime": asdict(LimeParams())},
    }
    return {**meta, "methods": summary}, shown


def table(result: dict[str, Any]) -> str:
    """A markdown table of one model's result: positive saliency mass per region against area."""
    lines = [
        f"`{result['model']}` ({result['input']}, {result['lenses']} lenses of {Path(result['data']).name}):",
        "",
        "| method | lenses | source mass / area | lens mass / area | other mass / area | sky mass / area "
        "| top 5% on source / lens / sky | peak on source / lens |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method, parts in result["methods"].items():
        for which in ("all", "found"):
            s = parts[which]
            if not s["n"]:
                continue
            cells = " | ".join(f"{s['mass'][r]:.2f} / {s['area'][r]:.2f}" for r in REGIONS)
            tops = " / ".join(f"{s['top'][r]:.2f}" for r in ("source", "lens", "sky"))
            peaks = f"{s['peak']['source']:.2f} / {s['peak']['lens']:.2f}"
            lines.append(f"| {method} | {s['n']} ({which}) | {cells} | {tops} | {peaks} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.saliency_check", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", required=True, help="model folder (model.json, model.onnx)")
    parser.add_argument("--data", required=True, help="a simulated test set with truth/")
    parser.add_argument("--n", type=int, default=100, help="lenses sampled (seeded)")
    parser.add_argument("--methods", default="occlusion,lime")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="merge the result into this JSON file, under the model")
    parser.add_argument("--examples", default=None, help="write a PNG of the first 3 lenses' overlays here")
    args = parser.parse_args(argv)

    from training.data import read_blf

    model_dir = Path(args.model)
    card = ModelCard.load(model_dir / CARD_FILE)
    ds = read_blf(args.data)
    methods = args.methods.split(",")
    result, shown = check(ds, card, model_dir, n=args.n, methods=methods, seed=args.seed)
    print(table(result))
    if args.json:
        path = Path(args.json)
        merged = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        merged[card.name] = result
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    if args.examples:
        kind = result["input"]
        pairs = [(pixels, maps[methods[0]]) for pixels, maps in shown[:3]]
        Path(args.examples).write_bytes(overlay_png(pairs, kind, card.input.bands, scale=2))
        print(f"wrote {args.examples}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
