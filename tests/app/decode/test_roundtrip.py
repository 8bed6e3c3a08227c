"""Property: any array written as FITS (any dtype, 2-D to 4-D, optionally gzipped) decodes to its values,
with exactly the masking rule's pixels set to NaN; any gray PNG decodes to its rows flipped."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.decode import decode_bytes
from app.decode.masking import MASK_VALUE
from tests.factories import gzip_bytes, image_fits, png_bytes

PROPERTY = settings(derandomize=True, database=None, max_examples=60, deadline=None)
DTYPES = [np.uint8, np.int16, np.int32, np.int64, np.dtype(">f4"), np.dtype("<f4"), np.dtype(">f8")]


@st.composite
def fits_arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=6))
    if dtype.kind == "f":
        elements = st.floats(-1e6, 1e6, width=32) | st.sampled_from([MASK_VALUE, np.nan, np.inf])
    else:
        info = np.iinfo(dtype)
        elements = st.integers(max(info.min, -(2**24)), min(info.max, 2**24))  # exact in float32
    array = draw(hnp.arrays(dtype, shape, elements=elements))
    if dtype.kind == "f" and not np.isfinite(array).any():
        array.flat[0] = 1.0  # an all-masked file is an error, tested elsewhere
    elif dtype.kind == "f" and not (np.isfinite(array) & (array != MASK_VALUE)).any():
        array.flat[0] = 1.0
    return array


@PROPERTY
@given(array=fits_arrays(), gz=st.booleans())
def test_fits_round_trip(array: np.ndarray, gz: bool) -> None:
    data = image_fits(array)
    decoded = decode_bytes(gzip_bytes(data) if gz else data, "p.fits")
    pixels = decoded.pixels
    assert pixels.dtype == np.float32 and pixels.ndim == 4
    assert pixels.size == array.size
    expected = array.astype(np.float64).astype(np.float32).reshape(pixels.shape)
    if array.dtype.kind == "f":
        expected[(expected == MASK_VALUE) | ~np.isfinite(expected)] = np.nan
    np.testing.assert_array_equal(pixels, expected)
    fractions = np.isnan(expected).reshape(pixels.shape[0], -1).mean(axis=1)
    assert [c.masked_fraction for c in decoded.cutouts] == fractions.tolist()


@PROPERTY
@given(array=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, max_side=20)))
def test_png_round_trip(array: np.ndarray) -> None:
    decoded = decode_bytes(png_bytes(array, "L"), "p.png")
    np.testing.assert_array_equal(decoded.pixels[0, 0], np.flipud(array))
