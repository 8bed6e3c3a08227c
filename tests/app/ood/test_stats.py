"""app.ood.stats: each statistic measures what its docstring says, flux-unit free, NaN-safe."""

from __future__ import annotations

import numpy as np
import pytest

from app.decode.masking import masked_fractions
from app.ood.stats import COMMON, PNG_ONLY, plane_statistics, statistic_names
from tests.app.ood.cutouts import SIGMA, box_blur, galaxy, gray_png_levels


def one(x: np.ndarray, png: bool = False) -> dict[str, float]:
    return {name: float(values[0, 0]) for name, values in plane_statistics(x[None], png=png).items()}


def test_names_and_shapes() -> None:
    stats = plane_statistics(np.stack([galaxy((50.0, 80.0)), galaxy((60.0, 20.0), seed=1)]), png=False)
    assert tuple(stats) == COMMON == statistic_names(False)
    assert statistic_names(True) == COMMON + PNG_ONLY
    assert all(values.shape == (2, 2) for values in stats.values())


def test_white_noise_is_uncorrelated_and_a_blur_is_not() -> None:
    assert one(galaxy())["noise_correlation"] == pytest.approx(1.0, abs=0.1)
    assert one(box_blur(galaxy()))["noise_correlation"] < 0.8


def test_noise_to_signal_and_dynamic_range_follow_the_peak() -> None:
    faint, bright = one(galaxy((20.0,))), one(galaxy((2000.0,)))
    assert bright["log_noise_to_signal"] < faint["log_noise_to_signal"] - 1.5
    assert bright["norm_max"] > faint["norm_max"] + 2.0
    assert -1.6 < faint["norm_min"] < -0.8  # the lowest of 10,201 noise pixels, about -4 sigma


def test_every_statistic_is_flux_unit_free() -> None:
    x = galaxy((150.0,), seed=3)
    a, b = one(x), one(x * np.float32(7.3e13))
    for name in COMMON:
        assert b[name] == pytest.approx(a[name], rel=1e-4, abs=1e-6), name


def test_a_saturated_plateau_and_a_single_maximum() -> None:
    assert one(galaxy())["top_fraction"] == pytest.approx(1 / 101**2)
    clipped = np.minimum(galaxy((400.0,)), np.float32(100 * SIGMA))
    assert one(clipped)["top_fraction"] > 20 / 101**2


def test_peak_fwhm_of_a_gaussian_core() -> None:
    # FWHM = 2.355 sigma for a Gaussian; the half-maximum area of pixels gives it within a pixel
    assert one(galaxy((1000.0,), width_px=3.0))["peak_fwhm_px"] == pytest.approx(2.355 * 3.0, abs=1.0)
    assert np.isnan(one(galaxy((0.0,)))["peak_fwhm_px"])  # no peak 10 sigma above the sky: undefined


def test_masked_pixels_are_left_out_and_an_empty_plane_is_nan() -> None:
    x = galaxy((100.0, 100.0))
    holed = x.copy()
    holed[0, :20] = np.nan
    holed[1] = np.nan
    stats = plane_statistics(holed[None], png=False)
    clean = plane_statistics(x[None], png=False)
    assert stats["norm_max"][0, 0] == pytest.approx(clean["norm_max"][0, 0], rel=0.05)
    assert all(np.isnan(values[0, 1]) for values in stats.values())
    assert masked_fractions(holed[None])[0] == pytest.approx((20 * 101 + 101 * 101) / (2 * 101 * 101))


def test_png_level_statistics() -> None:
    levels = gray_png_levels(galaxy())
    stats = one(levels, png=True)
    assert 0.0 < stats["png_sky_level"] < 0.4 and 0.0 < stats["png_sky_width"] < 0.2
    assert 0.0 < stats["png_white_fraction"] < 0.01
    sixteen = one(levels * np.float32(257.0), png=True)  # the same picture in 16 bits
    assert sixteen["png_sky_level"] == pytest.approx(stats["png_sky_level"], rel=1e-3)


def test_an_empty_batch() -> None:
    stats = plane_statistics(np.zeros((0, 1, 101, 101), np.float32), png=True)
    assert all(values.shape == (0, 1) for values in stats.values())
