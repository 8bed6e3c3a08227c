"""Calibration: temperature recovered on synthetic logits, ECE by hand, threshold rules, the run CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.card import Calibration as CardCalibration
from training.calibrate import (
    calibrate,
    calibrate_run,
    choose_threshold,
    ece,
    fit_temperature,
    main,
    nll,
    reliability_diagram,
    sigmoid,
)
from training.metrics import at_threshold


def synthetic(temperature: float, n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits T times the true log-odds, labels drawn from the true probabilities: the right T is known."""
    rng = np.random.default_rng(seed)
    true_logodds = rng.normal(0.0, 3.0, n)
    labels = (rng.random(n) < sigmoid(true_logodds)).astype(np.int8)
    return true_logodds * temperature, labels


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_true_temperature(true_t: float) -> None:
    logits, labels = synthetic(true_t)
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(true_t, rel=0.06)
    assert nll(logits, labels, t) <= min(nll(logits, labels, t * 0.9), nll(logits, labels, t * 1.1))


def test_ece_by_hand_and_on_calibrated_data() -> None:
    # Bins of width 0.2: 0.2 (fraction 1/2, gap 0.3) and 0.8 (fraction 1, gap 0.2), half the cutouts each.
    assert ece([0.2, 0.2, 0.8, 0.8], [0, 1, 1, 1], n_bins=5) == pytest.approx(0.25)
    logits, labels = synthetic(1.0)
    assert ece(sigmoid(logits), labels) < 0.02
    assert ece(sigmoid(3 * logits), labels) > 0.04  # over-confident


def test_choose_threshold_rules() -> None:
    logits, labels = synthetic(2.0, n=5_000, seed=1)
    probs = sigmoid(logits / 2.0)
    threshold, text = choose_threshold(labels, probs, "fpr", 0.01)
    rates = at_threshold(labels, probs, threshold)
    assert rates["fpr"] <= 0.01 and rates["tpr"] > 0.2
    assert text.startswith("false-positive rate <= 0.01 on the validation set") and "TPR" in text
    threshold, text = choose_threshold(labels, probs, "tpr", 0.9)
    assert at_threshold(labels, probs, threshold)["tpr"] >= 0.9
    assert choose_threshold(labels, probs, "fixed", 0.5)[0] == 0.5
    with pytest.raises(ValueError, match="unknown threshold rule"):
        choose_threshold(labels, probs, "best", 0.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_calibrate_improves_calibration_and_fits_the_card(method: str, tmp_path: Path) -> None:
    logits, labels = synthetic(3.0, n=8_000, seed=2)
    result = calibrate(logits, labels, method=method, diagram=tmp_path / "rel.png")  # type: ignore[arg-type]
    assert result.ece_after < result.ece_before / 3
    assert result.nll_after < result.nll_before
    assert (tmp_path / "rel.png").stat().st_size > 1000
    card = CardCalibration(method=result.method, parameters=result.parameters)  # the card's own check
    assert card.method == method
    if method == "temperature":
        assert result.temperature == pytest.approx(3.0, rel=0.08)
    else:
        assert result.temperature is None and len(result.parameters["x"]) > 2


def test_reliability_diagram_reports_both_eces(tmp_path: Path) -> None:
    logits, labels = synthetic(2.0, n=3_000)
    out = reliability_diagram(sigmoid(logits / 2.0), labels, tmp_path / "r.png", before=sigmoid(logits))
    assert out["ece"] < out["ece_before"]
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_calibrate_run_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logits, labels = synthetic(2.0, n=4_000, seed=3)
    np.savez(
        tmp_path / "val_predictions.npz",
        logits=logits.astype(np.float32),
        labels=labels,
        kinds=np.array(["lens"] * labels.size),
        ids=np.arange(labels.size),
    )
    result = calibrate_run(tmp_path)
    saved = json.loads((tmp_path / "calibration.json").read_text())
    assert saved["temperature"] == pytest.approx(result.temperature)
    assert (tmp_path / "reliability.png").is_file()
    assert main([str(tmp_path), "--out", str(tmp_path / "iso"), "--method", "isotonic"]) == 0
    assert "isotonic" in capsys.readouterr().out
    assert json.loads((tmp_path / "iso" / "calibration.json").read_text())["method"] == "isotonic"
