"""Every error code has a test that asserts it, with a message a person can act on."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from astropy.io import fits

from app.decode import DecodeLimits, decode_bytes
from app.decode.errors import ERROR_CODES, DecodeError
from tests.factories import (
    cube_fits,
    gzip_bomb,
    gzip_bytes,
    gzip_tile_bomb,
    hdul_bytes,
    huge_naxis_header,
    image_fits,
    noise,
    png_bomb,
    png_bytes,
    tile_compressed_bomb,
    tile_compressed_fits,
)


def _unknown_compression() -> bytes:
    data = tile_compressed_fits(np.zeros((4, 4), np.int16), compression="RICE_1")
    return data.replace(b"'RICE_1  '", b"'BOGUS_1 '")


def _table_only() -> bytes:
    table = fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=np.zeros(3))])
    return hdul_bytes([fits.PrimaryHDU(), table])


CASES: list[tuple[str, Callable[[], bytes], int | None, tuple[str, ...]]] = [
    ("not_fits_or_png", lambda: b"GIF89a not an image we take", None, ("neither FITS",)),
    ("not_fits_or_png", lambda: gzip_bytes(b"plain text"), None, ("gzip",)),
    ("bad_fits", lambda: cube_fits()[:3000], None, ("truncated",)),
    ("bad_fits", lambda: gzip_bytes(cube_fits())[:-20], None, ("truncated",)),
    ("bad_png", lambda: png_bytes(np.zeros((8, 8), np.uint8), "L")[:-30], None, ("not a readable PNG",)),
    ("no_image_data", lambda: image_fits(None), None, ("no image HDU",)),
    ("no_image_data", _table_only, None, ("no image HDU",)),
    ("bad_shape", lambda: image_fits(np.zeros(5, np.float32)), None, ("1-D",)),
    ("band_mismatch", lambda: cube_fits(("g", "r", "i")), 4, ("3 planes", "takes 4")),
    ("too_large", huge_naxis_header, None, ("1000000000", "limit")),
    ("too_large", lambda: gzip_bomb(300), None, ("inflates", "limit")),
    ("too_large", png_bomb, None, ("9000x9000", "limit")),
    ("compressed_hdu_too_large", tile_compressed_bomb, None, ("20000x20000", "limit")),
    ("compressed_hdu_too_large", gzip_tile_bomb, None, ("GZIP tile",)),
    ("all_nan", lambda: image_fits(np.full((4, 4), 100.0, np.float32)), None, ("masked",)),
    ("unsupported_data", _unknown_compression, None, ("BOGUS_1",)),
]


@pytest.mark.parametrize(("code", "make", "channels", "words"), CASES)
def test_error_code(
    code: str, make: Callable[[], bytes], channels: int | None, words: tuple[str, ...]
) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_bytes(make(), "upload.bin", channels=channels)
    assert caught.value.code == code
    for word in words:
        assert word in caught.value.message


def test_every_code_is_covered() -> None:
    assert {case[0] for case in CASES} == set(ERROR_CODES)


def test_memory_error_becomes_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.decode.fits as fits_module

    def exhausted(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(fits_module, "apply_masking_rule", exhausted)
    with pytest.raises(DecodeError) as caught:
        decode_bytes(image_fits(noise((4, 4))), "m.fits")
    assert caught.value.code == "too_large"


def test_file_size_limit_comes_first() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_bytes(b"x" * 101, "big", limits=DecodeLimits(max_file_bytes=100))
    assert caught.value.code == "too_large"
    assert "101 bytes" in caught.value.message


def test_bad_arguments_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="channels"):
        decode_bytes(image_fits(noise((4, 4))), "x", channels=0)
    with pytest.raises(ValueError, match="max_pixels"):
        DecodeLimits(max_pixels=0)
