"""Sniffing, capped gzip inflation and the masking rule, as units."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from app.decode.errors import DecodeError
from app.decode.gunzip import gunzip_capped
from app.decode.masking import MASK_VALUE, apply_masking_rule, masked_fractions
from app.decode.sniff import sniff
from tests.factories import gzip_bomb, gzip_bomb_single_member, image_fits, png_bytes


def test_sniff_reads_bytes_not_names() -> None:
    assert sniff(image_fits(np.zeros((2, 2), np.float32))) == "fits"
    assert sniff(gzip.compress(b"abc")) == "gzip"
    assert sniff(png_bytes(np.zeros((2, 2), np.uint8), "L")) == "png"
    assert sniff(b"") is None
    assert sniff(b"XTENSION= 'IMAGE   '") is None  # an extension alone is not a FITS file


def test_gunzip_reads_concatenated_members_and_zero_padding() -> None:
    data = gzip.compress(b"abc") + gzip.compress(b"def") + b"\0" * 100
    assert gunzip_capped(data, 6) == b"abcdef"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (gzip.compress(b"abcdefg"), "too_large"),
        (gzip.compress(b"abc")[:-3], "bad_fits"),
        (gzip.compress(b"abc") + b"junk", "bad_fits"),
        (b"\x1f\x8b" + b"\xff" * 30, "bad_fits"),
    ],
)
def test_gunzip_failures(data: bytes, code: str) -> None:
    with pytest.raises(DecodeError) as caught:
        gunzip_capped(data, 6)
    assert caught.value.code == code


@pytest.mark.parametrize("bomb", [lambda: gzip_bomb(64, members=64), lambda: gzip_bomb_single_member(64)])
def test_gunzip_stops_at_the_cap(bomb: object) -> None:
    import tracemalloc

    data = bomb()  # type: ignore[operator]
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError) as caught:
            gunzip_capped(data, 4 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == "too_large"
    assert peak < 16 << 20  # the cap plus a chunk or two, never the 64 MiB it would inflate to


def test_masking_rule() -> None:
    values = np.array([1.0, MASK_VALUE, np.inf, -np.inf, np.nan, 100.0001], dtype=np.float32)
    masked = apply_masking_rule(values.copy(), floating_point=True)
    assert np.isnan(masked[1:5]).all()
    assert masked[0] == 1.0 and masked[5] == np.float32(100.0001)

    raw = np.array([100, -1, 7], dtype=">i2")
    physical = raw.astype(np.float32)
    masked = apply_masking_rule(physical, floating_point=False, raw=raw, blank=-1)
    assert masked[0] == 100.0 and np.isnan(masked[1]) and masked[2] == 7.0


def test_masked_fractions_per_cutout() -> None:
    pixels = np.zeros((2, 2, 2, 2), dtype=np.float32)
    pixels[1, 0] = np.nan
    assert masked_fractions(pixels).tolist() == [0.0, 0.5]
