"""Metadata from FITS headers: cutout id, sky position, pixel scale and band names.

Nothing here raises: a header value that cannot be used gives None and, where a user would want to
know (a keyword present but unreadable, a broken WCS), a DecodeWarning.

Sources, first match wins (the image HDU's own header before the primary header of the file):
- id: OBJECT, else ID (stripped; numbers become strings).
- ra, dec: RA and DEC keywords in decimal degrees (ICRS assumed), else the celestial WCS evaluated at
  the image centre, pixel ((W - 1) / 2, (H - 1) / 2) zero-based, i.e. CRPIX 51 of a 101-pixel BLF cutout.
- pixel scale in arcsec/px: PIXSCALE (already arcsec/px), else the WCS pixel-scale matrix (CD, or
  CDELT with PC) through astropy.wcs.utils.proj_plane_pixel_scales, as the geometric mean of the two
  celestial axes; units from CUNITn, degrees when absent (the FITS default for celestial axes).
- bands (lower-cased, stripped, no other mapping): BANDS ('u,g,r,i', plane order; commas or blanks
  separate), else FILTER1..FILTERn, else FILTER or BAND (one name).
"""

from __future__ import annotations

import functools
import math
import warnings as pywarnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from app.decode.cards import HeaderValues
from app.decode.types import DecodeWarning

# astropy is imported where a header needs it, not here: astropy.io.fits takes a fifth of a second to
# import and astropy.wcs a third (it imports astropy.coordinates), which a plain header with RA, DEC
# and PIXSCALE never needs
if TYPE_CHECKING:
    from astropy.io.fits import Header
    from astropy.wcs import WCS

_WCS_KEYS = ("CTYPE1", "CD1_1", "CDELT1", "PC1_1", "CRVAL1")
# distortions that astropy's WCS class applies and wcslib's Wcsprm alone does not (SIP, paper IV
# lookup tables); TPV and other wcslib-native distortions are in Wcsprm
_DISTORTION_KEYS = ("A_ORDER", "B_ORDER", "AP_ORDER", "CPDIS1", "CPDIS2", "D2IMDIS1", "D2IMDIS2")
_MAX_FILTER_KEYS = 999


@dataclass(frozen=True, slots=True)
class HeaderInfo:
    """What the headers of one image say about its cutouts (see the module docstring for sources)."""

    id: str | None = None
    ra: float | None = None
    dec: float | None = None
    pixel_scale_arcsec: float | None = None
    warnings: tuple[DecodeWarning, ...] = ()


def clean_band(value: Any) -> str | None:
    """A band name as recorded: str(value) stripped and lower-cased; None when empty or absent."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip().lower()
    return text or None


def single_band(header: HeaderValues) -> str | None:
    """The band of a one-band image HDU: FILTER, else BAND."""
    for key in ("FILTER", "BAND"):
        name = clean_band(header.get(key))
        if name is not None:
            return name
    return None


def band_names(header: Header | HeaderValues) -> tuple[str, ...] | None:
    """Band names of an image's planes: BANDS, else FILTER1..n, else FILTER/BAND (one name)."""
    header = HeaderValues.of(header)
    bands = header.get("BANDS")
    if isinstance(bands, str) and bands.strip():
        sep = "," if "," in bands else None
        names = tuple(n for n in (clean_band(p) for p in bands.split(sep)) if n is not None)
        if names:
            return names
    numbered: list[str] = []
    for k in range(1, _MAX_FILTER_KEYS + 1):
        name = clean_band(header.get(f"FILTER{k}"))
        if name is None:
            break
        numbered.append(name)
    if numbered:
        return tuple(numbered)
    one = single_band(header)
    return None if one is None else (one,)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _lookup(headers: tuple[HeaderValues, ...], key: str) -> Any:
    for header in headers:
        if key in header:
            return header[key]
    return None


def _read_id(headers: tuple[HeaderValues, ...]) -> str | None:
    for key in ("OBJECT", "ID"):
        value = _lookup(headers, key)
        if value is not None and not isinstance(value, bool):
            text = str(value).strip()
            if text:
                return text
    return None


def _keyword_radec(
    headers: tuple[HeaderValues, ...], warnings: list[DecodeWarning]
) -> tuple[float, float] | None:
    ra_raw, dec_raw = _lookup(headers, "RA"), _lookup(headers, "DEC")
    if ra_raw is None or dec_raw is None:
        return None
    ra, dec = _number(ra_raw), _number(dec_raw)
    if ra is None or dec is None or not -90.0 <= dec <= 90.0:
        warnings.append(
            DecodeWarning(
                "bad_header_value",
                f"RA={ra_raw!r}, DEC={dec_raw!r} are not decimal degrees; ignored (the WCS is used if any)",
            )
        )
        return None
    return ra % 360.0, dec


def _make_wcs(header: Header, warnings: list[DecodeWarning]) -> WCS | None:
    from astropy.wcs import WCS

    try:
        wcs = WCS(header)
        if wcs.has_celestial:
            # .celestial builds a second WCS; a 2-D celestial WCS already is one (_wcs_centre reads
            # its longitude and latitude axes by index)
            return wcs if wcs.naxis == 2 else wcs.celestial
        if wcs.naxis >= 2:
            return wcs.sub([1, 2])
    except Exception as exc:  # astropy.wcs raises many types for broken headers; all mean "no WCS"
        warnings.append(DecodeWarning("bad_wcs", f"the WCS in the header cannot be used: {exc}"[:300]))
    return None


def _wcs_centre(
    wcs: WCS, height: int, width: int, warnings: list[DecodeWarning]
) -> tuple[float, float] | None:
    if not wcs.has_celestial:
        return None
    try:
        world = wcs.pixel_to_world_values((width - 1) / 2.0, (height - 1) / 2.0)
        # the world axes come in the header's order: latitude first is legal (CTYPE1 = 'DEC--TAN')
        ra_f, dec_f = float(world[wcs.wcs.lng]), float(world[wcs.wcs.lat])
    except Exception as exc:
        warnings.append(
            DecodeWarning("bad_wcs", f"the WCS cannot place the image centre on the sky: {exc}"[:300])
        )
        return None
    return _on_sky(ra_f, dec_f, warnings)


def _on_sky(ra: float, dec: float, warnings: list[DecodeWarning]) -> tuple[float, float] | None:
    if not (math.isfinite(ra) and math.isfinite(dec) and -90.0 <= dec <= 90.0):
        warnings.append(DecodeWarning("bad_wcs", "the WCS puts the image centre off the sky; ra/dec not set"))
        return None
    return ra % 360.0, dec


@functools.lru_cache(maxsize=64)
def _arcsec_per(unit: str) -> float:
    """Arcseconds in one ``unit`` (a CUNITn value); raises for a non-angular unit."""
    import astropy.units as u

    return float(u.Unit(unit).to(u.arcsec))


def _arcsec_scale(scales: Any, units: Any) -> float | None:
    """The geometric mean of two celestial axes' pixel scales, in arcsec/px (units: CUNITn, deg if blank)."""
    try:
        factors = [_arcsec_per(str(unit).strip() or "deg") for unit in units]
        arcsec = [abs(float(s)) * f for s, f in zip(scales, factors, strict=True)]
    except Exception:  # non-angular units: no usable scale
        return None
    scale = math.sqrt(arcsec[0] * arcsec[1])
    return scale if math.isfinite(scale) and scale > 0.0 else None


def _wcs_scale(wcs: WCS) -> float | None:
    from astropy.wcs.utils import proj_plane_pixel_scales

    try:
        scales = proj_plane_pixel_scales(wcs)
    except Exception:  # singular matrices: no usable scale
        return None
    return _arcsec_scale(scales, wcs.wcs.cunit)


def _until_end(cards: bytes) -> bytes:
    """Header bytes as stored, up to and including the END card (wcslib warns about what follows)."""
    for offset in range(0, len(cards) - 79, 80):
        if cards.startswith(b"END     ", offset):
            return cards[: offset + 80]
    return cards


def _sky_from_wcsprm(
    header: HeaderValues, height: int, width: int, warnings: list[DecodeWarning]
) -> tuple[tuple[float, float] | None, float | None] | None:
    """Centre and pixel scale straight from wcslib (astropy's ``Wcsprm``), the same numbers as the
    ``WCS`` route for a plain celestial WCS at a tenth of its cost (``WCS`` re-verifies every header
    card, and that was most of the time spent on a small file). None where the ``WCS`` class is needed:
    SIP or lookup-table distortions (which only it applies), no celestial axes, or a WCS wcslib
    rejects (the ``WCS`` route then words the warning). wcslib reads the header as the file stores it,
    where the file's bytes are at hand; else astropy writes the parsed header out again (a third of the
    cost of decoding a small file: it re-verifies every card)."""
    if any(key in header for key in _DISTORTION_KEYS):
        return None
    from astropy.wcs import Wcsprm

    try:
        if header.cards is None:
            text = header.header.tostring(endcard=False, padding=False).encode("ascii")
        else:
            text = _until_end(header.cards)
        prm = Wcsprm(text, relax=True)
        prm.fix()
        prm.set()
        lng, lat = int(prm.lng), int(prm.lat)
        if lng < 0 or lat < 0:
            return None
        axes = sorted((lng, lat))  # the celestial pixel axes, in order: x then y of the image
        pixel = np.zeros((1, prm.naxis))
        pixel[0, axes[0]], pixel[0, axes[1]] = (width - 1) / 2.0, (height - 1) / 2.0
        world = prm.p2s(pixel, 0)["world"][0]
        # astropy.wcs.utils.proj_plane_pixel_scales on the celestial axes: column norms of CDELT x PC
        matrix = (np.diag(prm.get_cdelt()) @ prm.get_pc())[np.ix_(axes, axes)]
        scales = np.sqrt((matrix**2).sum(axis=0))
        units = [prm.cunit[k] for k in axes]
    except Exception:  # wcslib raises many types for broken headers; the WCS route reports them
        return None
    return _on_sky(float(world[lng]), float(world[lat]), warnings), _arcsec_scale(scales, units)


def _positive(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0.0 else None


def _from_wcs(
    header: HeaderValues,
    height: int,
    width: int,
    radec: tuple[float, float] | None,
    scale: float | None,
    warnings: list[DecodeWarning],
) -> tuple[tuple[float, float] | None, float | None]:
    """Fill in the centre and the pixel scale the keywords left unknown, from the header's WCS."""
    fast = _sky_from_wcsprm(header, height, width, warnings)
    if fast is not None:
        return radec or fast[0], scale or fast[1]
    wcs = _make_wcs(header.header, warnings)
    if wcs is None:
        return radec, scale
    if radec is None:
        radec = _wcs_centre(wcs, height, width, warnings)
    if scale is None:
        scale = _wcs_scale(wcs)
    return radec, scale


def _ignore_astropy_warnings() -> None:
    from astropy.utils.exceptions import AstropyWarning

    pywarnings.simplefilter("ignore", AstropyWarning)


def read_header_info(
    header: Header | HeaderValues, primary: Header | HeaderValues | None, height: int, width: int
) -> HeaderInfo:
    """Read id, ra/dec and pixel scale for an image of ``height`` x ``width`` pixels.

    ``header`` is the image HDU's header (for a tile-compressed HDU, the image header astropy builds);
    ``primary`` the file's primary header when the image is in an extension, else None.
    """
    header = HeaderValues.of(header)
    primary = None if primary is None else HeaderValues.of(primary)
    headers = (header,) if primary is None else (header, primary)
    warnings: list[DecodeWarning] = []
    with pywarnings.catch_warnings():
        # FITSFixedWarning and friends say what wcslib repaired; a broken WCS is reported as bad_wcs.
        # astropy's warnings are silenced wherever astropy reads here (a plain header's keywords are
        # read without it, and it is not imported for them)
        pywarnings.simplefilter("ignore", RuntimeWarning)
        if not all(h.plain for h in headers):
            _ignore_astropy_warnings()
        radec = _keyword_radec(headers, warnings)
        scale = _positive(header.get("PIXSCALE"))
        # The WCS only when the keywords leave something unknown: building one is most of the cost
        # of reading a small file's header
        if (radec is None or scale is None) and any(key in header for key in _WCS_KEYS):
            _ignore_astropy_warnings()
            radec, scale = _from_wcs(header, height, width, radec, scale, warnings)
    if scale is None and primary is not None:
        scale = _positive(primary.get("PIXSCALE"))

    return HeaderInfo(
        id=_read_id(headers),
        ra=None if radec is None else radec[0],
        dec=None if radec is None else radec[1],
        pixel_scale_arcsec=scale,
        warnings=tuple(warnings),
    )
