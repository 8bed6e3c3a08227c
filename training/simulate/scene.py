"""A scene under construction: per-band flux on the supersampled grid, and the field population.

Objects are unit-flux patches (see grid.py) multiplied by their flux in each band. Every cutout, lens or
not, gets field galaxies and faint stars at random positions, drawn from one population, so that the
classes do not differ by trivial statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from training.simulate.config import SetConfig
from training.simulate.grid import Grid, Patch, gaussian_patch, sersic_patch
from training.simulate.population import band_fluxes, draw_colours, star_colours

F64 = npt.NDArray[np.float64]


@dataclass
class Scene:
    """Noise-free sub-pixel flux per band (C, n, n) in BLF units, before the PSF.

    ``light`` holds everything except the lensed source, which the lens simulation keeps apart so that
    the label rule and the truth files can use it. ``stars`` lists (x, y, r_mag) of bright stars, for
    the record.
    """

    cfg: SetConfig
    grid: Grid
    light: F64 = field(init=False)
    stars: list[tuple[float, float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.light = np.zeros((len(self.cfg.bands), self.grid.n, self.grid.n), dtype=np.float64)

    def add(self, patch: Patch | None, fluxes: F64) -> None:
        """Add a unit-flux patch times per-band ``fluxes``."""
        if patch is None:
            return
        rows, cols, values = patch
        self.light[:, rows, cols] += fluxes[:, None, None] * values[None, :, :]

    def add_image(self, unit: F64, fluxes: F64) -> None:
        """Add a full-grid unit-flux image times per-band ``fluxes``."""
        self.light += fluxes[:, None, None] * unit[None, :, :]

    def add_point(self, x: float, y: float, fluxes: F64) -> None:
        """Add a point source (a star) at (x, y) arcsec; the PSF shapes it later."""
        for b, f in enumerate(fluxes):
            self.grid.add_point(self.light[b], x, y, float(f))

    def add_spikes(self, x: float, y: float, fluxes: F64, rng: np.random.Generator) -> None:
        """Diffraction spikes of a bright star (space only): six thin rays of falling brightness.

        Their total flux is ~5% of the star's, with a 1/(r^2 + r0^2) profile along each ray.
        """
        step = self.grid.step
        length = self.grid.half_width * 1.2
        t = np.arange(2.0, length / step) * step
        profile = 1.0 / (t * t + 0.05)
        profile /= profile.sum()
        angle0 = rng.uniform(0, math.pi / 3)
        for k in range(6):
            a = angle0 + k * math.pi / 3
            cols = np.rint((x + t * math.cos(a) - self.grid.axis[0]) / step).astype(int)
            rows = np.rint((y + t * math.sin(a) - self.grid.axis[0]) / step).astype(int)
            ok = (rows >= 0) & (rows < self.grid.n) & (cols >= 0) & (cols < self.grid.n)
            for b, f in enumerate(fluxes):
                np.add.at(self.light[b], (rows[ok], cols[ok]), 0.05 / 6 * float(f) * profile[ok])


def draw_field_mag(
    rng: np.random.Generator, lo: float = 19.0, hi: float = 25.5, slope: float = 0.33
) -> float:
    """r magnitude from galaxy number counts dN/dm ~ 10^(slope m) between lo and hi."""
    a, b = 10 ** (slope * lo), 10 ** (slope * hi)
    return float(math.log10(a + rng.uniform() * (b - a)) / slope)


def add_field(rng: np.random.Generator, scene: Scene, avoid_centre: float = 0.0) -> int:
    """Field galaxies and faint stars at random positions; returns the number of field galaxies.

    ``avoid_centre``: no field object's centre closer than this (arcsec) to the cutout centre.
    """
    cfg, grid = scene.cfg, scene.grid
    half = grid.half_width
    area_arcmin2 = (2 * half / 60.0) ** 2
    n_gal = int(rng.poisson(cfg.field_density_arcmin2 * area_arcmin2))
    for _ in range(n_gal):
        x, y = rng.uniform(-half, half, size=2)
        if math.hypot(x, y) < avoid_centre:
            continue
        mag = draw_field_mag(rng)
        r_e = float(
            np.clip(0.8 * 10 ** (-0.12 * (mag - 20.0)) * math.exp(0.35 * rng.standard_normal()), 0.08, 3.0)
        )
        sed = str(rng.choice(["red", "intermediate", "blue"], p=[0.3, 0.3, 0.4]))
        n = rng.uniform(2.5, 4.5) if sed == "red" else rng.uniform(0.6, 1.8)
        patch = sersic_patch(grid, x, y, r_e, n, rng.uniform(0.3, 1.0), rng.uniform(0, math.pi))
        scene.add(patch, band_fluxes(cfg, mag, draw_colours(rng, sed)))
    # Faint stars at high galactic latitude: ~3 per arcmin^2 brighter than r = 24.5.
    for _ in range(int(rng.poisson(3.0 * area_arcmin2))):
        x, y = rng.uniform(-half, half, size=2)
        scene.add_point(x, y, band_fluxes(cfg, draw_field_mag(rng, 19.0, 24.5, 0.15), star_colours(rng)))
    return n_gal


def add_blob(
    scene: Scene, x: float, y: float, sigma: float, fluxes: F64, q: float = 1.0, phi: float = 0.0
) -> None:
    """A Gaussian blob (sigma arcsec) of per-band ``fluxes``."""
    scene.add(gaussian_patch(scene.grid, x, y, sigma, q, phi), fluxes)
