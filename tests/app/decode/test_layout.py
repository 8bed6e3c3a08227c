"""The shape rules of DESIGN section 6, on declared shapes and band names alone (no FITS involved)."""

from __future__ import annotations

import pytest

from app.decode.errors import DecodeError
from app.decode.layout import ImageInfo, plan_layout

H, W = 5, 6


def one(shape: tuple[int, ...], bands: tuple[str, ...] | None = None) -> list[ImageInfo]:
    return [ImageInfo(0, "HDU 0", shape, bands)]


def hdus(
    count: int, names: list[str | None] | None = None, shape: tuple[int, ...] = (H, W)
) -> list[ImageInfo]:
    names = names or [None] * count
    return [ImageInfo(k + 1, f"HDU {k + 1}", shape, None if n is None else (n,)) for k, n in enumerate(names)]


@pytest.mark.parametrize(
    ("images", "channels", "shape", "bands", "kind"),
    [
        (one((H, W)), None, (1, 1, H, W), None, "one_image"),
        (one((H, W), ("vis",)), 1, (1, 1, H, W), ("vis",), "one_image"),
        # a 3-D array with no band names is a stack of one-band cutouts ...
        (one((7, H, W)), None, (7, 1, H, W), None, "one_image"),
        (one((7, H, W)), 1, (7, 1, H, W), None, "one_image"),
        (one((7, H, W), ("vis",)), None, (7, 1, H, W), ("vis",), "one_image"),
        # ... unless the model takes that many bands, or the header names one band per plane
        (one((4, H, W)), 4, (1, 4, H, W), None, "one_image"),
        (one((4, H, W), ("u", "g", "r", "i")), None, (1, 4, H, W), ("u", "g", "r", "i"), "one_image"),
        (one((4, H, W), ("u", "g", "r", "i")), 4, (1, 4, H, W), ("u", "g", "r", "i"), "one_image"),
        (one((3, 4, H, W)), None, (3, 4, H, W), None, "one_image"),
        (one((3, 4, H, W), ("u", "g", "r", "i")), 4, (3, 4, H, W), ("u", "g", "r", "i"), "one_image"),
        (one((3, 1, H, W)), 1, (3, 1, H, W), None, "one_image"),
        (hdus(4, ["u", "g", "r", "i"]), None, (1, 4, H, W), ("u", "g", "r", "i"), "band_per_hdu"),
        (hdus(4, ["u", "g", "r", "i"]), 4, (1, 4, H, W), ("u", "g", "r", "i"), "band_per_hdu"),
        (hdus(3), None, (3, 1, H, W), None, "cutout_per_hdu"),
        (hdus(3), 1, (3, 1, H, W), None, "cutout_per_hdu"),
        (hdus(4), 4, (1, 4, H, W), None, "band_per_hdu"),
    ],
)
def test_layouts(
    images: list[ImageInfo],
    channels: int | None,
    shape: tuple[int, ...],
    bands: tuple[str, ...] | None,
    kind: str,
) -> None:
    layout = plan_layout(images, channels, max_cutouts=100)
    assert layout.shape == shape
    assert layout.bands == bands
    assert layout.kind == kind


@pytest.mark.parametrize(
    ("images", "channels", "code", "words"),
    [
        (one((H, W)), 4, "band_mismatch", "takes 4"),
        (one((H, W), ("u", "g")), None, "band_mismatch", "2 bands"),
        (one((3, H, W)), 4, "band_mismatch", "4xHxW"),
        (one((4, H, W), ("u", "g", "r")), None, "band_mismatch", "3 bands"),
        (one((4, H, W), ("u", "g", "r", "i")), 1, "band_mismatch", "takes 1"),
        (one((4, H, W), ("u", "g", "r")), 4, "band_mismatch", "names 3"),
        (one((2, 4, H, W), ("u", "g")), None, "band_mismatch", "2 bands"),
        (one((2, 4, H, W)), 3, "band_mismatch", "takes 3"),
        (one((W,)), None, "bad_shape", "1-D"),
        (one((1, 2, 3, H, W)), None, "bad_shape", "5-D"),
        (hdus(2, shape=(3, H, W)), None, "bad_shape", "2-D image"),
        ([*hdus(1), ImageInfo(2, "HDU 2", (H + 1, W), None)], None, "bad_shape", "HDU 2: 6x6"),
        (hdus(3, ["g", None, "r"]), None, "band_mismatch", "HDU 2"),
        (hdus(3, ["g", "r", "i"]), 4, "band_mismatch", "takes 4"),
        (hdus(3), 4, "band_mismatch", "takes 4"),
        ([], None, "no_image_data", "no image"),
    ],
)
def test_layout_errors(images: list[ImageInfo], channels: int | None, code: str, words: str) -> None:
    with pytest.raises(DecodeError) as caught:
        plan_layout(images, channels, max_cutouts=100)
    assert caught.value.code == code
    assert words in caught.value.message


def test_cutout_limit_counts_the_stack() -> None:
    assert plan_layout(one((10, H, W)), None, max_cutouts=10).shape[0] == 10
    with pytest.raises(DecodeError) as caught:
        plan_layout(one((11, H, W)), None, max_cutouts=10)
    assert caught.value.code == "too_large"
    assert "11 cutouts" in caught.value.message
