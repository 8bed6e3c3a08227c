"""Nothing but DecodeError comes out of decode_bytes, quickly and within bounded memory.

Random bytes, and valid files mutated (truncated, bytes flipped in headers and data, header values
replaced by huge numbers, random chunks appended), plus the real bombs at default limits.
Hypothesis runs derandomised with a fixed example budget so CI is deterministic and short.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.decode import DecodeLimits, decode_bytes
from app.decode.errors import ERROR_CODES, DecodeError
from tests.factories import (
    cube_fits,
    extension_fits,
    gzip_bomb,
    gzip_bytes,
    gzip_tile_bomb,
    hdul_bytes,
    huge_naxis_header,
    image_fits,
    mef_fits,
    noise,
    palette_png,
    png_bomb,
    png_bytes,
    png_declaring,
    tile_compressed_bomb,
    tile_compressed_fits,
)

# Small limits keep every example cheap; the bounds below are far above what these limits allow.
LIMITS = DecodeLimits(
    max_file_bytes=8 << 20, max_pixels=1 << 20, max_total_pixels=1 << 21, max_cutouts=500, max_hdus=16
)
SECONDS_PER_INPUT = 2.0
PEAK_BYTES = 100 << 20
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    # tracemalloc stays on across examples (the fixture); each example resets the peak itself.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@cache
def seeds() -> tuple[bytes, ...]:
    gray = (np.arange(64, dtype=np.uint8).reshape(8, 8) * 3).astype(np.uint8)
    wcs = {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CRPIX1": 4.0,
        "CRPIX2": 4.0,
        "CDELT1": -5e-5,
        "CDELT2": 5e-5,
    }
    return (
        cube_fits(size=8),
        mef_fits(size=8),
        image_fits(
            np.arange(64, dtype=np.int16).reshape(8, 8), {"BSCALE": 2.0, "BZERO": 1.0, "BLANK": 3} | wcs
        ),
        image_fits(noise((3, 2, 8, 8)), {"BANDS": "g,r"}),
        extension_fits([noise((8, 8))], [wcs | {"OBJECT": "x", "RA": 1.0, "DEC": 2.0}]),
        tile_compressed_fits(np.arange(64, dtype=np.int16).reshape(8, 8), compression="RICE_1"),
        tile_compressed_fits(noise((2, 8, 8)), compression="GZIP_1"),
        tile_compressed_fits(np.arange(64, dtype=np.int32).reshape(8, 8), compression="HCOMPRESS_1"),
        gzip_bytes(cube_fits(size=8)),
        png_bytes(gray, "L"),
        png_bytes(gray.astype(np.uint16) * 200, "I;16"),
        png_bytes(np.stack([gray] * 4, axis=-1), "RGBA"),
        palette_png(False),
    )


@contextmanager
def bounded(seconds: float, peak_bytes: int) -> Iterator[None]:
    tracemalloc.reset_peak()
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    assert peak < peak_bytes, f"peak {peak / 2**20:.0f} MiB"


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def only_decode_errors(data: bytes, channels: int | None = None, limits: DecodeLimits = LIMITS) -> None:
    with bounded(SECONDS_PER_INPUT, PEAK_BYTES):
        try:
            decoded = decode_bytes(data, "fuzz.bin", channels=channels, limits=limits)
        except DecodeError as exc:
            assert exc.code in ERROR_CODES
            assert exc.message
            return
    assert decoded.pixels.dtype == np.float32
    assert decoded.pixels.ndim == 4
    assert len(decoded.cutouts) == decoded.pixels.shape[0] >= 1


PREFIXES = [b"", b"SIMPLE  =                    T", b"\x89PNG\r\n\x1a\n", b"\x1f\x8b\x08\x00"]


@FUZZ
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=4096))
def test_random_bytes(traced: None, prefix: bytes, body: bytes) -> None:
    only_decode_errors(prefix + body)


def _flip(data: bytes, positions: list[int], values: bytes) -> bytes:
    out = bytearray(data)
    if not out:
        return data
    for position, value in zip(positions, values, strict=False):
        out[position % len(out)] = value
    return bytes(out)


def _replace_number(data: bytes, keyword: bytes, number: int) -> bytes:
    at = data.find(keyword.ljust(8) + b"=")
    if at < 0:
        return data
    card = (keyword.ljust(8) + b"= " + str(number).rjust(20).encode()).ljust(80)
    return data[:at] + card + data[at + 80 :]


mutation = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
    st.tuples(
        st.just("flip_header"),
        st.lists(st.integers(0, 2 * 2880 - 1), min_size=1, max_size=8),
        st.binary(min_size=8, max_size=8),
    ),
    st.tuples(
        st.just("flip_anywhere"),
        st.lists(st.integers(0, 1 << 20), min_size=1, max_size=16),
        st.binary(min_size=16, max_size=16),
    ),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=3000)),
    st.tuples(
        st.just("number"),
        st.sampled_from(
            [
                b"NAXIS",
                b"NAXIS1",
                b"NAXIS2",
                b"NAXIS3",
                b"ZNAXIS1",
                b"ZTILE1",
                b"PCOUNT",
                b"BITPIX",
                b"NAXIS2",
            ]
        ),
        st.sampled_from([0, -1, 3, 16, 10**9, 10**18, 2**31, -32, 64]),
    ),
)


def _mutate(data: bytes, how: tuple[object, ...]) -> bytes:
    kind = how[0]
    if kind == "truncate":
        return data[: int(len(data) * float(how[1]))]  # type: ignore[arg-type]
    if kind in ("flip_header", "flip_anywhere"):
        return _flip(data, list(how[1]), bytes(how[2]))  # type: ignore[call-overload]
    if kind == "append":
        return data + bytes(how[1])  # type: ignore[call-overload]
    return _replace_number(data, bytes(how[1]), int(how[2]))  # type: ignore[call-overload]


@FUZZ
@given(
    seed=st.integers(0, len(seeds()) - 1),
    mutations=st.lists(mutation, min_size=1, max_size=3),
    channels=st.sampled_from([None, 1, 4]),
)
def test_mutated_files(
    traced: None, seed: int, mutations: list[tuple[object, ...]], channels: int | None
) -> None:
    data = seeds()[seed]
    for how in mutations:
        data = _mutate(data, how)
    only_decode_errors(data, channels)


def test_seeds_decode(traced: None) -> None:
    for data in seeds():
        decoded = decode_bytes(data, "seed", limits=LIMITS)
        assert decoded.pixels.shape[0] >= 1


BOMBS: list[tuple[str, Callable[[], bytes], float]] = [
    ("png_bomb", png_bomb, 2.0),
    ("png_declaring_10^10_px", lambda: png_declaring(100_000, 100_000), 2.0),
    ("tile_compressed_bomb", tile_compressed_bomb, 2.0),
    ("gzip_tile_bomb", gzip_tile_bomb, 2.0),
    ("naxis1_10^9", huge_naxis_header, 2.0),
    # Inflating to the 256 MiB default cap is honest work (about 1-2 s here); the bound is looser.
    ("gzip_bomb", lambda: gzip_bomb(300), 6.0),
]


@pytest.mark.parametrize(("name", "make", "seconds"), BOMBS, ids=[b[0] for b in BOMBS])
def test_bombs_at_default_limits(traced: None, name: str, make: Callable[[], bytes], seconds: float) -> None:
    data = make()
    default = DecodeLimits()
    # gzip output is capped at max_file_bytes (256 MiB); anything else must stay small.
    peak = default.max_file_bytes + (64 << 20) if name == "gzip_bomb" else PEAK_BYTES
    with bounded(seconds, peak), pytest.raises(DecodeError) as caught:
        decode_bytes(data, name, limits=default)
    assert caught.value.code in ("too_large", "compressed_hdu_too_large")


def _rice_with_bytepix(value: int) -> bytes:
    data = tile_compressed_fits(np.arange(64, dtype=np.int32).reshape(8, 8), compression="RICE_1")
    return _replace_number(data, b"ZVAL2", value)  # ZNAME2 = 'BYTEPIX'


def _hcompress_lying_about_its_size() -> bytes:
    data = tile_compressed_fits(np.arange(64, dtype=np.int32).reshape(8, 8), compression="HCOMPRESS_1")
    return _replace_number(data, b"ZNAXIS1", 3)


def _dithered_with_seed(seed: int) -> bytes:
    hdu = fits.CompImageHDU(
        noise((8, 8), scale=1.0),
        compression_type="RICE_1",
        quantize_level=16.0,
        quantize_method=1,
        dither_seed=5,
    )
    data = hdul_bytes([fits.PrimaryHDU(), hdu])
    return _replace_number(data, b"ZDITHER0", seed)


# Inputs that once crashed the process (C decoders trusting the file) or made astropy spin.
REGRESSIONS: list[tuple[str, Callable[[], bytes], str]] = [
    ("naxis_10^18", lambda: _replace_number(cube_fits(size=8), b"NAXIS", 10**18), "bad_fits"),
    (
        "tfields_10^9",
        lambda: _replace_number(tile_compressed_fits(np.zeros((8, 8), np.int16)), b"TFIELDS", 10**9),
        "bad_fits",
    ),
    ("hcompress_stream_bigger_than_tile", _hcompress_lying_about_its_size, "bad_fits"),
    ("rice_bytepix_negative", lambda: _rice_with_bytepix(-1), "unsupported_data"),
    ("dither_seed_negative", lambda: _dithered_with_seed(-5), "bad_fits"),
]


@pytest.mark.parametrize(("name", "make", "code"), REGRESSIONS, ids=[r[0] for r in REGRESSIONS])
def test_fuzz_regressions(traced: None, name: str, make: Callable[[], bytes], code: str) -> None:
    data = make()
    with bounded(SECONDS_PER_INPUT, PEAK_BYTES), pytest.raises(DecodeError) as caught:
        decode_bytes(data, name, limits=LIMITS)
    assert caught.value.code == code
