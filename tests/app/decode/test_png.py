"""PNG decoding: every mode, values in the PNG's own scale, rows flipped to FITS order, bombs refused."""

from __future__ import annotations

import numpy as np
import pytest

from app.decode import DecodeLimits, decode_bytes
from app.decode.errors import DecodeError
from tests.factories import image_fits, palette_png, png_bomb, png_bytes, png_declaring, png_raw

GRAY = (np.arange(12, dtype=np.uint8).reshape(3, 4) * 20).astype(np.uint8)


def code_of(data: bytes, **kwargs: object) -> str:
    with pytest.raises(DecodeError) as caught:
        decode_bytes(data, "p.png", **kwargs)  # type: ignore[arg-type]
    return caught.value.code


def test_8_bit_gray_values_and_orientation() -> None:
    decoded = decode_bytes(png_bytes(GRAY, "L"), "g.png")
    assert decoded.format == "png-gray"
    assert decoded.pixels.shape == (1, 1, 3, 4)
    assert decoded.pixels.dtype == np.float32
    # PNG row 0 is the top; decoded row 0 is the bottom, as in FITS
    np.testing.assert_array_equal(decoded.pixels[0, 0], np.flipud(GRAY))
    meta = decoded.cutouts[0]
    assert (meta.format, meta.masked_fraction, meta.warnings, meta.bands) == ("png-gray", 0.0, (), None)


def test_fits_array_rendered_with_flipud_decodes_to_the_same_orientation() -> None:
    fits_array = np.arange(20, dtype=np.uint8).reshape(4, 5)
    from_fits = decode_bytes(image_fits(fits_array), "a.fits").pixels
    from_png = decode_bytes(png_bytes(np.flipud(fits_array), "L"), "a.png").pixels
    np.testing.assert_array_equal(from_png, from_fits)


def test_16_bit_gray_keeps_its_scale() -> None:
    values = np.array([[0, 1000, 65535], [3, 40000, 7]], dtype=np.uint16)
    decoded = decode_bytes(png_bytes(values, "I;16"), "g16.png")
    assert decoded.format == "png-gray"
    np.testing.assert_array_equal(decoded.pixels[0, 0], np.flipud(values))
    hand_made = decode_bytes(png_raw(values, colour_type=0), "raw16.png")
    np.testing.assert_array_equal(hand_made.pixels, decoded.pixels)


def test_rgb_planes_are_r_g_b() -> None:
    rgb = np.stack([GRAY, GRAY // 2, 255 - GRAY], axis=-1)
    decoded = decode_bytes(png_bytes(rgb, "RGB"), "c.png")
    assert decoded.format == "png-rgb"
    assert decoded.pixels.shape == (1, 3, 3, 4)
    for k in range(3):
        np.testing.assert_array_equal(decoded.pixels[0, k], np.flipud(rgb[..., k]))


@pytest.mark.parametrize(("opaque", "warned"), [(True, []), (False, ["alpha_dropped"])])
def test_rgba_drops_alpha_with_a_warning_when_not_opaque(opaque: bool, warned: list[str]) -> None:
    alpha = np.full_like(GRAY, 255) if opaque else GRAY
    rgba = np.stack([GRAY, GRAY, GRAY // 3, alpha], axis=-1)
    decoded = decode_bytes(png_bytes(rgba, "RGBA"), "a.png")
    assert decoded.pixels.shape == (1, 3, 3, 4)
    np.testing.assert_array_equal(decoded.pixels[0, 2], np.flipud(GRAY // 3))
    assert [w.code for w in decoded.cutouts[0].warnings] == warned


def test_gray_alpha_drops_alpha() -> None:
    decoded = decode_bytes(png_bytes(np.stack([GRAY, GRAY], axis=-1), "LA"), "la.png")
    assert decoded.format == "png-gray"
    np.testing.assert_array_equal(decoded.pixels[0, 0], np.flipud(GRAY))
    assert [w.code for w in decoded.cutouts[0].warnings] == ["alpha_dropped"]


def test_bilevel_png_reads_as_0_and_255() -> None:
    decoded = decode_bytes(png_bytes(GRAY > 100, "1"), "b.png")
    assert set(np.unique(decoded.pixels)) <= {0.0, 255.0}


@pytest.mark.parametrize(("gray", "fmt", "planes"), [(True, "png-gray", 1), (False, "png-rgb", 3)])
def test_palette_images_become_gray_or_rgb(gray: bool, fmt: str, planes: int) -> None:
    decoded = decode_bytes(palette_png(gray), "p.png")
    assert decoded.format == fmt
    assert decoded.pixels.shape == (1, planes, 3, 4)
    assert decoded.pixels[0, 0, 0].tolist() == [0.0, 10.0, 20.0, 30.0]


def test_16_bit_colour_is_read_with_a_precision_warning() -> None:
    rgb16 = np.full((2, 3, 3), 0x1234, dtype=np.uint16)
    decoded = decode_bytes(png_raw(rgb16, colour_type=2), "c16.png")
    assert decoded.format == "png-rgb"
    assert "precision_reduced" in [w.code for w in decoded.cutouts[0].warnings]


def test_png_bomb_is_refused_before_inflation() -> None:
    assert code_of(png_bomb()) == "too_large"  # 81 Mpx over the 64 Mpx default
    assert code_of(png_declaring(100_000, 100_000)) == "too_large"  # over Pillow's own hard limit too
    assert code_of(png_bytes(GRAY, "L"), limits=DecodeLimits(max_pixels=11)) == "too_large"


def test_broken_png_streams_are_bad_png() -> None:
    data = png_bytes(np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8), "L")
    assert code_of(data[: len(data) // 2]) == "bad_png"
    assert code_of(data[:20]) == "bad_png"
    assert code_of(png_declaring(1000, 1000)) == "bad_png"  # IDAT far too short for its size
