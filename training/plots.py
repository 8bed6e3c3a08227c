"""Plots of an evaluation (``training.evaluate``): the ROC curve on a log false-positive-rate axis and
the logit histograms per class and per non-lens kind, written as PNG files (matplotlib, Agg backend).

Scores are logits (or any monotonic score for the ROC): float32 probabilities saturate at 1.0.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from training.metrics import lens_metrics, roc


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roc(labels: npt.ArrayLike, scores: npt.ArrayLike, path: str | Path, title: str = "") -> None:
    """ROC curve with a log false-positive-rate axis from 1/N to 1, TPR0/TPR10/TPR@FPR marked."""
    plt = _pyplot()
    fpr, tpr = roc(labels, scores)
    m = lens_metrics(labels, scores)
    n_neg = max(int(m["n_nonlenses"]), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    # The first ROC point sits at FPR 0, off a log axis: draw it at half a false positive instead.
    ax.step(np.maximum(fpr, 0.5 / n_neg), tpr, where="post", lw=1.5, label=f"AUC {m['auc']:.4f}")
    marks = [
        (0.5 / n_neg, m["tpr0"], "TPR0"),
        (9.5 / n_neg, m["tpr10"], "TPR10"),
        (1e-3, m["tpr_at_fpr_1e-3"], "FPR 1e-3"),
        (1e-2, m["tpr_at_fpr_1e-2"], "FPR 1e-2"),
    ]
    for x, y, name in marks:
        if isinstance(y, float) and math.isfinite(y) and x * n_neg >= 0.5:
            ax.plot([x], [y], "o", ms=5, label=f"{name} {y:.3f}")
    ax.set_xscale("log")
    ax.set_xlim(0.5 / n_neg, 1.0)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel(f"false-positive rate ({n_neg} non-lenses)")
    ax.set_ylabel("true-positive rate")
    ax.set_title(title or "ROC")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_scores(
    labels: npt.ArrayLike,
    kinds: npt.ArrayLike | None,
    logits: npt.ArrayLike,
    threshold_logit: float,
    path: str | Path,
    title: str = "",
) -> None:
    """Histograms of the logits: lenses against non-lenses (left), and each non-lens kind (right),
    log counts, with the threshold (as a logit) marked."""
    plt = _pyplot()
    y = np.asarray(labels).astype(bool)
    z = np.asarray(logits, dtype=np.float64)
    bins = np.linspace(z.min(), z.max() + 1e-9, 60)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    left.hist(z[y], bins, histtype="step", lw=1.5, label=f"lens ({int(y.sum())})")
    left.hist(z[~y], bins, histtype="step", lw=1.5, label=f"non-lens ({int((~y).sum())})")
    if kinds is not None:
        kd = np.asarray(kinds).astype(str)
        for kind in sorted(set(kd[~y].tolist())):
            sel = (~y) & (kd == kind)
            right.hist(z[sel], bins, histtype="step", lw=1.2, label=f"{kind} ({int(sel.sum())})")
    for ax, name in ((left, "by class"), (right, "non-lenses by kind")):
        if math.isfinite(threshold_logit):
            ax.axvline(threshold_logit, color="k", ls="--", lw=1, label="threshold")
        ax.set_yscale("log")
        ax.set_xlabel("logit")
        ax.set_title(f"{title} {name}".strip())
        ax.legend(fontsize=7)
    left.set_ylabel("cutouts")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
