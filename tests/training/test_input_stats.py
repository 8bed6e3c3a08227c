"""training.input_stats: the card's input_statistics from a training set (FITS and PNG-input models),
the ONNX file untouched, and the false-warning rate on a test set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.card import ModelCard, file_sha256
from tests.app.service_helpers import tiny_model
from tests.training.blf_factory import make_blf
from training.input_stats import main, quantiles


def test_quantiles_of_finite_values_only() -> None:
    q = quantiles([np.nan, *range(1001)])
    assert q["n"] == 1001 and q["p50"] == 500.0 and q["p0.1"] == 1.0 and q["p99.9"] == 999.0
    assert quantiles([np.nan]) == {"n": 0, "p0.1": 0.0, "p1": 0.0, "p50": 0.0, "p99": 0.0, "p99.9": 0.0}


def test_a_fits_and_gray_png_model_gets_its_section_and_a_rate(tmp_path: Path) -> None:
    make_blf(tmp_path / "data", "space", n=8)
    folder = tiny_model(tmp_path / "models", "space", size=101)
    before = file_sha256(folder / "model.onnx")
    assert main(["--model", str(folder), "--data", str(tmp_path / "data")]) == 0
    card = ModelCard.load(folder / "model.json")
    card.verify_files(folder)
    assert file_sha256(folder / "model.onnx") == before
    stats = card.input_statistics
    assert stats is not None and sorted(stats.by_input) == ["fits", "png-gray"]
    assert stats.by_input["fits"].n == 8 and stats.by_input["png-gray"].rendering is not None
    assert stats.psf.fwhm_arcsec is None and "not known" in stats.psf.note
    assert set(stats.by_input["png-gray"].planes) >= {"png_sky_level", "noise_correlation"}
    out = tmp_path / "rate.json"
    assert main(["--model", str(folder), "--test", str(tmp_path / "data"), "--json", str(out)]) == 0
    rates = json.loads(out.read_text())["rates"]
    assert rates["fits"]["n"] == 8 and 0.0 <= rates["fits"]["false_warning_rate"] <= 1.0


def test_a_colour_composite_model_trained_on_random_stretches(tmp_path: Path) -> None:
    make_blf(tmp_path / "data", "ground", n=6)
    folder = tiny_model(
        tmp_path / "models", "rgb", bands=("i", "r", "g"), accepts=("png-rgb",), pixel_scale=0.2
    )
    data = json.loads((folder / "model.json").read_text())
    data["training"]["augmentation"] = {"strength": 0.5, "png_stretch": "random"}
    ModelCard.from_dict(data).write(folder / "model.json")
    assert main(["--model", str(folder), "--data", str(tmp_path / "data")]) == 0
    stats = ModelCard.load(folder / "model.json").input_statistics
    assert stats is not None and list(stats.by_input) == ["png-rgb"]
    section = stats.by_input["png-rgb"]
    assert section.rendering is not None and "random_stretch" in section.rendering
    assert sorted(section.planes["png_sky_level"]) == ["g", "i", "r"]


def test_test_mode_needs_the_section(tmp_path: Path) -> None:
    make_blf(tmp_path / "data", "space", n=4)
    folder = tiny_model(tmp_path / "models", "space")
    with pytest.raises(SystemExit, match="no input_statistics"):
        main(["--model", str(folder), "--test", str(tmp_path / "data")])
