"""Probabilities that mean something: calibration fitted on validation logits, and the threshold rule.

Why Platt scaling. Training draws balanced batches (half lenses), so the network's logit is a log-odds
under a 50/50 prior; the validation split keeps the data set's own lens fraction (70% in the simulated
space set, 40% in the ground set). Turning one into the other takes a shift of the logit by the log of
the prior odds ratio, log(0.7/0.3) = 0.85 for space, as well as the usual rescaling of an over- or
under-confident network. Temperature scaling (Guo et al. 2017: ``sigmoid(logit / T)``) can only
rescale, so it cannot shift the prior and leaves the probabilities mis-calibrated by construction.
Platt scaling (Platt 1999) fits both: ``probability = sigmoid(a * logit + b)`` with a > 0, by
minimising the mean negative log-likelihood on the validation set (:func:`fit_platt`). It keeps the
ranking (a > 0, so AUC and TPRs are unchanged) and is two constants that the export bakes into the
ONNX graph. Temperature scaling stays available (it is Platt with b = 0, a = 1/T); isotonic regression
(sklearn) is the third choice: a monotone step function, often better calibrated on the fitting set but
not strictly monotone (it makes ties) and not expressible as graph constants. The card records which
was used and its parameters.

What the probability means: that a visible strong lens is in the cutout, under the validation set's
lens fraction (:attr:`Calibration.lens_fraction`), which is the data set's own (70% space, 40%
ground), not the sky's (about 1 in 1000). For another prior pi, shift the logit: add
log(pi / (1 - pi)) - log(f / (1 - f)) to ``a * logit + b``, f the validation lens fraction.

``python -m training.calibrate RUN_DIR [--method platt|temperature|isotonic]`` fits the calibration
(Platt by default) on the run's ``val_predictions.npz``, chooses the threshold, and writes
``calibration.json`` and ``reliability.png``.
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
from scipy.optimize import minimize, minimize_scalar
from sklearn.isotonic import IsotonicRegression

from training.metrics import allowed_false_positives, at_threshold, threshold_at_fpr

F64 = npt.NDArray[np.float64]
Method = Literal["platt", "temperature", "isotonic"]
METHODS: tuple[Method, ...] = ("platt", "temperature", "isotonic")
Rule = Literal["fpr", "tpr", "fixed"]
LOG_T_BOUNDS = (math.log(1e-2), math.log(1e2))  # T from 0.01 to 100: far wider than real networks need
SCALE_BOUNDS = (1e-2, 1e2)  # Platt's a, as 1/T above: positive, so the ranking is kept
BIAS_BOUNDS = (-20.0, 20.0)  # Platt's b: prior odds from 2e-9 to 5e8, finite even on separable data


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


def platt_nll(logits: npt.ArrayLike, labels: npt.ArrayLike, scale: float, bias: float) -> tuple[float, F64]:
    """Mean negative log-likelihood (nats per cutout) of ``sigmoid(scale * logit + bias)`` and its
    gradient with respect to (scale, bias): with s = a z + b, d/ds = sigmoid(s) - y, so the gradient is
    (mean((p - y) z), mean(p - y))."""
    z, y = _pair(logits, labels)
    s = scale * z + bias
    residual = sigmoid(s) - y
    value = float(np.mean(np.logaddexp(0.0, s) - y * s))
    return value, np.array([np.mean(residual * z), np.mean(residual)])


def fit_platt(logits: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[float, float]:
    """Platt scaling: the (a, b) minimising the mean negative log-likelihood of
    ``sigmoid(a * logit + b)`` on (logits, labels), a in :data:`SCALE_BOUNDS` (so a > 0), b in
    :data:`BIAS_BOUNDS`.

    Fitted with ``scipy.optimize.minimize`` (L-BFGS-B) on :func:`platt_nll` and its analytic gradient,
    rather than sklearn's ``LogisticRegression``: the bounds keep a > 0 (the ranking, hence AUC and TPR,
    must not change; sklearn cannot constrain a coefficient's sign), the objective is exactly the
    unregularised NLL the card reports (``LogisticRegression`` penalises by default, C = 1, which
    shrinks a; unpenalised, C = inf, a grows without bound on separable data, where the bounds here
    keep it finite), and it is the same machinery as :func:`fit_temperature`. The problem is convex in
    (a, b), so the optimum is unique; the search starts from (1, 0), the network as trained. Labels are
    used as given (no Platt target smoothing): the validation sets have thousands of cutouts. Needs
    both classes; a test checks the result against sklearn's unpenalised fit.
    """
    z, y = _pair(logits, labels)
    if y.min() == y.max():
        raise ValueError("Platt scaling needs both lenses and non-lenses in the fitting set")
    result = minimize(
        lambda ab: platt_nll(z, y, float(ab[0]), float(ab[1])),
        x0=np.array([1.0, 0.0]),
        jac=True,
        method="L-BFGS-B",
        bounds=[SCALE_BOUNDS, BIAS_BOUNDS],
        options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 1000},
    )
    return float(result.x[0]), float(result.x[1])


def apply_calibration(logits: npt.ArrayLike, method: str, parameters: dict[str, Any]) -> F64:
    """Probabilities from logits by a card's calibration (``method``, ``parameters`` as
    :attr:`Calibration.parameters`): platt, temperature, isotonic (linear between knots, clipped
    outside) or none."""
    z = np.asarray(logits, dtype=np.float64)
    if method == "platt":
        return sigmoid(parameters["scale"] * z + parameters["bias"])
    if method == "temperature":
        return sigmoid(z / parameters["temperature"])
    if method == "isotonic":
        return np.interp(z, parameters["x"], parameters["y"]).astype(np.float64)
    if method == "none":
        return sigmoid(z)
    raise ValueError(f"unknown calibration method {method!r}")


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
    """What the card records about calibration and the threshold (all on the fitting set, ``n``
    cutouts of which ``lens_fraction`` are lenses: the prior the probabilities are calibrated to).

    ``parameters`` are as ``app.card.Calibration`` takes them: ``{"scale": a, "bias": b}`` (platt),
    ``{"temperature": T}`` (temperature) or isotonic knots ``{"x": [...], "y": [...]}``;
    :meth:`card` gives the card's ``output.calibration`` mapping."""

    method: Method
    parameters: dict[str, Any]
    lens_fraction: float
    threshold: float
    threshold_rule: str
    n: int
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def card(self) -> dict[str, Any]:
        """The card's ``output.calibration``: ``{"method": ..., "parameters": {...}}``."""
        return {"method": self.method, "parameters": dict(self.parameters)}


def calibrate(
    logits: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    method: Method = "platt",
    rule: Rule = "fpr",
    target: float = 0.01,
    diagram: str | Path | None = None,
    parameters: dict[str, Any] | None = None,
) -> Calibration:
    """Fit the calibration on validation (logits, labels), choose the threshold on the calibrated
    probabilities, and optionally write the reliability diagram. ``parameters`` given (platt or
    temperature, as :attr:`Calibration.parameters`): use them instead of fitting, to choose the
    threshold and measure a calibration fixed elsewhere (``--temperature`` at export)."""
    z, y = _pair(logits, labels)
    raw = sigmoid(z)
    if parameters is not None:
        if method not in ("platt", "temperature"):
            raise ValueError(f"given parameters need method platt or temperature, not {method!r}")
        parameters = dict(parameters)
        probs = apply_calibration(z, method, parameters)
    elif method == "platt":
        scale, bias = fit_platt(z, y)
        parameters = {"scale": scale, "bias": bias}
        probs = apply_calibration(z, method, parameters)
    elif method == "temperature":
        parameters = {"temperature": fit_temperature(z, y)}
        probs = apply_calibration(z, method, parameters)
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
        parameters=parameters,
        lens_fraction=float(y.mean()),
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
    parser.add_argument("--method", choices=METHODS, default="platt", help="default: platt")
    parser.add_argument("--rule", choices=("fpr", "tpr", "fixed"), default="fpr")
    parser.add_argument("--target", type=float, default=0.01, help="FPR, TPR or probability of the rule")
    args = parser.parse_args(argv)
    result = calibrate_run(args.run_dir, args.out, method=args.method, rule=args.rule, target=args.target)
    for key, value in result.to_dict().items():
        print(f"{key:15s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
