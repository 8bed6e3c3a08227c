"""Compare network architectures on the same data: ``models/ARCHITECTURES.md``, written by code.

``python -m training.compare --config training/configs/space.yaml --test data/space-test
[--archs logistic mlp1 mlp2 cnn deeplens schaefer] [--subset 6000] [--epochs 10] [--work DIR]
[--out models/ARCHITECTURES.md] [key=value ...]``

Every architecture is trained by ``training.train`` with the same config (the file, then the
overrides, then ``arch``), the same subset, split, seed, epochs and augmentation, and **no early
stopping** (patience = epochs), so the training and validation loss curves show overfitting where it
happens. Each run is then exported to ONNX with the export's built-in checks and scored on the test
set with onnxruntime, exactly as a shipped model would be. The table gives, per architecture:

- the ranking metrics of DESIGN section 5 on the test set (AUC, TPR0, TPR10 with the number of
  non-lenses, TPR at FPR 1e-2 and 1e-3; ``training.metrics``, on logits);
- accuracy and the hard-negative false-positive rate at a threshold chosen on the validation split by
  the shipped models' rule (FPR 1% on validation), applied to the test set;
- parameters, FLOPs per cutout (2 x multiply-adds, ``training.nets.count_flops``), and onnxruntime
  CPU throughput at batch 64 with 2 threads (``bench.onnx_throughput.measure``) on this machine;
- the best epoch and whether the validation loss rose while the training loss fell (overfitting).

Resumable: a finished architecture leaves ``WORK/<arch>/result.json`` and is not redone; an
interrupted training resumes from its ``last.pt``. The per-architecture loss curves go to one PNG
next to the table, and the numbers to ``architectures.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from training import metrics
from training.nets import ARCHS
from training.trainer.config import apply_overrides, load_config, validate

CURVES_PNG = "architectures-curves.png"
RESULTS_JSON = "architectures.json"
THROUGHPUT_BATCH = 64
THROUGHPUT_THREADS = 2


def train_arch(config: dict[str, Any], arch: str, work: Path, epochs: int) -> Path:
    """Train ``arch`` under ``config`` into ``work/arch`` (resuming an interrupted run); the run dir."""
    from training.trainer.loop import train

    run_dir = work / arch
    if (run_dir / "last.pt").exists():
        return train({"epochs": epochs, "patience": epochs}, resume=run_dir)
    cfg = dict(config) | {
        "arch": arch,
        "out": str(work),
        "run_name": arch,
        "epochs": epochs,
        "patience": epochs,
    }
    validate(cfg)
    return train(cfg)


def overfitting(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the validation loss ended above its minimum (by more than 5%) while the training loss
    kept falling: ``{"overfits", "min_val_loss_epoch", "final_train_loss", "final_val_loss"}``."""
    val = np.array([h["val_loss"] for h in history])
    tr = np.array([h["train_loss"] for h in history])
    best = int(np.argmin(val))
    rising = bool(val[-1] > 1.05 * val[best] and tr[-1] < tr[best])
    return {
        "overfits": rising,
        "min_val_loss_epoch": best + 1,
        "final_train_loss": float(tr[-1]),
        "final_val_loss": float(val[-1]),
    }


def assess(run_dir: Path, test: Any, seconds: float) -> dict[str, Any]:
    """Export ``run_dir``'s best checkpoint (with the export's checks), score the ``test`` set
    (a ``training.data.BLFDataset`` with labels) and measure throughput; the result row."""
    from training.evaluate import open_session, score_onnx, select_planes
    from training.export import export_onnx
    from training.model import load_run

    model, config = load_run(run_dir)
    channels = int(config["resolved"]["in_channels"])
    shape = (channels, int(test.images.shape[2]), int(test.images.shape[3]))
    onnx_path = run_dir / "model.onnx"
    export_onnx(model, onnx_path, shape)
    images = select_planes(test.images, test.bands, tuple(config["resolved"].get("bands", test.bands)))
    test_logits = score_onnx(open_session(onnx_path), images).logits
    with np.load(run_dir / "val_predictions.npz") as val:
        threshold = metrics.threshold_at_fpr(val["labels"], val["logits"], 0.01)
    labels = test.labels
    kinds = test.kinds if test.kinds is not None else np.array(["galaxy"] * len(labels))
    history = json.loads((run_dir / "history.json").read_text())
    speed = throughput(onnx_path, shape, seconds)
    return {
        "arch": config["arch"],
        "width": config["width"],
        "in_channels": channels,
        "depth": config["depth"],
        "test": metrics.lens_metrics(labels, test_logits),
        "at_threshold": metrics.at_threshold(labels, test_logits, threshold),
        "hard_negatives": metrics.hard_negative_fpr(labels, kinds, test_logits, threshold),
        "parameters": int(config["resolved"]["parameters"]),
        "flops_per_cutout": float(config["resolved"]["flops_per_cutout"]),
        "cutouts_per_s": speed["cutouts_per_s"],
        "best_epoch": int(np.argmax([h["val_auc"] for h in history])) + 1,
        "best_val_auc": max(h["val_auc"] for h in history),
        "epochs": len(history),
        "train_seconds": float(sum(h["seconds"] for h in history)),
        "history": history,
        **overfitting(history),
    }


def throughput(onnx_path: Path, shape: tuple[int, int, int], seconds: float) -> dict[str, Any]:
    """onnxruntime CPU throughput of ``onnx_path`` at batch 64 with 2 threads (bench.onnx_throughput)."""
    from bench.onnx_throughput import cutouts, make_session, measure

    session = make_session(onnx_path, "cpu", THROUGHPUT_THREADS)
    return measure(session, cutouts(THROUGHPUT_BATCH, shape), seconds)


def plot_curves(rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per architecture: training and validation loss per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(rows))
    nrows = -(-len(rows) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.4 * cols, 2.8 * nrows), squeeze=False, sharey=True)
    for ax, row in zip(axes.flat, rows, strict=False):
        epochs = [h["epoch"] for h in row["history"]]
        ax.plot(epochs, [h["train_loss"] for h in row["history"]], "o-", ms=3, label="training")
        ax.plot(epochs, [h["val_loss"] for h in row["history"]], "s-", ms=3, label="validation")
        ax.set_title(f"{row['arch']} (val AUC {row['best_val_auc']:.3f})", fontsize=9)
        ax.set_xlabel("epoch")
    for ax in axes.flat[len(rows) :]:
        ax.axis("off")
    axes[0, 0].set_ylabel("binary cross-entropy")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _f(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def table(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The markdown page: how the numbers were made, the table, and the curves."""
    n_neg = rows[0]["test"]["n_nonlenses"] if rows else 0
    lines = [
        "# Accuracy for different network architectures",
        "",
        "Written by `python -m training.compare` (do not edit by hand); command:",
        "",
        f"    {meta['command']}",
        "",
        f"Training: {meta['train']}, subset of {meta['subset']} cutouts (80% training, 20% validation, "
        f"seed {meta['seed']}), {meta['epochs']} epochs each without early stopping, the same "
        "augmentation and optimiser for every network (config above). Test: "
        f"{meta['test']} ({meta['n_test']} cutouts, {n_neg} non-lenses; another simulation seed). "
        "Threshold: FPR 1% on the validation split, applied to the test set. Throughput: onnxruntime "
        f"CPU provider, batch {THROUGHPUT_BATCH}, {THROUGHPUT_THREADS} threads, on {meta['machine']}.",
        "",
        "| network | AUC | TPR0 | TPR10 | TPR@1e-2 | TPR@1e-3 | accuracy | hard-neg FPR | parameters "
        "| MFLOP/cutout | cutouts/s | best epoch | overfits |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, a = r["test"], r["at_threshold"]
        cells = [
            f"`{r['arch']}` (w{r['width']}, d{r['depth']})",
            _f(t["auc"]),
            _f(t["tpr0"]),
            _f(t["tpr10"]),
            _f(t["tpr_at_fpr_1e-2"]),
            _f(t["tpr_at_fpr_1e-3"]),
            _f(a["accuracy"]),
            _f(r["hard_negatives"]["fpr"]),
            f"{r['parameters']:,}",
            f"{r['flops_per_cutout'] / 1e6:.1f}",
            f"{r['cutouts_per_s']:,.0f}",
            f"{r['best_epoch']}/{r['epochs']}",
            "yes" if r["overfits"] else "no",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        '"overfits": the validation loss ended more than 5% above its minimum while the training '
        "loss kept falling. TPR10 is the TPR at FPR 10/N with N the number of test non-lenses. Metrics "
        "are ranking metrics on the networks' logits (DESIGN section 5); subsets and short schedules "
        "make these figures lower than the shipped models' (their cards hold those).",
        "",
        f"![training and validation loss per architecture]({CURVES_PNG})",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.compare", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config", type=Path, required=True, help="the base config (training/configs/*.yaml)"
    )
    parser.add_argument("--test", type=Path, required=True, help="a labelled BLF-layout test set")
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument("--subset", type=int, default=6000, help="cutouts used for training + validation")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--work", type=Path, default=Path("runs/compare"), help="run directories")
    parser.add_argument("--out", type=Path, default=Path("models/ARCHITECTURES.md"))
    parser.add_argument("--seconds", type=float, default=4.0, help="throughput measuring time per network")
    parser.add_argument(
        "--remeasure",
        action="store_true",
        help="measure the throughput of finished networks again (on a quiet machine) and rewrite the page",
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every run")
    args = parser.parse_args(argv)

    from training.data import read_blf

    config = load_config(args.config, args.overrides)
    config = apply_overrides(config, [f"subset={args.subset}"])
    test = read_blf(args.test, progress=bool(config["progress"]))
    if test.labels is None:
        parser.error(f"{args.test}: no classifications.csv: the test set needs labels")
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for arch in args.archs:
        result_path = args.work / arch / "result.json"
        if result_path.exists():
            row = json.loads(result_path.read_text())
            print(f"{arch}: done before ({result_path})")
            if args.remeasure:
                shape = (int(row.get("in_channels", test.images.shape[1])), *test.images.shape[2:])
                row["cutouts_per_s"] = throughput(args.work / arch / "model.onnx", shape, args.seconds)[
                    "cutouts_per_s"
                ]
                result_path.write_text(json.dumps(row, indent=1, default=float) + "\n")
            rows.append(row)
            continue
        run_dir = train_arch(config, arch, args.work, args.epochs)
        row = assess(run_dir, test, args.seconds)
        result_path.write_text(json.dumps(row, indent=1, default=float) + "\n")
        rows.append(row)
        print(f"{arch}: test AUC {row['test']['auc']:.4f}, {row['cutouts_per_s']:.0f} cutouts/s")
    meta = {
        "command": "python -m training.compare " + " ".join(argv if argv is not None else sys.argv[1:]),
        "train": config["data"]["train"],
        "subset": args.subset,
        "seed": config["seed"],
        "epochs": args.epochs,
        "test": str(args.test),
        "n_test": len(test.labels),
        "machine": f"{platform.machine()} {platform.system()}, {len(os.sched_getaffinity(0))} CPUs",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot_curves(rows, args.out.parent / CURVES_PNG)
    args.out.write_text(table(rows, meta))
    (args.out.parent / RESULTS_JSON).write_text(
        json.dumps(
            {"meta": meta, "rows": [{k: v for k, v in r.items() if k != "history"} for r in rows]},
            indent=1,
            default=float,
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
