"""Evaluate an exported model (``model.onnx``) on a labelled BLF-layout test set, as the service scores.

``python -m training.evaluate --model models/space --data data/space-test [--png gray|rgb]
[--stretch NAME[,NAME...]|all] [--tta] [--out DIR] [--provider cpu|cuda] [--bands vis] [--threshold P]``

Scores with onnxruntime in batches (input ``cutouts``, outputs ``logit`` and ``probability``, the
contract of ``training/export.py``), then writes to ``DIR`` (default ``MODEL/evaluation/<data>_<input>``):
``metrics.json`` (:func:`training.metrics.lens_metrics` on the logits, the rates at the threshold on the
probabilities, the false-positive rate per non-lens kind, timings), ``roc.png`` (log-FPR axis) and
``scores.png`` (logit histograms per class and per non-lens kind), and prints a table.

- Input kinds (the card's ``metrics.by_input`` keys): ``fits`` (the raw planes, selected by name in the
  model's band order), ``png-gray`` (one band rendered with ``app.render.gray_png`` and decoded with
  ``app.decode.decode_bytes``), ``png-rgb`` (g, r, i to a Lupton composite, planes R, G, B = i, r, g),
  each PNG kind under a named stretch of :data:`training.stretches.STRETCHES` (key ``png-rgb:soft``;
  plain ``png-rgb`` is the default stretch the README documents; all others are outside the training
  distribution of ``training.stretches.random_stretch``: ``UNSEEN``). Plots: ``training.plots``.
- Ranking metrics use the logits: float32 probabilities saturate at 1.0 and the ties would count
  against the model. Threshold metrics use the probability, as the service does (``p >= threshold``).
- ``--tta`` averages the logits over the eight flips and rotations (``training.augment.d4``) and reports
  the gain over the plain score and the time it costs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from training.augment import D4_ORDER, d4
from training.calibrate import sigmoid
from training.metrics import at_threshold, fpr_by_kind, hard_negative_fpr, lens_metrics
from training.plots import plot_roc, plot_scores
from training.stretches import STRETCHES, UNSEEN, PngMode, render_png

F32 = npt.NDArray[np.float32]
PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


@dataclass(frozen=True)
class Scored:
    """Scores of N cutouts: ``logits`` and ``probabilities`` float32 (N,) (TTA-averaged when ``tta``),
    ``plain_logits`` of the identity view alone, and the seconds spent in onnxruntime (all views, and the
    identity view)."""

    logits: F32
    probabilities: F32
    plain_logits: F32
    plain_probabilities: F32
    seconds: float
    plain_seconds: float
    tta: bool


def open_session(model: str | Path, provider: str = "cpu") -> Any:
    """An onnxruntime session on ``model`` (a model folder holding ``model.onnx``, or the file).
    ``provider``: ``cpu``, ``cuda`` (CPU as fallback), or an onnxruntime provider name."""
    import onnxruntime as ort

    path = Path(model)
    if path.is_dir():
        path = path / "model.onnx"
    providers = PROVIDERS.get(provider, [provider])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=providers)


def graph_calibration(logits: F32, probs: F32) -> tuple[float, float]:
    """(a, b) of the graph's ``probability = sigmoid(a * logit + b)`` (``training.export``: Platt scaling,
    or a temperature as a = 1/T, b = 0), read off its own outputs, so TTA can turn averaged logits into
    probabilities and the score plot can mark the threshold without the card: a least-squares line
    through (logit, log(p / (1 - p))) over the non-saturated cutouts (1e-4 < p < 1 - 1e-4, where the
    float32 probability still resolves the log-odds). (1, 0) when fewer than two distinct logits are
    usable (nothing to fit a line to)."""
    p = probs.astype(np.float64)
    z = logits.astype(np.float64)
    ok = (p > 1e-4) & (p < 1 - 1e-4) & np.isfinite(z)
    if np.unique(z[ok]).size < 2:
        return 1.0, 0.0
    scale, bias = np.polyfit(z[ok], np.log(p[ok] / (1 - p[ok])), 1)
    return float(scale), float(bias)


def score_onnx(session: Any, images: npt.ArrayLike, batch_size: int = 256, tta: bool = False) -> Scored:
    """Score (N, C, H, W) raw pixels; with ``tta`` average the logits over the eight D4 views."""
    arr = np.asarray(images)
    n = arr.shape[0]
    views = range(D4_ORDER) if tta else range(1)
    sums = np.zeros((len(views), n), dtype=np.float64)
    plain_p = np.zeros(n, dtype=np.float32)
    seconds = np.zeros(len(views))
    for start in range(0, n, batch_size):
        batch = np.ascontiguousarray(arr[start : start + batch_size], dtype=np.float32)
        for v in views:
            view = batch if v == 0 else d4(batch, v)
            t0 = time.perf_counter()
            logit, prob = session.run(["logit", "probability"], {"cutouts": view})
            seconds[v] += time.perf_counter() - t0
            sums[v, start : start + batch.shape[0]] = logit
            if v == 0:
                plain_p[start : start + batch.shape[0]] = prob
    plain = sums[0].astype(np.float32)
    logits = sums.mean(axis=0).astype(np.float32)
    if tta:
        scale, bias = graph_calibration(plain, plain_p)
        probs = sigmoid(scale * logits.astype(np.float64) + bias).astype(np.float32)
    else:
        probs = plain_p
    return Scored(logits, probs, plain, plain_p, float(seconds.sum()), float(seconds[0]), tta)


def summarise(
    labels: npt.ArrayLike, kinds: npt.ArrayLike | None, logits: F32, probs: F32, threshold: float
) -> dict[str, Any]:
    """The metrics of one scoring: ``metrics`` (ranking, on logits), ``at_threshold`` (on probabilities),
    ``fpr_by_kind``, ``hard_negatives`` (all hard kinds together), and ``card`` shaped like
    ``app.card.InputMetrics`` (lens_metrics + accuracy + per-kind rates)."""
    y = np.asarray(labels).astype(np.int8)
    out: dict[str, Any] = {
        "metrics": lens_metrics(y, logits),
        "at_threshold": at_threshold(y, probs, threshold),
    }
    if kinds is not None:
        out["fpr_by_kind"] = fpr_by_kind(y, kinds, probs, threshold)
        out["hard_negatives"] = hard_negative_fpr(y, kinds, probs, threshold)
    out["card"] = {
        **out["metrics"],
        "accuracy": out["at_threshold"]["accuracy"],
        "hard_negative_fpr": out.get("fpr_by_kind", {}),
    }
    return out


def evaluate_onnx(
    model_path: str | Path,
    images: npt.ArrayLike,
    labels: npt.ArrayLike,
    kinds: npt.ArrayLike | None = None,
    *,
    threshold: float = 0.5,
    provider: str = "cpu",
    batch_size: int = 256,
    tta: bool = False,
    out: str | Path | None = None,
    title: str = "",
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score ``images`` (N, C, H, W, the model's planes, raw pixels) with the ONNX model and summarise
    (:func:`summarise`), plus ``timing`` and, with ``tta``, ``plain`` (the one-pass scores, which also
    fill ``card``: the service does not average views) and ``tta_gain``; JSON-ready (NaN as None).
    With ``out`` also write ``metrics.json``, ``roc.png`` and ``scores.png`` there; ``meta`` (what was
    evaluated: model, data, input kind, threshold source) leads the result."""
    session = open_session(model_path, provider)
    scored = score_onnx(session, images, batch_size, tta)
    result = dict(meta or {}) | summarise(labels, kinds, scored.logits, scored.probabilities, threshold)
    n = int(np.asarray(labels).size)
    result["n"] = n
    result["tta"] = tta
    result["timing"] = {
        "onnx_seconds": scored.seconds,
        "cutouts_per_s": n / max(scored.seconds, 1e-9),
        "provider": session.get_providers()[0],
        "batch_size": batch_size,
    }
    if tta:
        plain = summarise(labels, kinds, scored.plain_logits, scored.plain_probabilities, threshold)
        result["plain"] = plain
        result["card"] = plain["card"]  # the card states what the service delivers: one pass, no TTA
        result["tta_gain"] = {
            key: result["metrics"][key] - plain["metrics"][key]
            for key in ("auc", "tpr0", "tpr10", "tpr_at_fpr_1e-2", "tpr_at_fpr_1e-3")
        } | {"time_factor": scored.seconds / max(scored.plain_seconds, 1e-9)}
    ready: dict[str, Any] = _json_ready(result)
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.json").write_text(json.dumps(ready, indent=2, allow_nan=False) + "\n")
        plot_roc(labels, scored.logits, folder / "roc.png", title)
        scale, bias = graph_calibration(scored.plain_logits, scored.plain_probabilities)
        t_logit = (_logit(threshold) - bias) / scale  # the logit where a * logit + b = logit(threshold)
        plot_scores(labels, kinds, scored.logits, t_logit, folder / "scores.png", title)
    return ready


def _logit(p: float) -> float:
    return math.log(p / (1 - p)) if 0 < p < 1 else (math.inf if p >= 1 else -math.inf)


def _json_ready(value: Any) -> Any:
    """NaN and infinities to None (JSON has neither), numpy scalars to Python."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class ModelInfo:
    """What evaluation needs from the card (``model.json``), each None when there is no card."""

    bands: tuple[str, ...] | None = None
    accepts: tuple[str, ...] | None = None
    threshold: float | None = None
    threshold_rule: str | None = None


def model_info(model: str | Path) -> ModelInfo:
    """Read the card beside ``model.onnx`` (validated by ``app.card.ModelCard``) when there is one."""
    folder = Path(model)
    card_path = (folder if folder.is_dir() else folder.parent) / "model.json"
    if not card_path.is_file():
        return ModelInfo()
    from app.card import ModelCard

    card = ModelCard.load(card_path)
    return ModelInfo(
        tuple(card.input.bands), tuple(card.input.accepts), card.output.threshold, card.output.threshold_rule
    )


def select_planes(images: npt.NDArray[Any], data_bands: tuple[str, ...], wanted: tuple[str, ...]) -> Any:
    """The planes named ``wanted`` (in that order) of a (N, C, H, W) stack whose planes are
    ``data_bands``; the stack itself (no copy of a memmap) when it already is in that order."""
    missing = [band for band in wanted if band not in data_bands]
    if missing:
        raise ValueError(f"the model takes bands {wanted}; the data set has {data_bands} (no {missing})")
    index = [data_bands.index(band) for band in wanted]
    return images if index == list(range(images.shape[1])) else images[:, index]


def input_key(png: PngMode | None, stretch: str) -> str:
    """The card's ``metrics.by_input`` key: ``fits``, ``png-gray``, ``png-rgb:soft``, ..."""
    if png is None:
        return "fits"
    return f"png-{png}" if stretch == "default" else f"png-{png}:{stretch}"


def model_inputs(
    images: npt.NDArray[Any],
    data_bands: tuple[str, ...],
    model_bands: tuple[str, ...],
    png: PngMode | None,
    stretch: str = "default",
) -> Any:
    """What the model is fed: the raw planes (``png`` None), or the rendered-and-decoded PNG."""
    if png == "rgb":
        if model_bands != ("i", "r", "g"):
            raise ValueError(f"colour composites give planes i, r, g; the model takes {model_bands}")
        return render_png(images, "rgb", data_bands, stretch)
    planes = select_planes(images, data_bands, model_bands)
    return planes if png is None else render_png(planes, "gray", model_bands, stretch)


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """One row per evaluation (name -> :func:`evaluate_onnx` result), then the FPR per non-lens kind."""

    def f(value: Any, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    head = (
        f"{'input':28s} {'n':>6s} {'AUC':>7s} {'TPR0':>7s} {'TPR10':>7s} {'@1e-2':>7s} {'@1e-3':>7s} "
        f"{'acc':>7s} {'FPR':>7s} {'hardFPR':>7s} {'cut/s':>8s}"
    )
    lines = [head, "-" * len(head)]
    rows = dict(results)
    for name, res in results.items():
        if "plain" in res:
            rows[f"{name} (no TTA)"] = res["plain"] | {"n": res["n"], "timing": None}
    for name, res in rows.items():
        m, t = res["metrics"], res["at_threshold"]
        speed = f"{res['timing']['cutouts_per_s']:8.0f}" if res.get("timing") else f"{'-':>8s}"
        lines.append(
            f"{name:28s} {res['n']:6d} {f(m['auc']):>7s} {f(m['tpr0']):>7s} {f(m['tpr10']):>7s} "
            f"{f(m['tpr_at_fpr_1e-2']):>7s} {f(m['tpr_at_fpr_1e-3']):>7s} {f(t['accuracy']):>7s} "
            f"{f(t['fpr']):>7s} {f(res.get('hard_negatives', {}).get('fpr')):>7s} {speed}"
        )
    kinds = sorted({k for res in results.values() for k in res.get("fpr_by_kind", {})})
    if kinds:
        lines += ["", "false-positive rate at the threshold, by non-lens kind:"]
        lines.append(f"{'kind':22s} {'n':>6s} " + " ".join(f"{name[:14]:>14s}" for name in results))
        first = next(iter(results.values()))["fpr_by_kind"]
        for kind in kinds:
            cells = " ".join(
                f"{f(res['fpr_by_kind'].get(kind, {}).get('fpr')):>14s}" for res in results.values()
            )
            lines.append(f"{kind:22s} {first.get(kind, {}).get('n', 0):6d} {cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model folder (model.onnx, model.json) or .onnx file")
    parser.add_argument("--data", required=True, help="labelled BLF-layout test set")
    parser.add_argument("--out", default=None, help="output folder (default MODEL/evaluation/<data>_<input>)")
    parser.add_argument(
        "--png",
        choices=("gray", "rgb"),
        default=None,
        help="score PNG renderings (default: FITS, or the card's only PNG kind)",
    )
    parser.add_argument(
        "--stretch",
        default="default",
        help=f"PNG stretch(es), comma-separated or 'all': {', '.join(STRETCHES)}",
    )
    parser.add_argument("--tta", action="store_true", help="average logits over the 8 flips/rotations")
    parser.add_argument("--provider", default="cpu", help="cpu, cuda, or an onnxruntime provider name")
    parser.add_argument("--bands", default=None, help="the model's bands when there is no card, e.g. u,g,r,i")
    parser.add_argument("--threshold", type=float, default=None, help="probability threshold (default: card)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--limit", type=int, default=None, help="evaluate a seeded random subset of N")
    args = parser.parse_args(argv)

    from training.data import read_blf

    info = model_info(args.model)
    ds = read_blf(args.data)
    if ds.labels is None:
        parser.error(f"{args.data} has no classifications.csv: evaluation needs labels")
    png: PngMode | None = args.png
    if png is None and info.accepts is not None and "fits" not in info.accepts:
        png = "rgb" if "png-rgb" in info.accepts else "gray"
    # Without a card or --bands: a composite's planes are i, r, g; otherwise the data set's own bands.
    default_bands = ("i", "r", "g") if png == "rgb" else ds.bands
    bands = tuple(args.bands.split(",")) if args.bands else info.bands or default_bands
    threshold = args.threshold if args.threshold is not None else info.threshold
    source = "--threshold" if args.threshold is not None else info.threshold_rule
    if threshold is None:
        threshold, source = 0.5, "no card and no --threshold: 0.5"
    stretches = (
        [s for s in STRETCHES if png == "rgb" or STRETCHES[s].gray is not None]
        if args.stretch == "all"
        else args.stretch.split(",")
    )
    if png is None:
        stretches = ["default"]
    rows = np.arange(len(ds))
    if args.limit is not None and args.limit < len(ds):
        rows = np.sort(np.random.default_rng(0).choice(len(ds), args.limit, replace=False))
    images = ds.images if rows.size == len(ds) else ds.images[rows]
    labels, kinds = ds.labels[rows], None if ds.kinds is None else ds.kinds[rows]

    model_dir = Path(args.model) if Path(args.model).is_dir() else Path(args.model).parent
    results: dict[str, dict[str, Any]] = {}
    for stretch in stretches:
        key = input_key(png, stretch)
        t0 = time.perf_counter()
        x = model_inputs(images, ds.bands, bands, png, stretch)
        render_s = time.perf_counter() - t0
        tag = f"{ds.root.name}_{key.replace(':', '-')}{'_tta' if args.tta else ''}"
        if args.out is None:
            out = model_dir / "evaluation" / tag
        else:  # one folder per stretch when several are asked for
            out = Path(args.out) / tag if len(stretches) > 1 else Path(args.out)
        meta = {
            "model": str(args.model),
            "data": str(ds.root),
            "input": key,
            "stretch": stretch,
            "stretch_description": STRETCHES[stretch].description if png else None,
            "stretch_unseen": stretch in UNSEEN if png else None,  # outside random_stretch's draws
            "threshold": threshold,
            "threshold_source": source,
            "input_seconds": render_s,
        }
        res = evaluate_onnx(
            args.model,
            x,
            labels,
            kinds,
            threshold=threshold,
            provider=args.provider,
            batch_size=args.batch_size,
            tta=args.tta,
            out=out,
            meta=meta,
            title=f"{model_dir.name} on {tag}",
        )
        results[key + (" +TTA" if args.tta else "")] = res
        print(f"wrote {out}")
    print(f"threshold {threshold:.4g}: {source}")
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
