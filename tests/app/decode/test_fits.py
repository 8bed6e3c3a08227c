"""FITS decoding end to end: every layout of DESIGN section 6, every BITPIX, scaling, byte order, masking."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import app.decode.fits as fits_decoder
from app.decode import DecodeLimits, decode_bytes, decode_path
from app.decode.errors import DecodeError
from app.decode.limits import DEFAULT_LIMITS
from app.decode.masking import MASK_VALUE
from app.decode.prescan import prescan
from app.decode.types import DecodedFile
from tests.factories import (
    cube_fits,
    extension_fits,
    gzip_bytes,
    hdul_bytes,
    image_fits,
    mef_fits,
    noise,
    png_bytes,
    tile_compressed_fits,
)

S = 9  # cutout side in these tests


def code_of(data: bytes, **kwargs: object) -> str:
    with pytest.raises(DecodeError) as caught:
        decode_bytes(data, "f.fits", **kwargs)  # type: ignore[arg-type]
    return caught.value.code


# --- layouts ---------------------------------------------------------------------------------------


def test_2d_image_is_one_one_band_cutout_in_fits_orientation() -> None:
    image = noise((S, S + 2), seed=1)
    decoded = decode_bytes(image_fits(image), "a.fits")
    assert decoded.format == "fits"
    assert decoded.pixels.shape == (1, 1, S, S + 2)
    assert decoded.pixels.dtype == np.float32
    np.testing.assert_array_equal(decoded.pixels[0, 0], image)  # row 0 stays row 0
    (meta,) = decoded.cutouts
    assert (meta.file, meta.index, meta.format, meta.error) == ("a.fits", 0, "fits", None)


def test_cube_with_bands_keyword_is_one_cutout_with_named_planes() -> None:
    decoded = decode_bytes(cube_fits(("g", "r", "i", "u"), S), "cube.fits")
    assert decoded.pixels.shape == (1, 4, S, S)
    assert decoded.cutouts[0].bands == ("g", "r", "i", "u")
    # plane k was filled with k + noise: the plane order is the file's
    np.testing.assert_allclose(decoded.pixels[0].mean(axis=(1, 2)), [0, 1, 2, 3], atol=1e-6)


def test_cube_with_filter_n_keywords() -> None:
    cards = {"FILTER1": "SDSS_U", "FILTER2": "SDSS_G", "FILTER3": " SDSS_R "}
    decoded = decode_bytes(image_fits(noise((3, S, S)), cards), "c.fits")
    assert decoded.pixels.shape == (1, 3, S, S)
    assert decoded.cutouts[0].bands == ("sdss_u", "sdss_g", "sdss_r")


def test_3d_without_band_names_is_a_stack_of_one_band_cutouts() -> None:
    stack = noise((5, S, S))
    decoded = decode_bytes(image_fits(stack), "s.fits")
    assert decoded.pixels.shape == (5, 1, S, S)
    assert [c.index for c in decoded.cutouts] == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(decoded.pixels[3, 0], stack[3])


def test_3d_without_band_names_is_a_cube_for_a_multi_band_model() -> None:
    decoded = decode_bytes(image_fits(noise((4, S, S))), "c.fits", channels=4)
    assert decoded.pixels.shape == (1, 4, S, S)
    assert decoded.cutouts[0].bands is None
    assert code_of(image_fits(noise((3, S, S))), channels=4) == "band_mismatch"


def test_4d_array_is_n_cutouts_of_c_bands() -> None:
    data = noise((3, 4, S, S))
    decoded = decode_bytes(image_fits(data, {"BANDS": "u, g, r, i"}), "n.fits")
    assert decoded.pixels.shape == (3, 4, S, S)
    assert all(c.bands == ("u", "g", "r", "i") for c in decoded.cutouts)
    np.testing.assert_array_equal(decoded.pixels, data)
    assert code_of(image_fits(data), channels=1) == "band_mismatch"


@pytest.mark.parametrize("key", ["FILTER", "BAND"])
def test_multi_extension_file_with_one_band_per_hdu(key: str) -> None:
    decoded = decode_bytes(mef_fits(("r", "i", "g", "u"), S, key=key), "m.fits")
    assert decoded.pixels.shape == (1, 4, S, S)
    assert decoded.cutouts[0].bands == ("r", "i", "g", "u")
    np.testing.assert_allclose(decoded.pixels[0].mean(axis=(1, 2)), [0, 1, 2, 3], atol=1e-6)


def test_multi_extension_without_band_names_stack_or_cube() -> None:
    data = extension_fits(
        [noise((S, S), seed=k) + k for k in range(4)], [{"OBJECT": f"obj{k}"} for k in range(4)]
    )
    stack = decode_bytes(data, "m.fits")
    assert stack.pixels.shape == (4, 1, S, S)
    assert [c.id for c in stack.cutouts] == ["obj0", "obj1", "obj2", "obj3"]  # each HDU's own header
    cube = decode_bytes(data, "m.fits", channels=4)
    assert cube.pixels.shape == (1, 4, S, S)


def test_single_image_extension_is_used_wherever_it_is() -> None:
    image = noise((S, S))
    decoded = decode_bytes(extension_fits([image], primary_cards={"OBJECT": "from-primary"}), "e.fits")
    assert decoded.pixels.shape == (1, 1, S, S)
    np.testing.assert_array_equal(decoded.pixels[0, 0], image)
    assert decoded.cutouts[0].id == "from-primary"


def test_tables_and_empty_hdus_are_skipped() -> None:
    table = fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=np.zeros(3))])
    empty = fits.ImageHDU(np.zeros((0, S), dtype=np.float32))
    data = hdul_bytes([fits.PrimaryHDU(), table, empty, fits.ImageHDU(noise((S, S)))])
    assert decode_bytes(data, "t.fits").pixels.shape == (1, 1, S, S)


def test_gzip_compressed_fits_is_recognised_by_its_bytes() -> None:
    data = cube_fits(size=S)
    decoded = decode_bytes(gzip_bytes(data), "no-extension")
    np.testing.assert_array_equal(decoded.pixels, decode_bytes(data, "x").pixels)


def test_decode_path_records_the_path(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "cut.fits.gz"
    path.write_bytes(gzip_bytes(image_fits(noise((S, S)))))
    decoded = decode_path(path)
    assert decoded.file == str(path)
    assert decoded.pixels.shape == (1, 1, S, S)
    with pytest.raises(DecodeError) as caught:
        decode_path(path, limits=DecodeLimits(max_file_bytes=10))
    assert caught.value.code == "too_large"


# --- files of image HDUs only: read from their bytes, not through astropy's HDU list ----------------


def _scaled_int16(cards: dict[str, object]) -> bytes:
    stored = (np.arange(S * S, dtype=np.int16) - 40).reshape(S, S)
    stored[0, 0] = -32768
    hdu = fits.ImageHDU(stored)
    hdu.header.update({"BSCALE": 0.5, "BZERO": 3.0, "BLANK": -32768, **cards})
    return hdul_bytes([fits.PrimaryHDU(), hdu])


IMAGE_HDU_FILES = {
    "one image": (image_fits(noise((S, S)), {"OBJECT": "one", "RA": 150.0, "DEC": 2.0}), None),
    "a band per HDU": (mef_fits(("r", "i", "g", "u"), S), None),
    "a cutout per HDU": (
        extension_fits(
            [noise((S, S), seed=k) + k for k in range(3)],
            [{"OBJECT": f"obj{k}", "RA": 10.0 + k, "DEC": -5.0, "EXTNAME": f"C{k}"} for k in range(3)],
            primary_cards={"TELESCOP": "bench"},
        ),
        None,
    ),
    "HDUs read as one cube": (extension_fits([noise((S, S), seed=k) for k in range(4)]), 4),
    "primary image and an extension": (
        hdul_bytes([fits.PrimaryHDU(noise((S, S))), fits.ImageHDU(noise((S, S), seed=1))]),
        None,
    ),
    "scaled integers with BLANK": (_scaled_int16({"OBJECT": "int"}), None),
    "WCS centre": (
        image_fits(
            noise((S, S)),
            {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.0, "CRVAL2": 2.0}
            | {"CRPIX1": 1.0, "CRPIX2": 1.0, "CDELT1": -2.8e-5, "CDELT2": 2.8e-5},
        ),
        None,
    ),
}


@pytest.mark.parametrize(("data", "channels"), IMAGE_HDU_FILES.values(), ids=IMAGE_HDU_FILES.keys())
def test_files_of_image_hdus_decode_as_through_astropys_hdu_list(
    data: bytes, channels: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fits_decoder._plain_images(prescan(data, DEFAULT_LIMITS), data, DEFAULT_LIMITS) is not None
    direct = decode_bytes(data, "f.fits", channels=channels)
    monkeypatch.setattr(fits_decoder, "_plain_images", lambda *args: None)
    through_astropy = decode_bytes(data, "f.fits", channels=channels)
    assert direct.pixels.shape == through_astropy.pixels.shape
    assert np.array_equal(direct.pixels, through_astropy.pixels, equal_nan=True)
    assert direct.cutouts == through_astropy.cutouts  # ids, positions, bands, masks, warnings


@pytest.mark.parametrize(
    "data",
    [
        hdul_bytes([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("x", "E", array=[1.0])])]),
        tile_compressed_fits(noise((S, S))),
        image_fits(noise((S, S))) + b"trailing bytes",
    ],
    ids=["table", "tile-compressed", "trailing bytes"],
)
def test_other_files_go_through_astropys_hdu_list(data: bytes) -> None:
    assert fits_decoder._plain_images(prescan(data, DEFAULT_LIMITS), data, DEFAULT_LIMITS) is None


def test_decoding_files_of_image_hdus_does_not_import_astropy(tmp_path: Path) -> None:
    (tmp_path / "mef.fits").write_bytes(mef_fits(("u", "g", "r", "i"), S))
    (tmp_path / "cutouts.fits").write_bytes(extension_fits([noise((S, S)), noise((S, S), seed=1)]))
    child = (
        "import sys; from app.decode import decode_path; "
        "shapes = [decode_path(p).pixels.shape for p in sys.argv[1:]]; "
        "print(shapes, 'astropy' in sys.modules)"
    )
    paths = [str(tmp_path / "mef.fits"), str(tmp_path / "cutouts.fits")]
    done = subprocess.run([sys.executable, "-c", child, *paths], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[(1,", "4,", f"{S},", f"{S}),", "(2,", "1,", f"{S},", f"{S})]", "False"]


# --- data types ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype",
    [np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32, np.int64, ">f4", "<f4", ">f8", "<f8"],
)
def test_every_bitpix_and_byte_order_gives_native_float32(dtype: str) -> None:
    values = np.array([[0, 1, 2], [7, 42, 99]]).astype(dtype)
    decoded = decode_bytes(image_fits(values), "b.fits")
    assert decoded.pixels.dtype == np.dtype(np.float32)  # native byte order
    np.testing.assert_array_equal(decoded.pixels[0, 0], values.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64, np.uint8, np.float32])
def test_bscale_bzero_are_applied(dtype: type) -> None:
    raw = np.array([[1, 2], [3, 4]], dtype=dtype)
    decoded = decode_bytes(image_fits(raw, {"BSCALE": 0.5, "BZERO": -3.0}), "s.fits")
    np.testing.assert_allclose(decoded.pixels[0, 0], raw * 0.5 - 3.0)


def test_large_integers_keep_float32_precision() -> None:
    raw = np.array([[2**40, 2**40 + 2**20]], dtype=np.int64)
    decoded = decode_bytes(image_fits(raw, {"BSCALE": 1e-6, "BZERO": 1.0}), "p.fits")
    np.testing.assert_allclose(decoded.pixels[0, 0], raw * 1e-6 + 1.0, rtol=1e-7)


# --- masking ---------------------------------------------------------------------------------------


def test_float_data_mask_value_and_non_finite_become_nan() -> None:
    image = noise((S, S))
    image[0, 0], image[1, 1], image[2, 2], image[3, 3] = MASK_VALUE, np.nan, np.inf, -np.inf
    image[4, 4] = 100.5  # only exactly 100 is the mask value
    decoded = decode_bytes(image_fits(image), "m.fits")
    pixels = decoded.pixels[0, 0]
    assert np.isnan(pixels[[0, 1, 2, 3], [0, 1, 2, 3]]).all()
    assert pixels[4, 4] == np.float32(100.5)
    assert decoded.cutouts[0].masked_fraction == pytest.approx(4 / (S * S))


def test_integer_data_blank_is_masked_and_100_is_not() -> None:
    raw = np.array([[100, -32768], [5, 6]], dtype=np.int16)
    decoded = decode_bytes(image_fits(raw, {"BLANK": -32768, "BSCALE": 2.0}), "i.fits")
    pixels = decoded.pixels[0, 0]
    assert pixels[0, 0] == 200.0
    assert np.isnan(pixels[0, 1])
    assert decoded.cutouts[0].masked_fraction == 0.25


def test_all_nan_cutout_in_a_stack_is_a_cutout_error() -> None:
    stack = noise((3, S, S))
    stack[1] = MASK_VALUE
    decoded = decode_bytes(image_fits(stack), "s.fits")
    errors = [None if c.error is None else c.error.code for c in decoded.cutouts]
    assert errors == [None, "all_nan", None]
    assert decoded.cutouts[1].masked_fraction == 1.0


def test_a_file_with_only_all_nan_cutouts_raises() -> None:
    assert code_of(image_fits(np.full((2, S, S), np.nan, dtype=np.float32))) == "all_nan"


# --- tile-compressed -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["RICE_1", "GZIP_1", "GZIP_2", "PLIO_1", "HCOMPRESS_1", "NOCOMPRESS"])
def test_tile_compressed_integers_are_lossless(method: str) -> None:
    raw = (np.arange(S * S, dtype=np.int16) % 50).reshape(S, S)
    decoded = decode_bytes(tile_compressed_fits(raw, {"FILTER": "VIS"}, compression=method), "c.fits")
    np.testing.assert_array_equal(decoded.pixels[0, 0], raw)
    assert decoded.cutouts[0].bands == ("vis",)


def test_tile_compressed_float_cube_keeps_mask_value_and_bands() -> None:
    cube = noise((4, S, S))
    cube[2, 3, 3] = MASK_VALUE
    decoded = decode_bytes(tile_compressed_fits(cube, {"BANDS": "u,g,r,i"}, compression="GZIP_1"), "c.fits")
    assert decoded.pixels.shape == (1, 4, S, S)
    assert np.isnan(decoded.pixels[0, 2, 3, 3])
    assert np.count_nonzero(np.isnan(decoded.pixels)) == 1
    assert decoded.cutouts[0].bands == ("u", "g", "r", "i")


# --- limits and structure --------------------------------------------------------------------------


def test_limits_on_hdus_cutouts_and_pixels() -> None:
    many = extension_fits([np.zeros((2, 2), np.float32)] * 5)
    assert code_of(many, limits=DecodeLimits(max_hdus=5)) == "too_large"  # 6 HDUs with the primary
    assert decode_bytes(many, "m", limits=DecodeLimits(max_hdus=6)).pixels.shape == (5, 1, 2, 2)
    assert code_of(image_fits(noise((11, 3, 3))), limits=DecodeLimits(max_cutouts=10)) == "too_large"
    assert code_of(image_fits(noise((S, S))), limits=DecodeLimits(max_pixels=S * S - 1)) == "too_large"
    assert code_of(many, limits=DecodeLimits(max_total_pixels=19)) == "too_large"


def test_trailing_garbage_gives_a_warning_not_an_error() -> None:
    data = image_fits(noise((S, S))) + b"\x01garbage" * 10
    decoded = decode_bytes(data, "g.fits")
    assert decoded.pixels.shape == (1, 1, S, S)
    assert "fits_nonstandard" in [w.code for w in decoded.cutouts[0].warnings]


def test_truncated_data_and_headers_are_bad_fits() -> None:
    data = cube_fits(size=S)
    assert code_of(data[: len(data) - 2880]) == "bad_fits"  # data block missing
    assert code_of(data[:1000]) == "bad_fits"  # header without END


def test_one_image_of_several_cutouts_is_counted_from_its_header_alone() -> None:
    from app.decode.fits import count_or_decode_fits, decode_fits
    from app.decode.limits import DEFAULT_LIMITS

    def count(data: bytes, channels: int | None, up_to: int = 8) -> object:
        return count_or_decode_fits(data, "f.fits", channels, DEFAULT_LIMITS, up_to)

    stack = image_fits(noise((5, 101, 101)))
    assert count(stack, None) == (5, 1)
    assert count(image_fits(noise((2, 3, 101, 101))), None) == (2, 3)
    cube = count(stack, 5)  # a five-band model reads one cube: decoded, as decode_fits does it
    assert isinstance(cube, DecodedFile) and cube.pixels.shape == (1, 5, 101, 101)
    assert np.array_equal(cube.pixels, decode_fits(stack, "f.fits", 5, DEFAULT_LIMITS).pixels)
    decoded = count(stack, None, up_to=4)  # more cutouts than asked for: decoded
    assert isinstance(decoded, DecodedFile) and len(decoded.cutouts) == 5
    for bad, channels, code in [
        (stack, 4, "band_mismatch"),
        (stack[:4000], None, "bad_fits"),  # truncated
        (b"SIMPLE  = T" + b" " * 100, None, "bad_fits"),
    ]:
        with pytest.raises(DecodeError) as caught:
            count(bad, channels)
        assert caught.value.code == code


@pytest.mark.parametrize(
    "data",
    [
        image_fits(noise((S, S)), {"OBJECT": "one", "RA": 150.0, "DEC": 2.0}),  # read from its bytes
        image_fits(noise((4, S, S))),  # a stack
        cube_fits(),
        mef_fits(),  # several image HDUs, read from their bytes too
        extension_fits([noise((S, S))], [{"FILTER": "VIS"}]),
        tile_compressed_fits(noise((S, S))),  # astropy's HDU list
        gzip_bytes(image_fits(noise((S, S)))),
        png_bytes(np.arange(S * S, dtype=np.uint8).reshape(S, S)),
    ],
    ids=["image", "stack", "cube", "mef", "extension", "tile-compressed", "gzip", "png"],
)
def test_a_memoryview_of_a_larger_buffer_decodes_as_its_bytes_do(data: bytes) -> None:
    # what the service passes: a part of the request body, viewed and not copied
    body = b"--boundary\r\n\r\n" + data + b"\r\n--boundary--"
    view = memoryview(body)[14 : 14 + len(data)]
    from_bytes, from_view = decode_bytes(data, "f.fits"), decode_bytes(view, "f.fits")
    assert np.array_equal(from_bytes.pixels, from_view.pixels, equal_nan=True)
    assert from_view.cutouts == from_bytes.cutouts
    from_view.pixels[...] = 0.0  # the pixels are the decoder's own array, not a window on the body
    assert bytes(view) == data
