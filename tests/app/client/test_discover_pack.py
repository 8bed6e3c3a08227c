"""Finding sources (BLF layout, folders, globs) and packing them into FITS-stack requests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

from app.client.discover import discover
from app.client.load import MISSING_BAND, load
from app.client.pack import Limits, pack
from app.client.pipeline import prepare_chunk
from app.client.sources import BandGroup, FileSource, source_from_key
from app.decode import decode_bytes
from app.decode.limits import DEFAULT_LIMITS
from tests.factories import image_fits, noise
from tests.training.blf_factory import make_blf


def test_a_blf_ground_set_is_grouped_by_id_in_ugri_order(tmp_path: Path) -> None:
    make_blf(tmp_path / "g", "ground", n=3)
    (tmp_path / "g" / "Public" / "Band3" / "imageSDSS_G-100001.fits").unlink()
    sources = discover([tmp_path / "g"])
    assert [type(s) for s in sources] == [BandGroup] * 3
    first = sources[0]
    assert isinstance(first, BandGroup) and first.id == 100000
    assert [band for band, _ in first.files] == ["u", "g", "r", "i"]
    assert source_from_key(first.key) == first  # the table's key finds the files again
    loaded = load(first, DEFAULT_LIMITS)
    (cutout,) = loaded.cutouts
    assert cutout.pixels is not None and cutout.pixels.shape == (4, 101, 101)
    assert cutout.pixels[:, 0, 0].tolist() == [1.0, 2.0, 3.0, 4.0]  # planes u, g, r, i by file name
    assert cutout.id == "100000" and cutout.pixel_scale == pytest.approx(0.2)
    assert load(sources[1], DEFAULT_LIMITS).cutouts[0].error.code == MISSING_BAND  # type: ignore[union-attr]


def test_space_files_plain_folders_and_globs(tmp_path: Path) -> None:
    make_blf(tmp_path / "s", "space", n=2)
    plain = tmp_path / "plain" / "deeper"
    plain.mkdir(parents=True)
    (plain / "b.FITS").write_bytes(image_fits(noise((5, 5))))
    (plain / "a.png").write_bytes(b"")
    (plain / "readme.txt").write_text("not a cutout")
    (plain / ".hidden.fits").write_bytes(b"")
    keys = [s.key for s in discover([tmp_path / "s", tmp_path / "plain", str(tmp_path / "plain/**/*.FITS")])]
    assert keys == [
        str(tmp_path / "s/Public/Band1/imageEUC_VIS-100000.fits"),
        str(tmp_path / "s/Public/Band1/imageEUC_VIS-100001.fits"),
        str(plain / "a.png"),
        str(plain / "b.FITS"),  # the glob's match is already there: kept once
    ]
    with pytest.raises(FileNotFoundError, match="no such file"):
        discover([tmp_path / "absent"])


def stack_of(data: bytes) -> tuple[np.ndarray, fits.Header]:
    with fits.open(io.BytesIO(data)) as hdul:
        return np.asarray(hdul[0].data), hdul[0].header.copy()


def test_stacks_keep_bands_and_pixel_scale_and_respect_the_limits(tmp_path: Path) -> None:
    paths = []
    for k in range(5):
        paths.append(tmp_path / f"{k}.fits")
        paths[-1].write_bytes(image_fits(noise((101, 101), seed=k), {"FILTER": "VIS", "PIXSCALE": 0.1}))
    cube = tmp_path / "cube.fits"
    cube.write_bytes(image_fits(noise((4, 101, 101)), {"BANDS": "u,g,r,i"}))
    plan = prepare_chunk(
        [FileSource(str(p)) for p in [*paths, cube]], Limits(max_cutouts=2), DEFAULT_LIMITS, False
    )
    assert [r.cutouts for r in plan.requests] == [2, 2, 1, 1]  # one-band requests of <= 2, the cube alone
    data, header = stack_of(plan.requests[0].parts[0].data)
    assert data.shape == (2, 101, 101) and header["FILTER"] == "vis" and header["PIXSCALE"] == 0.1
    data, header = stack_of(plan.requests[3].parts[0].data)
    assert data.shape == (1, 4, 101, 101) and header["BANDS"] == "u,g,r,i"
    assert [(s.request, s.index) for s in plan.slots if s] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 0)]
    # the service reads each stack back to the same pixels
    decoded = decode_bytes(plan.requests[0].parts[0].data, "stack.fits")
    assert np.array_equal(decoded.pixels[1, 0], noise((101, 101), seed=1))
    assert all(c.pixels is None for c in plan.cutouts)  # the pixels travel in the requests only
    named = prepare_chunk([FileSource(str(p)) for p in paths[:3]], Limits(), DEFAULT_LIMITS, True)
    assert stack_of(named.requests[0].parts[0].data)[0].shape == (3, 1, 101, 101)  # 4-D for a named model


def test_png_and_integer_files_holding_100_travel_as_they_are(tmp_path: Path) -> None:
    from tests.factories import png_bytes

    png = tmp_path / "a.png"
    png.write_bytes(png_bytes(np.full((8, 8), 7, dtype=np.uint8)))
    counts = tmp_path / "counts.fits"
    counts.write_bytes(image_fits(np.full((8, 8), 100, dtype=np.int16)))
    plan = pack(
        [load(FileSource(str(p)), DEFAULT_LIMITS) for p in (png, counts)], Limits(), named_model=False
    )
    assert [[part.data for part in r.parts] for r in plan.requests] == [
        [png.read_bytes()],
        [counts.read_bytes()],
    ]


def test_a_fits_file_of_several_cutouts_travels_as_it_is_when_it_fits_in_a_request(tmp_path: Path) -> None:
    stack = tmp_path / "stack.fits"
    stack.write_bytes(image_fits(noise((3, 101, 101), seed=1), {"FILTER": "VIS", "PIXSCALE": 0.1}))
    single = tmp_path / "single.fits"
    single.write_bytes(image_fits(noise((101, 101), seed=2), {"FILTER": "VIS", "PIXSCALE": 0.1}))
    sources = [FileSource(str(stack)), FileSource(str(single))]
    plan = prepare_chunk(sources, Limits(max_cutouts=4), DEFAULT_LIMITS, True)
    (request,) = plan.requests  # the file as it is and a stack of the single cutout share a request
    assert request.cutouts == 4 and request.parts[0].data == stack.read_bytes()
    assert [(s.part, s.index) for s in plan.slots if s] == [
        (request.parts[0].name, 0), (request.parts[0].name, 1), (request.parts[0].name, 2),
        (request.parts[1].name, 0),
    ]  # fmt: skip
    # a file larger than a request is restacked, split over requests of at most max_cutouts
    split = prepare_chunk(sources[:1], Limits(max_cutouts=2), DEFAULT_LIMITS, True)
    assert [r.cutouts for r in split.requests] == [2, 1]
    assert all(part.data != stack.read_bytes() for r in split.requests for part in r.parts)


@pytest.mark.parametrize(("planes", "four_d"), [(1, False), (1, True), (3, True), (3, False)])
def test_a_stack_is_a_standard_fits_file_astropy_reads_back(planes: int, four_d: bool) -> None:
    from app.client.load import Cutout
    from app.client.pack import stack_fits

    pixels = [noise((planes, 7, 5), seed=k) for k in range(4)]
    pixels[1][0, 2, 3] = np.nan
    bands = ("g", "r", "i")[:planes]
    cutouts = [Cutout("k", k, pixels=p, bands=bands, pixel_scale=0.2) for k, p in enumerate(pixels)]
    data = stack_fits(cutouts, four_d=four_d)
    assert len(data) % 2880 == 0
    with fits.open(io.BytesIO(data)) as hdul:
        hdul.verify("exception")  # a standard primary HDU: astropy finds nothing to fix
        array = np.asarray(hdul[0].data)
        header = hdul[0].header
    expected = np.stack(pixels)
    expected = expected[:, 0] if planes == 1 and not four_d else expected
    assert array.shape == expected.shape and array.dtype == np.dtype(">f4")
    assert np.array_equal(array, expected, equal_nan=True)
    assert header["PIXSCALE"] == 0.2
    if planes == 1 and not four_d:
        assert header["FILTER"] == "g" and "BANDS" not in header
    else:
        assert header["BANDS"] == ",".join(bands) and "FILTER" not in header


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["BANDS", "FILTER", "PIXSCALE", "NAXIS1", "SIMPLE"]),
    st.one_of(
        st.booleans(),
        st.integers(-(10**15), 10**15),
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=90),
    ),
    st.sampled_from(["", "[arcsec/px]"]),
)
def test_a_header_card_reads_back_in_astropy_as_the_value_written(
    key: str, value: object, comment: str
) -> None:
    from app.client.pack import header_card

    card = header_card(key, value, comment)  # type: ignore[arg-type]
    assert len(card) % 80 == 0 and card.isascii()
    parsed = fits.Header.fromstring(card.decode("ascii") + "END".ljust(80))
    for parsed_card in parsed.cards:
        parsed_card.verify("exception")  # standard cards: astropy finds nothing to fix
    got = parsed[key]
    if isinstance(value, str):
        assert got == value.rstrip()  # FITS: trailing blanks in a string are not significant
    else:
        assert got == value and type(got) is type(value)
    assert parsed.comments[key] == comment
