"""The torch normalisation layer equals the numpy reference in app/preprocess.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.preprocess import normalise
from training.normalise import Normalise


def _cutouts(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1e-12, (5, 4, 101, 101)).astype(np.float32)
    x[:, :, 40:60, 40:60] += 3e-11
    x[1, 2, :30] = np.nan  # masked rows: even finite count
    x[2, 0, 5, 5] = np.inf
    x[3, 1] = 7e-12  # a constant plane: MAD and std are 0
    x[3, 3] = np.nan  # a plane with nothing finite
    x[4, 0, ::2] = 2e-12  # MAD 0, std > 0
    return x


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_layer_matches_numpy_reference(seed: int) -> None:
    x = _cutouts(seed)
    expected = normalise(x)
    got = Normalise()(torch.from_numpy(x)).numpy()
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-5)


def test_torch_layer_is_flux_scale_free() -> None:
    x = torch.from_numpy(_cutouts(3))
    layer = Normalise()
    torch.testing.assert_close(layer(x), layer(x * 4.2e9), atol=2e-5, rtol=1e-5)


def test_statistics_come_from_the_stride_2_grid() -> None:
    """A plane whose grid pixels are all masked is left uncentred and scaled by its peak, in both."""
    x = np.random.default_rng(4).normal(5.0, 1.0, (1, 1, 101, 101)).astype(np.float32)
    x[0, 0, ::2, ::2] = np.nan
    expected = np.where(np.isnan(x), 0.0, np.arcsinh(x / np.nanmax(np.abs(x)) / 3.0))
    np.testing.assert_allclose(normalise(x), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(Normalise()(torch.from_numpy(x)).numpy(), expected, rtol=1e-5, atol=1e-5)
