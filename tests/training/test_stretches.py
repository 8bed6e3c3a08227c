"""PNG stretches: the named evaluation stretches, the randomised training stretch and the one renderer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.render import GrayStretch, LuptonStretch
from training.stretches import (
    RANDOM_RANGES,
    STRETCHES,
    UNSEEN,
    PngStretch,
    apply_gamma,
    random_stretch,
    render_png,
)


def _params(s: PngStretch) -> dict[str, float]:
    """The randomised parameters of a stretch (gray ones NaN when it has none)."""
    gray = s.gray
    return {
        "lupton_q": s.lupton.q,
        "lupton_stretch_sigma": s.lupton.stretch_sigma,
        "band_scale_g": s.lupton.band_scales[0],
        "band_scale_i": s.lupton.band_scales[2],
        "gamma": s.gamma,
        "gray_softening": gray.softening if gray else math.nan,
        "gray_white_tail": 100.0 - gray.white_percentile if gray else math.nan,
    }


def _bounds() -> dict[str, tuple[float, float]]:
    """The strength-1 range of each multiplicative parameter around its default."""
    default = _params(STRETCHES["default"])
    key = {"band_scale_g": "band_scale", "band_scale_i": "band_scale"}
    out = {}
    for name, value in default.items():
        f = RANDOM_RANGES[key.get(name, name)]
        out[name] = (value / f, value * f)
    return out


def test_random_stretch_is_seeded_varies_and_strength_zero_is_the_default() -> None:
    a = [random_stretch(np.random.default_rng(3), 0.7) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(3)
    draws = [random_stretch(rng, 0.7) for _ in range(20)]
    assert draws[0] == a[0]
    assert len({d.lupton for d in draws}) == 20 and len({d.gray for d in draws}) == 20
    assert len({d.gamma for d in draws}) == 20
    zero = random_stretch(np.random.default_rng(3), 0.0)
    assert zero.gray == GrayStretch() and zero.lupton == LuptonStretch() and zero.gamma == 1.0
    # the same number of draws at any strength: the stream after a draw does not depend on it
    r0, r1 = np.random.default_rng(4), np.random.default_rng(4)
    random_stretch(r0, 0.0), random_stretch(r1, 1.0)
    assert r0.random() == r1.random()
    with pytest.raises(ValueError, match="strength"):
        random_stretch(rng, 1.5)


def test_training_ranges_scale_with_strength_and_miss_the_unseen_stretches() -> None:
    bounds = _bounds()
    rng = np.random.default_rng(0)
    for strength in (0.5, 1.0):
        drawn = [_params(random_stretch(rng, strength)) for _ in range(3000)]
        for name, (lo, hi) in bounds.items():
            values = np.array([d[name] for d in drawn])
            centre = _params(STRETCHES["default"])[name]
            f = (hi / lo) ** 0.5
            # log-uniform within default / F**s .. default * F**s, reaching close to both ends
            assert values.min() >= centre / f**strength * (1 - 1e-9), name
            assert values.max() <= centre * f**strength * (1 + 1e-9), name
            reach = f ** (0.9 * strength)
            assert values.min() < centre / reach and values.max() > centre * reach, name
    assert set(UNSEEN) == set(STRETCHES) - {"default"}
    for name in UNSEEN:
        params = _params(STRETCHES[name])
        outside = [k for k, (lo, hi) in bounds.items() if params[k] < lo or params[k] > hi]
        assert outside, f"{name} lies inside the training distribution"


def test_render_png_takes_names_one_stretch_or_one_per_cutout() -> None:
    x = np.random.default_rng(1).normal(0.0, 1.0, (3, 4, 33, 33)).astype(np.float32)
    x[:, :, 14:19, 14:19] += 30.0
    bands = ("u", "g", "r", "i")
    default = render_png(x, "rgb", bands)
    assert default.shape == (3, 3, 33, 33) and default.dtype == np.float32
    np.testing.assert_array_equal(render_png(x, "rgb", bands, STRETCHES["default"]), default)
    rng = np.random.default_rng(2)
    draws = [random_stretch(rng, 1.0) for _ in range(3)]
    mixed = render_png(x, "rgb", bands, draws)
    for k in range(3):
        np.testing.assert_array_equal(mixed[k : k + 1], render_png(x[k : k + 1], "rgb", bands, draws[k]))
        assert not np.array_equal(mixed[k], default[k])
    gray = render_png(x[:, 1:2], "gray", (), draws)
    assert gray.shape == (3, 1, 33, 33) and not np.array_equal(gray, render_png(x[:, 1:2], "gray"))
    with pytest.raises(ValueError, match="2 stretches for a batch of 3"):
        render_png(x, "rgb", bands, draws[:2])
    with pytest.raises(ValueError, match="unknown PNG mode"):
        render_png(x, "cmyk", bands)  # type: ignore[arg-type]


def test_apply_gamma_keeps_dtype_and_end_points() -> None:
    eight = np.array([0, 64, 255], dtype=np.uint8)
    bright = apply_gamma(eight, 0.5)
    assert bright.dtype == np.uint8 and bright[0] == 0 and bright[2] == 255 and bright[1] == 128
    sixteen = np.array([0, 16384, 65535], dtype=np.uint16)
    dark = apply_gamma(sixteen, 2.0)
    assert dark.dtype == np.uint16 and dark[2] == 65535 and dark[1] == 4096
    assert apply_gamma(eight, 1.0) is eight
