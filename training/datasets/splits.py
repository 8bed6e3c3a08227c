"""Training/validation splits: one simulated set split 80/20, stratified, deterministic.

The test set is not cut from the training set: it is a separate folder simulated with another seed
(for example ``python -m training.simulate --set ground --n 20000 --seed 1 --out data/ground-train`` and
``--seed 2 --out data/ground-test``), so no simulated galaxy, PSF or noise draw is shared with it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IndexArray = npt.NDArray[np.int64]


def split_indices(
    labels: npt.NDArray[np.integer] | None,
    kinds: npt.NDArray[np.str_] | None = None,
    fraction: float = 0.2,
    seed: int = 0,
    n: int | None = None,
) -> tuple[IndexArray, IndexArray]:
    """(train_idx, val_idx): ascending, disjoint int64 indices covering ``range(n)``.

    Stratified by label and, when given, by kind: each (label, kind) group sends the same share to
    validation, and the validation size is exactly ``round(fraction * n)`` (group quotas rounded by
    largest remainder), so 8,000 cutouts split 6,400/1,600. The same inputs and ``seed`` always give the
    same split (a NumPy PCG64 stream, groups visited in sorted order). ``n`` is needed only when both
    ``labels`` and ``kinds`` are None.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    sizes = {len(a) for a in (labels, kinds) if a is not None}
    if n is not None:
        sizes.add(n)
    if len(sizes) != 1:
        raise ValueError(f"labels, kinds and n disagree on the number of cutouts: {sorted(sizes)}")
    total = sizes.pop()
    keys = [np.asarray(a).astype(np.str_) for a in (labels, kinds) if a is not None]
    if keys:
        combined = keys[0] if len(keys) == 1 else np.char.add(np.char.add(keys[0], "\x1f"), keys[1])
        groups, inverse = np.unique(combined, return_inverse=True)
    else:
        groups, inverse = np.array([""]), np.zeros(total, dtype=np.intp)
    counts = np.bincount(inverse, minlength=len(groups))
    quota = counts * fraction
    take = np.floor(quota).astype(np.int64)
    extra = round(fraction * total) - int(take.sum())
    if extra > 0:  # largest remainders first; ties by group order, so the result is deterministic
        order = np.lexsort((np.arange(len(groups)), -(quota - take)))
        take[order[:extra]] += 1
    rng = np.random.default_rng(seed)
    val_parts = []
    for g in range(len(groups)):
        members = np.flatnonzero(inverse == g)
        val_parts.append(rng.permutation(members)[: take[g]])
    is_val = np.zeros(total, dtype=bool)
    if val_parts:
        is_val[np.concatenate(val_parts)] = True
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)
