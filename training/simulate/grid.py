"""The supersampled pixel grid that scenes are rendered on, and numpy light profiles drawn on it.

Coordinates are in arcsec with the origin at the centre of the cutout's centre pixel (0-based pixel 50 of
101, FITS CRPIX 51); x runs along columns, y along rows, rows in FITS order (row 0 at the bottom).
Images on the grid hold flux per sub-pixel; a profile drawn with ``total_flux=1`` sums to about 1 when it
lies inside the cutout ("unit images", multiplied by each band's flux when the scene is assembled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import gamma as gamma_fn

from training.simulate.config import SIZE

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Grid:
    """A square grid of ``SIZE * supersample`` sub-pixels per side, ``pixel_scale`` arcsec per pixel."""

    pixel_scale: float
    supersample: int

    @property
    def n(self) -> int:
        return SIZE * self.supersample

    @property
    def step(self) -> float:
        """Sub-pixel side in arcsec."""
        return self.pixel_scale / self.supersample

    @property
    def axis(self) -> F64:
        """Sub-pixel centre coordinates along one axis (arcsec)."""
        ss = self.supersample
        k = np.arange(self.n, dtype=np.float64)
        return ((k + 0.5) / ss - 0.5 - SIZE // 2) * self.pixel_scale

    @property
    def half_width(self) -> float:
        """Distance from the centre to the cutout edge (arcsec)."""
        return SIZE / 2 * self.pixel_scale

    def mesh(self) -> tuple[F64, F64]:
        """Flattened x and y coordinates of all sub-pixels (row-major, rows = y)."""
        x, y = np.meshgrid(self.axis, self.axis)
        return x.ravel(), y.ravel()

    def zeros(self) -> F64:
        return np.zeros((self.n, self.n), dtype=np.float64)

    def window(self, x0: float, y0: float, radius: float) -> tuple[slice, slice, F64, F64] | None:
        """Row/column slices of the sub-grid within ``radius`` arcsec of (x0, y0), with its coordinates.

        None when that box misses the grid entirely.
        """
        ax = self.axis
        c0 = int(np.searchsorted(ax, x0 - radius))
        c1 = int(np.searchsorted(ax, x0 + radius))
        r0 = int(np.searchsorted(ax, y0 - radius))
        r1 = int(np.searchsorted(ax, y0 + radius))
        if c1 <= c0 or r1 <= r0:
            return None
        x, y = np.meshgrid(ax[c0:c1], ax[r0:r1])
        return slice(r0, r1), slice(c0, c1), x, y

    def add_point(self, image: F64, x0: float, y0: float, flux: float) -> None:
        """Add a point source of ``flux`` at the nearest sub-pixel (ignored outside the grid)."""
        col = round((x0 - self.axis[0]) / self.step)
        row = round((y0 - self.axis[0]) / self.step)
        if 0 <= row < self.n and 0 <= col < self.n:
            image[row, col] += flux


def sersic_b(n: float) -> float:
    """b_n such that R_e encloses half the light (Ciotti & Bertin 1999 expansion)."""
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n * n)


def elliptical_radius(x: F64, y: F64, x0: float, y0: float, q: float, phi: float) -> F64:
    """Elliptical radius (arcsec along the major axis) for axis ratio q and position angle phi (rad)."""
    c, s = math.cos(phi), math.sin(phi)
    dx, dy = x - x0, y - y0
    xp = c * dx + s * dy
    yp = -s * dx + c * dy
    return np.sqrt(xp * xp + (yp / q) ** 2)


Patch = tuple[slice, slice, F64]
"""A unit-flux image restricted to a window of the grid: (row slice, column slice, values)."""


def sersic_patch(
    grid: Grid,
    x0: float,
    y0: float,
    r_e: float,
    n: float,
    q: float,
    phi: float,
    extent: float = 10.0,
) -> Patch | None:
    """Unit-flux elliptical Sersic (analytic normalisation), None when it misses the grid.

    ``r_e``: half-light semi-major axis (arcsec); ``phi``: position angle (rad). Drawn only within
    ``extent * r_e`` (at least 1") of the centre, which holds >97% of the light for n <= 4, to keep
    rendering cheap.
    """
    win = grid.window(x0, y0, max(extent * r_e, 1.0))
    if win is None:
        return None
    rows, cols, x, y = win
    b = sersic_b(n)
    norm = 2.0 * math.pi * n * q * r_e * r_e * math.exp(b) * b ** (-2.0 * n) * gamma_fn(2.0 * n)
    # Clamp the radius at a quarter sub-pixel so that the cusp of high-n profiles is not one huge pixel.
    r = np.maximum(elliptical_radius(x, y, x0, y0, q, phi), grid.step / 4)
    return rows, cols, grid.step**2 / norm * np.exp(-b * ((r / r_e) ** (1.0 / n) - 1.0))


def gaussian_patch(
    grid: Grid, x0: float, y0: float, sigma: float, q: float = 1.0, phi: float = 0.0
) -> Patch | None:
    """Unit-flux elliptical Gaussian blob (sigma along the major axis, arcsec), None when off the grid."""
    sigma = max(sigma, grid.step / 2)
    win = grid.window(x0, y0, 5.0 * sigma)
    if win is None:
        return None
    rows, cols, x, y = win
    r = elliptical_radius(x, y, x0, y0, q, phi)
    return rows, cols, grid.step**2 / (2 * math.pi * sigma * sigma * q) * np.exp(-0.5 * (r / sigma) ** 2)
