"""Whole sets: BLF layout, headers, catalogue, truth files, determinism across workers, CLI, comparison."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from app.decode import decode_path
from training.simulate.__main__ import main
from training.simulate.compare import quantile_table
from training.simulate.config import get_set
from training.simulate.run import simulate_set
from training.simulate.write import BLF_COLUMNS

GROUND_FILES = {
    "u": "Band4/imageSDSS_U",
    "g": "Band3/imageSDSS_G",
    "r": "Band1/imageSDSS_R",
    "i": "Band2/imageSDSS_I",
}


@pytest.fixture(scope="module")
def ground_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    one = simulate_set("ground", 10, 9, tmp_path_factory.mktemp("g1"), workers=1, progress=False)
    two = simulate_set("ground", 10, 9, tmp_path_factory.mktemp("g2"), workers=2, progress=False)
    return one, two


def _catalogue(path: Path) -> list[dict[str, str]]:
    with (path / "classifications.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_workers_do_not_change_the_output(ground_sets: tuple[Path, Path]) -> None:
    one, two = ground_sets
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file() and p.name != "simulation.json")
    assert len(files) == 10 * 4 + 3
    for rel in files:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel


def test_ground_layout_headers_and_catalogue(ground_sets: tuple[Path, Path]) -> None:
    out = ground_sets[0]
    rows = _catalogue(out)
    assert list(rows[0])[:5] == list(BLF_COLUMNS)
    for col in (
        "kind",
        "n_images",
        "magnification",
        "theta_E_arcsec",
        "source_mag_r",
        "noise_sigma_u",
        "noise_sigma_i",
        "psf_fwhm_g",
        "masked_fraction",
    ):
        assert col in rows[0]
    assert [int(r["ID"]) for r in rows] == list(range(100000, 100010))
    for band, stem in GROUND_FILES.items():
        path = out / "Public" / f"{stem}-100003.fits"
        with fits.open(path) as hdul:
            assert len(hdul) == 1
            h = hdul[0].header
            assert h["BITPIX"] == -32 and h["NAXIS1"] == 101 and h["NAXIS2"] == 101
            assert h["CRPIX1"] == 51 and h["CRPIX2"] == 51
            assert h["CTYPE1"] == "RA---TAN" and h["CTYPE2"] == "DEC--TAN"
            assert h["CDELT2"] == pytest.approx(0.2 / 3600) and h["CDELT1"] == pytest.approx(-0.2 / 3600)
            assert h["OBJECT"] == "100003" and h["FILTER"] == band and h["PIXSCALE"] == 0.2
            assert "DATE" not in h
        decoded = decode_path(path)
        assert decoded.pixels.shape == (1, 1, 101, 101)
        assert decoded.cutouts[0].id == "100003"
        assert decoded.cutouts[0].pixel_scale_arcsec == pytest.approx(0.2)
    # Noise level in BLF units as in the release (robust sigma of the r band of a cutout's outskirts).
    r = fits.getdata(out / "Public" / "Band1" / "imageSDSS_R-100000.fits").astype(np.float64)
    edge = np.concatenate([r[:8].ravel(), r[-8:].ravel()])
    edge = edge[edge != 100.0]
    mad = 1.4826 * np.median(np.abs(edge - np.median(edge)))
    assert 1.2e-12 < mad < 2.2e-12
    meta = json.loads((out / "simulation.json").read_text())
    assert meta["set"] == "ground" and meta["seed"] == 9 and meta["n"] == 10 and meta["workers"] == 1
    assert sum(meta["kinds"].values()) == 10


def test_truth_files_in_sigma_units(ground_sets: tuple[Path, Path]) -> None:
    out = ground_sets[0]
    rows = _catalogue(out)
    noiseless = np.load(out / "truth" / "noiseless.npy", mmap_mode="r")
    source = np.load(out / "truth" / "source.npy", mmap_mode="r")
    assert noiseless.shape == source.shape == (10, 4, 101, 101)
    assert noiseless.dtype == source.dtype == np.float16
    cfg = get_set("ground")
    for k, row in enumerate(rows):
        # FITS = noiseless + noise: the difference, in sigma units, is noise of unit scale in empty sky.
        img = fits.getdata(out / "Public" / "Band1" / f"imageSDSS_R-{row['ID']}.fits").astype(np.float64)
        resid = img / cfg.bands[2].noise_sigma - noiseless[k, 2].astype(np.float64)
        resid = resid[(img != 100.0) & (noiseless[k, 2] < 0.5)]
        assert 0.8 < np.std(resid) < 1.25
        if row["kind"] in ("lens", "sub_threshold_source"):
            npix = int((source[k, 2].astype(np.float32) > 1.0).sum())
            assert abs(npix - int(row["numb_pix_lensed_image"])) <= 2
        else:
            assert not source[k].any()


def test_cli_space_tiny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "space"
    assert (
        main(
            [
                "--set",
                "space",
                "--n",
                "6",
                "--seed",
                "4",
                "--out",
                str(out),
                "--no-progress",
                "--lens-fraction",
                "1.0",
            ]
        )
        == 0
    )
    assert "wrote 6 cutouts" in capsys.readouterr().out
    files = sorted((out / "Public" / "Band1").iterdir())
    assert [f.name for f in files] == [f"imageEUC_VIS-{100000 + i}.fits" for i in range(6)]
    assert sorted(p.name for p in (out / "Public").iterdir()) == ["Band1"]
    h = fits.getheader(files[0])
    assert h["FILTER"] == "VIS" and h["PIXSCALE"] == 0.1 and h["CDELT2"] == pytest.approx(0.1 / 3600)
    meta = json.loads((out / "simulation.json").read_text())
    assert meta["command"].startswith("python -m training.simulate --set space")
    assert meta["lens_fraction_target"] == 1.0
    rows = _catalogue(out)
    assert "noise_sigma_vis" in rows[0] and float(rows[0]["noise_sigma_vis"]) == 8e-13
    table = quantile_table(out)
    assert "theta_E_arcsec" in table and "BLF vis" in table and "sim (" in table


def test_no_truth_flag(tmp_path: Path) -> None:
    simulate_set("space", 2, 1, tmp_path, truth=False, progress=False)
    assert not (tmp_path / "truth").exists()
    assert len(_catalogue(tmp_path)) == 2


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        simulate_set("hst", 2, 1, tmp_path)
    with pytest.raises(ValueError):
        simulate_set("space", 2, 1, tmp_path, lens_fraction=1.5)


def test_fast_fits_writer_matches_astropy() -> None:
    import io

    from training.simulate.write import fits_bytes, fits_header

    cfg = get_set("ground")
    img = (np.random.default_rng(0).normal(size=(101, 101)) * 1e-12).astype(np.float32)
    buf = io.BytesIO()
    header = fits_header(cfg, 2, 123456, 12.3456789, -45.6789)
    fits.PrimaryHDU(data=img.astype(">f4"), header=header).writeto(buf)
    assert fits_bytes(cfg, 2, 123456, img, 12.3456789, -45.6789) == buf.getvalue()
