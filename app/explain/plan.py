"""What both explanation methods hand the scorer: perturbed copies of one cutout, and how to read scores.

An explanation of one cutout is a :class:`Plan`: ``copies`` (K, C, H, W) float32, of which
``copies[0]`` is the cutout itself and the others are perturbed (some pixels set to NaN, the pipeline's
"masked" value, which the in-graph normalisation sets to the sky level 0); the caller scores all K
copies as one batch (the service submits them to the model's batcher at once, a script calls
onnxruntime) and ``combine(scores)`` turns the K probabilities into a saliency map (H, W).

Target: saliency is measured in the model's calibrated log-odds, log(p / (1 - p)), recovered from the
probability output (clipped to [:data:`EPSILON`, 1 - :data:`EPSILON`], the resolution of a float32
probability near 1, so |log-odds| <= 16): unlike the probability, it does not saturate for confident
lenses, and with Platt calibration it is an affine function of the network's logit. A positive value
at a pixel means hiding the region around it lowers the lens log-odds: the model uses it as evidence
for a lens; negative means it counts against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
EPSILON: Final = 1e-7


def log_odds(probability: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """log(p / (1 - p)) of probabilities, clipped to [EPSILON, 1 - EPSILON] (module docstring)."""
    p = np.clip(np.asarray(probability, dtype=np.float64), EPSILON, 1.0 - EPSILON)
    out: npt.NDArray[np.float64] = np.log(p) - np.log1p(-p)
    return out


@dataclass(frozen=True, slots=True)
class Plan:
    """Perturbed ``copies`` (K, C, H, W) of one cutout (``copies[0]`` unperturbed), ``combine``
    (K probabilities -> saliency (H, W) float32 in log-odds), and the LIME ``segments`` (H, W) int32
    superpixel labels (None for occlusion)."""

    copies: F32
    combine: Callable[[F32], F32]
    segments: npt.NDArray[np.int32] | None = None

    def explain(self, scores: npt.ArrayLike) -> tuple[float, F32]:
        """(the cutout's probability, its saliency map) from the K scores of ``copies``."""
        values = np.asarray(scores, dtype=np.float32).reshape(-1)
        if len(values) != len(self.copies):
            raise ValueError(f"{len(values)} scores for {len(self.copies)} copies")
        return float(values[0]), self.combine(values)
