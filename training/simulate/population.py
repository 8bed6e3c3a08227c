"""Parametric distributions of the simulated populations: Einstein radii, magnitudes, colours.

Every object gets an r-band magnitude and colours (u-g, g-r, r-i); its flux in each band of a set follows
from them. VIS (a broad r+i+z filter) takes the mean of the r and i fluxes. Fluxes are in BLF units
(see config.ZERO_POINT).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from training.simulate.config import SetConfig, mag_to_flux

F64 = npt.NDArray[np.float64]

# Quantiles (0.2%, 5%, 10%, ..., 95%, 99.8%) of theta_E (arcsec) of the lenses in the BLF 1.0 training
# catalogues (../shared/blf/classifications-<set>.csv, theta_E = sqrt(Einstein_area / pi), 20,000 rows).
# theta_E is drawn by inverse-CDF interpolation in log theta_E between these knots, which reproduces the
# catalogues' broad, nearly log-uniform distributions (0.15-5" space, 0.3-6.2" ground).
_THETA_E_PROBS = np.r_[0.002, np.arange(0.05, 0.951, 0.05), 0.998]
_THETA_E_KNOTS: dict[str, tuple[float, ...]] = {
    "space": (
        0.151,
        0.169,
        0.193,
        0.22,
        0.255,
        0.303,
        0.368,
        0.448,
        0.555,
        0.681,
        0.844,
        1.074,
        1.312,
        1.595,
        1.962,
        2.449,
        2.92,
        3.433,
        3.906,
        4.524,
        5.039,
    ),
    "ground": (
        0.302,
        0.362,
        0.426,
        0.488,
        0.561,
        0.647,
        0.731,
        0.829,
        0.964,
        1.106,
        1.28,
        1.458,
        1.718,
        2.019,
        2.638,
        3.096,
        3.466,
        3.842,
        4.684,
        5.307,
        6.213,
    ),
}


def draw_theta_e(rng: np.random.Generator, set_name: str) -> float:
    """Einstein radius (arcsec) drawn to match the BLF 1.0 catalogue of ``set_name``."""
    u = rng.uniform(_THETA_E_PROBS[0], _THETA_E_PROBS[-1])
    log_knots = np.log(np.asarray(_THETA_E_KNOTS[set_name]))
    return float(np.exp(np.interp(u, _THETA_E_PROBS, log_knots)))


@dataclass(frozen=True, slots=True)
class Colours:
    """Colour indices (mag): u-g, g-r, r-i."""

    u_g: float
    g_r: float
    r_i: float


# Mean colours and scatter by spectral type, roughly z ~ 0.3-0.7 red-sequence galaxies, z ~ 1-2
# star-forming sources and HII regions, in the SDSS/KiDS filters.
_SED: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "red": ((1.9, 1.3, 0.55), (0.2, 0.12, 0.07)),
    "intermediate": ((1.2, 0.7, 0.35), (0.2, 0.12, 0.07)),
    "blue": ((0.4, 0.3, 0.15), (0.15, 0.12, 0.08)),
    "clump": ((0.15, 0.05, 0.0), (0.1, 0.1, 0.08)),
}


def draw_colours(rng: np.random.Generator, sed: str) -> Colours:
    """Colours of one object of spectral type ``sed`` (red, intermediate, blue, clump)."""
    mean, scatter = _SED[sed]
    ug, gr, ri = (m + s * rng.standard_normal() for m, s in zip(mean, scatter, strict=True))
    return Colours(ug, gr, ri)


def star_colours(rng: np.random.Generator) -> Colours:
    """Colours of a main-sequence star, along the stellar locus (g-r from 0.2 to 1.4)."""
    gr = rng.uniform(0.2, 1.4)
    return Colours(0.9 + 1.1 * gr + 0.1 * rng.standard_normal(), gr, 0.45 * gr + 0.05 * rng.standard_normal())


def band_fluxes(cfg: SetConfig, r_mag: float, colours: Colours) -> F64:
    """Total flux per band of ``cfg`` (simulator band order) for r magnitude ``r_mag`` and ``colours``."""
    mags = {
        "r": r_mag,
        "g": r_mag + colours.g_r,
        "u": r_mag + colours.g_r + colours.u_g,
        "i": r_mag - colours.r_i,
    }
    flux = {b: mag_to_flux(m) for b, m in mags.items()}
    flux["vis"] = 0.5 * (flux["r"] + flux["i"])
    return np.array([flux[b] for b in cfg.band_names], dtype=np.float64)


def ellipticity(q: float, phi: float) -> tuple[float, float]:
    """lenstronomy's (e1, e2) for axis ratio q and position angle phi (rad)."""
    e = (1.0 - q) / (1.0 + q)
    return e * float(np.cos(2 * phi)), e * float(np.sin(2 * phi))
