"""Single cutouts: every kind, masks, saturation, labels consistent with their inputs, theta_E draws."""

from __future__ import annotations

import numpy as np
import pytest

from training.simulate.config import SIZE, get_set
from training.simulate.cutout import NONLENS_KINDS, simulate_cutout
from training.simulate.labels import is_visible_lens
from training.simulate.population import draw_theta_e


@pytest.mark.parametrize("set_name", ["space", "ground"])
@pytest.mark.parametrize("kind", NONLENS_KINDS)
def test_each_nonlens_kind(set_name: str, kind: str) -> None:
    cfg = get_set(set_name)
    cut = simulate_cutout(cfg, seed=3, index=1, lens_fraction=0.0, mix={kind: 1.0})
    assert cut.row["kind"] == kind
    assert cut.row["is_lens"] == 0
    assert cut.image.shape == (len(cfg.bands), SIZE, SIZE)
    assert cut.image.dtype == np.float32
    unmasked = cut.image[cut.image != 100.0]
    assert np.isfinite(unmasked).all()
    # Something bright is in the cutout, well above the noise.
    sigma = np.array([b.noise_sigma for b in cfg.bands])[:, None, None]
    assert (cut.noiseless / sigma).max() > 20
    if kind == "sub_threshold_source":
        assert not is_visible_lens(
            cut.row["n_images"], cut.row["magnification"], cut.row["numb_pix_lensed_image"]
        )
    elif kind in ("ring", "spiral", "merger", "edge_on"):
        assert cut.row["Einstein_area"] == 0.0
        assert not cut.source.any()


@pytest.mark.parametrize("set_name", ["space", "ground"])
def test_lens_rows_satisfy_the_rule_and_source_is_recorded(set_name: str) -> None:
    cfg = get_set(set_name)
    ref = cfg.band_index(cfg.reference_band)
    for index in range(4):
        cut = simulate_cutout(cfg, seed=11, index=index, lens_fraction=1.0)
        row = cut.row
        assert row["kind"] in ("lens", "sub_threshold_source")
        visible = is_visible_lens(row["n_images"], row["magnification"], row["numb_pix_lensed_image"])
        assert row["is_lens"] == int(visible) == int(row["kind"] == "lens")
        assert int((cut.source[ref] > cfg.bands[ref].noise_sigma).sum()) == row["numb_pix_lensed_image"]
        assert row["theta_E_arcsec"] > 0
        assert row["Einstein_area"] == pytest.approx(
            np.pi * (row["theta_E_arcsec"] / 206264.806) ** 2, rel=1e-4
        )
        for band in cfg.band_names:
            assert 18 < row[f"source_mag_{band}"] < 30
        # The noise-free scene contains the lensed source.
        assert np.all(cut.noiseless - cut.source > -1e-20)


def test_same_seed_and_index_give_identical_cutouts() -> None:
    cfg = get_set("ground")
    a = simulate_cutout(cfg, 5, 7, 0.4)
    b = simulate_cutout(cfg, 5, 7, 0.4)
    c = simulate_cutout(cfg, 5, 8, 0.4)
    assert np.array_equal(a.image, b.image) and a.row == b.row
    assert not np.array_equal(a.image, c.image)


def test_masks_only_in_ground_and_exactly_100() -> None:
    ground, space = get_set("ground"), get_set("space")
    masked = [simulate_cutout(ground, 2, i, 0.4) for i in range(12)]
    with_mask = [c for c in masked if c.row["masked_fraction"] > 0]
    assert with_mask, "some ground cutouts carry masks"
    for c in with_mask:
        hits = c.image == np.float32(100.0)
        assert hits.mean() == pytest.approx(c.row["masked_fraction"], abs=1e-6)
        # Masked pixels are far above anything physical in BLF units.
        assert np.abs(c.image[~hits]).max() < 1.0
    for i in range(6):
        assert not (simulate_cutout(space, 2, i, 0.7).image == 100.0).any()
    bright_star = simulate_cutout(space, 4, 0, 0.0, mix={"star": 1.0})
    assert bright_star.row["masked_fraction"] == 0.0


@pytest.mark.parametrize(("set_name", "median"), [("space", 0.84), ("ground", 1.27)])
def test_theta_e_distribution_matches_blf(set_name: str, median: float) -> None:
    rng = np.random.default_rng(0)
    theta = np.array([draw_theta_e(rng, set_name) for _ in range(4000)])
    assert np.median(theta) == pytest.approx(median, rel=0.08)
    lo, hi = {"space": (0.169, 4.52), "ground": (0.362, 5.31)}[set_name]
    assert np.percentile(theta, 5) == pytest.approx(lo, rel=0.1)
    assert np.percentile(theta, 95) == pytest.approx(hi, rel=0.1)
