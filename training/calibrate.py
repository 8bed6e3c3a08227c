"""Probabilities that mean something: calibration fitted on validation logits, and the threshold rule.

A network's logit ranks cutouts well but its sigmoid is usually over-confident. Temperature scaling
(Guo et al. 2017) fits one number T > 0 on the validation set, ``probability = sigmoid(logit / T)``,
minimising the mean negative log-likelihood; it keeps the ranking (so AUC and TPRs are unchanged) and
is baked into the ONNX graph by the export. Isotonic regression (sklearn) is the alternative: a
monotone step function, often better calibrated on the fitting set but not strictly monotone (it
makes ties) and not expressible as one graph constant. The card records which was used.

"Probability" here: that a visible strong lens is in the cutout, under the training (validation) set's
lens fraction, not the sky's (about 1 in 1000).

``python -m training.calibrate RUN_DIR`` fits the temperature on the run's ``val_predictions.npz``,
chooses the threshold, and writes ``calibration.json`` and ``reliability.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar
from sklearn.isotonic import IsotonicRegression

from training.metrics import allowed_false_positives, at_threshold, threshold_at_fpr

F64 = npt.NDArray[np.float64]
Method = Literal["temperature", "isotonic"]
Rule = Literal["fpr", "tpr", "fixed"]
LOG_T_BOUNDS = (math.log(1e-2), math.log(1e2))  # T from 0.01 to 100: far wider than real networks need


def _pair(logits: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[F64, F64]:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if z.ndim != 1 or z.shape != y.shape or z.size == 0:
        raise ValueError(f"logits and labels must be 1-D, non-empty, one length; got {z.shape}, {y.shape}")
    if not np.isfinite(z).all():
        raise ValueError("logits must be finite")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    return z, y


def sigmoid(z: npt.ArrayLike) -> F64:
    """Logistic function, float64, without overflow warnings for large |z|."""
    arr = np.asarray(z, dtype=np.float64)
    out: F64 = np.exp(-np.logaddexp(0.0, -arr))
    return out


def nll(logits: npt.ArrayLike, labels: npt.ArrayLike, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood (nats per cutout) of ``sigmoid(logit / temperature)``."""
    z, y = _pair(logits, labels)
    s = z / temperature
    # -log p(y|z) = softplus(z) - y z, computed without forming the probability (no log(0)).
    return float(np.mean(np.logaddexp(0.0, s) - y * s))


def fit_temperature(logits: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """The temperature T minimising :func:`nll` on (logits, labels): a bounded 1-D search over log T
    (scipy ``minimize_scalar``), so T stays positive and the search is symmetric in scale."""
    z, y = _pair(logits, labels)
    result = minimize_scalar(
        lambda log_t: nll(z, y, math.exp(log_t)),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(math.exp(result.x))


def fit_isotonic(scores: npt.ArrayLike, labels: npt.ArrayLike) -> IsotonicRegression:
    """An isotonic map from score to probability (sklearn, clipped out of range); ``.predict``."""
    z, y = _pair(scores, labels)
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    model.fit(z, y)
    return model


def ece(probs: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = 15) -> float:
    """Expected calibration error: the cutout-weighted mean over ``n_bins`` equal-width probability bins
    of |fraction of lenses - mean probability| (0 = perfectly calibrated)."""
    p, y = _pair(probs, labels)
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, y, n_bins) - np.bincount(bins, p, n_bins))  # per-bin sums
    return float(gap.sum() / counts.sum())


def choose_threshold(
    labels: npt.ArrayLike,
    probs: npt.ArrayLike,
    rule: Rule = "fpr",
    target: float = 0.01,
    set_name: str = "validation",
) -> tuple[float, str]:
    """The decision threshold (rule ``probability >= threshold``) and a one-line description for the card.

    - ``fpr``: flag at most floor(target * N) of the set's N non-lenses (:func:`training.metrics.
      threshold_at_fpr`): a false-positive rate of at most ``target``.
    - ``tpr``: the highest threshold flagging at least ``target`` of the lenses.
    - ``fixed``: ``target`` itself (0.5 for "more likely a lens than not", under the training prior).
    """
    y = np.asarray(labels).astype(bool)
    p = np.asarray(probs, dtype=np.float64)
    if rule == "fpr":
        threshold = threshold_at_fpr(y, p, target)
        n_neg = int((~y).sum())
        k = allowed_false_positives(target, n_neg)
        head = f"false-positive rate <= {target:g} on the {set_name} set (at most {k} of {n_neg} non-lenses)"
    elif rule == "tpr":
        lens = np.sort(p[y])[::-1]
        if lens.size == 0:
            raise ValueError("the tpr rule needs lenses")
        threshold = float(lens[max(math.ceil(target * lens.size) - 1, 0)])
        head = f"true-positive rate >= {target:g} on the {set_name} set"
    elif rule == "fixed":
        threshold = float(target)
        head = f"fixed probability {target:g}"
    else:
        raise ValueError(f"unknown threshold rule {rule!r}")
    rates = at_threshold(y, p, threshold)
    return threshold, f"{head}; there TPR {rates['tpr']:.3f}, FPR {rates['fpr']:.4f}"


def reliability_diagram(
    probs: npt.ArrayLike,
    labels: npt.ArrayLike,
    path: str | Path,
    *,
    before: npt.ArrayLike | None = None,
    n_bins: int = 15,
    title: str = "Reliability",
) -> dict[str, float]:
    """Write a reliability diagram PNG (fraction of lenses against mean probability per bin, with the
    cutout count per bin below) of ``probs``, and of ``before`` (uncalibrated) when given; returns
    ``{"ece": ..., "ece_before": ...}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [("calibrated", np.asarray(probs, dtype=np.float64))]
    if before is not None:
        curves.insert(0, ("uncalibrated", np.asarray(before, dtype=np.float64)))
    y = np.asarray(labels, dtype=np.float64)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 6), height_ratios=(3, 1), sharex=True)
    top.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    out: dict[str, float] = {}
    for name, p in curves:
        value = ece(p, y, n_bins)
        out["ece_before" if name == "uncalibrated" else "ece"] = value
        bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
        counts = np.bincount(bins, minlength=n_bins)
        has = counts > 0
        frac = np.bincount(bins, y, n_bins)[has] / counts[has]
        mean_p = np.bincount(bins, p, n_bins)[has] / counts[has]
        top.plot(mean_p, frac, marker="o", ms=3, label=f"{name} (ECE {value:.4f})")
        bottom.stairs(counts, edges, label=name)
    top.set_ylabel("fraction of lenses")
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8)
    bottom.set_yscale("log")
    bottom.set_xlabel("predicted lens probability")
    bottom.set_ylabel("cutouts")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return out


@dataclass(frozen=True)
class Calibration:
    """What the card records about calibration and the threshold (all on the fitting set)."""

    method: Method
    temperature: float | None  # None for isotonic
    # As app.card.Calibration takes them: {"temperature": T}, or isotonic knots {"x": [...], "y": [...]}.
    parameters: dict[str, Any]
    threshold: float
    threshold_rule: str
    n: int
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibrate(
    logits: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    method: Method = "temperature",
    rule: Rule = "fpr",
    target: float = 0.01,
    diagram: str | Path | None = None,
) -> Calibration:
    """Fit the calibration on validation (logits, labels), choose the threshold on the calibrated
    probabilities, and optionally write the reliability diagram."""
    z, y = _pair(logits, labels)
    raw = sigmoid(z)
    temperature: float | None = None
    if method == "temperature":
        temperature = fit_temperature(z, y)
        probs = sigmoid(z / temperature)
        parameters: dict[str, Any] = {"temperature": temperature}
    elif method == "isotonic":
        iso = fit_isotonic(z, y)
        probs = np.clip(iso.predict(z), 1e-7, 1 - 1e-7)
        # The knots define the map (linear between them, clipped outside): enough to rebuild it anywhere.
        parameters = {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    else:
        raise ValueError(f"unknown calibration method {method!r}")
    threshold, description = choose_threshold(y, probs, rule, target)
    eps = 1e-12
    nll_after = float(-np.mean(y * np.log(probs + eps) + (1 - y) * np.log(1 - probs + eps)))
    if diagram is not None:
        reliability_diagram(probs, y, diagram, before=raw, title=f"Reliability ({method}, n={y.size})")
    return Calibration(
        method=method,
        temperature=temperature,
        parameters=parameters,
        threshold=threshold,
        threshold_rule=description,
        n=int(y.size),
        nll_before=nll(z, y),
        nll_after=nll_after,
        ece_before=ece(raw, y),
        ece_after=ece(probs, y),
    )


def calibrate_run(run_dir: str | Path, out: str | Path | None = None, **kwargs: Any) -> Calibration:
    """:func:`calibrate` on a training run's ``val_predictions.npz``; writes ``calibration.json`` and
    ``reliability.png`` to ``out`` (default: the run directory)."""
    run = Path(run_dir)
    out_dir = Path(out) if out is not None else run
    out_dir.mkdir(parents=True, exist_ok=True)
    with np.load(run / "val_predictions.npz") as data:
        logits, labels = data["logits"], data["labels"]
    result = calibrate(logits, labels, diagram=out_dir / "reliability.png", **kwargs)
    (out_dir / "calibration.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.calibrate",
        description="Fit calibration and the threshold on a training run's validation predictions.",
    )
    parser.add_argument("run_dir", help="training run directory holding val_predictions.npz")
    parser.add_argument("--out", default=None, help="output folder (default: the run directory)")
    parser.add_argument("--method", choices=("temperature", "isotonic"), default="temperature")
    parser.add_argument("--rule", choices=("fpr", "tpr", "fixed"), default="fpr")
    parser.add_argument("--target", type=float, default=0.01, help="FPR, TPR or probability of the rule")
    args = parser.parse_args(argv)
    result = calibrate_run(args.run_dir, args.out, method=args.method, rule=args.rule, target=args.target)
    for key, value in result.to_dict().items():
        print(f"{key:15s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
