"""training.saliency_check: the truth regions of a cutout and where a map's saliency falls."""

from __future__ import annotations

import numpy as np
import pytest

from training.saliency_check import regions, saliency_shares, summarise


def scene() -> tuple[np.ndarray, np.ndarray]:
    """A lens galaxy at the centre, an arc to its right, a field galaxy in a corner (noise sigma units)."""
    yy, xx = np.mgrid[:101, :101]
    lens = 50.0 * np.exp(-((yy - 50) ** 2 + (xx - 50) ** 2) / 20.0)
    field = 30.0 * np.exp(-((yy - 10) ** 2 + (xx - 10) ** 2) / 4.0)
    source = 5.0 * ((np.abs(np.hypot(yy - 50, xx - 50) - 12) < 1.5) & (xx > 55))
    return source[None], (lens + field + source)[None]


def test_regions_split_the_cutout() -> None:
    source, noiseless = scene()
    masks = regions(source, noiseless)
    assert sum(m.astype(int) for m in masks.values()).max() == 1  # a partition
    assert (
        masks["source"][50, 62] and masks["lens"][50, 50] and masks["other"][10, 10] and masks["sky"][90, 90]
    )
    assert not masks["lens"][50, 62]  # source pixels are not the lens galaxy's


def test_shares_of_a_map_on_the_source() -> None:
    source, noiseless = scene()
    masks = regions(source, noiseless)
    saliency = np.where(masks["source"], 1.0, -0.1).astype(np.float32)
    shares = saliency_shares(saliency, masks)
    assert shares["mass"]["source"] == pytest.approx(1.0) and shares["peak"] == "source"
    assert shares["area"]["source"] == pytest.approx(masks["source"].mean())
    summary = summarise([shares | {"found": True}, shares | {"found": False}])
    assert summary["n"] == 2 and summary["lift"]["source"] == pytest.approx(1.0 / masks["source"].mean())
    assert summarise([]) == {"n": 0}
