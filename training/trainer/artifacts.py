"""What a training run writes besides checkpoints: history.json, curves.png, val_predictions.npz."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

HISTORY = "history.json"
CURVES = "curves.png"
VAL_PREDICTIONS = "val_predictions.npz"


def write_history(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """Per epoch: ``epoch`` (1-based), ``train_loss`` (mean BCE over the epoch's balanced batches),
    ``val_loss`` (BCE on the validation split at its own lens fraction), ``val_auc``, ``lr`` (at the
    epoch's end), ``seconds`` (wall time of the epoch, validation included), ``train_cutouts_per_s``
    (training throughput, augmentation included, validation excluded)."""
    (run_dir / HISTORY).write_text(json.dumps(history, indent=1) + "\n", encoding="utf-8")


def write_curves(run_dir: Path, history: list[dict[str, Any]], title: str) -> None:
    """Training vs validation loss and validation AUC per epoch, to ``curves.png``; a validation loss
    rising while the training loss falls is overfitting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_auc) = plt.subplots(1, 2, figsize=(9, 3.6))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="training (balanced batches)")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("binary cross-entropy")
    ax_loss.legend()
    ax_auc.plot(epochs, [h["val_auc"] for h in history], "o-", color="C2")
    best = int(np.argmax([h["val_auc"] for h in history]))
    ax_auc.axvline(epochs[best], color="0.6", ls="--", label=f"best: epoch {epochs[best]}")
    ax_auc.set_xlabel("epoch")
    ax_auc.set_ylabel("validation AUC")
    ax_auc.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(run_dir / CURVES, dpi=100)
    plt.close(fig)


def write_val_predictions(
    run_dir: Path,
    logits: npt.NDArray[np.float32],
    labels: npt.NDArray[np.integer],
    kinds: npt.NDArray[np.str_] | None,
    ids: npt.NDArray[np.int64],
) -> None:
    """The validation split at the best epoch, for calibration: ``logits`` float32 (N,), ``labels``
    int8 (1 = lens), ``kinds`` str (empty strings when the set has no kind column), ``ids`` int64."""
    np.savez(
        run_dir / VAL_PREDICTIONS,
        logits=logits.astype(np.float32),
        labels=labels.astype(np.int8),
        kinds=np.full(len(ids), "", dtype=np.str_) if kinds is None else kinds.astype(np.str_),
        ids=ids.astype(np.int64),
    )
