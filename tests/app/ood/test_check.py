"""app.ood.check: a card's training statistics turn into warnings; each warning has an input that trips
it, and cutouts like the training ones trip none."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np
import pytest

from app.card import KindStatistics, Quantiles
from app.decode.masking import masked_fractions
from app.decode.types import CutoutError, CutoutMeta, DecodedFile, InputFormat
from app.ood.check import CODES, MASKED_RULE, RULES, annotate, annotate_all, bound, ood_warnings
from app.ood.stats import plane_statistics
from tests.app.ood.cutouts import SIGMA, box_blur, galaxy, gray_png_levels, linear_png_levels
from tests.factories import card_data

PERCENTS = (0.1, 1.0, 50.0, 99.0, 99.9)


def quantiles(values: np.ndarray) -> dict[str, float]:
    x = values[np.isfinite(values)]
    q = np.percentile(x, PERCENTS) if x.size else np.zeros(5)
    return {"n": int(x.size), **dict(zip(("p0.1", "p1", "p50", "p99", "p99.9"), map(float, q), strict=True))}


def training_set(n: int, png: bool, seed: int = 100) -> np.ndarray:
    """Galaxies of random brightness (30 to 3000 sigma) and core width (1.5 to 5 px)."""
    rng = np.random.default_rng(seed)
    cuts = [
        galaxy((float(np.exp(rng.uniform(np.log(30), np.log(3000)))),), width_px=rng.uniform(1.5, 5), seed=k)
        for k in range(seed, seed + n)
    ]
    return np.stack([gray_png_levels(c) if png else c for c in cuts])


@cache
def statistics(png: bool) -> KindStatistics:
    x = training_set(400, png)
    stats = plane_statistics(x, png=png)
    return KindStatistics.model_validate(
        {
            "n": len(x),
            "rendering": "documented stretch" if png else None,
            "masked_fraction": quantiles(masked_fractions(x)),
            "planes": {name: {"vis": quantiles(values[:, 0])} for name, values in stats.items()},
        }
    )


def codes(x: np.ndarray, fmt: str = "fits") -> list[str]:
    (found,) = ood_warnings(x[None], fmt, ("vis",), statistics(fmt != "fits"))
    return [w.code for w in found]


def test_cutouts_like_the_training_ones_trip_nothing() -> None:
    fresh = training_set(60, False, seed=1000)
    warned = [w for w in ood_warnings(fresh, "fits", ("vis",), statistics(False)) if w]
    assert warned == []
    rendered = training_set(60, True, seed=1000)
    assert [w for w in ood_warnings(rendered, "png-gray", ("vis",), statistics(True)) if w] == []


def _hot_pixel() -> np.ndarray:
    x = galaxy()
    x[0, 10, 10] = 1e6 * SIGMA
    return x


def _hole() -> np.ndarray:
    x = galaxy()
    x[0, 20:30, 20:30] = -60 * SIGMA
    return x


def _masked() -> np.ndarray:
    x = galaxy()
    x[0, :30] = np.nan
    return x


CASES: list[tuple[str, Callable[[], np.ndarray], str]] = [
    ("noise_level_unusual", lambda: galaxy((7.0,)), "fits"),  # far fainter than any training galaxy
    ("noise_level_unusual", lambda: galaxy((100.0,)) - galaxy((0.0,)), "fits"),  # noiseless
    ("noise_correlated", lambda: box_blur(galaxy((300.0,))), "fits"),
    ("dynamic_range_unusual", _hot_pixel, "fits"),
    ("dynamic_range_unusual", _hole, "fits"),
    ("saturated", lambda: np.minimum(galaxy((3000.0,)), np.float32(200 * SIGMA)), "fits"),
    ("psf_size_unusual", lambda: galaxy((300.0,), width_px=15.0), "fits"),
    ("psf_size_unusual", lambda: galaxy((300.0,), width_px=0.3), "fits"),  # sharper than any PSF
    ("png_stretch_unusual", lambda: linear_png_levels(galaxy((300.0,))), "png-gray"),
    ("too_many_masked", _masked, "fits"),
    ("empty_cutout", lambda: galaxy((0.0,)), "fits"),
    ("empty_cutout", lambda: np.zeros((1, 101, 101), np.float32), "fits"),
    ("empty_cutout", lambda: gray_png_levels(galaxy((0.0,))), "png-gray"),
]


@pytest.mark.parametrize(("code", "make", "fmt"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_warning_has_an_input_that_trips_it(code: str, make: Callable[[], np.ndarray], fmt: str) -> None:
    assert code in codes(make(), fmt)


def test_every_code_is_tested() -> None:
    assert {case[0] for case in CASES} == set(CODES)


def test_an_empty_cutout_gets_no_other_statistic_warning() -> None:
    assert codes(np.zeros((1, 101, 101), np.float32)) == ["empty_cutout"]


def test_the_message_names_band_value_and_range() -> None:
    (found,) = ood_warnings(galaxy((7.0,))[None], "fits", ("vis",), statistics(False))
    (warning,) = found
    assert warning.message.startswith("the noise relative to the signal is unlike the training data's: vis:")
    assert "outside [" in warning.message


def test_without_statistics_only_empty_cutouts_warn() -> None:
    for x in (galaxy((7.0,)), box_blur(galaxy()), _masked()):
        assert ood_warnings(x[None], "fits", ("vis",), None) == [()]
    assert [w.code for w in ood_warnings(galaxy((0.0,))[None], "fits", ("vis",), None)[0]] == ["empty_cutout"]


def test_bounds_widen_the_training_range_with_a_floor_for_fractions() -> None:
    q = Quantiles.model_validate({"n": 10, "p0.1": 1.0, "p1": 2.0, "p50": 3.0, "p99": 6.0, "p99.9": 8.0})
    both = bound(q, RULES["log_noise_to_signal"])
    assert both is not None and (both.low, both.high) == pytest.approx((0.4, 8.6))  # margin 0.15 x (6 - 2)
    upper = bound(q, RULES["top_fraction"])
    assert upper is not None and upper.low is None
    never = Quantiles.model_validate({"n": 10, "p0.1": 0.0, "p1": 0.0, "p50": 0.0, "p99": 0.0, "p99.9": 0.0})
    masked = bound(never, MASKED_RULE)
    assert masked is not None and masked.high == pytest.approx(0.02)  # a couple of masked pixels do not warn
    assert bound(Quantiles.model_validate({**never.model_dump(by_alias=True), "n": 0}), MASKED_RULE) is None


def card_with_fits_statistics() -> Any:
    """A card whose input statistics are :func:`statistics` for FITS (none for PNG)."""
    from app.card import ModelCard

    data = card_data()
    data["input_statistics"] = {
        "description": "test",
        "data": "synthetic",
        "pixel_scale_arcsec": 0.1,
        "psf": {"fwhm_arcsec": None, "note": "unknown"},
        "by_input": {"fits": statistics(False).model_dump(by_alias=True)},
    }
    return ModelCard.from_dict(data)


def test_annotate_appends_to_the_cutouts_without_an_error() -> None:
    card = card_with_fits_statistics()
    pixels = np.stack([galaxy(), galaxy((7.0,)), galaxy((7.0,))])
    metas = tuple(CutoutMeta(file="f.fits", index=i, format="fits") for i in range(3))
    metas = (metas[0], metas[1], replace(metas[2], error=CutoutError("all_nan", "x")))
    out = annotate(DecodedFile("f.fits", "fits", pixels, metas), card)
    assert [[w.code for w in m.warnings] for m in out.cutouts] == [[], ["noise_level_unusual"], []]


def test_annotate_all_gives_each_file_what_annotate_gives_it_alone() -> None:
    card = card_with_fits_statistics()

    def file(name: str, fmt: InputFormat, pixels: np.ndarray, error_at: int | None = None) -> DecodedFile:
        metas = [CutoutMeta(file=name, index=i, format=fmt) for i in range(len(pixels))]
        if error_at is not None:
            metas[error_at] = replace(metas[error_at], error=CutoutError("all_nan", "x"))
        return DecodedFile(name, fmt, pixels, tuple(metas))

    files = [
        file("a.fits", "fits", np.stack([galaxy((7.0,))])),
        file("b.png", "png", np.stack([galaxy(), galaxy((7.0,))])),  # no PNG statistics: empty_cutout only
        file("c.fits", "fits", np.stack([galaxy(), galaxy((7.0,)), galaxy((7.0,))]), error_at=1),
        file("d.fits", "fits", np.stack([galaxy((7.0,))]), error_at=0),  # nothing to check
    ]
    together = annotate_all(files, card)
    alone = [annotate(f, card) for f in files]
    assert together == alone
    assert [[[w.code for w in m.warnings] for m in f.cutouts] for f in together] == [
        [["noise_level_unusual"]], [[], []], [[], [], ["noise_level_unusual"]], [[]],
    ]  # fmt: skip


def test_no_noise_warning_only_where_training_had_measurable_noise() -> None:
    # A composite's sky is clipped to black: no measurable noise in training either, so a clipped
    # cutout must not be told it is noiseless (it was, on the real rgb model: 100% false warnings).
    clipped = np.clip(galaxy((500.0,)) - 3 * SIGMA, 0, None)
    trained = statistics(False)
    assert "noise_level_unusual" in codes(clipped)
    no_noise = trained.model_copy(
        update={"planes": trained.planes | {"norm_max": {"vis": Quantiles.model_validate(
            {"n": 0, "p0.1": 0.0, "p1": 0.0, "p50": 0.0, "p99": 0.0, "p99.9": 0.0})}}}
    )  # fmt: skip
    (found,) = ood_warnings(clipped[None], "fits", ("vis",), no_noise)
    assert "noise_level_unusual" not in [w.code for w in found]


def test_bounds_are_built_once_per_card_section_and_follow_its_values() -> None:
    section = statistics(False)
    x = galaxy((300.0,), width_px=3.0, seed=7)[None]
    x[0, 0, 50, 50] += 1e4 * SIGMA  # a hot pixel far out of the training range
    first = ood_warnings(x, "fits", ("vis",), section)
    assert "dynamic_range_unusual" in [w.code for w in first[0]]
    assert ood_warnings(x, "fits", ("vis",), section) == first  # the cached bounds, same answer
    # a section with the same statistics but a wider norm_max range (another card): no warning
    planes = {name: dict(per_band) for name, per_band in section.planes.items()}
    wide = planes["norm_max"]["vis"].model_copy(update={"p99_9": 1e6})
    planes["norm_max"] = {"vis": wide}
    other = section.model_copy(update={"planes": planes})
    (widened,) = ood_warnings(x, "fits", ("vis",), other)
    assert [w.code for w in widened] == [w.code for w in first[0] if w.code != "dynamic_range_unusual"]
    assert ood_warnings(x, "fits", ("vis",), section) == first
