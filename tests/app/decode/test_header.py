"""Header metadata: id, ra/dec from keywords and WCS, pixel scale from each source, band names."""

from __future__ import annotations

from typing import Any

import pytest
from astropy.io import fits
from astropy.wcs import WCS

from app.decode import decode_bytes
from app.decode.cards import HeaderValues
from app.decode.header import band_names, read_header_info
from tests.factories import extension_fits, image_fits, noise

S = 101  # BLF size: CRPIX 51 is the centre


def tan_wcs(
    scale_deg: float = 0.2 / 3600, *, cd: bool = False, ra: float = 150.0, dec: float = 2.0
) -> dict[str, Any]:
    cards: dict[str, Any] = {
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CRVAL1": ra,
        "CRVAL2": dec,
        "CRPIX1": 51.0,
        "CRPIX2": 51.0,
    }
    if cd:
        cards |= {"CD1_1": -scale_deg, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": scale_deg}
    else:
        cards |= {"CDELT1": -scale_deg, "CDELT2": scale_deg}
    return cards


def info(cards: dict[str, Any], primary: dict[str, Any] | None = None) -> Any:
    header = fits.Header(list(cards.items()))
    return read_header_info(header, None if primary is None else fits.Header(list(primary.items())), S, S)


def test_id_from_object_then_id() -> None:
    assert info({"OBJECT": " lens-42 ", "ID": 7}).id == "lens-42"
    assert info({"ID": 100012}).id == "100012"
    assert info({}).id is None
    assert info({}, primary={"OBJECT": "p"}).id == "p"


def test_ra_dec_keywords_win_over_wcs() -> None:
    got = info({"RA": 10.5, "DEC": -5.25} | tan_wcs())
    assert (got.ra, got.dec) == (10.5, -5.25)
    assert info({"RA": "370.0", "DEC": "1"}).ra == pytest.approx(10.0)


def test_ra_dec_from_wcs_at_the_image_centre() -> None:
    got = info(tan_wcs(ra=150.0, dec=2.0))
    assert got.ra == pytest.approx(150.0, abs=1e-9)
    assert got.dec == pytest.approx(2.0, abs=1e-9)
    assert got.warnings == ()


def test_wcs_with_latitude_first_still_gives_ra_then_dec() -> None:
    swapped = tan_wcs(ra=150.0, dec=2.0)
    swapped |= {"CTYPE1": "DEC--TAN", "CTYPE2": "RA---TAN", "CRVAL1": 2.0, "CRVAL2": 150.0}
    got = info(swapped)
    assert (got.ra, got.dec) == (pytest.approx(150.0, abs=1e-9), pytest.approx(2.0, abs=1e-9))
    assert got.pixel_scale_arcsec == pytest.approx(0.2)


def test_sexagesimal_ra_is_ignored_with_a_warning_and_wcs_is_used() -> None:
    got = info({"RA": "10:00:00", "DEC": "+02:00:00"} | tan_wcs())
    assert got.ra == pytest.approx(150.0)
    assert [w.code for w in got.warnings] == ["bad_header_value"]


@pytest.mark.parametrize(
    ("cards", "scale"),
    [
        ({"PIXSCALE": 0.1}, 0.1),
        ({"PIXSCALE": 0.1} | tan_wcs(), 0.1),  # PIXSCALE wins
        (tan_wcs(0.2 / 3600, cd=True), 0.2),
        (tan_wcs(0.2 / 3600), 0.2),
        ({"CDELT1": -0.1 / 3600, "CDELT2": 0.1 / 3600}, 0.1),  # no CTYPE: degrees assumed
        ({"CDELT1": 0.5, "CDELT2": 0.5, "CUNIT1": "arcsec", "CUNIT2": "arcsec"}, 0.5),
        ({}, None),
        ({"PIXSCALE": -1.0}, None),
    ],
)
def test_pixel_scale_sources(cards: dict[str, Any], scale: float | None) -> None:
    got = info(cards).pixel_scale_arcsec
    assert got == (None if scale is None else pytest.approx(scale, rel=1e-9))


def test_primary_pixscale_is_the_last_resort() -> None:
    assert info({}, primary={"PIXSCALE": 0.2}).pixel_scale_arcsec == 0.2


def test_broken_wcs_gives_none_and_a_warning_not_an_error() -> None:
    got = info({"CTYPE1": "RA---XYZ", "CTYPE2": "DEC--XYZ", "CDELT1": 1e-5, "CDELT2": 1e-5})
    assert got.ra is None and got.dec is None
    assert "bad_wcs" in [w.code for w in got.warnings]
    decoded = decode_bytes(
        image_fits(noise((5, 5)), {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL2": 95.0}), "w"
    )
    assert decoded.cutouts[0].dec is None


@pytest.mark.parametrize(
    ("cards", "bands"),
    [
        ({"BANDS": "u,g,r,i"}, ("u", "g", "r", "i")),
        ({"BANDS": "U G R I"}, ("u", "g", "r", "i")),
        ({"FILTER1": "G", "FILTER2": "R", "FILTER4": "ignored: 3 is missing"}, ("g", "r")),
        ({"FILTER": "SDSS_R"}, ("sdss_r",)),
        ({"BAND": "VIS"}, ("vis",)),
        ({"BANDS": "  "}, None),
        ({}, None),
    ],
)
def test_band_names(cards: dict[str, Any], bands: tuple[str, ...] | None) -> None:
    assert band_names(fits.Header(list(cards.items()))) == bands


def test_metadata_reaches_cutouts_of_an_extension_with_wcs() -> None:
    data = extension_fits(
        [noise((S, S))], [tan_wcs(0.1 / 3600) | {"FILTER": "VIS"}], primary_cards={"OBJECT": "blf-100001"}
    )
    meta = decode_bytes(data, "e.fits").cutouts[0]
    assert meta.id == "blf-100001"
    assert meta.pixel_scale_arcsec == pytest.approx(0.1)
    assert meta.ra == pytest.approx(150.0)
    assert meta.bands == ("vis",)


def _rotated(cards: dict[str, Any], degrees: float) -> dict[str, Any]:
    import math

    scale = abs(cards.pop("CDELT1"))
    cards.pop("CDELT2")
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return cards | {"CD1_1": -scale * c, "CD1_2": scale * s, "CD2_1": scale * s, "CD2_2": scale * c}


@pytest.mark.parametrize(
    "cards",
    [
        tan_wcs(),
        tan_wcs(cd=True, ra=359.99, dec=-89.5),
        _rotated(tan_wcs(0.26 / 3600, ra=35.0, dec=-4.5), 33.0),
        tan_wcs() | {"CTYPE1": "DEC--TAN", "CTYPE2": "RA---TAN", "CRVAL1": 2.0, "CRVAL2": 150.0},
        tan_wcs() | {"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CRPIX1": 10.0, "CRPIX2": -40.0},
        tan_wcs() | {"CTYPE1": "RA---CAR", "CTYPE2": "DEC--CAR"},
        tan_wcs() | {"CUNIT1": "arcsec", "CUNIT2": "arcsec", "CDELT1": -0.2, "CDELT2": 0.2},
        tan_wcs() | {"NAXIS": 3, "WCSAXES": 3, "CTYPE3": "WAVE", "CRVAL3": 5e-7, "CDELT3": 1e-9},
        {
            "CTYPE1": "GLON-TAN",
            "CTYPE2": "GLAT-TAN",
            "CRVAL1": 10.0,
            "CRVAL2": 20.0,
            "CDELT1": -1e-4,
            "CDELT2": 1e-4,
        },
    ],
)
def test_the_wcslib_route_gives_what_astropy_wcs_gives(cards: dict[str, Any]) -> None:
    # read_header_info takes the cheaper Wcsprm route; astropy's WCS class is the reference
    from app.decode.header import _make_wcs, _sky_from_wcsprm, _wcs_centre, _wcs_scale

    header = fits.Header(list(cards.items()))
    assert _sky_from_wcsprm(HeaderValues(header), S, 80, []) is not None  # the route taken here
    got = read_header_info(header, None, S, 80)
    # from the header's bytes as a file stores them (cards astropy need not write out again): the same
    stored = HeaderValues(header, header.tostring().encode("ascii"))
    assert read_header_info(stored, None, S, 80) == got
    reference = _make_wcs(header, [])
    assert reference is not None
    centre = _wcs_centre(reference, S, 80, [])
    assert centre is not None and got.ra is not None and got.dec is not None
    assert (got.ra, got.dec) == (pytest.approx(centre[0], abs=1e-10), pytest.approx(centre[1], abs=1e-10))
    assert got.pixel_scale_arcsec == pytest.approx(_wcs_scale(reference), rel=1e-12)
    assert got.warnings == ()


def test_a_sip_header_takes_the_astropy_wcs_route() -> None:
    # off the reference pixel, so that the distortion (4 px here) moves the centre
    plain = tan_wcs() | {"CRPIX1": 31.0}
    sip = plain | {"CTYPE1": "RA---TAN-SIP", "CTYPE2": "DEC--TAN-SIP", "A_ORDER": 2, "B_ORDER": 2,
                   "A_2_0": 1e-2, "B_0_2": 0.0}  # fmt: skip
    from app.decode.header import _sky_from_wcsprm

    assert _sky_from_wcsprm(HeaderValues(fits.Header(list(sip.items()))), S, S, []) is None
    got, undistorted = info(sip), info(plain)
    reference = WCS(fits.Header(list(sip.items()))).pixel_to_world_values(50.0, 50.0)
    assert (got.ra, got.dec) == (
        pytest.approx(float(reference[0]), abs=1e-10),
        pytest.approx(float(reference[1]), abs=1e-10),
    )
    assert abs(got.ra - undistorted.ra) > 1e-4  # type: ignore[operator]


def test_a_file_header_in_free_format_reads_as_astropy_reads_it() -> None:
    # cards as another writer may store them (values not right-aligned, lower-case units, comments,
    # blank cards before END): the stored bytes go to wcslib as they are, the parsed header to the rest
    cards = [
        "SIMPLE  = T",
        "BITPIX  = -32",
        "NAXIS   = 2",
        f"NAXIS1  = {S}",
        f"NAXIS2  = {S}",
        "CTYPE1  = 'RA---TAN'  / projection",
        "CTYPE2  = 'DEC--TAN'",
        "CRPIX1  = 51.",
        "CRPIX2  = 51.",
        "CRVAL1  = 2.1E+02 / [deg]",
        "CRVAL2  = -4.5D0",
        "CD1_1   = -5.5555555555556E-05",
        "CD2_2   = 5.5555555555556E-05",
        "CUNIT1  = 'deg'",
        "CUNIT2  = 'deg'",
        "OBJECT  = 'free-format'",
        "",
        "",
        "END",
    ]
    header_bytes = "".join(card.ljust(80) for card in cards).encode("ascii")
    header_bytes += b" " * (-len(header_bytes) % 2880)
    data = header_bytes + noise((S, S)).astype(">f4").tobytes()
    meta = decode_bytes(data + b"\0" * (-len(data) % 2880), "free.fits").cutouts[0]
    reference = info({k: v for k, v in fits.Header.fromstring(header_bytes.decode()).items()})
    assert (meta.ra, meta.dec, meta.pixel_scale_arcsec) == (
        reference.ra,
        reference.dec,
        reference.pixel_scale_arcsec,
    )
    assert meta.ra == pytest.approx(210.0) and meta.dec == pytest.approx(-4.5)
    assert meta.pixel_scale_arcsec == pytest.approx(0.2) and meta.id == "free-format"
