"""The lens-finding metrics of DESIGN section 5: the one implementation every report and card uses.

Conventions:
- ``labels``: (N,) 1 = lens, 0 = non-lens (any integer or bool dtype).
- ``scores``: (N,) real, higher = more lens-like (logits or probabilities: every ranking metric here is
  invariant under a strictly increasing transform of the scores). Prefer logits for ranking metrics:
  float32 probabilities saturate at 1.0 for large logits, and the ties that makes with non-lenses
  count against the finder.
- ``kinds``: (N,) str, the catalogue's ``kind`` column (lens, galaxy, ring, spiral, ...).

Ranking metrics and ties. Sort the non-lens scores descending, s_1 >= s_2 >= ... >= s_N. "Allowing k
false positives" means flagging the cutouts scored strictly above s_(k+1): at most k non-lenses are
flagged, and a lens tied with a non-lens is not (ties with a non-lens count as crossing it).

- TPR0: k = 0, the fraction of lenses scored strictly above the highest-scoring non-lens.
- TPR10: the fraction of lenses scored strictly above the 10th highest-scoring non-lens (k = 9, the
  BLF challenge's "fewer than ten false positives"); the TPR at an FPR of about 10/N, so
  ``n_nonlenses`` is reported beside it. NaN when there are fewer than 10 non-lenses.
- TPR at FPR f: k = floor(f * N), so the false-positive rate is at most f. With N < 1/f this is TPR0.
  For N >= 900, TPR0 <= TPR10 <= TPR at FPR 1e-2 (k grows from 0 to 9 to >= 9).
- AUC: area under the ROC curve (sklearn ``roc_auc_score``, ties count one half). NaN with one class.

Threshold metrics use the decision rule of the service: a cutout is flagged a lens when its score is
at or above the threshold (``score >= threshold``). :func:`threshold_at_fpr` returns a threshold under
which exactly the cutouts of the "k false positives" rule above are flagged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score, roc_curve

Labels = npt.ArrayLike
Scores = npt.ArrayLike

# The non-lenses built to look like lenses (training.simulate.cutout.HARD_KINDS, pinned equal by a test;
# not imported from there because that module pulls in lenstronomy, seconds of import for a constant).
HARD_NEGATIVE_KINDS: tuple[str, ...] = ("ring", "spiral", "merger", "edge_on", "blue_companion", "star")
SURVEY_FPRS: tuple[float, ...] = (1e-2, 1e-3)


def _check(labels: Labels, scores: Scores) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """(is_lens bool (N,), scores float64 (N,)) after checking shapes, label values and finiteness."""
    lab = np.asarray(labels)
    sc = np.asarray(scores, dtype=np.float64)
    if lab.ndim != 1 or sc.ndim != 1 or lab.shape != sc.shape:
        raise ValueError(f"labels and scores must be 1-D of one length, got {lab.shape} and {sc.shape}")
    if lab.size and not np.isin(lab, (0, 1)).all():
        raise ValueError("labels must be 0 (non-lens) or 1 (lens)")
    if not np.isfinite(sc).all():
        raise ValueError("scores must be finite (score NaN cutouts as something, or drop them)")
    return lab.astype(bool), sc


def _kth_highest(values: npt.NDArray[np.float64], k: int) -> float:
    """The k-th highest value (1-based), or -inf when there are fewer than k values."""
    if k > values.size:
        return -math.inf
    return float(np.partition(values, values.size - k)[values.size - k])


def tpr_allowing(labels: Labels, scores: Scores, false_positives: int) -> float:
    """Fraction of lenses scored strictly above the (false_positives + 1)-th highest non-lens score.

    At most ``false_positives`` non-lenses are above that score. NaN when there are no lenses.
    """
    if false_positives < 0:
        raise ValueError("false_positives must be >= 0")
    is_lens, sc = _check(labels, scores)
    lens = sc[is_lens]
    if lens.size == 0:
        return math.nan
    cut = _kth_highest(sc[~is_lens], false_positives + 1)
    return float(np.mean(lens > cut))


def allowed_false_positives(fpr: float, n_nonlenses: int) -> int:
    """k = floor(fpr * N): the most non-lenses flagged at a false-positive rate of at most ``fpr``."""
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must be in [0, 1], got {fpr}")
    # The small epsilon keeps 0.01 * 1000 from flooring to 9 through binary rounding.
    return math.floor(fpr * n_nonlenses + 1e-9)


def tpr_at_fpr(labels: Labels, scores: Scores, fpr: float) -> float:
    """TPR with at most floor(fpr * N) of the N non-lenses flagged (module docstring)."""
    is_lens, _ = _check(labels, scores)
    return tpr_allowing(labels, scores, allowed_false_positives(fpr, int((~is_lens).sum())))


def threshold_at_fpr(labels: Labels, scores: Scores, fpr: float) -> float:
    """The threshold (rule ``score >= threshold``) flagging at most floor(fpr * N) of N non-lenses.

    With s the (k+1)-th highest non-lens score, k = floor(fpr * N), the threshold is the midpoint
    between s and the next higher distinct score of any cutout (s itself plus one when none is higher),
    so everything tied with s stays below it and everything above s is flagged; the midpoint leaves a
    margin either side for use on new data. -inf when k >= N (every cutout flagged).
    """
    is_lens, sc = _check(labels, scores)
    negatives = sc[~is_lens]
    if negatives.size == 0:
        raise ValueError("threshold_at_fpr needs at least one non-lens")
    cut = _kth_highest(negatives, allowed_false_positives(fpr, negatives.size) + 1)
    if cut == -math.inf:
        return -math.inf
    higher = sc[sc > cut]
    if higher.size == 0:
        return cut + max(1.0, abs(cut))
    return float(cut + (higher.min() - cut) / 2.0)


def auc(labels: Labels, scores: Scores) -> float:
    """Area under the ROC curve; NaN unless both classes are present."""
    is_lens, sc = _check(labels, scores)
    if is_lens.all() or not is_lens.any():
        return math.nan
    return float(roc_auc_score(is_lens, sc))


def fpr_key(fpr: float) -> str:
    """The metrics-dict key of the TPR at a fixed FPR: ``tpr_at_fpr_1e-2`` for 0.01."""
    return f"tpr_at_fpr_{fpr:.0e}".replace("e-0", "e-")


def lens_metrics(labels: Labels, scores: Scores) -> dict[str, float | int]:
    """DESIGN section 5's ranking metrics: ``auc``, ``tpr0``, ``tpr10``, ``n_nonlenses``, ``n_lenses``,
    ``tpr_at_fpr_1e-2``, ``tpr_at_fpr_1e-3`` (fractions in [0, 1]; NaN where undefined, see the module
    docstring)."""
    is_lens, sc = _check(labels, scores)
    n_neg = int((~is_lens).sum())
    out: dict[str, float | int] = {
        "auc": auc(is_lens, sc),
        "tpr0": tpr_allowing(is_lens, sc, 0),
        "tpr10": tpr_allowing(is_lens, sc, 9) if n_neg >= 10 else math.nan,
        "n_nonlenses": n_neg,
        "n_lenses": int(is_lens.sum()),
    }
    for fpr in SURVEY_FPRS:
        out[fpr_key(fpr)] = tpr_at_fpr(is_lens, sc, fpr)
    return out


def at_threshold(labels: Labels, scores: Scores, threshold: float) -> dict[str, float]:
    """Rates of the rule ``score >= threshold``: ``accuracy`` (fraction of cutouts right), ``tpr``
    (lenses flagged), ``fpr`` (non-lenses flagged), ``precision`` (flagged that are lenses; under this
    set's lens fraction, not the sky's), ``flagged`` (fraction of cutouts flagged). NaN where undefined."""
    is_lens, sc = _check(labels, scores)
    flagged = sc >= threshold

    def _mean(x: npt.NDArray[np.bool_]) -> float:
        return float(x.mean()) if x.size else math.nan

    return {
        "threshold": float(threshold),
        "accuracy": _mean(flagged == is_lens),
        "tpr": _mean(flagged[is_lens]),
        "fpr": _mean(flagged[~is_lens]),
        "precision": _mean(is_lens[flagged]),
        "flagged": _mean(flagged),
    }


def accuracy(labels: Labels, scores: Scores, threshold: float) -> float:
    """Fraction of cutouts classified right by the rule ``score >= threshold``."""
    return at_threshold(labels, scores, threshold)["accuracy"]


def fpr_by_kind(
    labels: Labels, kinds: npt.ArrayLike, scores: Scores, threshold: float
) -> dict[str, dict[str, Any]]:
    """False-positive rate of the rule ``score >= threshold`` for each non-lens kind:
    ``{kind: {"n": count, "fpr": fraction flagged}}``, kinds sorted by name, lens rows ignored."""
    is_lens, sc = _check(labels, scores)
    kd = np.asarray(kinds).astype(str)
    if kd.shape != sc.shape:
        raise ValueError(f"kinds must match scores in shape, got {kd.shape} and {sc.shape}")
    out: dict[str, dict[str, Any]] = {}
    for kind in sorted(set(kd[~is_lens].tolist())):
        sel = (~is_lens) & (kd == kind)
        out[kind] = {"n": int(sel.sum()), "fpr": float(np.mean(sc[sel] >= threshold))}
    return out


def hard_negative_fpr(
    labels: Labels,
    kinds: npt.ArrayLike,
    scores: Scores,
    threshold: float,
    hard: tuple[str, ...] = HARD_NEGATIVE_KINDS,
) -> dict[str, Any]:
    """The false-positive rate over all non-lenses of the ``hard`` kinds together: ``{"n", "fpr"}``
    (NaN rate when the set has none)."""
    is_lens, sc = _check(labels, scores)
    sel = (~is_lens) & np.isin(np.asarray(kinds).astype(str), hard)
    n = int(sel.sum())
    return {"n": n, "fpr": float(np.mean(sc[sel] >= threshold)) if n else math.nan, "kinds": list(hard)}


def roc(labels: Labels, scores: Scores) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(fpr, tpr) arrays of the ROC curve (sklearn ``roc_curve``), for plots."""
    is_lens, sc = _check(labels, scores)
    fpr, tpr, _ = roc_curve(is_lens, sc)
    return np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64)
