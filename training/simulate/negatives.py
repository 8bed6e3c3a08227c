"""Hard non-lenses: the objects that fool lens finders on the real sky.

Each is drawn in numpy on the supersampled grid (flux per sub-pixel, per band) and goes through the same
PSF, noise and mask code as the lenses. Sizes are in arcsec, magnitudes in r (VIS takes the mean of the r
and i fluxes). Kinds: ``ring`` (collisional blue rings with knots, or red S0 resonance rings around a
bulge), ``spiral`` (bulge + 2-3 logarithmic arms with HII clumps), ``merger`` (two galaxies with tidal
tails), ``edge_on`` (thin disk, bulge, dust lane), ``blue_companion`` (a red galaxy with small blue
neighbours, some stretched tangentially like arcs), ``star`` (a bright star, saturated in ground data,
near a galaxy, or a pair of stars like a lensed quasar).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from training.simulate.grid import elliptical_radius, sersic_patch
from training.simulate.lenses import LensGalaxy, draw_lens_galaxy, render_lens_light
from training.simulate.population import band_fluxes, draw_colours, star_colours
from training.simulate.scene import Scene, add_blob

F64 = npt.NDArray[np.float64]


def _scale(scene: Scene) -> float:
    """Size scale of hard cases: rings and arms span the Einstein radii of the set (larger on ground)."""
    return 1.0 if scene.cfg.name == "space" else 1.4


def _unit_window(
    scene: Scene, x0: float, y0: float, radius: float, profile: Callable[[F64, F64], F64]
) -> tuple[slice, slice, F64] | None:
    """Evaluate ``profile(x, y)`` in a window and normalise it to unit flux."""
    win = scene.grid.window(x0, y0, radius)
    if win is None:
        return None
    rows, cols, x, y = win
    values = profile(x, y)
    total = values.sum()
    return (rows, cols, values / total) if total > 0 else None


def add_central_galaxy(rng: np.random.Generator, scene: Scene, mesh: tuple[F64, F64]) -> LensGalaxy:
    """A lens-population red galaxy at the centre (no source behind it)."""
    lens = draw_lens_galaxy(rng, scene.cfg)
    scene.add_image(
        render_lens_light(scene.grid, lens, mesh), band_fluxes(scene.cfg, lens.r_mag, lens.colours)
    )
    return lens


def add_ring(rng: np.random.Generator, scene: Scene) -> None:
    cfg = scene.cfg
    radius = math.exp(rng.uniform(math.log(0.5), math.log(3.0))) * _scale(scene)
    width = radius * rng.uniform(0.08, 0.25)
    q, phi = rng.uniform(0.5, 1.0), rng.uniform(0, math.pi)
    ring_mag = rng.uniform(19.5, 22.5)
    collisional = rng.uniform() < 0.6
    lopsided, lop_angle = rng.uniform(0.0, 0.6), rng.uniform(0, 2 * math.pi)

    def ring(x: F64, y: F64) -> F64:
        r = elliptical_radius(x, y, 0.0, 0.0, q, phi)
        theta = np.arctan2(y, x)
        return np.exp(-0.5 * ((r - radius) / width) ** 2) * (1.0 + lopsided * np.cos(theta - lop_angle))

    sed = "blue" if collisional else "red"
    scene.add(
        _unit_window(scene, 0.0, 0.0, radius + 5 * width, ring),
        band_fluxes(cfg, ring_mag, draw_colours(rng, sed)),
    )
    if collisional:
        for _ in range(int(rng.integers(3, 9))):
            a = rng.uniform(0, 2 * math.pi)
            r = radius * rng.normal(1.0, 0.05)
            xk, yk = r * math.cos(a), r * q * math.sin(a)
            c, s = math.cos(phi), math.sin(phi)
            add_blob(
                scene,
                c * xk - s * yk,
                s * xk + c * yk,
                max(width, 0.08) * rng.uniform(0.5, 1.0),
                band_fluxes(cfg, ring_mag + rng.uniform(2.0, 4.0), draw_colours(rng, "clump")),
            )
        off = radius * rng.uniform(0.0, 0.35)
        a = rng.uniform(0, 2 * math.pi)
        nucleus = sersic_patch(
            scene.grid,
            off * math.cos(a),
            off * math.sin(a),
            radius * rng.uniform(0.1, 0.3),
            rng.uniform(1.0, 3.0),
            rng.uniform(0.6, 1.0),
            rng.uniform(0, math.pi),
        )
        scene.add(
            nucleus, band_fluxes(cfg, ring_mag + rng.uniform(-0.5, 1.5), draw_colours(rng, "intermediate"))
        )
    else:
        bulge = sersic_patch(
            scene.grid,
            0.0,
            0.0,
            radius * rng.uniform(0.2, 0.45),
            rng.uniform(2.5, 4.5),
            rng.uniform(0.6, 1.0),
            phi,
        )
        scene.add(bulge, band_fluxes(cfg, ring_mag + rng.uniform(-1.5, 0.0), draw_colours(rng, "red")))


def add_spiral(rng: np.random.Generator, scene: Scene) -> None:
    cfg = scene.cfg
    h = math.exp(rng.uniform(math.log(0.4), math.log(1.5))) * _scale(scene)  # disk scale length
    q, phi = rng.uniform(0.35, 1.0), rng.uniform(0, math.pi)
    m = 2 if rng.uniform() < 0.7 else 3
    pitch = math.radians(rng.uniform(12.0, 30.0))
    sharp, theta0 = rng.uniform(2.0, 6.0), rng.uniform(0, 2 * math.pi)
    handed = 1.0 if rng.uniform() < 0.5 else -1.0
    mag = rng.uniform(18.5, 21.5)
    c, s = math.cos(phi), math.sin(phi)

    def disk_coords(x: F64, y: F64) -> tuple[F64, F64]:
        xp, yp = c * x + s * y, (-s * x + c * y) / q
        return np.hypot(xp, yp), np.arctan2(yp, xp)

    def arms(x: F64, y: F64) -> F64:
        r, theta = disk_coords(x, y)
        wave = 0.5 * (
            1.0
            + np.cos(m * (theta - handed * np.log(np.maximum(r, 0.05 * h) / h) / math.tan(pitch) - theta0))
        )
        return np.exp(-r / h) * wave**sharp * (1.0 - np.exp(-((r / (0.6 * h)) ** 2)))

    def disk(x: F64, y: F64) -> F64:
        return np.exp(-disk_coords(x, y)[0] / h)

    arm_frac = rng.uniform(0.3, 0.6)
    total = band_fluxes(cfg, mag, draw_colours(rng, "blue"))
    scene.add(_unit_window(scene, 0.0, 0.0, 6 * h, arms), arm_frac * total)
    scene.add(
        _unit_window(scene, 0.0, 0.0, 6 * h, disk),
        (1 - arm_frac) * band_fluxes(cfg, mag, draw_colours(rng, "intermediate")),
    )
    bulge = sersic_patch(
        scene.grid, 0.0, 0.0, h * rng.uniform(0.15, 0.4), rng.uniform(1.5, 4.0), rng.uniform(0.7, 1.0), phi
    )
    scene.add(bulge, band_fluxes(cfg, mag + rng.uniform(0.3, 2.0), draw_colours(rng, "red")))
    for _ in range(int(rng.integers(4, 14))):
        # HII regions on the arms: walk along an arm at a random radius.
        rr = h * rng.uniform(0.6, 2.5)
        arm = int(rng.integers(m))
        theta = theta0 / m + handed * math.log(rr / h) / math.tan(pitch) + 2 * math.pi * arm / m
        xp, yp = rr * math.cos(theta), rr * math.sin(theta) * q
        add_blob(
            scene,
            c * xp - s * yp,
            s * xp + c * yp,
            rng.uniform(0.06, 0.2) * _scale(scene),
            band_fluxes(cfg, mag + rng.uniform(3.5, 5.5), draw_colours(rng, "clump")),
        )


def _tail(
    rng: np.random.Generator, scene: Scene, x0: float, y0: float, flux_r_mag: float, size: float
) -> None:
    """A curved tidal tail of Gaussian blobs starting at (x0, y0)."""
    cfg = scene.cfg
    length = size * rng.uniform(1.5, 4.0)
    bend = rng.uniform(0.6, 1.8) * (1 if rng.uniform() < 0.5 else -1)
    a0 = rng.uniform(0, 2 * math.pi)
    width = size * rng.uniform(0.12, 0.3)
    n = 24
    colours = draw_colours(rng, "intermediate" if rng.uniform() < 0.5 else "blue")
    fluxes = band_fluxes(cfg, flux_r_mag, colours) / n
    for k in range(n):
        t = (k + 0.5) / n
        ang = a0 + bend * t
        r = 0.3 * size + length * t
        fade = 1.5 * (1.0 - 0.7 * t)
        add_blob(scene, x0 + r * math.cos(ang), y0 + r * math.sin(ang), width * (1 + t), fade * fluxes)


def add_merger(rng: np.random.Generator, scene: Scene) -> None:
    cfg = scene.cfg
    sep = rng.uniform(0.6, 3.0) * _scale(scene)
    a = rng.uniform(0, 2 * math.pi)
    mag1 = rng.uniform(19.0, 21.5)
    for k, sign in enumerate((-0.5, 0.5)):
        x, y = sign * sep * math.cos(a), sign * sep * math.sin(a)
        mag = mag1 if k == 0 else mag1 + rng.uniform(0.0, 1.5)
        sed = str(rng.choice(["red", "intermediate", "blue"], p=[0.4, 0.35, 0.25]))
        r_e = rng.uniform(0.25, 1.0) * _scale(scene)
        scene.add(
            sersic_patch(
                scene.grid, x, y, r_e, rng.uniform(1.0, 4.0), rng.uniform(0.4, 1.0), rng.uniform(0, math.pi)
            ),
            band_fluxes(cfg, mag, draw_colours(rng, sed)),
        )
        if rng.uniform() < 0.85:
            _tail(rng, scene, x, y, mag + rng.uniform(1.0, 2.5), r_e + sep / 2)


def add_edge_on(rng: np.random.Generator, scene: Scene) -> None:
    cfg = scene.cfg
    r_d = rng.uniform(0.8, 2.8) * _scale(scene)
    q, phi = rng.uniform(0.07, 0.22), rng.uniform(0, math.pi)
    mag = rng.uniform(18.5, 21.5)
    bulge_r = r_d * rng.uniform(0.12, 0.3)
    bulge_frac = rng.uniform(0.05, 0.4)
    dust = rng.uniform(0.0, 0.9)
    c, s = math.cos(phi), math.sin(phi)

    def body(x: F64, y: F64, which: str) -> F64:
        yp = -s * x + c * y
        if which == "disk":
            base = np.exp(-1.678 * elliptical_radius(x, y, 0.0, 0.0, q, phi) / r_d)
        else:
            rb = elliptical_radius(x, y, 0.0, 0.0, 0.75, phi)
            base = np.exp(-5.0 * ((rb / bulge_r) ** 0.4 - 1.0))
        return base * (1.0 - dust * np.exp(-0.5 * (yp / (0.25 * q * r_d + 0.02)) ** 2))

    scene.add(
        _unit_window(scene, 0, 0, 5 * r_d, lambda x, y: body(x, y, "disk")),
        (1 - bulge_frac) * band_fluxes(cfg, mag, draw_colours(rng, "intermediate")),
    )
    scene.add(
        _unit_window(scene, 0, 0, 8 * bulge_r + 0.5, lambda x, y: body(x, y, "bulge")),
        bulge_frac * band_fluxes(cfg, mag, draw_colours(rng, "red")),
    )


def add_blue_companion(rng: np.random.Generator, scene: Scene, mesh: tuple[F64, F64]) -> LensGalaxy:
    lens = add_central_galaxy(rng, scene, mesh)
    lo, hi = (22.5, 25.5) if scene.cfg.name == "space" else (21.5, 24.5)
    for _ in range(int(rng.integers(1, 4))):
        d = rng.uniform(0.5, 3.0) * _scale(scene)
        a = rng.uniform(0, 2 * math.pi)
        arc_like = rng.uniform() < 0.35
        q = rng.uniform(0.2, 0.45) if arc_like else rng.uniform(0.5, 1.0)
        phi = a + math.pi / 2 if arc_like else rng.uniform(0, math.pi)
        patch = sersic_patch(
            scene.grid,
            d * math.cos(a),
            d * math.sin(a),
            rng.uniform(0.08, 0.35),
            rng.uniform(0.5, 1.5),
            q,
            phi,
        )
        scene.add(patch, band_fluxes(scene.cfg, rng.uniform(lo, hi), draw_colours(rng, "blue")))
    return lens


def add_star(rng: np.random.Generator, scene: Scene, mesh: tuple[F64, F64]) -> LensGalaxy | None:
    cfg = scene.cfg
    half = scene.grid.half_width
    if rng.uniform() < 0.3:
        # A pair of similar point sources: a lensed-quasar look-alike (binary star or star pair).
        sep, a = rng.uniform(0.6, 3.0) * _scale(scene), rng.uniform(0, 2 * math.pi)
        mag, colours = rng.uniform(18.0, 22.0), star_colours(rng)
        for sign in (-0.5, 0.5):
            scene.add_point(
                sign * sep * math.cos(a),
                sign * sep * math.sin(a),
                band_fluxes(cfg, mag + rng.uniform(0.0, 1.0), colours),
            )
        return None
    lens = add_central_galaxy(rng, scene, mesh)
    d = rng.uniform(0.25, 0.85) * half
    a = rng.uniform(0, 2 * math.pi)
    x, y = d * math.cos(a), d * math.sin(a)
    mag = rng.uniform(15.0, 20.5) if cfg.name == "space" else rng.uniform(14.0, 19.0)
    fluxes = band_fluxes(cfg, mag, star_colours(rng))
    scene.add_point(x, y, fluxes)
    scene.stars.append((x, y, mag))
    if cfg.name == "space":
        scene.add_spikes(x, y, fluxes, rng)
    return lens
