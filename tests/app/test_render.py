"""Renderings: orientation, bit depth, flux-scale independence and masked pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.render import GrayStretch, LuptonStretch, gray_levels, gray_png, lupton_rgb, rgb_png, sky_and_noise


def _cutout(seed: int = 0, scale: float = 1e-12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.normal(0.0, scale, (101, 101))
    yy, xx = np.mgrid[:101, :101]
    image += 50 * scale * np.exp(-((xx - 50) ** 2 + (yy - 50) ** 2) / 20.0)
    return image.astype(np.float32)


def test_sky_and_noise_is_robust_to_outliers() -> None:
    image = np.random.default_rng(1).normal(5.0, 2.0, (200, 200))
    image[:10, :10] = 1e6
    sky, sigma = sky_and_noise(image)
    assert sky == pytest.approx(5.0, abs=0.1)
    assert sigma == pytest.approx(2.0, rel=0.05)


def test_sky_and_noise_of_flat_and_empty_images() -> None:
    assert sky_and_noise(np.full((5, 5), 3.0)) == (3.0, 1.0)
    assert sky_and_noise(np.full((5, 5), np.nan)) == (0.0, 1.0)


def test_gray_rendering_is_flipped_to_display_order() -> None:
    image = _cutout()
    image[0, 0] = 1e-9  # FITS row 0 is the bottom row: it must land in the last PNG row
    levels = gray_levels(image)
    assert levels[-1, 0] == 255
    assert levels[0, 0] < 255


@pytest.mark.parametrize("factor", [1e-3, 1.0, 7.5e12, 1e20])
def test_renderings_do_not_depend_on_flux_scale(factor: float) -> None:
    image = _cutout()
    np.testing.assert_array_equal(gray_levels(image), gray_levels(image * factor))
    np.testing.assert_array_equal(lupton_rgb(image, image, image), lupton_rgb(*(image * factor,) * 3))


def test_masked_pixels_render_black() -> None:
    image = _cutout()
    image[60:70, 10:20] = np.nan
    levels = gray_levels(image, GrayStretch(black_sigma=0.0))
    assert (np.flipud(levels)[60:70, 10:20] == 0).all()
    rgb = lupton_rgb(image, image, image)
    assert (np.flipud(rgb)[60:70, 10:20] == 0).all()


def test_gray_png_bit_depths() -> None:
    image = _cutout()
    png8 = Image.open(io.BytesIO(gray_png(image)))
    png16 = Image.open(io.BytesIO(gray_png(image, bit_depth=16)))
    assert png8.mode == "L" and png8.size == (101, 101)
    assert png16.mode.startswith("I") and np.array(png16).max() == 65535


def test_lupton_colours_follow_band_order() -> None:
    """A source bright only in i is red, one bright only in g is blue (R, G, B = i, r, g)."""
    flat = _cutout(seed=2) * 0.0 + np.random.default_rng(3).normal(0, 1e-12, (101, 101))
    bright = flat.copy()
    bright[45:56, 45:56] += 1e-10
    red = lupton_rgb(flat, flat, bright)
    blue = lupton_rgb(bright, flat, flat)
    centre = (slice(47, 54), slice(47, 54))
    assert red[centre][..., 0].mean() > 5 * red[centre][..., 2].mean()
    assert blue[centre][..., 2].mean() > 5 * blue[centre][..., 0].mean()


def test_rgb_png_and_stretch_parameters_change_the_image() -> None:
    image = _cutout()
    soft = Image.open(io.BytesIO(rgb_png(image, image, image)))
    hard = Image.open(io.BytesIO(rgb_png(image, image, image, LuptonStretch(stretch_sigma=400.0, q=1.0))))
    assert soft.mode == "RGB" and soft.size == (101, 101)
    assert not np.array_equal(np.array(soft), np.array(hard))


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="2-D"):
        gray_levels(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="one shape"):
        lupton_rgb(np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((4, 4)))
