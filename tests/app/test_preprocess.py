"""normalise: per cutout and plane, median / robust sigma / asinh, NaN -> 0, flux-scale free, fast."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.preprocess import MAD_TO_SIGMA, SOFTENING, STAT_STRIDE, normalise


def reference(pixels: np.ndarray) -> np.ndarray:
    """The recipe written plainly, one plane at a time, in float64."""
    out = np.zeros(pixels.shape, dtype=np.float64)
    for index in np.ndindex(pixels.shape[:2]):
        plane = pixels[index].astype(np.float64)
        if not np.isfinite(plane).any():
            continue
        grid = plane[::STAT_STRIDE, ::STAT_STRIDE]
        finite = grid[np.isfinite(grid)]
        if finite.size == 0:  # statistics from the grid only; without any, the peak sets the scale
            centre, sigma = 0.0, np.max(np.abs(plane[np.isfinite(plane)]))
        else:
            centre = np.median(finite)
            sigma = MAD_TO_SIGMA * np.median(np.abs(finite - centre))
            if sigma == 0:
                sigma = np.std(finite)
            if sigma == 0:
                sigma = np.max(np.abs(plane[np.isfinite(plane)] - centre))
        if sigma == 0:
            sigma = 1.0
        values = np.arcsinh((plane - centre) / sigma / SOFTENING)
        out[index] = np.where(np.isfinite(plane), values, 0.0)
    return out


@pytest.mark.parametrize("size", [(7, 7), (8, 8), (10, 13)])
def test_matches_the_plain_recipe_with_nan_patterns(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(size))
    pixels = rng.normal(0.0, 1e-12, (6, 3, *size)).astype(np.float32)
    pixels[rng.random(pixels.shape) < 0.3] = np.nan
    pixels[0, 0] = np.nan  # an all-masked plane
    pixels[1, 1, :, :] = 5e-12  # a constant plane: MAD and std are 0
    pixels[2, 2, 0, :3] = [np.inf, -np.inf, 100.0]
    got = normalise(pixels)
    assert got.dtype == np.float32 and got.shape == pixels.shape
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, reference(pixels), atol=2e-5)
    assert (got[0, 0] == 0).all() and (got[1, 1] == 0).all()


def test_mad_zero_falls_back_to_std() -> None:
    plane = np.zeros((1, 1, 5, 5), dtype=np.float32)
    plane[0, 0, 0, :5] = [1.0, 0.0, 2.0, 0.0, 4.0]  # most grid pixels equal: MAD 0, std not
    got = normalise(plane)
    np.testing.assert_allclose(got, reference(plane), atol=1e-6)
    assert got[0, 0, 0, 4] > got[0, 0, 0, 2] > got[0, 0, 0, 0] > 0


def test_equal_grid_values_fall_back_to_the_peak_deviation() -> None:
    plane = np.zeros((1, 1, 6, 6), dtype=np.float32)
    plane[0, 0, 1::2] = [3.0, -1.0, 2.0, 0.5, 1.0, 4.0]  # rows off the grid vary; the grid is all 0
    np.testing.assert_allclose(normalise(plane), np.arcsinh(plane / 4.0 / SOFTENING), atol=1e-6)
    np.testing.assert_allclose(normalise(plane * 1e-12), normalise(plane), atol=1e-6)


def test_noise_maps_to_the_linear_part_of_asinh() -> None:
    pixels = np.random.default_rng(0).normal(5.0, 2.0, (1, 1, 101, 101)).astype(np.float32)
    z = np.sinh(normalise(pixels)) * SOFTENING  # undo the stretch: (x - median) / sigma
    assert abs(np.median(z[0, 0, ::STAT_STRIDE, ::STAT_STRIDE])) < 1e-6
    assert abs(np.median(z)) < 0.05
    assert np.std(z) == pytest.approx(1.0, rel=0.03)


def test_input_is_not_modified_and_planes_are_independent() -> None:
    pixels = np.random.default_rng(1).normal(size=(2, 2, 9, 9)).astype(np.float32)
    pixels[0, 0, 0, 0] = np.nan
    copy = pixels.copy()
    base = normalise(pixels)
    np.testing.assert_array_equal(pixels, copy)
    pixels[1, 1] *= 1e6
    pixels[0, 1] += 3.0
    np.testing.assert_allclose(normalise(pixels), base, atol=1e-5)


@settings(derandomize=True, database=None, max_examples=60, deadline=None)
@given(
    plane=hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(3, 12), st.integers(3, 12)),
        # millesimal steps: no subnormals, which a factor of 1e-13 would flush to zero
        elements=st.integers(-(10**6), 10**6).map(lambda v: v / 1000.0) | st.just(np.nan),
    ),
    factor=st.floats(1e-13, 1e6),
)
def test_positive_scaling_does_not_change_the_output(plane: np.ndarray, factor: float) -> None:
    scaled = (plane.astype(np.float64) * factor).astype(np.float32)
    # equal up to float32 rounding: the scaled pixels are rounded once more, which can move the
    # median and MAD of a small plane by a few parts in 1e5 (a 3x4 plane gave 5e-5 relative)
    np.testing.assert_allclose(normalise(scaled), normalise(plane), atol=1e-5, rtol=2e-4)


def test_vectorised_speed() -> None:
    # 2,000 cutout-planes of 101x101 here; 80,000 (20,000 x 4) scale linearly (see the report)
    pixels = np.random.default_rng(2).normal(size=(500, 4, 101, 101)).astype(np.float32)
    pixels[::3, :, 40:60, 40:60] = np.nan
    start = time.perf_counter()
    normalise(pixels)
    assert time.perf_counter() - start < 10.0


def test_rejects_other_shapes() -> None:
    with pytest.raises(ValueError, match="N, C, H, W"):
        normalise(np.zeros((3, 3), np.float32))


def test_threads_do_not_change_the_result() -> None:
    pixels = np.random.default_rng(3).normal(size=(700, 3, 8, 8)).astype(np.float32)  # 2,100 planes: 3 blocks
    pixels[::7, :, :4] = np.nan
    np.testing.assert_array_equal(normalise(pixels, workers=1), normalise(pixels, workers=3))
