"""Observation parameters of the two simulated sets, `space` (Euclid VIS-like) and `ground` (KiDS-like).

Flux units: "BLF units", chosen so that the noise sigma per pixel matches the real BLF 1.0 release
(about 8e-13 in VIS, 1.3e-12 to 3.2e-12 in the ground bands). One AB-like magnitude zero point for all
bands: ``flux = 10 ** (-0.4 * (mag - ZERO_POINT))``. With ZERO_POINT = -0.45 the noise levels below give
5-sigma limits in a 2" aperture of u 24.5, g 25.2, r 25.0, i 24.2 (KiDS: 24.2, 25.1, 25.0, 23.7) and a
10-sigma limit in a 1.3" aperture of 24.6 in VIS (Euclid Wide: about 24.5).

Band order inside the simulator (and in truth arrays) is u, g, r, i for ground and vis for space; the
BLF folder order (R, I, G, U) is only a property of the writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SetName = Literal["space", "ground"]

ZERO_POINT = -0.45
"""Magnitude of a source of total flux 1 in BLF units (see the module docstring)."""

SIZE = 101
"""Cutout side in pixels; the centre pixel (0-based 50, FITS CRPIX 51) is the origin of coordinates."""


def mag_to_flux(mag: float) -> float:
    """Total flux in BLF units of a source of AB-like magnitude ``mag``."""
    return float(10.0 ** (-0.4 * (mag - ZERO_POINT)))


def flux_to_mag(flux: float) -> float:
    """AB-like magnitude of a total flux in BLF units (inf for non-positive flux)."""
    import math

    return ZERO_POINT - 2.5 * math.log10(flux) if flux > 0 else float("inf")


@dataclass(frozen=True, slots=True)
class BandConfig:
    """One band: noise, sky (for the source Poisson term) and seeing.

    ``noise_sigma``: background noise per pixel, BLF units. ``sky_mag_arcsec2``: sky surface brightness,
    used only to scale the Poisson variance of objects (variance = sigma^2 * (1 + signal / sky_per_pixel)).
    ``fwhm_range_arcsec``: the PSF FWHM is drawn uniformly in this range per band per cutout.
    ``blf_folder``/``blf_prefix``: where the BLF layout puts this band (``Public/<folder>/<prefix>-<ID>``).
    ``filter_name``: the FITS FILTER keyword.
    """

    name: str
    noise_sigma: float
    sky_mag_arcsec2: float
    fwhm_range_arcsec: tuple[float, float]
    blf_folder: str
    blf_prefix: str
    filter_name: str


@dataclass(frozen=True, slots=True)
class SetConfig:
    """A simulated set: bands (simulator order), pixel scale (arcsec/px), PSF family, defaults.

    ``psf``: "gaussian" or "moffat" (Moffat with ``moffat_beta``); ``supersample``: sub-pixels per pixel
    side used for rendering before PSF convolution; ``mask_probability``: fraction of cutouts given
    masked features (value 100.0); ``lens_fraction``: default fraction of lens targets (BLF 1.0's).
    ``field_density_arcmin2``: mean number of field galaxies per arcmin^2 added to every cutout.
    """

    name: SetName
    bands: tuple[BandConfig, ...]
    pixel_scale: float
    psf: Literal["gaussian", "moffat"]
    moffat_beta: float
    supersample: int
    mask_probability: float
    lens_fraction: float
    field_density_arcmin2: float

    @property
    def band_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bands)

    def band_index(self, name: str) -> int:
        return self.band_names.index(name)

    @property
    def reference_band(self) -> str:
        """The band of the visibility rule: vis (space) or r (ground, KiDS's detection band)."""
        return "vis" if self.name == "space" else "r"


SPACE = SetConfig(
    name="space",
    bands=(BandConfig("vis", 8.0e-13, 22.3, (0.18, 0.18), "Band1", "imageEUC_VIS", "VIS"),),
    pixel_scale=0.1,
    psf="gaussian",
    moffat_beta=0.0,
    supersample=2,
    mask_probability=0.0,
    lens_fraction=0.7,
    field_density_arcmin2=60.0,
)

GROUND = SetConfig(
    name="ground",
    bands=(
        BandConfig("u", 2.4e-12, 22.9, (0.85, 1.10), "Band4", "imageSDSS_U", "u"),
        BandConfig("g", 1.3e-12, 22.0, (0.75, 1.00), "Band3", "imageSDSS_G", "g"),
        BandConfig("r", 1.5e-12, 21.0, (0.60, 0.85), "Band1", "imageSDSS_R", "r"),
        BandConfig("i", 3.2e-12, 20.0, (0.70, 1.00), "Band2", "imageSDSS_I", "i"),
    ),
    pixel_scale=0.2,
    psf="moffat",
    moffat_beta=3.5,
    supersample=2,
    mask_probability=0.3,
    lens_fraction=0.4,
    field_density_arcmin2=40.0,
)

SETS: dict[str, SetConfig] = {"space": SPACE, "ground": GROUND}


def get_set(name: str) -> SetConfig:
    """The configuration of set ``name`` ("space" or "ground"); ValueError otherwise."""
    try:
        return SETS[name]
    except KeyError:
        raise ValueError(f"unknown set {name!r}; expected one of {sorted(SETS)}") from None
