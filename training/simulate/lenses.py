"""Lens galaxies and lensed sources, with lenstronomy.

Mass: elliptical power law (lenstronomy ``EPL_NUMBA``, slope gamma ~ N(2, 0.1); gamma = 2 is the SIE) plus
external shear. Light of the lens: an elliptical Sersic with red-sequence colours whose brightness and size
grow with theta_E. Source: an elliptical Sersic plus 0-5 Gaussian star-forming clumps with bluer colours.
Image count: lenstronomy's analytic EPL+shear solver at the centre of the source's Sersic. Magnification:
lensed over unlensed flux of the whole source (all components) in the reference band, before the PSF.

Rendering is done once per component at unit flux (unit images on the supersampled grid); the scene mixes
them per band with each component's fluxes. Sersic sizes use lenstronomy's convention (R_sersic is the
half-light radius of the circularised profile), in arcsec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from lenstronomy.LensModel.lens_model import LensModel
from lenstronomy.LensModel.Solver.lens_equation_solver import LensEquationSolver
from lenstronomy.LightModel.light_model import LightModel

from training.simulate.config import SetConfig
from training.simulate.grid import Grid
from training.simulate.population import Colours, band_fluxes, draw_colours, draw_theta_e, ellipticity

F64 = npt.NDArray[np.float64]

_LENS_MODEL = LensModel(["EPL_NUMBA", "SHEAR"])
_SOLVER = LensEquationSolver(_LENS_MODEL)
_SERSIC = LightModel(["SERSIC_ELLIPSE"])
_GAUSS = LightModel(["GAUSSIAN"])

# Per-set source populations, tuned so that the pixels-above-1-sigma and flux-in-sigma distributions of
# the simulated lenses resemble the BLF 1.0 catalogues (docs/simulation.md has the comparison):
# r magnitude range (uniform), median half-light radius (arcsec) and its log-normal scatter.
_SOURCE_POP: dict[str, dict[str, float]] = {
    "space": {"mag_lo": 21.6, "mag_hi": 26.3, "re_median": 0.55, "re_sigma": 0.8},
    "ground": {"mag_lo": 22.7, "mag_hi": 26.0, "re_median": 0.30, "re_sigma": 0.8},
}


@dataclass(frozen=True, slots=True)
class LensGalaxy:
    """A foreground galaxy: mass (theta_E arcsec, slope, axis ratio, angle, shear) and light.

    ``r_mag``: r magnitude of the light; ``r_e``: Sersic half-light radius (arcsec); positions arcsec.
    """

    theta_e: float
    gamma: float
    q: float
    phi: float
    shear1: float
    shear2: float
    x0: float
    y0: float
    r_mag: float
    r_e: float
    n_sersic: float
    q_light: float
    phi_light: float
    colours: Colours

    def lens_kwargs(self) -> list[dict[str, float]]:
        e1, e2 = ellipticity(self.q, self.phi)
        return [
            {
                "theta_E": self.theta_e,
                "gamma": self.gamma,
                "e1": e1,
                "e2": e2,
                "center_x": self.x0,
                "center_y": self.y0,
            },
            {"gamma1": self.shear1, "gamma2": self.shear2, "ra_0": self.x0, "dec_0": self.y0},
        ]


def draw_lens_galaxy(rng: np.random.Generator, cfg: SetConfig) -> LensGalaxy:
    """A lens-population galaxy. Brighter and larger for larger theta_E (L ~ sigma^4 ~ theta_E^2)."""
    theta_e = draw_theta_e(rng, cfg.name)
    q = rng.uniform(0.5, 1.0)
    phi = rng.uniform(0, math.pi)
    log_te = math.log10(theta_e)
    r_mag = float(np.clip(19.8 - 2.2 * log_te + 0.4 * rng.standard_normal(), 15.5, 23.0))
    r_e = float(np.clip(0.8 * theta_e**0.6 * math.exp(0.3 * rng.standard_normal()), 0.15, 4.0))
    return LensGalaxy(
        theta_e=theta_e,
        gamma=float(np.clip(rng.normal(2.0, 0.1), 1.7, 2.3)),
        q=q,
        phi=phi,
        shear1=float(rng.normal(0, 0.03)),
        shear2=float(rng.normal(0, 0.03)),
        x0=float(rng.normal(0, 0.3 * cfg.pixel_scale)),
        y0=float(rng.normal(0, 0.3 * cfg.pixel_scale)),
        r_mag=r_mag,
        r_e=r_e,
        n_sersic=rng.uniform(2.5, 5.5),
        q_light=float(np.clip(q + rng.normal(0, 0.1), 0.35, 1.0)),
        phi_light=phi + rng.normal(0, math.radians(10)),
        colours=draw_colours(rng, "red"),
    )


def render_sersic_lenstronomy(
    x: F64, y: F64, step: float, x0: float, y0: float, r_e: float, n: float, q: float, phi: float
) -> F64:
    """Unit-flux elliptical Sersic (lenstronomy SERSIC_ELLIPSE) sampled at (x, y), flux per sub-pixel."""
    e1, e2 = ellipticity(q, phi)
    kw = [{"amp": 1.0, "R_sersic": r_e, "n_sersic": n, "e1": e1, "e2": e2, "center_x": x0, "center_y": y0}]
    sb: F64 = _SERSIC.surface_brightness(x, y, kw)
    return sb * (step * step / float(_SERSIC.total_flux(kw)[0]))


def render_lens_light(grid: Grid, lens: LensGalaxy, mesh: tuple[F64, F64]) -> F64:
    """Unit-flux image (sub-pixel grid, 2-D) of the lens galaxy's light."""
    img = render_sersic_lenstronomy(
        mesh[0], mesh[1], grid.step, lens.x0, lens.y0, lens.r_e, lens.n_sersic, lens.q_light, lens.phi_light
    )
    return img.reshape(grid.n, grid.n)


@dataclass(frozen=True, slots=True)
class Clump:
    """A Gaussian star-forming clump: offset from the source centre (arcsec), sigma (arcsec), r magnitude."""

    dx: float
    dy: float
    sigma: float
    r_mag: float
    colours: Colours


@dataclass(frozen=True, slots=True)
class Source:
    """A background source: Sersic (position, r magnitude, half-light radius, index, shape) and clumps."""

    x: float
    y: float
    r_mag: float
    r_e: float
    n_sersic: float
    q: float
    phi: float
    colours: Colours
    clumps: tuple[Clump, ...] = field(default_factory=tuple)

    def total_fluxes(self, cfg: SetConfig) -> F64:
        """Unlensed total flux per band (all components)."""
        total = band_fluxes(cfg, self.r_mag, self.colours)
        for c in self.clumps:
            total = total + band_fluxes(cfg, c.r_mag, c.colours)
        return total


def draw_source(rng: np.random.Generator, cfg: SetConfig, lens: LensGalaxy) -> Source:
    """A source behind ``lens``: offset uniform in radius within 1.1 theta_E (some outside the caustics)."""
    pop = _SOURCE_POP[cfg.name]
    radius = 1.1 * lens.theta_e * rng.uniform()
    angle = rng.uniform(0, 2 * math.pi)
    r_e = float(np.clip(pop["re_median"] * math.exp(pop["re_sigma"] * rng.standard_normal()), 0.05, 1.5))
    r_mag = rng.uniform(pop["mag_lo"], pop["mag_hi"])
    n_clumps = min(int(rng.poisson(2.0)), 5)
    clumps = []
    for _ in range(n_clumps):
        ca, cr = rng.uniform(0, 2 * math.pi), r_e * rng.uniform(0.2, 1.5)
        clumps.append(
            Clump(
                dx=cr * math.cos(ca),
                dy=cr * math.sin(ca),
                sigma=rng.uniform(0.04, 0.10),
                r_mag=r_mag + rng.uniform(1.5, 3.5),
                colours=draw_colours(rng, "clump"),
            )
        )
    return Source(
        x=lens.x0 + radius * math.cos(angle),
        y=lens.y0 + radius * math.sin(angle),
        r_mag=r_mag,
        r_e=r_e,
        n_sersic=rng.uniform(0.5, 2.0),
        q=rng.uniform(0.4, 1.0),
        phi=rng.uniform(0, math.pi),
        colours=draw_colours(rng, "blue"),
        clumps=tuple(clumps),
    )


@dataclass
class LensedScene:
    """A lens with its ray-traced source-plane coordinates, reused for every source drawn behind it."""

    grid: Grid
    lens: LensGalaxy
    beta_x: F64
    beta_y: F64

    @classmethod
    def build(cls, grid: Grid, lens: LensGalaxy, mesh: tuple[F64, F64]) -> LensedScene:
        bx, by = _LENS_MODEL.ray_shooting(mesh[0], mesh[1], lens.lens_kwargs())
        return cls(grid, lens, np.asarray(bx), np.asarray(by))

    def n_images(self, source: Source) -> int:
        """Number of images of the source centre (analytic EPL + shear solver)."""
        with np.errstate(invalid="ignore", divide="ignore"):  # the solver's discarded branches
            xs, _ = _SOLVER.image_position_from_source(
                source.x, source.y, self.lens.lens_kwargs(), solver="analytical", magnification_limit=None
            )
        return len(xs)

    def render_source(self, cfg: SetConfig, source: Source) -> tuple[F64, F64]:
        """Lensed source per band (C, n, n) on the sub-pixel grid (before PSF), and magnification per band.

        Magnification = lensed flux inside the cutout / unlensed total flux, per band.
        """
        n, step = self.grid.n, self.grid.step
        unit = render_sersic_lenstronomy(
            self.beta_x,
            self.beta_y,
            step,
            source.x,
            source.y,
            source.r_e,
            source.n_sersic,
            source.q,
            source.phi,
        )
        fluxes = band_fluxes(cfg, source.r_mag, source.colours)
        image = fluxes[:, None] * unit[None, :]
        for c in source.clumps:
            kw = [{"amp": 1.0, "sigma": c.sigma, "center_x": source.x + c.dx, "center_y": source.y + c.dy}]
            cu = np.asarray(_GAUSS.surface_brightness(self.beta_x, self.beta_y, kw)) * (step * step)
            image += band_fluxes(cfg, c.r_mag, c.colours)[:, None] * cu[None, :]
        lensed_total = image.sum(axis=1)
        magnification = lensed_total / source.total_fluxes(cfg)
        return image.reshape(len(cfg.bands), n, n), magnification
