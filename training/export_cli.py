"""``python -m training.export``: export a training run to ``models/<name>/``, or update a card's metrics.

Export (one command from a run to a shippable folder)::

    python -m training.export --run runs/<run> --out models/<name> [--name NAME] [--version V]
        [--calibration calibration.json | --temperature T] [--threshold P --threshold-rule TEXT]
        [--metrics metrics.json ...] [--search summary.json] [--fields fields.yaml]

- The card is derived from the run: bands, pixel scale, counts, parameters, FLOPs, simulator version
  and seed from the resolved config (``config["resolved"]``); epochs, best epoch and wall time from
  ``history.json`` / ``best.pt``; accepted inputs from ``config["input"]`` (a one-band FITS model also
  takes grayscale PNG with the documented ``app.render.GrayStretch``; a ``png-rgb`` model takes colour
  composites with ``app.render.LuptonStretch``).
- Calibration, baked into the graph as probability = sigmoid(a * logit + b) (``training.export``):
  by default Platt scaling (a, b) is fitted here with ``training.calibrate.calibrate`` on the run's
  ``val_predictions.npz``, the threshold is chosen there (FPR 1% on validation) and the reliability
  diagram becomes the card's ``reliability`` plot. ``--calibration`` reads ``training.calibrate``'s
  ``calibration.json`` instead (method platt or temperature, and its threshold; isotonic cannot be
  baked into a graph and is refused). ``--temperature T`` is an explicit override: temperature
  calibration with that T (a = 1/T, b = 0), the threshold chosen on the validation predictions under
  it. ``--threshold P`` overrides the threshold in every case (``--threshold-rule`` says why).
  The card's ``output.meaning`` names the validation lens fraction the probabilities are calibrated to.
- ``--metrics`` (repeatable): ``training.evaluate``'s ``metrics.json`` (keyed into the card by its
  ``input``), or a card ``metrics`` section (``{"test_data", "by_input"}``). Without it the card says
  ``"metrics": null`` (not evaluated yet).
- ``--fields`` (JSON or YAML): card sections merged over the derived ones (a dict merges key by key),
  for what a run does not record: ``{"training": {"hardware": "..."}, "input": {"accepts": [...]}}``.

Update (after ``training.evaluate`` scored the exported model; the graph is untouched, its SHA-256 is
checked)::

    python -m training.export --update models/<name> --metrics models/<name>/evaluation/*/metrics.json
        [--plot roc=evaluation/space-test_fits/roc.png ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from app.card import CARD_FILE, CardError, ModelCard
from app.render import GrayStretch, LuptonStretch
from training.card_fields import input_section, json_ready, meaning
from training.export import ExportCheckError, export_model

LABEL_RULE = (
    "lens when the source is visible (training.simulate.labels): more than one image of the source, "
    "magnification above 1.6 and more than 20 pixels of the lensed source above 1 sigma of the noise"
)
RELEASE_LABEL_RULE = "the catalogue's is_lens column as given (BLF 1.0: a source was added, visible or not)"


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` applied: nested dicts merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in update.items():
        old = out.get(key)
        out[key] = (
            deep_merge(old, value) if isinstance(old, Mapping) and isinstance(value, Mapping) else value
        )
    return out


def read_mapping(path: str | Path) -> dict[str, Any]:
    """A JSON or YAML file holding a mapping."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))  # YAML is a superset of JSON
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a JSON/YAML mapping")
    return data


def metrics_section(paths: list[str]) -> dict[str, Any] | None:
    """The card's ``metrics`` from evaluate's metrics.json files and/or card metrics sections."""
    if not paths:
        return None
    by_input: dict[str, Any] = {}
    test_data: list[str] = []
    for path in paths:
        data = read_mapping(path)
        if "by_input" in data:
            by_input.update(data["by_input"])
            test_data.append(str(data.get("test_data", path)))
        elif "card" in data and "input" in data:
            by_input[str(data["input"])] = data["card"]
            test_data.append(f"{data.get('data', path)} ({data.get('n', '?')} cutouts)")
        else:
            raise SystemExit(f"{path}: neither training.evaluate's metrics.json nor a card metrics section")
    return {"test_data": "; ".join(dict.fromkeys(test_data)), "by_input": by_input}


def _test_count(metrics: Mapping[str, Any] | None) -> int:
    if not metrics:
        return 0
    first = next(iter(metrics["by_input"].values()))
    return int(first.get("n_lenses") or 0) + int(first.get("n_nonlenses") or 0)


def _accepts(config: Mapping[str, Any], bands: list[str]) -> tuple[list[str], dict[str, Any] | None]:
    kind = config.get("input", "fits")
    randomised = config.get("augment", {}).get("png_stretch") == "random"
    trained_on = (
        "training randomised the stretch around these values (training/stretches.py)"
        if randomised
        else "training used exactly these values"
    )
    if kind == "png-rgb":
        stretch = {
            "name": "lupton-rgb",
            "parameters": asdict(LuptonStretch()),
            "description": (
                f"Lupton asinh composite of i, r, g as R, G, B (app.render.rgb_png defaults); {trained_on}"
            ),
        }
        return ["png-rgb"], json_ready(stretch)
    gray = {
        "name": "gray-asinh",
        "parameters": asdict(GrayStretch()),
        "description": f"asinh grayscale rendering (app.render.gray_png defaults), 8 or 16 bit; {trained_on}",
    }
    if kind == "png-gray":
        return ["png-gray"], gray
    return (["fits", "png-gray"], gray) if len(bands) == 1 else (["fits"], None)


def derive_card_fields(run: Path, config: Mapping[str, Any]) -> dict[str, Any]:
    """The card's ``input`` and ``training`` sections as far as the run records them."""
    resolved = config.get("resolved", {})
    bands = [b.lower() for b in resolved.get("bands", [])]
    accepts, stretch = _accepts(config, bands)
    history = json.loads((run / "history.json").read_text()) if (run / "history.json").is_file() else []
    best = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    simulation = resolved.get("simulation") or {}
    source = (
        f"simulated {simulation.get('set', '')} set {resolved.get('data_root')}"
        if simulation
        else f"BLF-layout folder {resolved.get('data_root')}"
    )
    training = {
        "data": {
            "source": source,
            "simulator_version": simulation.get("simulator_version"),
            "seed": simulation.get("seed"),
            "counts": {"train": resolved.get("n_train"), "val": resolved.get("n_val"), "test": 0},
            "label_rule": LABEL_RULE if simulation else RELEASE_LABEL_RULE,
        },
        "architecture": (
            f"{config.get('arch')} (width {config.get('width')}, depth {config.get('depth')}, dropout "
            f"{config.get('dropout')}; training.nets), after the in-graph normalisation"
        ),
        "parameters": resolved.get("parameters"),
        "flops_per_cutout": resolved.get("flops_per_cutout"),
        "epochs": len(history),
        "best_epoch": best.get("epoch"),
        "val_auc": best.get("val_auc"),
        "augmentation": {"input": config.get("input"), **config.get("augment", {})},
        "search": None,
        "wall_time_s": float(sum(h.get("seconds", 0.0) for h in history)),
        "hardware": resolved.get("hardware")
        or f"not recorded by the run (device {config.get('device')}); exported on {platform.platform()}",
        "config": config,
    }
    inputs = input_section(
        bands, pixel_scale_arcsec=resolved.get("pixel_scale_arcsec"), accepts=accepts, stretch=stretch
    )
    return {"input": inputs, "training": training}


def _calibration(args: argparse.Namespace, run: Path, out: Path) -> dict[str, Any]:
    """The export's calibration arguments: ``calibration`` (the card's mapping), ``threshold``,
    ``threshold_rule``, ``meaning`` and ``plots`` (the reliability diagram when fitted here)."""
    from training.calibrate import calibrate

    fields: dict[str, Any] = {"plots": {}, "meaning": meaning()}
    if args.calibration:
        cal = read_mapping(args.calibration)
        if cal.get("method") not in ("platt", "temperature"):
            raise SystemExit(
                f"{args.calibration}: calibration method {cal.get('method')!r} cannot be baked into the "
                "graph; fit platt (python -m training.calibrate RUN) or temperature"
            )
        fields |= {
            "calibration": {"method": cal["method"], "parameters": cal["parameters"]},
            "threshold": cal["threshold"],
            "threshold_rule": cal["threshold_rule"],
            "meaning": meaning(cal.get("lens_fraction")),
        }
    elif (run / "val_predictions.npz").is_file():
        with np.load(run / "val_predictions.npz") as data:
            logits, labels = data["logits"], data["labels"]
        out.mkdir(parents=True, exist_ok=True)
        fixed = None if args.temperature is None else {"temperature": args.temperature}
        method = "platt" if fixed is None else "temperature"
        result = calibrate(logits, labels, method=method, parameters=fixed, diagram=out / "reliability.png")
        fields |= {
            "calibration": result.card(),
            "threshold": result.threshold,
            "threshold_rule": result.threshold_rule,
            "meaning": meaning(result.lens_fraction),
            "plots": {"reliability": "reliability.png"},
        }
    elif args.temperature is not None and args.threshold is not None:
        fields["calibration"] = {"method": "temperature", "parameters": {"temperature": args.temperature}}
    else:
        raise SystemExit(
            f"{run}: no val_predictions.npz to calibrate on; give --calibration, or --temperature and "
            "--threshold"
        )
    if args.threshold is not None:
        fields["threshold"] = args.threshold
        fields["threshold_rule"] = args.threshold_rule or f"given at export: {args.threshold:g}"
    return fields


def run_export(args: argparse.Namespace) -> Path:
    from training.model import load_run

    run, out = Path(args.run), Path(args.out)
    model, config = load_run(run)
    fields = derive_card_fields(run, config)
    metrics = metrics_section(args.metrics)
    fields["training"]["data"]["counts"]["test"] = _test_count(metrics)
    if args.search:
        fields["training"]["search"] = read_mapping(args.search)
    calibration = _calibration(args, run, out)
    plots = calibration.pop("plots") | dict(args.plot or {})
    if args.fields:
        fields = deep_merge(fields, read_mapping(args.fields))
    return export_model(
        model,
        out,
        name=args.name or config.get("name"),
        version=args.version,
        input=fields["input"],
        training=fields["training"],
        metrics=metrics,
        plots=plots,
        opset=args.opset,
        **calibration,
    )


def run_update(args: argparse.Namespace) -> Path:
    """Replace the metrics (and add plots) of an exported model's card; the graph must be unchanged."""
    folder = Path(args.update)
    card = ModelCard.load(folder / CARD_FILE)
    data = card.model_dump(mode="json", by_alias=True)
    metrics = metrics_section(args.metrics)
    if metrics is not None:
        data["metrics"] = metrics
        data["training"]["data"]["counts"]["test"] = _test_count(metrics)
    data["plots"] |= dict(args.plot or {})
    if args.fields:
        data = deep_merge(data, read_mapping(args.fields))
    updated = ModelCard.from_dict(json_ready(data), folder / CARD_FILE)
    updated.verify_files(folder)
    updated.write(folder / CARD_FILE)
    return folder


def _plot(text: str) -> tuple[str, str]:
    role, sep, name = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--plot takes ROLE=FILE, got {text!r}")
    return role, name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--run", help="training run directory (best.pt, config.yaml, history.json, ...)")
    mode.add_argument("--update", metavar="MODEL_DIR", help="update the card of an exported model")
    parser.add_argument("--out", help="model folder to write (models/<name>); required with --run")
    parser.add_argument("--name", default=None, help="model name (default: the config's name)")
    parser.add_argument("--version", default="1.0.0")
    given = parser.add_mutually_exclusive_group()
    given.add_argument(
        "--calibration", default=None, help="training.calibrate's calibration.json (platt or temperature)"
    )
    given.add_argument(
        "--temperature", type=float, default=None, help="override: temperature calibration with T > 0"
    )
    parser.add_argument("--threshold", type=float, default=None, help="override: probability threshold")
    parser.add_argument("--threshold-rule", default=None, help="how the threshold was chosen")
    parser.add_argument("--metrics", action="append", default=[], help="metrics.json (repeatable)")
    parser.add_argument("--search", default=None, help="JSON/YAML summary of the hyper-parameter search")
    parser.add_argument("--fields", default=None, help="JSON/YAML card sections merged over the derived")
    parser.add_argument("--plot", action="append", type=_plot, help="ROLE=FILE relative to the model folder")
    parser.add_argument("--opset", type=int, default=18)
    args = parser.parse_args(argv)
    if args.run and not args.out:
        parser.error("--out is required with --run")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("onnx_ir", "onnxscript", "torch"):  # the exporter's pass-by-pass chatter
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        folder = run_export(args) if args.run else run_update(args)
    except (CardError, ExportCheckError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    card = ModelCard.load(folder / CARD_FILE)
    size = (folder / "model.onnx").stat().st_size
    print(
        f"wrote {folder}: model.onnx {size / 1e6:.2f} MB (sha256 {card.identity.onnx_sha256[:12]}...), "
        f"threshold {card.output.threshold:.4g}, metrics {'set' if card.metrics else 'not yet'}"
    )
    return 0
