"""Occlusion sensitivity (Zeiler & Fergus 2014): hide one square patch at a time and watch the score.

A ``patch`` x ``patch`` square slides over the cutout with step ``stride`` (the last row and column of
patches are moved in to end at the edge, so every pixel is covered when stride <= patch); each copy has
its patch set to NaN in every band (masked: the in-graph normalisation puts it at the sky level, 0
after normalisation, with no noise). The saliency of a pixel is the drop in log-odds
(``app.explain.plan``), unoccluded minus occluded, averaged over the patches that cover it. Defaults for
101x101 cutouts: 10-pixel patches (1" in VIS, 2" in ground data: about an arc's width) every 5 pixels,
20 x 20 = 400 copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.explain.plan import F32, Plan, log_odds


@dataclass(frozen=True, slots=True)
class OcclusionParams:
    """Patch side and step, pixels."""

    patch: int = 10
    stride: int = 5


def starts(size: int, patch: int, stride: int) -> list[int]:
    """Patch offsets along an axis of ``size`` pixels: every ``stride``, the last ending at the edge."""
    if patch > size:
        return [0]
    found = list(range(0, size - patch + 1, stride))
    if found[-1] != size - patch:
        found.append(size - patch)
    return found


def count_copies(height: int, width: int, params: OcclusionParams) -> int:
    """How many copies :func:`occlusion_plan` makes (the cutout itself included)."""
    return 1 + len(starts(height, params.patch, params.stride)) * len(
        starts(width, params.patch, params.stride)
    )


def occlusion_plan(cutout: F32, params: OcclusionParams = OcclusionParams()) -> Plan:
    """The copies of ``cutout`` (C, H, W) with one patch masked each, and how to combine their scores."""
    if params.patch < 1 or not 1 <= params.stride <= params.patch:
        raise ValueError(f"need patch >= 1 and 1 <= stride <= patch, got {params}")
    _, h, w = cutout.shape
    p = params.patch
    boxes = [(y, x) for y in starts(h, p, params.stride) for x in starts(w, p, params.stride)]
    copies = np.repeat(np.asarray(cutout, dtype=np.float32)[None], 1 + len(boxes), axis=0)
    for k, (y, x) in enumerate(boxes, start=1):
        copies[k, :, y : y + p, x : x + p] = np.nan

    def combine(scores: F32) -> F32:
        z = log_odds(scores)
        drops = z[0] - z[1:]
        total = np.zeros((h, w), dtype=np.float64)
        count = np.zeros((h, w), dtype=np.float64)
        for drop, (y, x) in zip(drops, boxes, strict=True):
            total[y : y + p, x : x + p] += drop
            count[y : y + p, x : x + p] += 1.0
        return (total / np.maximum(count, 1.0)).astype(np.float32)

    return Plan(copies, combine)
