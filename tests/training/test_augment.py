"""Augmentations: the D4 group, sub-pixel shifts, flux scaling, noise, determinism and the PNG path."""

from __future__ import annotations

import numpy as np
import pytest

from training.augment import (
    Augmenter,
    d4,
    d4_inverse,
    extra_noise,
    fresh_noise,
    random_d4,
    robust_sigma,
    scale_flux,
    subpixel_shift,
    through_png,
)


def _batch(b: int = 3, c: int = 4, size: int = 41, seed: int = 0) -> np.ndarray:
    """Noise plus an off-centre blob per cutout: no symmetry, so every D4 element changes it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    blob = np.exp(-((yy - 0.3 * size) ** 2 + (xx - 0.7 * size) ** 2) / 8.0)
    x = rng.normal(0.0, 0.1, (b, c, size, size)) + 5.0 * blob
    x[..., 2, 5] += 3.0  # a second feature breaks the blob's mirror line
    return x.astype(np.float32)


# --- D4 --------------------------------------------------------------------------------------------


def test_d4_has_eight_distinct_elements_forming_a_group() -> None:
    x = _batch(b=1, c=1)
    images = [d4(x, k) for k in range(8)]
    keys = [im.tobytes() for im in images]
    assert len(set(keys)) == 8
    assert np.array_equal(images[0], x)
    for a in range(8):  # closed under composition
        for b in range(8):
            assert d4(d4(x, b), a).tobytes() in keys
    for k in range(8):
        assert np.array_equal(d4(d4(x, k), d4_inverse(k)), x)
    assert np.array_equal(d4(x, 1)[0, 0], np.rot90(x[0, 0]))
    assert np.array_equal(d4(x, 4)[0, 0], x[0, 0, :, ::-1])


def test_d4_commutes_with_band_order_and_acts_per_cutout() -> None:
    x = _batch(b=4, c=4)
    ks = np.array([0, 3, 5, 7])
    perm = [3, 1, 0, 2]
    assert np.array_equal(d4(x, ks)[:, perm], d4(x[:, perm], ks))
    for j, k in enumerate(ks):
        assert np.array_equal(d4(x, ks)[j], d4(x[j : j + 1], int(k))[0])


def test_random_d4_probability_zero_is_identity() -> None:
    x = _batch()
    out, ks = random_d4(x, np.random.default_rng(0), probability=0.0)
    assert np.array_equal(out, x) and not ks.any()


# --- shifts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fourier", "bilinear"])
def test_shift_keeps_flux_and_moves_the_centroid(method: str) -> None:
    size = 41
    yy, xx = np.mgrid[:size, :size]
    star = np.exp(-((yy - 20.0) ** 2 + (xx - 20.0) ** 2) / 6.0)[None, None].astype(np.float32)
    out = subpixel_shift(star, 0.5, -0.25, method)  # type: ignore[arg-type]
    assert out.sum() == pytest.approx(star.sum(), rel=1e-4)
    cy = (out[0, 0] * yy).sum() / out.sum()
    cx = (out[0, 0] * xx).sum() / out.sum()
    assert cy == pytest.approx(20.5, abs=0.01) and cx == pytest.approx(19.75, abs=0.01)


@pytest.mark.parametrize("method", ["fourier", "bilinear"])
def test_shift_keeps_masks_in_place_without_spreading_nan(method: str) -> None:
    x = _batch(b=2, c=2)
    x[0, :, 10:13, 10:13] = np.nan
    x[1, 1, 30:32, :] = np.nan
    out = subpixel_shift(x, np.array([0.4, -0.5]), np.array([-0.3, 0.5]), method)  # type: ignore[arg-type]
    assert np.array_equal(np.isnan(out), np.isnan(x))
    finite = ~np.isnan(x)
    assert out[finite].sum() == pytest.approx(x[finite].sum(), rel=0.02)


def test_fourier_shift_keeps_the_noise_level_and_zero_is_identity() -> None:
    noise = np.random.default_rng(1).normal(0, 1, (4, 1, 101, 101)).astype(np.float32)
    assert np.allclose(subpixel_shift(noise, 0.0, 0.0), noise, atol=1e-5)
    assert subpixel_shift(noise, 0.5, 0.5).std() == pytest.approx(noise.std(), rel=0.01)
    with pytest.raises(ValueError, match=r"at most 0\.5"):
        subpixel_shift(noise, 0.7, 0.0)


# --- flux and noise --------------------------------------------------------------------------------


def test_flux_scaling_multiplies_each_cutout_by_one_positive_factor() -> None:
    x = _batch(b=5)
    x[0, 0, 0, 0] = np.nan
    out, factors = scale_flux(x, np.random.default_rng(2), max_factor=10.0)
    assert np.all((factors >= 0.1) & (factors <= 10.0)) and len(np.unique(factors)) == 5
    assert np.allclose(out, x * factors[:, None, None, None].astype(np.float32), equal_nan=True)
    assert np.isnan(out[0, 0, 0, 0])


def test_fresh_noise_has_the_catalogue_sigma_and_keeps_masks() -> None:
    rng = np.random.default_rng(3)
    noiseless = np.zeros((4, 2, 101, 101), dtype=np.float16)
    noiseless[:, :, 50, 50] = 20.0  # in sigma units
    sigma = np.array([[1e-12, 3e-12]] * 4, dtype=np.float32)
    observed = rng.normal(0, 1e-12, noiseless.shape).astype(np.float32)
    observed[1, :, 5:8, 5:8] = np.nan
    out = fresh_noise(observed, noiseless, sigma, rng)
    assert np.array_equal(np.isnan(out), np.isnan(observed))
    residual = (out - noiseless.astype(np.float32) * sigma[:, :, None, None]) / sigma[:, :, None, None]
    assert np.nanstd(residual) == pytest.approx(1.0, rel=0.02)
    assert np.nanmean(residual) == pytest.approx(0.0, abs=0.02)
    assert out[0, 1, 50, 50] == pytest.approx(20 * 3e-12, abs=6 * 3e-12)


def test_extra_noise_raises_the_robust_sigma_by_the_documented_factor() -> None:
    x = np.random.default_rng(4).normal(0, 2e-12, (8, 2, 101, 101)).astype(np.float32)
    assert np.allclose(robust_sigma(x), 2e-12, rtol=0.08)
    out = extra_noise(x, np.random.default_rng(5), 0.75)
    assert np.allclose(robust_sigma(out), 2e-12 * np.sqrt(1 + 0.75**2), rtol=0.08)


# --- composition -----------------------------------------------------------------------------------


def test_augmenter_is_deterministic_for_a_seed_and_leaves_input_alone() -> None:
    x = _batch(b=6)
    x.setflags(write=False)  # like a cached memmap
    aug = Augmenter(strength=0.8)
    a = aug(x, np.random.default_rng(7))
    b = aug(x, np.random.default_rng(7))
    c = aug(x, np.random.default_rng(8))
    assert a.dtype == np.float32 and a.shape == x.shape
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_augmenter_strength_zero_is_identity_and_truth_is_used() -> None:
    x = _batch(b=3, c=2)
    assert np.array_equal(Augmenter(strength=0.0)(x, np.random.default_rng(0)), x)
    noiseless = np.zeros_like(x, dtype=np.float16)
    sigma = np.full((3, 2), 1e-3, dtype=np.float32)
    only_noise = Augmenter(use_d4=False, max_shift_px=0.0, max_flux_factor=1.0)
    out = only_noise(x, np.random.default_rng(0), noiseless=noiseless, noise_sigma=sigma)
    assert np.abs(out).max() < 1e-2  # redrawn from the (empty) truth at sigma 1e-3
    with pytest.raises(ValueError, match="strength"):
        Augmenter(strength=1.5)


# --- PNG path --------------------------------------------------------------------------------------


def _corner_cutouts(bands: int) -> np.ndarray:
    x = np.random.default_rng(9).normal(0, 1e-12, (2, bands, 101, 101)).astype(np.float32)
    x[0, :, 0:3, 0:3] = 1e-9  # bottom-left in FITS order (row 0 is the bottom row)
    x[1, :, 97:, 97:] = 1e-9  # top-right
    return x


def test_gray_png_path_keeps_shape_and_orientation() -> None:
    out = through_png(_corner_cutouts(1), "gray")
    assert out.shape == (2, 1, 101, 101) and out.dtype == np.float32
    assert out[0, 0, 1, 1] == out.max() and out[0, 0, 99, 99] < out.max()
    assert out[1, 0, 99, 99] == out.max() and out[1, 0, 1, 1] < out.max()
    sixteen = through_png(_corner_cutouts(1), "gray", bit_depth=16)
    assert sixteen.max() > 255


def test_rgb_png_path_keeps_shape_and_orientation() -> None:
    out = through_png(_corner_cutouts(4), "rgb", bands=("u", "g", "r", "i"))
    assert out.shape == (2, 3, 101, 101)
    assert out[0, :, 1, 1].min() > out[0, :, 99, 99].max()
    assert out[1, :, 99, 99].min() > out[1, :, 1, 1].max()
    with pytest.raises(ValueError, match="g, r and i"):
        through_png(_corner_cutouts(1), "rgb", bands=("vis",))
    png_aug = Augmenter(strength=0.0, png="rgb", bands=("u", "g", "r", "i"))
    assert png_aug(_corner_cutouts(4), np.random.default_rng(0)).shape == (2, 3, 101, 101)


def test_png_probability_renders_a_share_of_the_cutouts() -> None:
    from training.augment import Augmenter

    x = np.random.default_rng(5).normal(0.0, 1e-12, (40, 1, 101, 101)).astype(np.float32)
    out = Augmenter(strength=0.0, png="gray", png_probability=0.5)(x, np.random.default_rng(6))
    rendered = np.array([not np.array_equal(a, b) for a, b in zip(out, x, strict=True)])
    assert 5 < rendered.sum() < 35
    assert (out[rendered] >= 0).all() and (out[rendered] <= 255).all()
    with pytest.raises(ValueError, match="png_probability"):
        Augmenter(png="rgb", png_probability=0.5)


def test_random_png_stretch_changes_levels_but_not_shape_or_orientation() -> None:
    x = _corner_cutouts(4)
    bands = ("u", "g", "r", "i")
    default = Augmenter(strength=1.0, use_d4=False, max_shift_px=0.0, png="rgb", bands=bands)
    random = Augmenter(
        strength=1.0, use_d4=False, max_shift_px=0.0, png="rgb", bands=bands, png_stretch="random"
    )
    a, b = default(x, np.random.default_rng(0)), random(x, np.random.default_rng(0))
    assert a.shape == b.shape == (2, 3, 101, 101)
    assert not np.array_equal(a, b)
    assert b[0, :, 1, 1].min() > b[0, :, 99, 99].max()  # the bright corner stays bottom-left
    assert b[1, :, 99, 99].min() > b[1, :, 1, 1].max()
    np.testing.assert_array_equal(b, random(x, np.random.default_rng(0)))  # seeded
    # strength 0 draws the default stretch: the same pixels as the default Augmenter
    zero = Augmenter(strength=0.0, png="rgb", bands=bands, png_stretch="random")
    np.testing.assert_array_equal(zero(x, np.random.default_rng(0)), through_png(x, "rgb", bands))
    # with png_probability the rendered share gets the random stretch too
    gray = np.random.default_rng(5).normal(0.0, 1e-12, (20, 1, 101, 101)).astype(np.float32)
    mixed = Augmenter(strength=1.0, png="gray", png_probability=0.5, png_stretch="random")
    out = mixed(gray, np.random.default_rng(6))
    rendered = np.array([np.nanmax(o) > 1.0 for o in out])
    assert 0 < rendered.sum() < 20
    with pytest.raises(ValueError, match="png_stretch"):
        Augmenter(png="gray", png_stretch="viewer")  # type: ignore[arg-type]
