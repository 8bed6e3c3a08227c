"""conform: model bands in model order, model size by centre crop / NaN pad, warnings, never a resize."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from app.conform import InputSpec, centre_window, conform
from app.decode import decode_bytes
from app.decode.errors import DecodeError
from app.decode.types import CutoutMeta, DecodedFile
from tests.factories import cube_fits, image_fits, mef_fits, noise, png_bytes

GROUND = InputSpec(("u", "g", "r", "i"), 11, 11, 0.2, ("fits",))
SPACE = InputSpec(("vis",), 11, 11, 0.1, ("fits", "png-gray"))
RGB = InputSpec(("i", "r", "g"), 11, 11, 0.2, ("png-rgb",))


def codes(meta: CutoutMeta) -> list[str]:
    return [w.code for w in meta.warnings]


def decoded_with(
    pixels: np.ndarray, bands: tuple[str, ...] | None = None, scale: float | None = None
) -> DecodedFile:
    metas = tuple(
        CutoutMeta(file="f.fits", index=i, format="fits", bands=bands, pixel_scale_arcsec=scale)
        for i in range(pixels.shape[0])
    )
    return DecodedFile(file="f.fits", format="fits", pixels=pixels.astype(np.float32), cutouts=metas)


def test_named_planes_are_reordered_to_model_order_silently() -> None:
    decoded = decode_bytes(cube_fits(("g", "r", "i", "u"), 11), "c.fits")
    out = conform(decoded, GROUND)
    assert out.pixels.shape == (1, 4, 11, 11)
    # plane k of the file holds k + noise: g=0, r=1, i=2, u=3 -> model order u, g, r, i
    np.testing.assert_allclose(out.pixels[0].mean(axis=(1, 2)), [3, 0, 1, 2], atol=1e-6)
    assert codes(out.cutouts[0]) == []


def test_multi_extension_bands_are_reordered_too() -> None:
    out = conform(decode_bytes(mef_fits(("r", "i", "g", "u"), 11), "m.fits"), GROUND)
    np.testing.assert_allclose(out.pixels[0].mean(axis=(1, 2)), [3, 2, 0, 1], atol=1e-6)


@pytest.mark.parametrize(
    "bands",
    [("g", "r", "i", "z"), ("u", "g", "r"), ("u", "g", "g", "i"), ("sdss_u", "sdss_g", "sdss_r", "sdss_i")],
)
def test_unknown_repeated_or_missing_band_names_are_a_mismatch(bands: tuple[str, ...]) -> None:
    pixels = noise((1, len(bands), 11, 11))
    with pytest.raises(DecodeError) as caught:
        conform(decoded_with(pixels, bands), GROUND)
    assert caught.value.code == "band_mismatch"
    assert str(list(bands)) in caught.value.message
    assert str(list(GROUND.bands)) in caught.value.message


def test_unnamed_planes_with_the_right_count_are_assumed_in_model_order() -> None:
    pixels = noise((2, 4, 11, 11))
    out = conform(decoded_with(pixels), GROUND)
    np.testing.assert_array_equal(out.pixels, pixels)
    assert all(codes(m) == ["bands_assumed"] for m in out.cutouts)
    with pytest.raises(DecodeError) as caught:
        conform(decoded_with(noise((1, 3, 11, 11))), GROUND)
    assert caught.value.code == "band_mismatch"


def test_one_band_model_takes_unnamed_2d_images_without_a_warning() -> None:
    out = conform(decode_bytes(image_fits(noise((11, 11))), "a.fits"), SPACE)
    assert codes(out.cutouts[0]) == []


def test_formats_outside_accepts_are_refused() -> None:
    gray = decode_bytes(png_bytes(np.zeros((11, 11), np.uint8), "L"), "g.png")
    with pytest.raises(DecodeError) as caught:
        conform(gray, GROUND)
    assert caught.value.code == "band_mismatch"
    assert "png-gray" in caught.value.message
    rgb = decode_bytes(png_bytes(np.zeros((11, 11, 3), np.uint8), "RGB"), "c.png")
    out = conform(rgb, RGB)
    assert out.pixels.shape == (1, 3, 11, 11)
    assert codes(out.cutouts[0]) == []  # PNG planes are defined by the format: no bands_assumed
    assert conform(gray, SPACE).pixels.shape == (1, 1, 11, 11)


def test_larger_cutouts_are_centre_cropped_with_a_warning() -> None:
    big = np.arange(15 * 15, dtype=np.float32).reshape(1, 1, 15, 15) + 1
    out = conform(decoded_with(big, ("vis",)), SPACE)
    np.testing.assert_array_equal(out.pixels[0, 0], big[0, 0, 2:13, 2:13])
    assert out.pixels[0, 0, 5, 5] == big[0, 0, 7, 7]  # centre stays centre
    (warning,) = out.cutouts[0].warnings
    assert warning.code == "cropped"
    assert "15x15" in warning.message and "11x11" in warning.message


def test_smaller_cutouts_are_padded_with_nan_and_count_as_masked() -> None:
    small = noise((1, 1, 7, 9))
    out = conform(decoded_with(small, ("vis",)), SPACE)
    assert out.pixels.shape == (1, 1, 11, 11)
    np.testing.assert_array_equal(out.pixels[0, 0, 2:9, 1:10], small[0, 0])
    assert np.isnan(out.pixels).sum() == 121 - 63
    assert out.cutouts[0].masked_fraction == pytest.approx((121 - 63) / 121)
    assert codes(out.cutouts[0]) == ["padded"]


def test_mixed_axes_warn_twice_and_pad_then_crop_restores_the_original() -> None:
    odd = noise((1, 1, 13, 8))
    out = conform(decoded_with(odd, ("vis",)), SPACE)
    assert codes(out.cutouts[0]) == ["cropped", "padded"]
    for h, w in [(10, 12), (11, 11), (12, 9), (101, 100)]:
        original = noise((2, 3, h, w), seed=h)
        padded = centre_window(original, h + 5, w + 4)
        np.testing.assert_array_equal(centre_window(padded, h, w), original)


@pytest.mark.parametrize(("scale", "warned"), [(0.2, False), (0.209, False), (0.22, True), (None, False)])
def test_pixel_scale_mismatch_over_5_percent_warns(scale: float | None, warned: bool) -> None:
    out = conform(decoded_with(noise((1, 4, 11, 11)), ("u", "g", "r", "i"), scale), GROUND)
    assert ("pixel_scale_mismatch" in codes(out.cutouts[0])) is warned


def test_cutouts_left_without_finite_pixels_are_all_nan() -> None:
    pixels = noise((2, 1, 21, 21))
    pixels[0, 0, 5:16, 5:16] = np.nan  # the model's window of cutout 0 is fully masked
    out = conform(decoded_with(pixels, ("vis",)), SPACE)
    assert out.cutouts[0].error is not None and out.cutouts[0].error.code == "all_nan"
    assert out.cutouts[1].error is None
    pixels[1, 0, 5:16, 5:16] = np.nan
    with pytest.raises(DecodeError) as caught:
        conform(decoded_with(pixels, ("vis",)), SPACE)
    assert caught.value.code == "all_nan"


def test_metadata_other_than_warnings_is_kept() -> None:
    decoded = decoded_with(noise((1, 1, 11, 11)), ("vis",), 0.1)
    decoded = replace(decoded, cutouts=(replace(decoded.cutouts[0], id="x", ra=1.0, dec=2.0),))
    meta = conform(decoded, SPACE).cutouts[0]
    assert (meta.id, meta.ra, meta.dec, meta.bands, meta.pixel_scale_arcsec) == ("x", 1.0, 2.0, ("vis",), 0.1)


def test_input_spec_validates_itself() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        InputSpec(("U",), 1, 1, None, ("fits",))
    with pytest.raises(ValueError, match="repeated"):
        InputSpec(("u", "u"), 1, 1, None, ("fits",))
    with pytest.raises(ValueError, match="size"):
        InputSpec(("u",), 0, 1, None, ("fits",))
