"""The BLF reader, its cache, the catalogue parser, the splits and the summary command."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.training.blf_factory import make_blf
from training.data import (
    CatalogueError,
    DataWarning,
    LayoutError,
    main,
    parse_catalogue,
    read_blf,
    read_catalogue,
    split_indices,
)

SHARED_BLF = Path(__file__).resolve().parents[3] / "shared" / "blf"


# --- catalogue -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "lens_fraction", "median_theta"),
    [("classifications-space.csv", 0.698, 0.84), ("classifications-ground.csv", 0.401, 1.27)],
)
def test_real_blf_catalogues_parse(name: str, lens_fraction: float, median_theta: float) -> None:
    path = SHARED_BLF / name
    if not path.is_file():
        pytest.skip(f"{path} not present (the real BLF catalogues sit beside the repository)")
    cat = read_catalogue(path)
    assert cat.n_rows == 20000
    blf_columns = ["ID", "is_lens", "Einstein_area", "numb_pix_lensed_image", "flux_lensed_image_in_sigma"]
    assert list(cat) == blf_columns
    assert cat.ids.min() == 100000 and cat.ids.max() == 119999
    assert cat["Einstein_area"].dtype == np.float64
    assert cat.labels.mean() == pytest.approx(lens_fraction, abs=0.001)
    theta = cat.theta_e_arcsec()
    assert theta is not None
    assert np.median(theta[cat.labels == 1]) == pytest.approx(median_theta, abs=0.05)


def test_quoted_crlf_catalogue_without_final_newline_keeps_extra_columns() -> None:
    header = '\ufeff"ID","is_lens","Einstein_area","kind","noise_sigma_r"'
    text = header + "\r\n1,1,1e-10,lens,1e-12\r\n2,0,0,ring,"
    cat = parse_catalogue(text)
    assert cat.ids.tolist() == [1, 2]
    assert cat.labels.dtype == np.int8 and cat.labels.tolist() == [1, 0]
    assert cat["kind"].tolist() == ["lens", "ring"]
    assert cat["noise_sigma_r"][0] == pytest.approx(1e-12) and np.isnan(cat["noise_sigma_r"][1])


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("ID,label\n1,1\n", "missing column"),
        ("ID,is_lens\n1,1\n1,0\n", "repeated IDs"),
        ("ID,is_lens\n1,2\n", "0 or 1"),
        ("ID,is_lens\n1,1,5\n", "row 2 has 3 cells"),
        ("ID,is_lens\nx,1\n", "integers"),
        ("", "empty"),
    ],
)
def test_bad_catalogues_raise_clear_errors(text: str, fragment: str) -> None:
    with pytest.raises(CatalogueError, match=fragment):
        parse_catalogue(text)


# --- reading ---------------------------------------------------------------------------------------


def test_ground_set_reads_in_ugri_order_and_catalogue_order(tmp_path: Path) -> None:
    cols = make_blf(tmp_path, "ground", n=6, quoted=True, crlf=True, masked_ids=(100003,))
    ds = read_blf(tmp_path, workers=0, progress=False)
    assert ds.bands == ("u", "g", "r", "i")
    assert ds.images.dtype == np.float32 and ds.images.shape == (6, 4, 101, 101)
    assert ds.pixel_scale_arcsec == pytest.approx(0.2)
    # Folder order is R, I, G, U; pixel (0, 0) holds the band's position in u, g, r, i.
    assert np.array_equal(ds.images[:, :, 0, 0], np.tile([1, 2, 3, 4], (6, 1)))
    assert ds.ids.tolist() == cols["ID"].tolist()  # catalogue row order
    assert np.array_equal(ds.images[:, 0, 0, 1], ds.ids - 100000)
    assert ds.labels is not None and ds.labels.tolist() == cols["is_lens"].tolist()
    assert ds.kinds is not None and ds.kinds.tolist() == cols["kind"].tolist()
    assert ds.catalogue is not None and "noise_sigma_u" in ds.catalogue
    sigma = ds.noise_sigma
    assert sigma is not None and sigma.shape == (6, 4)
    # The BLF mask value 100 became NaN by the decoder's rule, and the fraction is recorded.
    masked_row = int(np.flatnonzero(ds.ids == 100003)[0])
    assert np.isnan(ds.images[masked_row, :, 40:43, 40:43]).all()
    assert ds.masked_fraction[masked_row] == pytest.approx(9 / (101 * 101))
    assert np.count_nonzero(ds.masked_fraction) == 1
    assert ds.truth is None and ds.simulation is None


def test_space_set_from_public_folder_with_catalogue_inside(tmp_path: Path) -> None:
    make_blf(tmp_path, "space", n=4, catalogue="public", extras=False)
    ds = read_blf(tmp_path / "Public", workers=0, progress=False, use_cache=False)
    assert ds.bands == ("vis",) and ds.images.shape == (4, 1, 101, 101)
    assert ds.pixel_scale_arcsec == pytest.approx(0.1)
    assert ds.kinds is None and ds.noise_sigma is None
    theta = ds.theta_e_arcsec
    assert theta is not None and ds.labels is not None
    assert np.allclose(theta[ds.labels == 1], 1.0) and np.all(theta[ds.labels == 0] == 0)


def test_set_without_catalogue_has_no_labels_and_sorted_ids(tmp_path: Path) -> None:
    make_blf(tmp_path, "space", n=3, catalogue=None)
    ds = read_blf(tmp_path, workers=0, progress=False, use_cache=False)
    assert ds.labels is None and ds.catalogue is None
    assert ds.ids.tolist() == [100000, 100001, 100002]


def test_missing_band_file_is_an_error_naming_it(tmp_path: Path) -> None:
    make_blf(tmp_path, "ground", n=3)
    os.remove(tmp_path / "Public" / "Band3" / "imageSDSS_G-100001.fits")
    with pytest.raises(LayoutError, match=r"Band3/imageSDSS_G-100001\.fits"):
        read_blf(tmp_path, workers=0, progress=False)


def test_folder_and_file_band_must_agree(tmp_path: Path) -> None:
    make_blf(tmp_path, "ground", n=2)
    public = tmp_path / "Public"
    (public / "Band1").rename(public / "tmp")
    (public / "Band3").rename(public / "Band1")  # G files in Band1, where the BLF puts R
    (public / "tmp").rename(public / "Band3")
    with pytest.raises(LayoutError, match="disagree"):
        read_blf(tmp_path, workers=0, progress=False)


def test_not_a_blf_folder(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="not a BLF-layout"):
        read_blf(tmp_path, progress=False)


def test_unmatched_ids_warn_with_counts_and_are_left_out(tmp_path: Path) -> None:
    make_blf(tmp_path, "space", n=5)
    cat = tmp_path / "classifications.csv"
    lines = cat.read_text().split("\n")
    rows = [ln for ln in lines[1:] if not ln.startswith("100004,")]
    cat.write_text("\n".join([lines[0], *rows, "200000,1,0,0,0,lens,1e-12"]))
    with pytest.warns(DataWarning, match=r"1 cutout\(s\) have images but no catalogue row and 1 catalogue"):
        ds = read_blf(tmp_path, workers=0, progress=False, use_cache=False)
    assert len(ds) == 4 and 100004 not in ds.ids and 200000 not in ds.ids


def test_truth_arrays_are_memmaps_aligned_with_cutouts(tmp_path: Path) -> None:
    make_blf(tmp_path, "space", n=4, truth=True)
    ds = read_blf(tmp_path, workers=0, progress=False)
    assert ds.truth is not None and ds.truth.source is None
    noiseless = ds.truth.noiseless
    assert isinstance(noiseless, np.memmap) and noiseless.dtype == np.float16
    assert np.array_equal(noiseless[:, 0, 0, 2], ds.ids - 100000)
    assert ds.simulation == {"seed": 0, "set": "space"}


def test_second_read_comes_from_the_cache_and_changes_invalidate_it(tmp_path: Path) -> None:
    make_blf(tmp_path, "ground", n=4)
    first = read_blf(tmp_path, workers=0, progress=False)
    assert isinstance(first.images, np.memmap)  # served from the freshly written cache entry
    entries = sorted(p.name for p in (tmp_path / ".cache").iterdir())
    assert len(entries) == 2 and all(e.startswith("lensfinder-") for e in entries)
    second = read_blf(tmp_path, workers=0, progress=False)
    assert np.array_equal(first.images, second.images, equal_nan=True)
    # A changed file (new size or mtime) misses the cache and the stale entry is replaced.
    path = tmp_path / "Public" / "Band4" / "imageSDSS_U-100002.fits"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    dead = tmp_path / ".cache" / ".lensfinder-0123.999999999.tmp.npy"  # left by a reader that died
    dead.write_bytes(b"partial")
    third = read_blf(tmp_path, workers=0, progress=False)
    assert not dead.exists()
    assert np.array_equal(third.images, first.images, equal_nan=True)
    assert sorted(p.name for p in (tmp_path / ".cache").iterdir()) != entries
    assert len(list((tmp_path / ".cache").iterdir())) == 2


def test_unwritable_cache_folder_falls_back_to_memory(tmp_path: Path) -> None:
    make_blf(tmp_path, "space", n=2)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should go")
    with pytest.warns(DataWarning, match="not writable"):
        ds = read_blf(tmp_path, cache_dir=blocker / "cache", workers=0, progress=False)
    assert ds.images.shape == (2, 1, 101, 101) and not isinstance(ds.images, np.memmap)


def test_process_pool_reads_the_same_pixels(tmp_path: Path) -> None:
    make_blf(tmp_path, "ground", n=3)
    serial = read_blf(tmp_path, workers=0, progress=False, use_cache=False)
    pooled = read_blf(tmp_path, workers=2, progress=False, use_cache=False)
    assert np.array_equal(serial.images, pooled.images)


def test_cli_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_blf(tmp_path, "ground", n=4, masked_ids=(100001,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main([str(tmp_path), "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "cutouts       4" in out and "u, g, r, i" in out
    assert "fraction 0.500" in out and "lens 2" in out
    assert "0.250 of cutouts have masked pixels" in out and "median 1.00" in out


# --- splits ----------------------------------------------------------------------------------------


def test_split_is_80_20_stratified_deterministic_disjoint_and_complete() -> None:
    rng = np.random.default_rng(5)
    labels = (rng.random(8000) < 0.4).astype(np.int8)
    kinds = rng.choice(np.array(["lens", "elliptical", "ring", "spiral", "merger"]), 8000)
    train, val = split_indices(labels, kinds)
    assert len(train) == 6400 and len(val) == 1600
    assert np.intersect1d(train, val).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(8000))
    for label in (0, 1):
        for kind in np.unique(kinds):
            group = (labels == label) & (kinds == kind)
            assert abs(np.isin(np.flatnonzero(group), val).sum() - 0.2 * group.sum()) <= 1
    again = split_indices(labels.copy(), kinds.copy())
    assert np.array_equal(again[1], val) and np.array_equal(again[0], train)
    assert not np.array_equal(split_indices(labels, kinds, seed=1)[1], val)


def test_split_without_labels_needs_n_and_checks_lengths() -> None:
    train, val = split_indices(None, n=10, fraction=0.3)
    assert len(train) == 7 and len(val) == 3
    with pytest.raises(ValueError, match="disagree"):
        split_indices(np.zeros(5, dtype=np.int8), np.array(["a"] * 4))
