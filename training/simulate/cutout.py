"""One simulated cutout, from (seed, index) alone: scene, observation, label and catalogue row.

Every random draw of cutout ``index`` comes from ``np.random.default_rng([seed, index])``, so a set is the
same whatever the number of worker processes. The class is drawn first (lens with probability
``lens_fraction``, else a non-lens kind from the mix); lens targets redraw their source behind the same
lens (up to ``MAX_ATTEMPTS``) until the label rule says visible, and ``sub_threshold_source`` targets until
it says not visible. The label is always the rule's verdict on the kept source, and the kind says
what was kept (a lens target whose every source failed becomes ``sub_threshold_source``, and vice versa).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from training.simulate import negatives
from training.simulate.config import SIZE, SetConfig, flux_to_mag
from training.simulate.grid import Grid
from training.simulate.labels import is_visible_lens, pixels_above_sigma
from training.simulate.lenses import LensedScene, LensGalaxy, Source, draw_source
from training.simulate.observe import (
    SATURATION_SIGMA,
    add_noise,
    convolve_and_bin,
    draw_fwhm,
    draw_masks,
    psf_kernel,
)
from training.simulate.scene import Scene, add_field

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

MAX_ATTEMPTS = 10
NONLENS_KINDS = (
    "galaxy",
    "sub_threshold_source",
    "ring",
    "spiral",
    "merger",
    "edge_on",
    "blue_companion",
    "star",
)
HARD_KINDS = ("ring", "spiral", "merger", "edge_on", "blue_companion", "star")
DEFAULT_MIX: dict[str, float] = {
    "galaxy": 0.30,
    "sub_threshold_source": 0.15,
    "ring": 0.09,
    "spiral": 0.10,
    "merger": 0.10,
    "edge_on": 0.08,
    "blue_companion": 0.10,
    "star": 0.08,
}
"""Non-lens kinds and their shares: 55% hard cases, 30% plain lens-population galaxies, 15% galaxies with
a source behind them that fails the visibility rule."""


@dataclass
class Cutout:
    """A simulated cutout: ``image`` (C, 101, 101) float32 BLF units with masks at 100.0, the noise-free
    scene and the lensed source alone (both float32, BLF units, no masks), and its catalogue row."""

    image: F32
    noiseless: F32
    source: F32
    row: dict[str, Any]


@lru_cache(maxsize=4)
def _grid_and_mesh(pixel_scale: float, supersample: int) -> tuple[Grid, tuple[F64, F64]]:
    grid = Grid(pixel_scale, supersample)
    return grid, grid.mesh()


def _einstein_area(theta_e_arcsec: float) -> float:
    """Einstein area (steradian) pi theta_E^2, as BLF's catalogue column."""
    return math.pi * (theta_e_arcsec / 206264.80624709636) ** 2


def simulate_cutout(
    cfg: SetConfig, seed: int, index: int, lens_fraction: float, mix: dict[str, float] | None = None
) -> Cutout:
    """Simulate cutout ``index`` of the set with base ``seed`` (see the module docstring)."""
    mix = DEFAULT_MIX if mix is None else mix
    rng = np.random.default_rng([seed, index])
    kinds = list(mix)
    probs = np.array([mix[k] for k in kinds], dtype=np.float64)
    kind = "lens" if rng.uniform() < lens_fraction else str(rng.choice(kinds, p=probs / probs.sum()))
    ra, dec = rng.uniform(0.0, 360.0), math.degrees(math.asin(rng.uniform(-0.9, 0.9)))
    grid, mesh = _grid_and_mesh(cfg.pixel_scale, cfg.supersample)
    scene = Scene(cfg, grid)
    fwhm = draw_fwhm(rng, cfg)
    kernels = [psf_kernel(cfg, f) for f in fwhm]
    sigmas = np.array([b.noise_sigma for b in cfg.bands])
    ref = cfg.band_index(cfg.reference_band)
    ss = cfg.supersample

    lens: LensGalaxy | None = None
    source: Source | None = None
    source_ss: F64 | None = None
    ref_source_img: F64 | None = None
    n_images, magnification, npix, flux_sigma, attempts = 0, 0.0, 0, 0.0, 0
    if kind in ("lens", "sub_threshold_source"):
        lens = negatives.add_central_galaxy(rng, scene, mesh)
        lensed = LensedScene.build(grid, lens, mesh)
        want_visible = kind == "lens"
        visible = False
        for attempts in range(1, MAX_ATTEMPTS + 1):  # noqa: B007 (attempts is recorded)
            source = draw_source(rng, cfg, lens)
            source_ss, mags = lensed.render_source(cfg, source)
            ref_source_img = convolve_and_bin(source_ss[ref], kernels[ref], ss)
            npix, flux_sigma = pixels_above_sigma(ref_source_img, sigmas[ref])
            n_images = lensed.n_images(source)
            magnification = float(mags[ref])
            visible = is_visible_lens(n_images, magnification, npix)
            if visible == want_visible:
                break
        kind = "lens" if visible else "sub_threshold_source"
    elif kind == "galaxy":
        lens = negatives.add_central_galaxy(rng, scene, mesh)
    elif kind == "blue_companion":
        lens = negatives.add_blue_companion(rng, scene, mesh)
    elif kind == "star":
        lens = negatives.add_star(rng, scene, mesh)
    elif kind in ("ring", "spiral", "merger", "edge_on"):
        getattr(negatives, f"add_{kind}")(rng, scene)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    n_field = add_field(rng, scene)

    n_bands = len(cfg.bands)
    noiseless = np.empty((n_bands, SIZE, SIZE), dtype=np.float64)
    source_obs = np.zeros((n_bands, SIZE, SIZE), dtype=np.float64)
    for b in range(n_bands):
        noiseless[b] = convolve_and_bin(scene.light[b], kernels[b], ss)
        if source_ss is not None:
            source_obs[b] = (
                ref_source_img
                if (b == ref and ref_source_img is not None)
                else convolve_and_bin(source_ss[b], kernels[b], ss)
            )
    noiseless += source_obs
    image = np.empty_like(noiseless)
    for b, band in enumerate(cfg.bands):
        image[b] = add_noise(rng, noiseless[b], band, cfg.pixel_scale)
    saturated = noiseless > SATURATION_SIGMA * sigmas[:, None, None]
    if cfg.mask_probability > 0:
        mask = draw_masks(rng, cfg, saturated)
    else:
        # No masks in space data (as in the BLF release): saturated pixels are clipped flat instead.
        mask = np.zeros_like(saturated)
        image = np.minimum(image, SATURATION_SIGMA * sigmas[:, None, None])
    image32 = image.astype(np.float32)
    image32[mask] = np.float32(100.0)

    is_lens = kind == "lens"
    row: dict[str, Any] = {
        "ID": 100000 + index,
        "is_lens": int(is_lens),
        "Einstein_area": _einstein_area(lens.theta_e) if lens is not None else 0.0,
        "numb_pix_lensed_image": npix,
        "flux_lensed_image_in_sigma": round(flux_sigma, 4),
        "kind": kind,
        "n_images": n_images,
        "magnification": round(magnification, 4),
        "theta_E_arcsec": round(lens.theta_e, 5) if lens is not None else 0.0,
        "lens_gamma": round(lens.gamma, 4) if lens is not None else "",
        "lens_q": round(lens.q, 4) if lens is not None else "",
        "lens_mag_r": round(lens.r_mag, 3) if lens is not None else "",
        "source_attempts": attempts,
    }
    src_flux = source.total_fluxes(cfg) if source is not None else None
    for b, name in enumerate(cfg.band_names):
        row[f"source_mag_{name}"] = round(flux_to_mag(float(src_flux[b])), 3) if src_flux is not None else ""
    row["source_r_e_arcsec"] = round(source.r_e, 4) if source is not None else ""
    row["source_n_clumps"] = len(source.clumps) if source is not None else ""
    row["source_offset_arcsec"] = (
        round(math.hypot(source.x - lens.x0, source.y - lens.y0), 4)
        if source is not None and lens is not None
        else ""
    )
    for b, name in enumerate(cfg.band_names):
        row[f"psf_fwhm_{name}"] = round(float(fwhm[b]), 4)
    for b, name in enumerate(cfg.band_names):
        row[f"noise_sigma_{name}"] = cfg.bands[b].noise_sigma
    row["masked_fraction"] = round(float(mask.mean()), 6)
    row["n_field_galaxies"] = n_field
    row["ra"] = round(ra, 6)
    row["dec"] = round(dec, 6)
    return Cutout(image32, noiseless.astype(np.float32), source_obs.astype(np.float32), row)
