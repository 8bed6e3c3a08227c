"""The label rule at each of its boundaries, and the pixel count it relies on."""

from __future__ import annotations

import numpy as np
import pytest

from training.simulate.labels import is_visible_lens, pixels_above_sigma


@pytest.mark.parametrize(
    ("n_images", "magnification", "npix", "expected"),
    [
        (2, 1.61, 21, True),  # just inside every boundary
        (4, 30.0, 5000, True),
        (1, 30.0, 5000, False),  # one image: not strongly lensed
        (0, 0.0, 0, False),
        (2, 1.6, 21, False),  # magnification must exceed 1.6
        (2, 1.6001, 21, True),
        (2, 1.61, 20, False),  # more than 20 pixels
        (3, 1.61, 21, True),
    ],
)
def test_rule_boundaries(n_images: int, magnification: float, npix: int, expected: bool) -> None:
    assert is_visible_lens(n_images, magnification, npix) is expected


def test_pixels_above_sigma_counts_strictly_above_one_sigma() -> None:
    sigma = 2e-12
    image = np.zeros((101, 101), dtype=np.float32)
    image[0, :5] = 1.0 * sigma  # exactly 1 sigma: not counted
    image[1, :3] = 3.0 * sigma
    image[2, :2] = 1.5 * sigma
    npix, flux = pixels_above_sigma(image, sigma)
    assert npix == 5
    assert flux == pytest.approx(3 * 3.0 + 2 * 1.5, rel=1e-5)


def test_pixels_above_sigma_empty_source() -> None:
    assert pixels_above_sigma(np.zeros((4, 4)), 1.0) == (0, 0.0)
